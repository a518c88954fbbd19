//! Mempool benchmark: admission throughput (signature-bound), single and
//! batched, and reap / recheck time with 50,000 pending txs.
//!
//! Run: `cargo bench -p cairn-mempool --bench mempool` (the bench profile
//! inherits `release`). Prints one line per figure; each figure is the
//! median of several runs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cairn_mempool::{AccountInfo, Mempool, MempoolConfig, Recheck, StateView};
use cairn_types::{Address, ChainParams, Msg, SigningKey, Tx, TxBody};

const CHAIN: &str = "cairn-bench";

struct State(HashMap<Address, AccountInfo>);

impl StateView for State {
    fn account(&self, addr: &Address) -> AccountInfo {
        self.0.get(addr).copied().unwrap_or_default()
    }
    fn min_fee_per_byte(&self) -> u64 {
        1
    }
}

fn key(i: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0x5A;
    SigningKey::from_seed(seed)
}

fn make_txs(senders: u64, per_sender: u64) -> (Vec<Vec<u8>>, State) {
    let mut txs = Vec::new();
    let mut st = HashMap::new();
    for s in 0..senders {
        let k = key(s);
        st.insert(
            k.public_key().address(),
            AccountInfo {
                balance: u64::MAX / 2,
                nonce: 0,
            },
        );
        for n in 0..per_sender {
            let body = TxBody {
                chain_id: CHAIN.into(),
                sender: k.public_key(),
                nonce: n,
                fee: 200 + (s * 7919 + n * 104_729) % 5000,
                msg: Msg::Transfer {
                    to: Address([9; 20]),
                    amount: 1,
                },
            };
            txs.push(Tx::sign(body, &k).to_bytes());
        }
    }
    (txs, State(st))
}

fn config() -> MempoolConfig {
    let mut c = MempoolConfig::new(CHAIN, &ChainParams::default());
    c.max_txs = 100_000;
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs = 5;
    // Admission: 10,000 distinct senders, one tx each.
    let (txs, st) = make_txs(10_000, 1);
    let mut single = Vec::new();
    let mut batched = Vec::new();
    for _ in 0..runs {
        let mut mp = Mempool::new(config(), 1);
        let t = Instant::now();
        for b in txs.iter().cloned() {
            mp.check_tx(b, &st).unwrap();
        }
        single.push(t.elapsed());
        let mut mp = Mempool::new(config(), 1);
        let t = Instant::now();
        for chunk in txs.chunks(64) {
            for r in mp.check_txs(chunk.to_vec(), &st) {
                r.unwrap();
            }
        }
        batched.push(t.elapsed());
    }
    let n = txs.len() as f64;
    println!(
        "check_tx (single verify): {:.0} tx/s ({} txs, median of {runs})",
        n / median(single).as_secs_f64(),
        txs.len()
    );
    println!(
        "check_txs (batches of 64): {:.0} tx/s ({} txs, median of {runs})",
        n / median(batched).as_secs_f64(),
        txs.len()
    );

    // Reap with 50,000 pending: 10,000 senders x 5 nonces.
    let (txs, st) = make_txs(10_000, 5);
    let filled = || {
        let mut mp = Mempool::new(config(), 1);
        for chunk in txs.chunks(256) {
            for r in mp.check_txs(chunk.to_vec(), &st) {
                r.unwrap();
            }
        }
        assert_eq!(mp.len(), 50_000);
        mp
    };
    let mut mp = filled();
    let block_bytes = ChainParams::default().consensus.block_max_bytes as usize;
    let mut block = Vec::new();
    let mut times = Vec::new();
    for _ in 0..runs * 2 {
        let t = Instant::now();
        block = mp.reap(block_bytes, usize::MAX);
        times.push(t.elapsed());
    }
    println!(
        "reap(4 MiB) with 50,000 pending: {:?} for {} txs (median of {})",
        median(times),
        block.len(),
        runs * 2
    );
    let mut times = Vec::new();
    let mut all = Vec::new();
    for _ in 0..runs * 2 {
        let t = Instant::now();
        all = mp.reap(usize::MAX, usize::MAX);
        times.push(t.elapsed());
    }
    println!(
        "reap(all) with 50,000 pending: {:?} for {} txs (median of {})",
        median(times),
        all.len(),
        runs * 2
    );

    // Update after committing the 4 MiB block: remove + TTL + recheck, of
    // every remaining sender and of the block's senders only (what the node
    // passes: the accounts the block changed), on two copies of the pool.
    let mut st2 = State(st.0.clone());
    let mut changed = Vec::new();
    for b in &block {
        let t = Tx::decode(b, 1 << 20, CHAIN).unwrap();
        st2.0.get_mut(&t.sender()).unwrap().nonce += 1;
        changed.push(t.sender());
    }
    changed.sort();
    changed.dedup();
    let mut targeted = filled();
    for (name, pool, recheck) in [
        ("every sender", &mut mp, Recheck::All),
        (
            "the block's senders",
            &mut targeted,
            Recheck::Changed(&changed),
        ),
    ] {
        let t = Instant::now();
        let report = pool.update(2, &block, recheck, &st2);
        println!(
            "update, recheck of {name} (commit {} txs, {} remain): {:?}",
            report.committed,
            pool.len(),
            t.elapsed()
        );
    }
}
