//! JSON forms of the primitive types, as CometBFT writes them: hashes and
//! addresses as uppercase hex, node ids as lowercase hex, public keys as
//! `{"type": "tendermint/PubKeyEd25519", "value": "<base64>"}`.

use base64::Engine;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::{Address, Hash, NodeId, PublicKey, Signature};

/// The `type` tag CometBFT gives ed25519 public keys.
pub const PUB_KEY_TYPE: &str = "tendermint/PubKeyEd25519";

/// Standard base64 with padding, as CometBFT's JSON uses for bytes.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(s)
}

macro_rules! hex_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::from_hex(&s).map_err(D::Error::custom)
            }
        }
    };
}

hex_serde!(Hash);
hex_serde!(Address);
hex_serde!(NodeId);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedKey {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TypedKey {
            kind: PUB_KEY_TYPE.to_owned(),
            value: base64_encode(&self.0),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = TypedKey::deserialize(d)?;
        if k.kind != PUB_KEY_TYPE {
            return Err(D::Error::custom(format!(
                "unsupported key type {:?} (expected {PUB_KEY_TYPE:?})",
                k.kind
            )));
        }
        let bytes = base64_decode(&k.value).map_err(D::Error::custom)?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| D::Error::custom("ed25519 public key must be 32 bytes"))?;
        Ok(PublicKey(arr))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = base64_decode(&String::deserialize(d)?).map_err(D::Error::custom)?;
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| D::Error::custom("ed25519 signature must be 64 bytes"))?;
        Ok(Signature(arr))
    }
}
