//! The evidence pool: verification, dedup, expiry against the latest block, commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use cairn_mempool::{EvidencePool, EvidencePoolError, EvidenceView};
use cairn_types::evidence::EvidenceError;
use cairn_types::{
    BlockId, ChainParams, ConsensusParams, DuplicateVoteEvidence, Evidence, Hash, SignedVote,
    SigningKey, Time, Validator, ValidatorSet, Vote, VoteKind,
};
use common::{CHAIN, key};

const T0: u64 = 1_800_000_000_000_000_000;

struct View {
    set: ValidatorSet,
    times: HashMap<u64, Time>,
}

impl EvidenceView for View {
    fn validator_set(&self, height: u64) -> Option<ValidatorSet> {
        (height >= 1).then(|| self.set.clone())
    }
    fn block_time(&self, height: u64) -> Option<Time> {
        self.times.get(&height).copied()
    }
}

fn block_time(h: u64) -> Time {
    Time(T0).plus_millis(h * 1000)
}

fn setup() -> (Vec<SigningKey>, View) {
    let keys: Vec<_> = (10..14).map(key).collect();
    let set = ValidatorSet::new(
        keys.iter()
            .map(|k| Validator::new(k.public_key(), 10))
            .collect(),
    )
    .unwrap();
    let times = (1..=1000).map(|h| (h, block_time(h))).collect();
    (keys, View { set, times })
}

fn vote(k: &SigningKey, height: u64, round: u32, value: u8) -> SignedVote {
    SignedVote::sign(
        Vote {
            kind: VoteKind::Prevote,
            height,
            round,
            value: Some(BlockId(Hash([value; 32]))),
            timestamp: block_time(height),
            validator: k.public_key().address(),
        },
        CHAIN,
        k,
    )
}

fn evidence(k: &SigningKey, height: u64, round: u32, a: u8, b: u8) -> Evidence {
    Evidence::DuplicateVote(
        DuplicateVoteEvidence::new(
            vote(k, height, round, a),
            vote(k, height, round, b),
            10,
            40,
            block_time(height),
        )
        .unwrap(),
    )
}

fn params() -> ConsensusParams {
    let mut p = ChainParams::default().consensus;
    p.evidence_max_age_blocks = 10;
    p.evidence_max_age_ms = 20_000;
    p
}

fn pool(latest: u64) -> EvidencePool {
    EvidencePool::new(CHAIN, params(), latest, block_time(latest), 100)
}

#[test]
fn valid_evidence_is_pending_once_and_proposed_after_its_height() {
    let (keys, view) = setup();
    let mut p = pool(50);
    let ev = evidence(&keys[0], 48, 0, 1, 2);
    let h = p.add(ev.clone(), &view).unwrap();
    assert_eq!(h, ev.hash());
    assert!(p.is_pending(&h));
    assert_eq!(
        p.add(ev.clone(), &view),
        Err(EvidencePoolError::Duplicate { hash: h })
    );
    // Another conflicting pair for the same offence is a duplicate too.
    let e = p.add(evidence(&keys[0], 48, 0, 1, 3), &view).unwrap_err();
    assert!(matches!(e, EvidencePoolError::Duplicate { .. }));
    assert!(!e.is_bad_evidence());
    // Evidence of the height in progress (51) is accepted, offered from 52.
    let cur = evidence(&keys[1], 51, 2, 4, 5);
    p.add(cur.clone(), &view).unwrap();
    assert_eq!(p.pending_for_block(51, 1 << 20), vec![ev.clone()]);
    assert_eq!(p.pending_for_block(52, 1 << 20), vec![ev.clone(), cur]);
    // The byte limit applies to the encoded evidence.
    let one = cairn_types::codec::encode(&ev).len();
    assert_eq!(p.pending_for_block(52, one).len(), 1);
    assert!(p.pending_for_block(52, one - 1).is_empty());
}

#[test]
fn forged_or_wrong_evidence_is_bad() {
    let (keys, view) = setup();
    let mut p = pool(50);
    // Bad signature.
    let Evidence::DuplicateVote(mut d) = evidence(&keys[0], 48, 0, 1, 2);
    d.vote_b.signature.0[3] ^= 1;
    let e = p.add(Evidence::DuplicateVote(d), &view).unwrap_err();
    assert!(
        matches!(e, EvidencePoolError::Invalid(EvidenceError::Signature(_))),
        "{e}"
    );
    assert!(e.is_bad_evidence() && e.penalise_sender());
    // Not a validator.
    let e = p.add(evidence(&key(99), 48, 0, 1, 2), &view).unwrap_err();
    assert!(matches!(
        e,
        EvidencePoolError::Invalid(EvidenceError::UnknownValidator(_))
    ));
    assert!(e.is_bad_evidence());
    // Wrong stated power.
    let Evidence::DuplicateVote(mut d) = evidence(&keys[0], 48, 0, 1, 2);
    d.validator_power = 11;
    let e = p.add(Evidence::DuplicateVote(d), &view).unwrap_err();
    assert!(matches!(
        e,
        EvidencePoolError::Invalid(EvidenceError::WrongPower { .. })
    ));
    // Wrong infraction time.
    let Evidence::DuplicateVote(mut d) = evidence(&keys[0], 48, 0, 1, 2);
    d.timestamp = block_time(47);
    let e = p.add(Evidence::DuplicateVote(d), &view).unwrap_err();
    assert!(matches!(e, EvidencePoolError::WrongTime { height: 48, .. }));
    assert!(e.is_bad_evidence());
    assert!(p.is_empty());
}

#[test]
fn age_is_measured_against_the_latest_block_in_blocks_and_time() {
    let (keys, view) = setup();
    // 12 blocks old but only 12 s: younger than 20 s, still valid.
    let mut p = pool(60);
    p.add(evidence(&keys[0], 49, 0, 1, 2), &view).unwrap();
    // At latest 80 (31 blocks, 31 s): too old in both.
    let mut p = pool(80);
    let e = p.add(evidence(&keys[0], 49, 0, 1, 2), &view).unwrap_err();
    assert!(matches!(
        e,
        EvidencePoolError::Invalid(EvidenceError::Expired { .. })
    ));
    assert!(
        !e.is_bad_evidence(),
        "expired evidence may come from a peer that is behind"
    );
    // Beyond the height in progress: unknown.
    let e = p.add(evidence(&keys[0], 82, 0, 1, 2), &view).unwrap_err();
    assert_eq!(e, EvidencePoolError::UnknownHeight { height: 82 });
}

#[test]
fn pending_evidence_expires_on_update_and_committed_is_never_readded() {
    let (keys, view) = setup();
    let mut p = pool(50);
    let old = evidence(&keys[0], 45, 0, 1, 2);
    let newer = evidence(&keys[1], 49, 0, 1, 2);
    let other = evidence(&keys[2], 49, 0, 1, 2);
    p.add(old.clone(), &view).unwrap();
    p.add(newer.clone(), &view).unwrap();
    p.add(other.clone(), &view).unwrap();
    // Block 51 includes `newer`.
    let dropped = p.update(51, block_time(51), params(), std::slice::from_ref(&newer));
    assert!(dropped.is_empty());
    assert!(p.is_committed(&newer.hash()));
    assert_eq!(
        p.add(newer.clone(), &view),
        Err(EvidencePoolError::AlreadyCommitted { hash: newer.hash() })
    );
    assert!(p.check_not_committed(&newer).is_err());
    assert!(p.check_not_committed(&other).is_ok());
    // Time passes in blocks but not in time: nothing expires (AND rule).
    let dropped = p.update(70, block_time(52), params(), &[]);
    assert!(dropped.is_empty());
    // Both in blocks and time: `old` (45) expires, `other` (49) too at 66+.
    let dropped = p.update(70, block_time(70), params(), &[]);
    assert_eq!(dropped.len(), 2);
    assert!(p.is_empty());
    // And the committed record is forgotten once it could not be valid anyway.
    assert!(!p.is_committed(&newer.hash()));
}

#[test]
fn pool_is_bounded() {
    let (keys, view) = setup();
    let mut p = EvidencePool::new(CHAIN, params(), 50, block_time(50), 1);
    p.add(evidence(&keys[0], 48, 0, 1, 2), &view).unwrap();
    let e = p.add(evidence(&keys[1], 48, 0, 1, 2), &view).unwrap_err();
    assert_eq!(e, EvidencePoolError::Full { max: 1 });
    assert!(!e.is_bad_evidence());
}
