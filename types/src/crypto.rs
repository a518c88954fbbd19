//! Hashes, keys, signatures and addresses.
//!
//! Signing uses ed25519-dalek. Verification follows ZIP-215, whose single
//! and batch answers agree: validity is one deterministic function of (key,
//! message, signature), wherever and however it is checked. Single checks
//! use ed25519-zebra; the batch check is ed25519-zebra's equation written
//! here over curve25519-dalek, so that signers' decompressed keys can be
//! reused ([`KeyCache`]).
//! ZIP-215 accepts small-order keys, so keys with small order are refused
//! where a key enters the chain ([`PublicKey::check_usable`]).

use std::collections::HashMap;
use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256, Sha512};

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
        hex_with(&self.0, UPPER_HEX)
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

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// `bytes` in hex with `digits`, through a table: the `hex` crate collects
/// a char iterator, 0.75% of validators' CPU under load (every transfer's
/// events carry two addresses).
fn hex_with(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0f)]));
    }
    out
}

macro_rules! hex_debug_display {
    ($t:ty) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

hex_debug_display!(Hash);
hex_debug_display!(Address);
hex_debug_display!(NodeId);

/// An account or validator address: the first 20 bytes of SHA-256 of an ed25519 public key.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Uppercase hex (CometBFT's form).
    pub fn to_hex(&self) -> String {
        hex_with(&self.0, UPPER_HEX)
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
        hex_with(&self.0, LOWER_HEX)
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
        self.usable_point().map(|_| ())
    }

    fn usable_point(&self) -> Result<EdwardsPoint, KeyError> {
        let point = CompressedEdwardsY(self.0)
            .decompress()
            .ok_or(KeyError::NotAPoint)?;
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        Ok(point)
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

/// Decompressed public keys by their bytes, for [`BatchVerifier`] and
/// [`KeyCache::check_usable`].
///
/// A ZIP-215 batch check decompresses each signer's key and each signature's
/// R, and a decompression (a field exponentiation) costs about as much as the
/// rest of a signature's share of the batch; the mempool's usability check
/// of a sender's key is one more. Senders recur, so the node keeps their
/// points. Only usable keys (curve points of large order) are kept; when
/// `capacity` is reached the cache starts over, so its memory is bounded
/// (about 200 bytes a key) and a flood of fresh keys costs only misses.
/// Shared by the mempool and block validation, hence the lock.
#[derive(Debug, Default)]
pub struct KeyCache {
    points: Mutex<HashMap<PublicKey, EdwardsPoint>>,
    capacity: usize,
}

impl KeyCache {
    /// A cache of at most `capacity` keys (0: keeps nothing).
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            points: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.points.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`PublicKey::check_usable`], answered from the cache for a kept key.
    pub fn check_usable(&self, key: &PublicKey) -> Result<(), KeyError> {
        self.usable_point(key).map(|_| ())
    }

    /// The key's point if it is usable, kept for next time.
    fn usable_point(&self, key: &PublicKey) -> Result<EdwardsPoint, KeyError> {
        if let Some(p) = self.points.lock().ok().and_then(|p| p.get(key).copied()) {
            return Ok(p);
        }
        let p = key.usable_point()?;
        if self.capacity > 0
            && let Ok(mut points) = self.points.lock()
        {
            if points.len() >= self.capacity {
                points.clear();
            }
            points.insert(*key, p);
        }
        Ok(p)
    }

    /// The key's point under ZIP-215's decoding (non-canonical encodings
    /// accepted, as `CompressedEdwardsY::decompress` does); small-order keys
    /// decompress but are not kept.
    fn point(&self, key: &PublicKey) -> Option<EdwardsPoint> {
        match self.usable_point(key) {
            Ok(p) => Some(p),
            Err(KeyError::SmallOrder) => CompressedEdwardsY(key.0).decompress(),
            Err(KeyError::NotAPoint) => None,
        }
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

    /// True when every signature is valid; every key is decompressed.
    pub fn verify_all(&self) -> bool {
        self.verify_all_cached(&KeyCache::new(0))
    }

    /// True when every signature is valid; keys' points come from `keys`.
    ///
    /// The equation is ed25519-zebra's (ZIP-215):
    /// `8 * ([-sum z_i s_i] B + sum [z_i] R_i + sum_A [sum_{i by A} z_i k_i] A) = 0`
    /// with `k_i = SHA-512(R_i || A_i || M_i) mod l`, `s_i` canonical and
    /// 128-bit `z_i`; terms of one key are merged into one coefficient.
    #[allow(non_snake_case)]
    pub fn verify_all_cached(&self, keys: &KeyCache) -> bool {
        if self.items.is_empty() {
            return true;
        }
        let mut z_source = rand::rngs::ChaCha8Rng::from_seed(self.transcript());
        let mut key_index: HashMap<PublicKey, usize> = HashMap::new();
        let (mut As, mut A_coeffs) = (Vec::new(), Vec::<Scalar>::new());
        let (mut Rs, mut R_coeffs) = (Vec::with_capacity(self.items.len()), Vec::new());
        let mut B_coeff = Scalar::ZERO;
        for (key, sig, msg) in &self.items {
            let mut r_bytes = [0u8; 32];
            r_bytes.copy_from_slice(&sig.0[..32]);
            let mut s_bytes = [0u8; 32];
            s_bytes.copy_from_slice(&sig.0[32..]);
            let (Some(R), Some(s)) = (
                CompressedEdwardsY(r_bytes).decompress(),
                Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)),
            ) else {
                return false;
            };
            let slot = match key_index.get(key) {
                Some(&slot) => slot,
                None => {
                    let Some(A) = keys.point(key) else {
                        return false;
                    };
                    As.push(A);
                    A_coeffs.push(Scalar::ZERO);
                    key_index.insert(*key, As.len() - 1);
                    As.len() - 1
                }
            };
            let k: [u8; 64] = Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.0)
                .chain_update(msg)
                .finalize()
                .into();
            let mut z_bytes = [0u8; 16];
            z_source.fill_bytes(&mut z_bytes);
            let z = Scalar::from(u128::from_le_bytes(z_bytes));
            B_coeff -= z * s;
            A_coeffs[slot] += z * Scalar::from_bytes_mod_order_wide(&k);
            Rs.push(R);
            R_coeffs.push(z);
        }
        EdwardsPoint::vartime_multiscalar_mul(
            std::iter::once(&B_coeff)
                .chain(A_coeffs.iter())
                .chain(R_coeffs.iter()),
            std::iter::once(&ED25519_BASEPOINT_POINT)
                .chain(As.iter())
                .chain(Rs.iter()),
        )
        .mul_by_cofactor()
        .is_identity()
    }

    /// A hash of every item, the seed of the batch's coefficients.
    fn transcript(&self) -> [u8; 32] {
        let mut transcript = Sha256::new();
        for (key, sig, msg) in &self.items {
            transcript.update(key.0);
            transcript.update(sig.0);
            transcript.update((msg.len() as u64).to_le_bytes());
            transcript.update(msg);
        }
        transcript.finalize().into()
    }

    /// The validity of each item, in order. One batch check when all are
    /// valid; otherwise each item is checked alone to find the bad ones.
    pub fn verify_each(&self) -> Vec<bool> {
        self.verify_each_cached(&KeyCache::new(0))
    }

    /// [`BatchVerifier::verify_each`] with keys' points from `keys`.
    pub fn verify_each_cached(&self, keys: &KeyCache) -> Vec<bool> {
        if self.verify_all_cached(keys) {
            return vec![true; self.items.len()];
        }
        self.items
            .iter()
            .map(|(key, sig, msg)| key.verify(msg, sig).is_ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_are_the_hex_crates_and_parse_back() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(hex_with(&bytes, UPPER_HEX), hex::encode_upper(&bytes));
        assert_eq!(hex_with(&bytes, LOWER_HEX), hex::encode(&bytes));
        let h = Hash::digest(b"cairn");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            format!("{h:?}"),
            format!("Hash({})", hex::encode_upper(h.0))
        );
    }
}
