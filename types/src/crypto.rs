//! Hashes, keys, signatures and addresses.
//!
//! Signing uses ed25519-dalek. Verification uses ed25519-zebra's ZIP-215
//! rules, whose single and batch answers agree: validity is one deterministic
//! function of (key, message, signature), wherever and however it is checked.
//! ZIP-215 accepts small-order keys, so keys with small order are refused
//! where a key enters the chain ([`PublicKey::check_usable`]).

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::edwards::CompressedEdwardsY;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// SHA-256 of the concatenation of `parts`.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }

    /// Uppercase hex, CometBFT's form for hashes.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }

    /// Parses 64 hex digits of either case.
    pub fn from_hex(s: &str) -> Result<Hash, HexError> {
        parse_hex(s).map(Hash)
    }
}

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} hex digits, got {got:?}")]
pub struct HexError {
    /// How many hex digits were wanted.
    pub expected: usize,
    /// What was given.
    pub got: String,
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let err = || HexError {
        expected: 2 * N,
        got: s.chars().take(2 * N + 8).collect(),
    };
    let bytes = hex::decode(s).map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

macro_rules! hex_debug_display {
    ($t:ty, $enc:path) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($t), $enc(self.0))
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$enc(self.0))
            }
        }
    };
}

hex_debug_display!(Hash, hex::encode_upper);
hex_debug_display!(Address, hex::encode_upper);
hex_debug_display!(NodeId, hex::encode);

/// An account or validator address: the first 20 bytes of SHA-256 of an ed25519 public key.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Uppercase hex (CometBFT's form).
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }

    /// Parses 40 hex digits of either case.
    pub fn from_hex(s: &str) -> Result<Address, HexError> {
        parse_hex(s).map(Address)
    }
}

/// A node's identity on the network: the first 20 bytes of SHA-256 of its
/// node key, written as 40 lowercase hex digits.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 40 hex digits of either case.
    pub fn from_hex(s: &str) -> Result<NodeId, HexError> {
        parse_hex(s).map(NodeId)
    }
}

fn truncated_sha256(data: &[u8]) -> [u8; 20] {
    let h = Hash::digest(data).0;
    let mut out = [0u8; 20];
    out.copy_from_slice(&h[..20]);
    out
}

/// An ed25519 public key, as its 32 compressed bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

/// Why a public key may not enter the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a point on the curve.
    #[error("public key is not a valid curve point")]
    NotAPoint,
    /// The point has small order: under ZIP-215 such a key "signs" anything.
    #[error("public key has small order (it would verify forged signatures)")]
    SmallOrder,
}

impl PublicKey {
    /// The account or validator address of this key.
    pub fn address(&self) -> Address {
        Address(truncated_sha256(&self.0))
    }

    /// The node id of this key, when it is a node key.
    pub fn node_id(&self) -> NodeId {
        NodeId(truncated_sha256(&self.0))
    }

    /// Refuses keys that are not curve points or have small order. Called
    /// wherever a key enters the chain: genesis, accounts, CreateValidator, node keys.
    pub fn check_usable(&self) -> Result<(), KeyError> {
        let point = CompressedEdwardsY(self.0)
            .decompress()
            .ok_or(KeyError::NotAPoint)?;
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        Ok(())
    }

    /// Verifies `sig` over `msg` under ZIP-215 rules.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), SignatureError> {
        let vk =
            ed25519_zebra::VerificationKey::try_from(self.0).map_err(|_| SignatureError::BadKey)?;
        vk.verify(&ed25519_zebra::Signature::from_bytes(&sig.0), msg)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..8]))
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not a curve point.
    #[error("public key is not a valid curve point")]
    BadKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Invalid,
}

/// A secret signing key. Never leaves the process that loaded it; zeroed on drop.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.public_key())
    }
}

impl SigningKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A fresh key from a cryptographic random number generator.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        SigningKey::from_seed(seed)
    }

    /// The 32-byte seed (secret).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.0.sign(msg).to_bytes())
    }
}

/// Verifies many signatures at once with ZIP-215 batch verification.
///
/// The batch answer equals the conjunction of the single answers (a ZIP-215
/// property that the test vectors pin). The random coefficients are derived
/// from a hash of the whole batch, so the check is deterministic and needs no
/// system randomness.
#[derive(Default)]
pub struct BatchVerifier {
    items: Vec<(PublicKey, Signature, Vec<u8>)>,
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> BatchVerifier {
        BatchVerifier::default()
    }

    /// Adds one (key, message, signature) triple.
    pub fn push(&mut self, key: PublicKey, msg: Vec<u8>, sig: Signature) {
        self.items.push((key, sig, msg));
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True when every signature is valid.
    pub fn verify_all(&self) -> bool {
        if self.items.is_empty() {
            return true;
        }
        let mut transcript = Sha256::new();
        let mut batch = ed25519_zebra::batch::Verifier::new();
        for (key, sig, msg) in &self.items {
            transcript.update(key.0);
            transcript.update(sig.0);
            transcript.update((msg.len() as u64).to_le_bytes());
            transcript.update(msg);
            let item = ed25519_zebra::batch::Item::from((
                ed25519_zebra::VerificationKeyBytes::from(key.0),
                ed25519_zebra::Signature::from_bytes(&sig.0),
                msg,
            ));
            batch.queue(item);
        }
        let seed: [u8; 32] = transcript.finalize().into();
        let rng = rand::rngs::ChaCha8Rng::from_seed(seed);
        batch.verify(rng).is_ok()
    }

    /// The validity of each item, in order. One batch check when all are
    /// valid; otherwise each item is checked alone to find the bad ones.
    pub fn verify_each(&self) -> Vec<bool> {
        if self.verify_all() {
            return vec![true; self.items.len()];
        }
        self.items
            .iter()
            .map(|(key, sig, msg)| key.verify(msg, sig).is_ok())
            .collect()
    }
}
