//! Admission, ordering, limits, eviction, recheck and caches of the mempool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_mempool::{Mempool, MempoolError, Recheck};
use cairn_types::tx::{TxError, tx_hash};
use cairn_types::{Address, Bytes, Msg, PublicKey, Signature, Tx, TxBody};
use common::*;

fn nonces_of(reaped: &[Bytes], k: &cairn_types::SigningKey) -> Vec<u64> {
    reaped
        .iter()
        .map(|b| decode(b))
        .filter(|t| t.body.sender == k.public_key())
        .map(|t| t.body.nonce)
        .collect()
}

#[test]
fn valid_tx_is_admitted_and_reaped() {
    let a = key(1);
    let st = State::with(&[&a], 1_000_000);
    let mut mp = pool();
    let b = tx(&a, 0, 1_000, 5);
    let ok = mp.check_tx(b.clone(), &st).unwrap();
    assert_eq!(ok.hash, tx_hash(&b));
    assert!(!ok.future);
    assert!(ok.evicted.is_empty());
    assert_eq!(mp.len(), 1);
    assert_eq!(mp.total_bytes(), b.len());
    assert_eq!(mp.get(&ok.hash), Some(&b[..]));
    assert_eq!(mp.reap(1 << 20, 100), vec![Bytes(b)]);
    mp.check_invariants().unwrap();
}

#[test]
fn stateless_failures_are_bad_transactions() {
    let a = key(1);
    let st = State::with(&[&a], 1_000_000);
    let mut mp = pool();

    // Oversized: refused before hashing or decoding.
    let mut small = config();
    small.max_tx_bytes = 50;
    let mut tiny = Mempool::new(small, 1);
    let e = tiny.check_tx(tx(&a, 0, 1000, 1), &st).unwrap_err();
    assert!(matches!(e, MempoolError::TooLarge { max: 50, .. }), "{e}");
    assert!(e.is_bad_transaction());

    // Garbage.
    let e = mp.check_tx(vec![1, 2, 3], &st).unwrap_err();
    assert!(
        matches!(e, MempoolError::Invalid(TxError::Decode(_))),
        "{e}"
    );
    assert!(e.is_bad_transaction() && e.penalise_sender());

    // Trailing byte: not canonical.
    let mut b = tx(&a, 0, 1000, 1);
    b.push(0);
    let e = mp.check_tx(b, &st).unwrap_err();
    assert!(
        matches!(e, MempoolError::Invalid(TxError::Decode(_))),
        "{e}"
    );

    // Another chain.
    let mut body = body(a.public_key(), 0, 1000, 1);
    body.chain_id = "other".into();
    let e = mp.check_tx(Tx::sign(body, &a).to_bytes(), &st).unwrap_err();
    assert!(
        matches!(e, MempoolError::Invalid(TxError::WrongChain { .. })),
        "{e}"
    );
    assert!(e.is_bad_transaction());

    // Forged signature: refused, then remembered as invalid.
    let mut t = decode(&tx(&a, 0, 1000, 1));
    t.signature.0[0] ^= 1;
    let forged = t.to_bytes();
    let e = mp.check_tx(forged.clone(), &st).unwrap_err();
    assert!(matches!(e, MempoolError::BadSignature { .. }), "{e}");
    assert!(e.is_bad_transaction());
    let e = mp.check_tx(forged, &st).unwrap_err();
    assert!(matches!(e, MempoolError::KnownInvalid { .. }), "{e}");
    assert!(e.is_bad_transaction());

    // Small-order sender key (the identity point) "signs" anything under ZIP-215.
    let mut ident = [0u8; 32];
    ident[0] = 1;
    let t = Tx {
        body: body_for(PublicKey(ident)),
        signature: Signature([0; 64]),
    };
    let e = mp.check_tx(t.to_bytes(), &st).unwrap_err();
    assert!(
        matches!(e, MempoolError::Invalid(TxError::SenderKey(_))),
        "{e}"
    );
    assert!(e.is_bad_transaction());
    assert!(mp.is_empty());
}

fn body_for(sender: PublicKey) -> TxBody {
    body(sender, 0, 1000, 1)
}

#[test]
fn stateful_failures_are_not_the_peers_fault() {
    let a = key(1);
    let mut st = State::with(&[&a], 10_000);
    st.set(&a, 10_000, 5);
    st.min_fee_per_byte = 2;
    let size = transfer_size() as u64;
    let fee = 2 * size;
    let mut mp = pool();

    let e = mp.check_tx(tx(&a, 4, fee, 1), &st).unwrap_err();
    assert_eq!(
        e,
        MempoolError::NonceTooLow {
            nonce: 4,
            expected: 5
        }
    );
    let e = mp.check_tx(tx(&a, 5, fee - 1, 1), &st).unwrap_err();
    assert!(matches!(e, MempoolError::FeeTooLow { .. }), "{e}");
    let e = mp.check_tx(tx(&a, 5 + 64, fee, 1), &st).unwrap_err();
    assert!(
        matches!(e, MempoolError::NonceTooFarAhead { window: 64, .. }),
        "{e}"
    );

    mp.check_tx(tx(&a, 5, fee, 1), &st).unwrap();
    let e = mp.check_tx(tx(&a, 5, fee + 1, 1), &st).unwrap_err();
    assert_eq!(e, MempoolError::NonceAlreadyPending { nonce: 5 });
    let dup = tx(&a, 5, fee, 1);
    let e = mp.check_tx(dup, &st).unwrap_err();
    assert!(e.is_duplicate());

    // Balance covers the pending tx plus this one, or not.
    let left = 10_000 - (fee + 1);
    let e = mp
        .check_tx(tx(&a, 6, fee, left - fee + 1), &st)
        .unwrap_err();
    assert!(matches!(e, MempoolError::InsufficientBalance { .. }), "{e}");
    mp.check_tx(tx(&a, 6, fee, left - fee), &st).unwrap();

    for e in [
        MempoolError::NonceTooLow {
            nonce: 0,
            expected: 1,
        },
        MempoolError::FeeTooLow {
            fee: 0,
            min: 1,
            size: 1,
        },
        MempoolError::InsufficientBalance {
            required: 2,
            balance: 1,
        },
        MempoolError::Full { txs: 1, bytes: 1 },
        MempoolError::SenderFull { max: 1 },
        MempoolError::TooManyFuture { max: 1 },
        MempoolError::AlreadySeen {
            hash: Default::default(),
        },
    ] {
        assert!(!e.is_bad_transaction(), "{e}");
        assert!(e.code() != 0);
    }
    mp.check_invariants().unwrap();
}

#[test]
fn future_nonces_wait_for_the_gap_then_reap_in_order() {
    let a = key(1);
    let st = State::with(&[&a], 1_000_000);
    let mut mp = pool();
    for n in [2, 3] {
        assert!(mp.check_tx(tx(&a, n, 1000, 1), &st).unwrap().future);
    }
    assert!(
        mp.reap(1 << 20, 100).is_empty(),
        "gapped txs are not reapable"
    );
    assert!(!mp.check_tx(tx(&a, 0, 1000, 1), &st).unwrap().future);
    assert_eq!(nonces_of(&mp.reap(1 << 20, 100), &a), vec![0]);
    mp.check_tx(tx(&a, 1, 1000, 1), &st).unwrap();
    assert_eq!(nonces_of(&mp.reap(1 << 20, 100), &a), vec![0, 1, 2, 3]);
    assert_eq!(mp.pending_nonce(&a.public_key().address()), Some(4));
    mp.check_invariants().unwrap();
}

#[test]
fn future_and_per_sender_limits() {
    let a = key(1);
    let st = State::with(&[&a], u64::MAX);
    let mut cfg = config();
    cfg.max_future_per_sender = 2;
    cfg.max_per_sender = 4;
    let mut mp = Mempool::new(cfg, 1);
    mp.check_tx(tx(&a, 1, 1000, 1), &st).unwrap();
    mp.check_tx(tx(&a, 2, 1000, 1), &st).unwrap();
    let e = mp.check_tx(tx(&a, 3, 1000, 1), &st).unwrap_err();
    assert_eq!(e, MempoolError::TooManyFuture { max: 2 });
    mp.check_tx(tx(&a, 0, 1000, 1), &st).unwrap(); // fills the gap
    mp.check_tx(tx(&a, 3, 1000, 1), &st).unwrap();
    let e = mp.check_tx(tx(&a, 4, 1000, 1), &st).unwrap_err();
    assert!(matches!(e, MempoolError::NonceTooFarAhead { .. }), "{e}");
    mp.check_invariants().unwrap();

    let mut cfg = config();
    cfg.max_per_sender = 3;
    let mut mp = Mempool::new(cfg, 1);
    let mut st2 = st.clone();
    for n in 0..3 {
        mp.check_tx(tx(&a, n, 1000, 1), &st2).unwrap();
    }
    // A block used nonce 0 through another node's tx: the recheck drops the
    // stale one and the window moves.
    st2.set(&a, u64::MAX, 1);
    mp.update(2, &[], Recheck::All, &st2);
    let e = mp.check_tx(tx(&a, 3, 1000, 1), &st2).unwrap();
    assert!(!e.future, "stale nonce 0 is dropped and 3 fits");
    assert_eq!(mp.len(), 3);
    // The nonce window (= max_per_sender) bounds what one sender can hold.
    let e = mp.check_tx(tx(&a, 4, 1000, 1), &st2).unwrap_err();
    assert!(
        matches!(e, MempoolError::NonceTooFarAhead { window: 3, .. }),
        "{e}"
    );
    assert_eq!(mp.sender_len(&a.public_key().address()), 3);
    mp.check_invariants().unwrap();
}

#[test]
fn reap_orders_by_fee_per_byte_then_arrival_and_keeps_nonces() {
    let (a, b, c) = (key(1), key(2), key(3));
    let st = State::with(&[&a, &b, &c], 1_000_000);
    let mut mp = pool();
    // a: low fee then high fee; b: medium; c: same as b but later.
    let a0 = tx(&a, 0, 1000, 1);
    let a1 = tx(&a, 1, 9000, 1);
    let b0 = tx(&b, 0, 5000, 1);
    let c0 = tx(&c, 0, 5000, 1);
    for t in [&a1, &a0, &b0, &c0] {
        mp.check_tx(t.clone(), &st).unwrap();
    }
    let r = mp.reap(1 << 20, 100);
    assert_eq!(r, vec![Bytes(b0), Bytes(c0), Bytes(a0), Bytes(a1)]);
    // max_txs and max_bytes cut the list.
    assert_eq!(mp.reap(1 << 20, 2).len(), 2);
    let one = transfer_size() + cairn_mempool::TX_ENTRY_OVERHEAD;
    assert_eq!(mp.reap(2 * one, 100).len(), 2);
    assert_eq!(mp.reap(2 * one - 1, 100).len(), 1);
    assert!(mp.reap(one - 1, 100).is_empty());
}

#[test]
fn reap_skips_a_sender_whose_tx_does_not_fit_but_fills_with_others() {
    let (a, b) = (key(1), key(2));
    let st = State::with(&[&a, &b], 1_000_000);
    let mut mp = pool();
    // a's tx is big (Put with a large value) and pays the most per byte.
    let big = Tx::sign(
        TxBody {
            chain_id: CHAIN.into(),
            sender: a.public_key(),
            nonce: 0,
            fee: 100_000,
            msg: Msg::Put {
                key: Bytes(b"k".to_vec()),
                value: Bytes(vec![0; 1000]),
                condition: cairn_types::PutCondition::Always,
            },
        },
        &a,
    )
    .to_bytes();
    mp.check_tx(big, &st).unwrap();
    mp.check_tx(tx(&a, 1, 100_000, 1), &st).unwrap();
    mp.check_tx(tx(&b, 0, 1000, 1), &st).unwrap();
    let r = mp.reap(500, 100);
    assert_eq!(
        r.len(),
        1,
        "a's first tx does not fit, so neither does a's second"
    );
    assert_eq!(decode(&r[0]).body.sender, b.public_key());
}

#[test]
fn full_pool_evicts_lowest_tail_or_refuses() {
    let keys: Vec<_> = (1..=4).map(key).collect();
    let st = State::with(&keys.iter().collect::<Vec<_>>(), 1_000_000);
    let mut cfg = config();
    cfg.max_txs = 4;
    let mut mp = Mempool::new(cfg, 1);
    // k1: nonces 0 (fee 100) and 1 (fee 5000); k2: 0 (fee 3000); k3: 0 (fee 4000).
    mp.check_tx(tx(&keys[0], 0, 100, 1), &st).unwrap();
    let k1n1 = mp.check_tx(tx(&keys[0], 1, 5000, 1), &st).unwrap().hash;
    let k2 = mp.check_tx(tx(&keys[1], 0, 3000, 1), &st).unwrap().hash;
    mp.check_tx(tx(&keys[2], 0, 4000, 1), &st).unwrap();
    // Lower than every tail: refused, nothing evicted.
    let e = mp.check_tx(tx(&keys[3], 0, 2000, 1), &st).unwrap_err();
    assert!(matches!(e, MempoolError::Full { txs: 4, .. }), "{e}");
    assert!(e.is_capacity() && !e.is_bad_transaction());
    assert_eq!(mp.len(), 4);
    // Outranks k2's tail (3000) but not k1's tail (5000): k1's low-fee
    // nonce 0 is NOT evicted since that would strand nonce 1.
    let ok = mp.check_tx(tx(&keys[3], 0, 3500, 1), &st).unwrap();
    assert_eq!(ok.evicted, vec![k2]);
    assert!(mp.contains(&k1n1));
    mp.check_invariants().unwrap();
    // A very high fee: the lowest tail now is k4's (3500) or k3's (4000)... k4 goes.
    let ok = mp.check_tx(tx(&keys[1], 0, 6000, 1), &st).unwrap();
    assert_eq!(ok.evicted.len(), 1);
    assert_eq!(mp.sender_len(&keys[3].public_key().address()), 0);
    mp.check_invariants().unwrap();
}

#[test]
fn eviction_takes_a_senders_txs_from_the_highest_nonce_down() {
    let (a, b) = (key(1), key(2));
    let st = State::with(&[&a, &b], 1_000_000);
    let mut cfg = config();
    cfg.max_txs = 3;
    let mut mp = Mempool::new(cfg, 1);
    let a0 = mp.check_tx(tx(&a, 0, 1000, 1), &st).unwrap().hash;
    let a1 = mp.check_tx(tx(&a, 1, 1000, 1), &st).unwrap().hash;
    let a2 = mp.check_tx(tx(&a, 2, 1000, 1), &st).unwrap().hash;
    // b's tx needs room for one: a2 (a's tail) goes.
    let ok = mp.check_tx(tx(&b, 0, 2000, 1), &st).unwrap();
    assert_eq!(ok.evicted, vec![a2]);
    assert!(mp.contains(&a0) && mp.contains(&a1));
    mp.check_invariants().unwrap();
}

#[test]
fn byte_limit_evicts_several_small_txs_for_one_large() {
    let (a, b) = (key(1), key(2));
    let st = State::with(&[&a, &b], 10_000_000);
    let size = transfer_size();
    let mut cfg = config();
    cfg.max_total_bytes = 3 * size;
    let mut mp = Mempool::new(cfg, 1);
    for n in 0..3 {
        mp.check_tx(tx(&a, n, 1000, 1), &st).unwrap();
    }
    let big = Tx::sign(
        TxBody {
            chain_id: CHAIN.into(),
            sender: b.public_key(),
            nonce: 0,
            fee: 1_000_000,
            msg: Msg::Put {
                key: Bytes(b"k".to_vec()),
                value: Bytes(vec![0; size]),
                condition: cairn_types::PutCondition::Always,
            },
        },
        &b,
    )
    .to_bytes();
    let ok = mp.check_tx(big, &st).unwrap();
    assert_eq!(
        ok.evicted.len(),
        2,
        "two small txs make room for one double-size tx"
    );
    assert_eq!(mp.sender_len(&a.public_key().address()), 1);
    assert!(mp.total_bytes() <= 3 * size);
    mp.check_invariants().unwrap();
}

#[test]
fn future_txs_are_evicted_before_ready_ones() {
    let (a, b, c) = (key(1), key(2), key(3));
    let st = State::with(&[&a, &b, &c], 1_000_000);
    let mut cfg = config();
    cfg.max_txs = 2;
    let mut mp = Mempool::new(cfg, 1);
    mp.check_tx(tx(&a, 0, 1000, 1), &st).unwrap();
    let fut = mp.check_tx(tx(&b, 5, 9000, 1), &st).unwrap();
    assert!(fut.future);
    let ok = mp.check_tx(tx(&c, 0, 1001, 1), &st).unwrap();
    assert_eq!(ok.evicted, vec![fut.hash]);
}

#[test]
fn the_new_txs_own_sender_is_never_evicted() {
    let a = key(1);
    let st = State::with(&[&a], 1_000_000);
    let mut cfg = config();
    cfg.max_txs = 1;
    let mut mp = Mempool::new(cfg, 1);
    mp.check_tx(tx(&a, 0, 100, 1), &st).unwrap();
    let e = mp.check_tx(tx(&a, 1, 100_000, 1), &st).unwrap_err();
    assert!(matches!(e, MempoolError::Full { .. }), "{e}");
    assert_eq!(mp.len(), 1);
}

#[test]
fn update_removes_committed_rechecks_and_caches_echoes() {
    let (a, b) = (key(1), key(2));
    let mut st = State::with(&[&a, &b], 100_000);
    let mut mp = pool();
    let a0 = tx(&a, 0, 1000, 1);
    let a1 = tx(&a, 1, 1000, 1);
    let a2 = tx(&a, 2, 1000, 1);
    let b0 = tx(&b, 0, 1000, 10_000);
    let b1 = tx(&b, 1, 1000, 10_000);
    for t in [&a0, &a1, &a2, &b0, &b1] {
        mp.check_tx(t.clone(), &st).unwrap();
    }
    // Block 2 commits a0; b's balance dropped meanwhile (e.g. a tx from
    // another node): b0 still fits, b1 no longer does.
    st.set(&a, 100_000 - 1001, 1);
    st.set(&b, 12_000, 0);
    let report = mp.update(2, &[Bytes(a0.clone())], Recheck::All, &st);
    assert_eq!(report.committed, 1);
    assert_eq!(report.invalid.len(), 1);
    assert_eq!(report.invalid[0].0, tx_hash(&b1));
    assert!(matches!(
        report.invalid[0].1,
        MempoolError::InsufficientBalance { .. }
    ));
    assert_eq!(mp.len(), 3);
    // The echo of a committed tx is refused cheaply, not re-verified.
    let e = mp.check_tx(a0.clone(), &st).unwrap_err();
    assert_eq!(e, MempoolError::AlreadySeen { hash: tx_hash(&a0) });
    // A different tx with a used nonce (committed elsewhere) is dropped by recheck.
    st.set(&a, 100_000, 2);
    let report = mp.update(3, &[], Recheck::All, &st);
    assert_eq!(report.invalid.len(), 1);
    assert!(matches!(
        report.invalid[0].1,
        MempoolError::NonceTooLow { .. }
    ));
    assert_eq!(nonces_of(&mp.reap(1 << 20, 100), &a), vec![2]);
    mp.check_invariants().unwrap();
}

#[test]
fn recheck_drops_gapped_txs_beyond_the_future_limit() {
    let a = key(1);
    let mut st = State::with(&[&a], 10_000);
    let mut cfg = config();
    cfg.max_future_per_sender = 1;
    let mut mp = Mempool::new(cfg, 1);
    for (n, amount) in [(0, 1), (1, 5000), (2, 1), (3, 1)] {
        mp.check_tx(tx(&a, n, 1000, amount), &st).unwrap();
    }
    // The balance no longer covers nonce 1 (it is dropped); 2 and 3 still
    // fit but are now gapped, and only one future tx may stay: the highest
    // nonce goes.
    st.set(&a, 3 * 1001 + 100, 0);
    let report = mp.update(2, &[], Recheck::All, &st);
    let reasons: Vec<_> = report.invalid.iter().map(|(_, e)| e.clone()).collect();
    assert!(matches!(
        reasons[0],
        MempoolError::InsufficientBalance { .. }
    ));
    assert_eq!(reasons[1], MempoolError::TooManyFuture { max: 1 });
    assert_eq!(report.invalid[1].0, tx_hash(&tx(&a, 3, 1000, 1)));
    assert_eq!(mp.len(), 2);
    assert_eq!(nonces_of(&mp.reap(1 << 20, 100), &a), vec![0]);
    mp.check_invariants().unwrap();
}

#[test]
fn recheck_applies_a_raised_minimum_fee() {
    let a = key(1);
    let mut st = State::with(&[&a], 1_000_000);
    let mut mp = pool();
    let size = transfer_size() as u64;
    mp.check_tx(tx(&a, 0, size, 1), &st).unwrap();
    st.min_fee_per_byte = 2;
    let report = mp.update(2, &[], Recheck::All, &st);
    assert!(matches!(
        report.invalid[0].1,
        MempoolError::FeeTooLow { .. }
    ));
    assert!(mp.is_empty());
}

#[test]
fn txs_expire_after_ttl_blocks() {
    let (a, b) = (key(1), key(2));
    let st = State::with(&[&a, &b], 1_000_000);
    let mut cfg = config();
    cfg.ttl_blocks = 3;
    let mut mp = Mempool::new(cfg, 10);
    let old = mp.check_tx(tx(&a, 0, 1000, 1), &st).unwrap().hash;
    mp.update(11, &[], Recheck::All, &st);
    mp.update(12, &[], Recheck::All, &st);
    let young = mp.check_tx(tx(&b, 0, 1000, 1), &st).unwrap().hash;
    let r = mp.update(13, &[], Recheck::All, &st);
    assert_eq!(r.expired, vec![old]);
    assert!(mp.contains(&young));
    assert_eq!(mp.update(15, &[], Recheck::All, &st).expired, vec![young]);
}

#[test]
fn the_shared_batch_check_answers_as_the_owned_one() {
    let keys: Vec<_> = (1..=3).map(key).collect();
    let st = State::with(&keys.iter().collect::<Vec<_>>(), 1_000_000);
    let mut forged = decode(&tx(&keys[1], 0, 1000, 1));
    forged.signature.0[5] ^= 0x10;
    let batch = vec![
        tx(&keys[0], 0, 1000, 1),
        forged.to_bytes(),
        tx(&keys[2], 1, 1000, 1),
        tx(&keys[2], 1, 1000, 1),
        vec![0xff; 10],
    ];
    let verdicts = |r: Vec<Result<cairn_mempool::Admitted, MempoolError>>| {
        r.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>()
    };
    let mut owned = pool();
    let expected = verdicts(owned.check_txs(batch.clone(), &st));
    let shared = std::sync::Mutex::new(pool());
    let got = cairn_mempool::check_txs_shared(&shared, batch.clone(), &st).unwrap();
    assert_eq!(verdicts(got), expected);
    let m = shared.lock().unwrap();
    assert_eq!(m.len(), owned.len());
    assert!(m.is_verified(&tx_hash(&batch[0])));
    assert!(!m.is_verified(&tx_hash(&batch[1])));
    drop(m);
    // The pool the first batch left behind refuses its tx again.
    let again = cairn_mempool::check_txs_shared(&shared, batch[..1].to_vec(), &st).unwrap();
    assert!(matches!(again[0], Err(MempoolError::AlreadyInPool { .. })));
}

#[test]
fn batch_admission_verifies_once_and_reports_each() {
    let keys: Vec<_> = (1..=5).map(key).collect();
    let st = State::with(&keys.iter().collect::<Vec<_>>(), 1_000_000);
    let mut mp = pool();
    let mut forged = decode(&tx(&keys[2], 0, 1000, 1));
    forged.signature.0[5] ^= 0x10;
    let batch = vec![
        tx(&keys[0], 1, 1000, 1), // future until the next one
        tx(&keys[0], 0, 1000, 1),
        forged.to_bytes(),
        tx(&keys[3], 0, 1000, 1),
        tx(&keys[3], 0, 1000, 1), // duplicate inside the batch
        vec![0xff; 10],
    ];
    let r = mp.check_txs(batch.clone(), &st);
    assert_eq!(r.len(), 6);
    assert!(r[0].as_ref().unwrap().future);
    assert!(!r[1].as_ref().unwrap().future);
    assert!(matches!(r[2], Err(MempoolError::BadSignature { .. })));
    assert!(r[3].is_ok());
    assert!(matches!(r[4], Err(MempoolError::AlreadyInPool { .. })));
    assert!(matches!(r[5], Err(MempoolError::Invalid(_))));
    assert_eq!(mp.len(), 3);
    assert_eq!(nonces_of(&mp.reap(1 << 20, 100), &keys[0]), vec![0, 1]);

    // The verified cache: block validation only re-verifies unknown txs.
    let block = vec![
        Bytes(batch[1].clone()),
        Bytes(tx(&keys[4], 0, 1000, 1)),
        Bytes(batch[3].clone()),
    ];
    assert_eq!(mp.unverified(&block), vec![1]);
    assert!(mp.is_verified(&tx_hash(&batch[0])));
    assert!(
        !mp.is_verified(&tx_hash(&batch[2])),
        "a forged tx is never marked verified"
    );
    mp.update(2, &block, Recheck::All, &st);
    assert!(
        !mp.is_verified(&tx_hash(&batch[1])),
        "committed txs leave the cache"
    );
}

#[test]
fn a_tx_failing_stateful_checks_keeps_its_verification() {
    let a = key(1);
    let mut st = State::with(&[&a], 0);
    let mut mp = pool();
    let t = tx(&a, 0, 1000, 1);
    let e = mp.check_tx(t.clone(), &st).unwrap_err();
    assert!(matches!(e, MempoolError::InsufficientBalance { .. }));
    assert!(mp.is_verified(&tx_hash(&t)));
    // Funded by a later block, the same bytes are accepted (not cached as invalid).
    st.set(&a, 10_000, 0);
    mp.update(2, &[], Recheck::All, &st);
    mp.check_tx(t, &st).unwrap();
}

#[test]
fn spend_counts_fee_and_moved_amount() {
    let a = key(1);
    let t = |msg| {
        Tx::sign(
            TxBody {
                chain_id: CHAIN.into(),
                sender: a.public_key(),
                nonce: 0,
                fee: 10,
                msg,
            },
            &a,
        )
    };
    let addr = Address([1; 20]);
    assert_eq!(
        cairn_mempool::max_spend(&t(Msg::Transfer {
            to: addr,
            amount: 5
        })),
        15
    );
    assert_eq!(
        cairn_mempool::max_spend(&t(Msg::Delegate {
            validator: addr,
            amount: 7
        })),
        17
    );
    assert_eq!(
        cairn_mempool::max_spend(&t(Msg::Undelegate {
            validator: addr,
            amount: 7
        })),
        10
    );
    assert_eq!(cairn_mempool::max_spend(&t(Msg::Unjail)), 10);
}

#[test]
fn committed_accounts_are_read_once_per_height() {
    let a = key(1);
    let mut st = State::with(&[&a], 0);
    let mut mp = pool();
    let t = tx(&a, 0, 1000, 1);
    let poor = |e: MempoolError| matches!(e, MempoolError::InsufficientBalance { .. });
    assert!(poor(mp.check_tx(t.clone(), &st).unwrap_err()));
    // The view changes without a commit reaching the pool: this height's
    // reading of the account stands.
    st.set(&a, 10_000, 0);
    assert!(poor(mp.check_tx(t.clone(), &st).unwrap_err()));
    mp.update(2, &[], Recheck::All, &st);
    mp.check_tx(t, &st).unwrap();
}
