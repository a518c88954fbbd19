//! WAL frames: round trips, torn tails, corruption; replay restores the
//! exact round state, locks included.

mod common;

use cairn_consensus::wal::{self, TornTail, WalError, WalRecord};
use cairn_consensus::{Input, Output, Step};
use cairn_types::Time;
use common::*;

fn records() -> Vec<WalRecord> {
    let w = World::four();
    vec![
        WalRecord::NewHeight {
            height: HEIGHT,
            now: T,
        },
        WalRecord::Input {
            now: T,
            input: w.proposal(0, 'A', None, true),
        },
        WalRecord::Input {
            now: Time(T.0 + 1),
            input: w.prevote(w.others()[0], 0, Some('A')),
        },
        WalRecord::Input {
            now: Time(T.0 + 2),
            input: w.timeout(0, Step::Prevote),
        },
    ]
}

fn log(records: &[WalRecord]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut starts = Vec::new();
    for r in records {
        starts.push(buf.len());
        buf.extend(wal::encode_record(r));
    }
    (buf, starts)
}

#[test]
fn whole_log_round_trips() {
    let recs = records();
    let (buf, _) = log(&recs);
    let d = wal::decode(&buf).unwrap();
    assert_eq!(d.records, recs);
    assert_eq!(d.torn_tail, None);
    assert_eq!(wal::decode(&[]).unwrap().records, vec![]);
}

#[test]
fn torn_tail_is_tolerated_and_reported() {
    let recs = records();
    let (buf, starts) = log(&recs);
    let last = *starts.last().unwrap();
    // Every cut inside the last frame: the first three records survive.
    for cut in last + 1..buf.len() {
        let d = wal::decode(&buf[..cut]).unwrap();
        assert_eq!(d.records, recs[..3], "cut at {cut}");
        assert_eq!(
            d.torn_tail,
            Some(TornTail {
                offset: last,
                len: cut - last
            }),
            "cut at {cut}"
        );
    }
    // The last frame whole but its body damaged (a partly written page).
    let mut damaged = buf.clone();
    let end = damaged.len() - 1;
    damaged[end] ^= 0xff;
    let d = wal::decode(&damaged).unwrap();
    assert_eq!(d.records, recs[..3]);
    assert!(d.torn_tail.is_some());
    // A file extended with zeros but never written.
    let mut zeros = buf.clone();
    zeros.extend([0u8; 100]);
    let d = wal::decode(&zeros).unwrap();
    assert_eq!(d.records, recs);
    assert_eq!(d.torn_tail.map(|t| t.len), Some(100));
}

#[test]
fn corruption_before_the_tail_is_an_error() {
    let recs = records();
    let (buf, starts) = log(&recs);
    // A flipped bit in the body of the second record.
    let mut bad = buf.clone();
    bad[starts[1] + 20] ^= 1;
    assert!(matches!(
        wal::decode(&bad),
        Err(WalError::Corrupt { offset, .. }) if offset == starts[1]
    ));
    // A flipped bit in a length field.
    let mut bad = buf.clone();
    bad[starts[2]] ^= 1;
    assert!(matches!(
        wal::decode(&bad),
        Err(WalError::Corrupt { offset, .. }) if offset == starts[2]
    ));
    // A flipped bit in a body checksum.
    let mut bad = buf.clone();
    bad[starts[0] + 9] ^= 1;
    assert!(matches!(
        wal::decode(&bad),
        Err(WalError::Corrupt { offset: 0, .. })
    ));
}

/// Drives one core through a locking scenario, recording every input as the
/// shell would, then replays the records into a fresh core.
#[test]
fn replay_restores_the_exact_round_state_with_locks() {
    let w = World::four();
    let o = w.others();
    let mut core = w.core();
    let mut recs = vec![WalRecord::NewHeight {
        height: HEIGHT,
        now: T,
    }];
    let mut pending: Vec<Output> = core.start(T);
    let mut script: Vec<Input> = vec![w.proposal(0, 'A', None, true)];
    script.extend(w.prevotes(&o[..2], 0, Some('A')));
    script.extend(w.precommits(&o[..2], 0, None));
    script.push(w.timeout(0, Step::Precommit));
    script.push(w.proposal(1, 'B', None, true));
    let mut now = T;
    for input in script {
        // Own messages first, as the shell feeds them back after signing.
        for own in w.feed_back(&pending) {
            recs.push(WalRecord::Input {
                now,
                input: own.clone(),
            });
            core.handle(now, own);
        }
        now = Time(now.0 + 1_000_000);
        recs.push(WalRecord::Input {
            now,
            input: input.clone(),
        });
        pending = core.handle(now, input);
    }
    let before = core.round_state();
    assert_eq!(before.round, 1);
    assert!(
        before.locked.is_some(),
        "the scenario must lock: {before:?}"
    );

    // Other heights before it in the same log are skipped.
    let mut full = vec![WalRecord::NewHeight {
        height: HEIGHT - 1,
        now: T,
    }];
    full.extend(recs.clone());
    let (buf, _) = log(&full);
    let decoded = wal::decode(&buf).unwrap();
    let mine = wal::records_for_height(&decoded.records, HEIGHT);
    assert_eq!(mine, &recs[..]);

    let mut fresh = w.core();
    wal::replay(&mut fresh, mine);
    assert_eq!(fresh.round_state(), before);
    assert_eq!(fresh.state_digest(), core.state_digest());

    // Dropping any one record changes the state: the digest is not trivially equal.
    let mut partial = w.core();
    wal::replay(&mut partial, &mine[..mine.len() - 3]);
    assert_ne!(partial.state_digest(), core.state_digest());
}
