//! Property tests: random admissions and commits keep every index
//! consistent, every limit respected, and reap nonce-consistent and greedy
//! by fee per byte then arrival.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use cairn_mempool::{Mempool, Recheck, StateView, max_spend};
use cairn_types::tx::tx_hash;
use cairn_types::{Address, Hash, SigningKey};
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Submit {
        sender: usize,
        ahead: u64,
        fee: u64,
        amount: u64,
    },
    Commit {
        max_txs: usize,
    },
    Drain {
        sender: usize,
        amount: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..4, 0u64..7, 1u64..5, 0u64..4000)
            .prop_map(|(sender, ahead, f, amount)| Op::Submit { sender, ahead, fee: 300 * f, amount }),
        1 => (0usize..6).prop_map(|max_txs| Op::Commit { max_txs }),
        1 => (0usize..4, 0u64..20_000).prop_map(|(sender, amount)| Op::Drain { sender, amount }),
    ]
}

struct Known {
    sender: Address,
    nonce: u64,
    fee: u64,
    size: usize,
    arrival: usize,
}

/// Checks that reap takes, at every step, the best available sender head.
fn check_reap(mp: &Mempool, st: &State, known: &HashMap<Hash, Known>) -> Result<(), TestCaseError> {
    let reaped = mp.reap(usize::MAX, usize::MAX);
    // Pending txs per sender, by nonce.
    let mut pending: HashMap<Address, BTreeMap<u64, &Known>> = HashMap::new();
    for (h, k) in known {
        if mp.contains(h) {
            pending.entry(k.sender).or_default().insert(k.nonce, k);
        }
    }
    let mut next: HashMap<Address, u64> =
        pending.keys().map(|a| (*a, st.account(a).nonce)).collect();
    let expected: usize = pending
        .iter()
        .map(|(a, q)| {
            let mut n = next[a];
            let mut c = 0;
            while q.contains_key(&n) {
                c += 1;
                n += 1;
            }
            c
        })
        .sum();
    prop_assert_eq!(reaped.len(), expected, "every ready tx is reaped");
    let better = |a: &Known, b: &Known| -> Ordering {
        let l = a.fee as u128 * b.size as u128;
        let r = b.fee as u128 * a.size as u128;
        l.cmp(&r).then(b.arrival.cmp(&a.arrival))
    };
    for b in &reaped {
        let k = &known[&tx_hash(b)];
        prop_assert_eq!(k.nonce, next[&k.sender], "nonce-consistent");
        for (a, q) in &pending {
            if let Some(head) = q.get(&next[a]) {
                prop_assert!(better(k, head) != Ordering::Less, "greedy order");
            }
        }
        *next.get_mut(&k.sender).unwrap() += 1;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_pool_consistent(ops in proptest::collection::vec(op(), 1..40)) {
        let keys: Vec<SigningKey> = (1..=4).map(key).collect();
        let mut st = State::with(&keys.iter().collect::<Vec<_>>(), 20_000);
        st.min_fee_per_byte = 1;
        let mut cfg = config();
        cfg.max_txs = 8;
        cfg.max_per_sender = 5;
        cfg.max_future_per_sender = 2;
        cfg.max_total_bytes = 7 * transfer_size();
        let mut mp = Mempool::new(cfg.clone(), 1);
        // The same operations with every sender rechecked at each update:
        // `mp` rechecks only the accounts that changed, and must end alike.
        let mut full = Mempool::new(cfg, 1);
        let mut known: HashMap<Hash, Known> = HashMap::new();
        let mut height = 1;
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Submit { sender, ahead, fee, amount } => {
                    let k = &keys[sender];
                    let nonce = st.account(&k.public_key().address()).nonce + ahead;
                    let b = tx(k, nonce, fee, amount);
                    let admitted = mp.check_tx(b.clone(), &st).is_ok();
                    prop_assert_eq!(admitted, full.check_tx(b.clone(), &st).is_ok());
                    if admitted {
                        known.insert(tx_hash(&b), Known {
                            sender: k.public_key().address(),
                            nonce,
                            fee,
                            size: b.len(),
                            arrival: i,
                        });
                    }
                }
                Op::Commit { max_txs } => {
                    let block = mp.reap(usize::MAX, max_txs);
                    let mut changed = Vec::new();
                    for b in &block {
                        let t = decode(b);
                        changed.push(t.sender());
                        let a = st.accounts.get_mut(&t.sender()).unwrap();
                        prop_assert_eq!(a.nonce, t.body.nonce);
                        a.nonce += 1;
                        a.balance = a.balance.checked_sub(max_spend(&t) as u64).unwrap();
                    }
                    height += 1;
                    mp.update(height, &block, Recheck::Changed(&changed), &st);
                    full.update(height, &block, Recheck::All, &st);
                    for b in &block {
                        prop_assert!(!mp.contains(&tx_hash(b)));
                    }
                }
                Op::Drain { sender, amount } => {
                    let drained = keys[sender].public_key().address();
                    let a = st.accounts.get_mut(&drained).unwrap();
                    a.balance = a.balance.saturating_sub(amount);
                    height += 1;
                    mp.update(height, &[], Recheck::Changed(&[drained]), &st);
                    full.update(height, &[], Recheck::All, &st);
                }
            }
            mp.check_invariants().map_err(TestCaseError::fail)?;
            prop_assert_eq!(mp.reap(usize::MAX, usize::MAX), full.reap(usize::MAX, usize::MAX));
            // After an update, every sender's pending spend fits its balance.
            check_reap(&mp, &st, &known)?;
        }
    }
}
