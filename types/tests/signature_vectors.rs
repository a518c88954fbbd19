//! ZIP-215 test vectors: single and batch verification give the same answer,
//! and that answer is ZIP-215's, including for the edge cases where Ed25519
//! implementations disagree (small-order keys and R, non-canonical S).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cairn_types::crypto::{BatchVerifier, KeyCache, KeyError, PublicKey, Signature, SigningKey};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use rand::SeedableRng;
use sha2::{Digest, Sha512};

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn sig(r: [u8; 32], s: [u8; 32]) -> Signature {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(&r);
    b[32..].copy_from_slice(&s);
    Signature(b)
}

/// The single answer and the batch answer; the batch answer is also checked
/// to be the same with a cold and with a warm key cache.
fn single_and_batch(key: PublicKey, msg: &[u8], s: Signature) -> (bool, bool) {
    let single = key.verify(msg, &s).is_ok();
    let mut batch = BatchVerifier::new();
    batch.push(key, msg.to_vec(), s);
    let uncached = batch.verify_all();
    let keys = KeyCache::new(4);
    for cache in ["cold", "warm"] {
        assert_eq!(batch.verify_all_cached(&keys), uncached, "{cache} cache");
    }
    (single, uncached)
}

/// Adds two little-endian 256-bit numbers (no overflow for the values used here).
fn add_le(a: [u8; 32], b: [u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = a[i] as u16 + b[i] as u16 + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    out
}

#[test]
fn every_small_order_key_is_refused_where_keys_enter_the_chain() {
    for p in EIGHT_TORSION {
        let key = PublicKey(p.compress().0);
        assert_eq!(key.check_usable(), Err(KeyError::SmallOrder), "{key:?}");
    }
    // A non-canonical encoding of the identity (y = p + 1).
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    assert_eq!(PublicKey(y).check_usable(), Err(KeyError::SmallOrder));
    // Not a point at all (no x for this y).
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert!(CompressedEdwardsY(not_a_point).decompress().is_none());
    assert_eq!(
        PublicKey(not_a_point).check_usable(),
        Err(KeyError::NotAPoint)
    );
    let good = SigningKey::from_seed([7; 32]).public_key();
    assert_eq!(good.check_usable(), Ok(()));
}

#[test]
fn small_order_key_and_r_with_zero_s_verify_under_zip215() {
    // [8]([0]B - R - [k]A) = 0 for every message when A and R have small order:
    // ZIP-215 accepts, which is exactly why such keys are refused at entry.
    for a in EIGHT_TORSION {
        for r in EIGHT_TORSION {
            let key = PublicKey(a.compress().0);
            let s = sig(r.compress().0, [0; 32]);
            for msg in [&b"anything"[..], b"", b"cairn"] {
                assert_eq!(single_and_batch(key, msg, s), (true, true));
            }
        }
    }
}

#[test]
fn small_order_r_with_honest_key_is_accepted_by_zip215_and_refused_by_strict_dalek() {
    let seed = [42u8; 32];
    let key = SigningKey::from_seed(seed);
    let pk = key.public_key();
    let msg = b"small order R";
    // The secret scalar a, as RFC 8032 derives it from the seed.
    let h = Sha512::digest(seed);
    let mut a_bytes = [0u8; 32];
    a_bytes.copy_from_slice(&h[..32]);
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    assert_eq!((ED25519_BASEPOINT_POINT * a).compress().0, pk.0);
    for r in EIGHT_TORSION {
        let r_bytes = r.compress().0;
        let k_hash = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(pk.0)
            .chain_update(msg)
            .finalize();
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&k_hash);
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        // [S]B = [k]A, so [8]([S]B - R - [k]A) = [8](-R) = 0.
        let s = sig(r_bytes, (k * a).to_bytes());
        assert_eq!(single_and_batch(pk, msg, s), (true, true));
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&pk.0)
            .unwrap()
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&s.0));
        assert!(
            strict.is_err(),
            "dalek's strict check refuses small-order R"
        );
    }
}

#[test]
fn non_canonical_s_is_refused_by_both_paths() {
    let key = SigningKey::from_seed([3; 32]);
    let msg = b"malleable?";
    let good = key.sign(msg);
    assert_eq!(single_and_batch(key.public_key(), msg, good), (true, true));
    let mut s = [0u8; 32];
    s.copy_from_slice(&good.0[32..]);
    let mut r = [0u8; 32];
    r.copy_from_slice(&good.0[..32]);
    // S + L is the same scalar but not its canonical encoding.
    let bad = sig(r, add_le(s, L));
    assert_eq!(single_and_batch(key.public_key(), msg, bad), (false, false));
}

#[test]
fn batch_answer_is_the_conjunction_and_each_item_is_located() {
    let keys: Vec<SigningKey> = (0..10u8).map(|i| SigningKey::from_seed([i; 32])).collect();
    let mut batch = BatchVerifier::new();
    for (i, k) in keys.iter().enumerate() {
        let msg = vec![i as u8; 5];
        let mut s = k.sign(&msg);
        if i == 3 || i == 7 {
            s.0[0] ^= 1;
        }
        batch.push(k.public_key(), msg, s);
    }
    assert!(!batch.verify_all());
    let each = batch.verify_each();
    let expected: Vec<bool> = (0..10).map(|i| i != 3 && i != 7).collect();
    assert_eq!(each, expected);
    assert!(BatchVerifier::new().verify_all());
}

#[test]
fn signature_for_another_message_or_key_fails() {
    let k = SigningKey::from_seed([9; 32]);
    let other = SigningKey::from_seed([10; 32]);
    let s = k.sign(b"m");
    assert!(k.public_key().verify(b"m", &s).is_ok());
    assert!(k.public_key().verify(b"n", &s).is_err());
    assert!(other.public_key().verify(b"m", &s).is_err());
}

/// ed25519-zebra's own batch verifier over the same items: the oracle for
/// Cairn's batch equation.
fn zebra_batch(items: &[(PublicKey, Vec<u8>, Signature)]) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for (key, msg, s) in items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(key.0),
            ed25519_zebra::Signature::from_bytes(&s.0),
            msg,
        ));
    }
    batch
        .verify(rand::rngs::ChaCha8Rng::from_seed([5; 32]))
        .is_ok()
}

proptest::proptest! {
    /// Batches of up to 24 signatures by 4 keys (so a key's terms are merged),
    /// some tampered in R, S, the message or the key: the answer, with a cold
    /// and a warm key cache, is ed25519-zebra's batch answer and the
    /// conjunction of the single answers.
    #[test]
    fn batch_equation_agrees_with_ed25519_zebra(
        items in proptest::collection::vec((0..4u8, proptest::collection::vec(0..=255u8, 0..40), 0..8u8), 1..24)
    ) {
        let signers: Vec<SigningKey> = (0..4u8).map(|i| SigningKey::from_seed([i + 100; 32])).collect();
        let batch_items: Vec<(PublicKey, Vec<u8>, Signature)> = items
            .iter()
            .map(|(signer, msg, tamper)| {
                let key = &signers[*signer as usize];
                let mut s = key.sign(msg);
                let mut pk = key.public_key();
                let mut msg = msg.clone();
                match tamper {
                    0 => s.0[1] ^= 4,         // R
                    1 => s.0[40] ^= 1,        // S
                    2 => msg.push(0),         // message
                    3 => pk = signers[(*signer as usize + 1) % 4].public_key(),
                    _ => {}
                }
                (pk, msg, s)
            })
            .collect();
        let mut batch = BatchVerifier::new();
        for (pk, msg, s) in &batch_items {
            batch.push(*pk, msg.clone(), *s);
        }
        let singles = batch_items.iter().all(|(pk, msg, s)| pk.verify(msg, s).is_ok());
        let keys = KeyCache::new(2);
        proptest::prop_assert_eq!(batch.verify_all(), singles);
        proptest::prop_assert_eq!(zebra_batch(&batch_items), singles);
        for _ in 0..2 {
            proptest::prop_assert_eq!(batch.verify_all_cached(&keys), singles);
        }
        proptest::prop_assert!(keys.len() <= 2, "the cache is bounded");
    }
}
