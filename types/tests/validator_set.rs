//! Proposer selection against hand-computed sequences, and commit verification.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cairn_types::Time;
use cairn_types::block::{BlockId, Commit, CommitSig};
use cairn_types::crypto::{Hash, PublicKey, SigningKey};
use cairn_types::validator::{CommitError, Validator, ValidatorSet};
use cairn_types::vote::{SignedVote, Vote, VoteKind};

/// Keys sorted by address, so `keys[0]` has the lowest address.
fn sorted_keys(n: usize) -> Vec<SigningKey> {
    let mut keys: Vec<SigningKey> = (0..n as u8)
        .map(|i| SigningKey::from_seed([i + 1; 32]))
        .collect();
    keys.sort_by_key(|k| k.public_key().address());
    keys
}

fn set_of(keys: &[SigningKey], powers: &[u64]) -> ValidatorSet {
    ValidatorSet::new(
        keys.iter()
            .zip(powers)
            .map(|(k, p)| Validator::new(k.public_key(), *p))
            .collect(),
    )
    .unwrap()
}

/// The proposers of `heights` consecutive heights, as indexes into `keys`.
fn proposer_sequence(keys: &[SigningKey], set: &ValidatorSet, heights: usize) -> Vec<usize> {
    let mut set = set.clone();
    let mut out = Vec::new();
    for _ in 0..heights {
        let p = set.proposer().pub_key;
        out.push(keys.iter().position(|k| k.public_key() == p).unwrap());
        set = set.advanced();
    }
    out
}

#[test]
fn powers_1_2_3_rotate_as_computed_by_hand() {
    // A=1, B=2, C=3 (A has the lowest address), total 6. Priorities after each
    // increment (add power, highest wins with ties to the lower address, winner
    // pays the total; the average is 0 throughout):
    //   [1,2,3]->C [1,2,-3] | [2,4,0]->B [2,-2,0] | [3,0,3]->A (tie, lower address) [-3,0,3]
    //   [-2,2,6]->C [-2,2,0] | [-1,4,3]->B [-1,-2,3] | [0,0,6]->C [0,0,0] and it repeats.
    let keys = sorted_keys(3);
    let set = set_of(&keys, &[1, 2, 3]);
    assert_eq!(
        proposer_sequence(&keys, &set, 12),
        vec![2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2]
    );
}

#[test]
fn powers_1_10_give_the_small_validator_one_turn_in_eleven() {
    // A=1, B=10, total 11. After k wins by B the priorities are [k, -k]; A wins
    // when k+1 > -k+10, i.e. at k=5: [6,5]->A [-5,5]; then B five more times back to [0,0].
    let keys = sorted_keys(2);
    let set = set_of(&keys, &[1, 10]);
    let mut expected = vec![1; 5];
    expected.push(0);
    expected.extend([1; 5]);
    expected.extend([1; 5]);
    assert_eq!(proposer_sequence(&keys, &set, 16), expected);
}

#[test]
fn equal_powers_round_robin_in_address_order() {
    let keys = sorted_keys(4);
    let set = set_of(&keys, &[5, 5, 5, 5]);
    assert_eq!(
        proposer_sequence(&keys, &set, 8),
        vec![0, 1, 2, 3, 0, 1, 2, 3]
    );
}

#[test]
fn proposer_for_round_is_the_copy_incremented_round_times() {
    let keys = sorted_keys(3);
    let set = set_of(&keys, &[1, 2, 3]);
    // Rounds of one height follow the same sequence as heights do.
    let seq = proposer_sequence(&keys, &set, 6);
    for (round, want) in seq.iter().enumerate() {
        let p = set.proposer_for_round(round as u32);
        assert_eq!(p.pub_key, keys[*want].public_key(), "round {round}");
    }
}

#[test]
fn a_joining_validator_starts_at_minus_one_and_an_eighth_of_the_total() {
    let keys = sorted_keys(4);
    let set = set_of(&keys[..3], &[10, 10, 10]);
    let next = set.with_changes(vec![(keys[3].public_key(), 10)]).unwrap();
    // Total after the update is 40, so the newcomer starts at -45 before centring.
    // Centring subtracts the average of [p0, p1, p2, -45] (floor division).
    let old: Vec<i64> = set
        .validators()
        .iter()
        .map(|v| v.proposer_priority)
        .collect();
    let sum: i64 = old.iter().sum::<i64>() - 45;
    let avg = sum.div_euclid(4);
    let newcomer = next.get(&keys[3].public_key().address()).unwrap();
    assert_eq!(newcomer.proposer_priority, -45 - avg);
    // Removing with power 0 works and an empty set is refused.
    let smaller = next.with_changes(vec![(keys[3].public_key(), 0)]).unwrap();
    assert_eq!(smaller.len(), 3);
    let all_gone = set.with_changes(keys[..3].iter().map(|k| (k.public_key(), 0)).collect());
    assert!(all_gone.is_err());
}

#[test]
fn set_order_is_power_descending_then_address() {
    let keys = sorted_keys(3);
    let set = set_of(&keys, &[1, 3, 3]);
    let order: Vec<PublicKey> = set.validators().iter().map(|v| v.pub_key).collect();
    assert_eq!(
        order,
        vec![
            keys[1].public_key(),
            keys[2].public_key(),
            keys[0].public_key()
        ]
    );
}

#[test]
fn duplicates_and_zero_power_are_refused() {
    let keys = sorted_keys(2);
    let dup = vec![
        Validator::new(keys[0].public_key(), 1),
        Validator::new(keys[0].public_key(), 2),
    ];
    assert!(ValidatorSet::new(dup).is_err());
    assert!(ValidatorSet::new(vec![Validator::new(keys[0].public_key(), 0)]).is_err());
    assert!(ValidatorSet::new(vec![]).is_err());
}

const CHAIN: &str = "test-chain";

fn commit_from(
    keys: &[SigningKey],
    set: &ValidatorSet,
    signers: &[bool],
    block: BlockId,
) -> Commit {
    let mut signatures = Vec::new();
    for v in set.validators() {
        let idx = keys
            .iter()
            .position(|k| k.public_key() == v.pub_key)
            .unwrap();
        if !signers[idx] {
            signatures.push(CommitSig::Absent);
            continue;
        }
        let vote = Vote {
            kind: VoteKind::Precommit,
            height: 5,
            round: 1,
            value: Some(block),
            timestamp: Time(1_000 + idx as u64),
            validator: v.address,
        };
        let sv = SignedVote::sign(vote, CHAIN, &keys[idx]);
        signatures.push(CommitSig::ForBlock {
            timestamp: sv.vote.timestamp,
            signature: sv.signature,
        });
    }
    Commit {
        height: 5,
        round: 1,
        block_id: block,
        signatures,
    }
}

#[test]
fn commit_needs_more_than_two_thirds_of_power_not_of_count() {
    let keys = sorted_keys(4);
    // Powers 1,1,1,4 (total 7): the three small ones hold 3, not enough;
    // the big one plus one small hold 5 > 2/3 * 7.
    let set = set_of(&keys, &[1, 1, 1, 4]);
    let block = BlockId(Hash::digest(b"block"));
    let three_small = commit_from(&keys, &set, &[true, true, true, false], block);
    assert_eq!(
        set.verify_commit(CHAIN, 5, &block, &three_small),
        Err(CommitError::InsufficientPower {
            signed: 3,
            total: 7
        })
    );
    let big_and_one = commit_from(&keys, &set, &[true, false, false, true], block);
    assert_eq!(set.verify_commit(CHAIN, 5, &block, &big_and_one), Ok(()));
    // Exactly 2/3 is not enough: powers 1,1,1 with two signers.
    let set3 = set_of(&keys[..3], &[1, 1, 1]);
    let two = commit_from(&keys[..3], &set3, &[true, true, false], block);
    assert!(matches!(
        set3.verify_commit(CHAIN, 5, &block, &two),
        Err(CommitError::InsufficientPower { .. })
    ));
}

#[test]
fn commit_with_a_bad_signature_or_wrong_context_fails() {
    let keys = sorted_keys(4);
    let set = set_of(&keys, &[1, 1, 1, 1]);
    let block = BlockId(Hash::digest(b"block"));
    let good = commit_from(&keys, &set, &[true; 4], block);
    assert_eq!(set.verify_commit(CHAIN, 5, &block, &good), Ok(()));
    assert!(set.verify_commit("other-chain", 5, &block, &good).is_err());
    assert!(set.verify_commit(CHAIN, 6, &block, &good).is_err());
    let other = BlockId(Hash::digest(b"other"));
    assert!(set.verify_commit(CHAIN, 5, &other, &good).is_err());
    let mut tampered = good.clone();
    if let CommitSig::ForBlock { signature, .. } = &mut tampered.signatures[2] {
        signature.0[10] ^= 0x40;
    }
    assert_eq!(
        set.verify_commit(CHAIN, 5, &block, &tampered),
        Err(CommitError::BadSignature(set.validators()[2].address))
    );
    let mut short = good.clone();
    short.signatures.pop();
    assert!(matches!(
        set.verify_commit(CHAIN, 5, &block, &short),
        Err(CommitError::WrongSize { .. })
    ));
}

#[test]
fn median_time_is_weighted_by_power() {
    let keys = sorted_keys(4);
    let set = set_of(&keys, &[1, 1, 1, 10]);
    let block = BlockId(Hash::digest(b"block"));
    let c = commit_from(&keys, &set, &[true; 4], block);
    // The validator with power 10 holds more than half: its timestamp is the median.
    let big = keys
        .iter()
        .position(|k| k.public_key() == set.validators()[0].pub_key)
        .unwrap();
    assert_eq!(set.median_time(&c), Time(1_000 + big as u64));
}
