//! Block store, proofs, pruning and the open-time check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_state::{MerkleProof, StateError, StateKey, Store, StoreOptions, verify_proof};
use cairn_types::Bytes;
use cairn_types::Hash;
use cairn_types::tx::{Msg, PutCondition};
use common::*;

fn chain(
    blocks: u64,
    options: StoreOptions,
) -> (tempfile::TempDir, cairn_genesis::testnet::Testnet, Store) {
    let net = testnet(11, 3, 3, small_params());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &net.genesis, options).unwrap();
    for i in 0..blocks {
        let a = &net.accounts[(i % 3) as usize];
        let nonce = store.account(&addr(a)).unwrap().nonce;
        let put = tx(
            a,
            nonce,
            1,
            Msg::Put {
                key: Bytes(format!("k{i}").into_bytes()),
                value: Bytes(vec![i as u8; 8]),
                condition: PutCondition::Always,
            },
        );
        apply(&store, vec![put], vec![]);
    }
    (dir, net, store)
}

#[test]
fn inclusion_and_exclusion_proofs_verify_and_nothing_else_does() {
    let (_d, net, store) = chain(5, StoreOptions::default());
    let a = addr(&net.accounts[0]);
    let key = StateKey::Account(a);
    let q = store.query(&key, None, true).unwrap();
    let value = q.value.clone().unwrap();
    let proof = q.proof.clone().unwrap();
    assert_eq!(q.root, store.app_hash().unwrap());
    let kb = key.to_bytes();
    verify_proof(&proof, &q.root, &kb, Some(&value)).unwrap();
    // Another root, key or value fails; so does claiming absence.
    assert!(verify_proof(&proof, &Hash([0; 32]), &kb, Some(&value)).is_err());
    let other_key = StateKey::Account(addr(&net.accounts[1])).to_bytes();
    assert!(verify_proof(&proof, &q.root, &other_key, Some(&value)).is_err());
    let mut other_value = value.clone();
    other_value[0] ^= 1;
    assert!(verify_proof(&proof, &q.root, &kb, Some(&other_value)).is_err());
    assert!(verify_proof(&proof, &q.root, &kb, None).is_err());
    // Through bytes (as RPC carries it).
    let back = MerkleProof::from_bytes(&proof.to_bytes()).unwrap();
    verify_proof(&back, &q.root, &kb, Some(&value)).unwrap();
    assert!(MerkleProof::from_bytes(&[1, 2, 3]).is_err());

    // Exclusion: a key never written.
    let absent = StateKey::Put {
        owner: a,
        key: b"nope".to_vec(),
    };
    let q = store.query(&absent, None, true).unwrap();
    assert!(q.value.is_none());
    let proof = q.proof.unwrap();
    verify_proof(&proof, &q.root, &absent.to_bytes(), None).unwrap();
    assert!(verify_proof(&proof, &q.root, &absent.to_bytes(), Some(b"x")).is_err());
    assert!(verify_proof(&proof, &Hash([3; 32]), &absent.to_bytes(), None).is_err());
    // An exclusion proof does not prove absence of a key that exists.
    assert!(verify_proof(&proof, &q.root, &kb, None).is_err());
}

#[test]
fn historical_proofs_verify_against_the_header_that_carries_the_root() {
    let (_d, net, store) = chain(6, StoreOptions::default());
    let owner = addr(&net.accounts[0]);
    let key = StateKey::Put {
        owner,
        key: b"k0".to_vec(),
    };
    for h in 0..=6u64 {
        let q = store.query(&key, Some(h), true).unwrap();
        // Version h's root is the app hash of header h + 1.
        if h < 6 {
            assert_eq!(q.root, store.block(h + 1).unwrap().unwrap().header.app_hash);
        }
        let v = q.value.as_deref();
        assert_eq!(v.is_some(), h >= 1, "k0 is written in block 1");
        verify_proof(q.proof.as_ref().unwrap(), &q.root, &key.to_bytes(), v).unwrap();
    }
}

#[test]
fn pruning_keeps_recent_versions_blocks_and_evidence_age_sets_and_the_same_hashes() {
    let (dp, net, pruned) = chain(
        30,
        StoreOptions {
            keep_recent: Some(3),
            ..StoreOptions::default()
        },
    );
    let (df, _, full) = chain(30, StoreOptions::default());
    assert_eq!(pruned.app_hash().unwrap(), full.app_hash().unwrap());
    let latest = pruned.latest_height().unwrap();
    assert_eq!(pruned.oldest_state_height().unwrap(), latest - 2);
    match pruned.query(&StateKey::Params, Some(latest - 3), false) {
        Err(StateError::NotRetained { .. }) => {}
        other => panic!("expected NotRetained, got {other:?}"),
    }
    // Every retained version still answers with verifying proofs, for every key written.
    for h in latest - 2..=latest {
        for i in 0..30 {
            let key = StateKey::Put {
                owner: addr(&net.accounts[i % 3]),
                key: format!("k{i}").into_bytes(),
            };
            let q = pruned.query(&key, Some(h), true).unwrap();
            let f = full.query(&key, Some(h), false).unwrap();
            assert_eq!(q.value, f.value);
            verify_proof(
                q.proof.as_ref().unwrap(),
                &q.root,
                &key.to_bytes(),
                q.value.as_deref(),
            )
            .unwrap();
        }
    }
    // Blocks are kept; validator sets are kept for the evidence max age (8 blocks, 8 s).
    assert!(pruned.block(1).unwrap().is_some());
    assert!(pruned.validators_at(latest - 9).unwrap().is_some());
    assert!(pruned.validators_at(2).unwrap().is_none());
    assert!(full.validators_at(2).unwrap().is_some());
    // Old tree nodes and value versions are really gone.
    drop(pruned);
    drop(full);
    let count = |dir: &std::path::Path, cf: &str| {
        let db = raw_db(dir);
        db.iterator_cf(db.cf_handle(cf).unwrap(), rocksdb::IteratorMode::Start)
            .count()
    };
    let (p, f) = (count(dp.path(), "jmt_nodes"), count(df.path(), "jmt_nodes"));
    assert!(p * 2 < f, "jmt_nodes: pruned store has {p}, full store {f}");
    // Values: the pruned store keeps about one version per live key.
    let (p, f) = (
        count(dp.path(), "jmt_values"),
        count(df.path(), "jmt_values"),
    );
    let live = count(dp.path(), "state");
    assert!(
        p < f && p <= live + 10,
        "jmt_values: pruned {p}, full {f}, live keys {live}"
    );
    // And it reopens cleanly.
    let reopened = Store::open(
        dp.path(),
        &net.genesis,
        StoreOptions {
            keep_recent: Some(3),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    assert_eq!(reopened.open_report().height, 30);
}

fn raw_db(dir: &std::path::Path) -> rocksdb::DB {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir).unwrap();
    rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, cfs).unwrap()
}

fn open_err(dir: &std::path::Path, g: &cairn_genesis::GenesisDoc) -> String {
    match Store::open(dir, g, StoreOptions::default()) {
        Err(e @ StateError::Inconsistent { .. }) => e.to_string(),
        Err(e) => panic!("expected Inconsistent, got {e}"),
        Ok(s) => panic!("opened at {:?}", s.open_report()),
    }
}

#[test]
fn open_refuses_a_store_whose_pieces_disagree() {
    // Missing latest block.
    let (dir, net, store) = chain(4, StoreOptions::default());
    drop(store);
    {
        let db = raw_db(dir.path());
        db.delete_cf(db.cf_handle("blocks").unwrap(), 4u64.to_be_bytes())
            .unwrap();
    }
    let e = open_err(dir.path(), &net.genesis);
    assert!(e.contains("latest stored block is 3"), "{e}");

    // Stored app hash that is not the Merkle root.
    let (dir, net, store) = chain(4, StoreOptions::default());
    drop(store);
    {
        let db = raw_db(dir.path());
        db.put(b"app_hash", [7u8; 32]).unwrap();
    }
    let e = open_err(dir.path(), &net.genesis);
    assert!(e.contains("differs from the Merkle root"), "{e}");

    // Height that runs ahead of the blocks.
    let (dir, net, store) = chain(4, StoreOptions::default());
    drop(store);
    {
        let db = raw_db(dir.path());
        db.put(b"height", 5u64.to_be_bytes()).unwrap();
    }
    let e = open_err(dir.path(), &net.genesis);
    assert!(e.contains("height 5"), "{e}");

    // A block whose stored bytes changed under its height record.
    let (dir, net, store) = chain(4, StoreOptions::default());
    let mut b = store.block(4).unwrap().unwrap();
    drop(store);
    b.header.time = b.header.time.plus_millis(1);
    {
        let db = raw_db(dir.path());
        db.put_cf(
            db.cf_handle("blocks").unwrap(),
            4u64.to_be_bytes(),
            b.to_bytes(),
        )
        .unwrap();
    }
    let e = open_err(dir.path(), &net.genesis);
    assert!(e.contains("block 4 hashes to"), "{e}");
}

#[test]
fn block_store_reads_by_height_and_hash() {
    let (_d, _net, store) = chain(3, StoreOptions::default());
    let b2 = store.block(2).unwrap().unwrap();
    assert_eq!(store.block_by_hash(&b2.id()).unwrap().unwrap(), b2);
    assert_eq!(store.commit_at(2).unwrap().unwrap().block_id, b2.id());
    assert_eq!(store.height_record(2).unwrap().unwrap().block_id, b2.id());
    let results = store.block_results(2).unwrap().unwrap();
    assert_eq!(results.len(), 1);
    assert!(store.block(4).unwrap().is_none());
    assert_eq!(store.params_at(4).unwrap(), Some(small_params()));
    assert_eq!(store.params_at(5).unwrap(), None);
    assert!(store.validators_at(5).unwrap().is_some());
    assert!(store.validators_at(6).unwrap().is_none());
}
