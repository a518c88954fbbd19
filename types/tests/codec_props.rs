//! Codec properties for every encoded type: round trip, canonical-only
//! decoding, and arbitrary or mutated bytes never panic.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{decode, encode};
use proptest::prelude::*;

const LIMIT: usize = 1 << 20;

/// decode(encode(v)) == v, and every mutation of the bytes either fails to
/// decode or decodes to a value that re-encodes to exactly the mutated bytes.
fn check<T>(v: &T, mutation: (usize, u8, u8)) -> Result<(), TestCaseError>
where
    T: BorshSerialize + BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let b = encode(v);
    prop_assert_eq!(&decode::<T>(&b, LIMIT).unwrap(), v);
    let (pos, byte, op) = mutation;
    let mut m = b.clone();
    match op % 4 {
        0 if !m.is_empty() => {
            let i = pos % m.len();
            m[i] ^= byte | 1;
        }
        1 => m.truncate(pos % (b.len() + 1)),
        2 => m.push(byte),
        _ => m.insert(pos % (m.len() + 1), byte),
    }
    if let Ok(x) = decode::<T>(&m, LIMIT) {
        prop_assert_eq!(encode(&x), m);
    }
    Ok(())
}

fn mutation() -> impl Strategy<Value = (usize, u8, u8)> {
    (any::<usize>(), any::<u8>(), any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tx(v in common::tx(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn block(v in common::block(), m in mutation()) {
        check(&v, m)?;
        prop_assert_eq!(v.encoded_len(), v.to_bytes().len());
    }

    #[test]
    fn header(v in common::header(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn signed_vote(v in common::signed_vote(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn signed_proposal(v in common::signed_proposal(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn commit(v in common::commit(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn evidence(v in common::evidence(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn params(v in common::params(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn validator_set(v in common::validator_set(), m in mutation()) { check(&v, m)?; }

    #[test]
    fn random_bytes_never_panic_and_only_canonical_bytes_decode(b in prop::collection::vec(any::<u8>(), 0..512)) {
        macro_rules! try_all {
            ($($t:ty),*) => {$(
                if let Ok(x) = decode::<$t>(&b, LIMIT) {
                    prop_assert_eq!(encode(&x), b.clone());
                }
            )*};
        }
        try_all!(
            cairn_types::Tx,
            cairn_types::Block,
            cairn_types::SignedVote,
            cairn_types::SignedProposal,
            cairn_types::Commit,
            cairn_types::Evidence,
            cairn_types::ValidatorSet
        );
    }
}
