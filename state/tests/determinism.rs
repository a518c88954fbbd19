//! Determinism and conservation over seeded random block sequences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_state::{DbTuning, Signatures, Store, StoreOptions, codes};
use common::scenario::{Actors, random_block, rng};
use common::*;
use proptest::prelude::*;

/// Feeds one seeded block sequence to two stores (one with the default
/// execution caches and no pruning, one pruning and without caches) and
/// checks, after every block: re-execution gives the same result, both
/// stores agree on the app hash and results, and supply is conserved.
fn run(seed: u64, blocks: usize) -> (usize, usize, usize) {
    let net = testnet(seed % 5, 3, 6, small_params());
    let actors = Actors::new(&net);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), &net.genesis);
    let b = Store::open(
        db.path(),
        &net.genesis,
        StoreOptions {
            keep_recent: Some(2),
            tuning: DbTuning {
                exec_cache_bytes: 0,
                ..DbTuning::default()
            },
        },
    )
    .unwrap();
    assert_eq!(a.app_hash().unwrap(), b.app_hash().unwrap());
    let genesis_supply = a.supply_audit().unwrap().genesis_supply;
    let mut r = rng(seed);
    let (mut failures, mut slashes, mut set_changes) = (0, 0, 0);
    for _ in 0..blocks {
        let block = random_block(&a, &actors, &mut r, 30);
        let first = a.execute_block(&block, Signatures::Verify).unwrap();
        let again = a.execute_block(&block, Signatures::Trusted).unwrap();
        assert_eq!(
            first.app_hash, again.app_hash,
            "seed {seed}: re-execution differs"
        );
        assert_eq!(first.results, again.results, "seed {seed}");
        let commit = commit_for(&block);
        a.commit(&block, &commit, first).unwrap();
        let eb = b.apply_block(&block, &commit, Signatures::Trusted).unwrap();
        assert_eq!(
            a.app_hash().unwrap(),
            eb.app_hash,
            "seed {seed} height {}",
            eb.height
        );
        assert_eq!(
            a.block_results(eb.height).unwrap().unwrap().len(),
            eb.results.len()
        );
        assert_eq!(
            a.validators_at(eb.height + 2).unwrap(),
            b.validators_at(eb.height + 2).unwrap()
        );
        for s in [&a, &b] {
            let audit = s.supply_audit().unwrap();
            assert!(audit.holds(), "seed {seed} height {}: {audit:?}", eb.height);
            assert_eq!(audit.genesis_supply, genesis_supply);
        }
        failures += eb.results.iter().filter(|r| r.code != codes::OK).count();
        slashes += eb.evidence.iter().filter(|e| e.slashed > 0).count();
        set_changes += usize::from(!eb.validator_updates.is_empty());
    }
    // A reopened store reproduces the same head.
    let root = a.app_hash().unwrap();
    drop(a);
    let a = open(da.path(), &net.genesis);
    assert_eq!(a.open_report().app_hash, root);
    (failures, slashes, set_changes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn two_stores_agree_and_supply_is_conserved(seed in any::<u64>()) {
        run(seed, 25);
    }
}

/// The generator really reaches failures, slashes and validator changes
/// (otherwise the property above would prove little).
#[test]
fn scenarios_reach_failures_slashes_and_validator_changes() {
    let (mut f, mut s, mut c) = (0, 0, 0);
    for seed in 0..6 {
        let (f1, s1, c1) = run(seed, 40);
        f += f1;
        s += s1;
        c += c1;
    }
    eprintln!("failures {f}, slashes {s}, blocks with validator changes {c}");
    assert!(f > 100, "failures {f}");
    assert!(s >= 2, "slashes {s}");
    assert!(c >= 5, "validator set changes {c}");
}
