//! State benchmark: execute and commit blocks of transfers over many accounts,
//! then generate and verify Merkle proofs.
//!
//! `cargo bench -p cairn-state --bench state` (or `scripts/bench-state.sh`).
//! Environment: `BENCH_ACCOUNTS` (default 1,000,000), `BENCH_BLOCK_TXS`
//! (10,000), `BENCH_BLOCKS` (measured blocks, 10), `BENCH_PROOFS` (10,000),
//! `BENCH_DIR` (database directory; a temporary one by default).
//!
//! Signatures are not checked (`Signatures::Trusted`): the node verifies them
//! at admission and caches the result. Everything else is the real path:
//! decode, nonce/fee/balance checks, two account reads and writes per tx,
//! events, tree update, one synced WriteBatch per block.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use cairn_genesis::{GenesisAccount, GenesisDoc, GenesisValidator};
use cairn_state::{Signatures, StateKey, Store, StoreOptions, verify_proof};
use cairn_types::block::{APP_VERSION, BLOCK_VERSION, Version};
use cairn_types::crypto::{Address, Hash, PublicKey, Signature, SigningKey};
use cairn_types::merkle::merkle_root;
use cairn_types::params::ChainParams;
use cairn_types::tx::{Msg, Tx, TxBody};
use cairn_types::{Block, Bytes, Commit, Header, Time};
use rand::{RngExt, SeedableRng};

const CHAIN: &str = "cairn-bench";
const WHALES: usize = 100;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A synthetic sender key (never signs: signatures are not checked here).
fn key(i: usize) -> PublicKey {
    PublicKey(Hash::digest(&(i as u64).to_le_bytes()).0)
}

fn transfer(from: PublicKey, nonce: u64, to: Address, amount: u64) -> Bytes {
    let mut tx = Tx {
        body: TxBody {
            chain_id: CHAIN.into(),
            sender: from,
            nonce,
            fee: 0,
            msg: Msg::Transfer { to, amount },
        },
        signature: Signature([0; 64]),
    };
    tx.body.fee = tx.to_bytes().len() as u64; // min_fee_per_byte = 1
    Bytes(tx.to_bytes())
}

fn block(store: &Store, txs: Vec<Bytes>) -> Block {
    let nb = store.next_block().unwrap();
    let header = Header {
        version: Version {
            block: BLOCK_VERSION,
            app: APP_VERSION,
        },
        chain_id: CHAIN.into(),
        height: nb.height,
        time: nb.last_time.plus_millis(1_000),
        last_block_id: nb.last_block_id,
        last_commit_hash: merkle_root::<&[u8]>(&[]),
        data_hash: merkle_root(&txs),
        validators_hash: nb.validators_hash,
        next_validators_hash: nb.next_validators_hash,
        consensus_hash: nb.consensus_hash,
        app_hash: nb.app_hash,
        last_results_hash: nb.last_results_hash,
        evidence_hash: merkle_root::<&[u8]>(&[]),
        proposer_address: nb.validators.proposer().address,
    };
    Block {
        header,
        txs,
        evidence: vec![],
        last_commit: None,
    }
}

struct Run {
    secs: Vec<f64>,
    exec_secs: Vec<f64>,
    bytes: Vec<usize>,
}

fn run_block(store: &Store, b: &Block, run: &mut Run) {
    let commit = Commit {
        height: b.header.height,
        round: 0,
        block_id: b.id(),
        signatures: vec![],
    };
    let t = Instant::now();
    let ex = store.execute_block(b, Signatures::Trusted).unwrap();
    let exec = t.elapsed().as_secs_f64();
    assert!(ex.results.iter().all(|r| r.code == 0), "a transfer failed");
    store.commit(b, &commit, ex).unwrap();
    run.secs.push(t.elapsed().as_secs_f64());
    run.exec_secs.push(exec);
    run.bytes.push(store.last_commit_stats().batch_bytes);
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn report(label: &str, txs: usize, run: &Run) {
    let n = run.secs.len() as f64;
    let total: f64 = run.secs.iter().sum();
    let exec: f64 = run.exec_secs.iter().sum();
    let mut sorted = run.secs.clone();
    sorted.sort_by(f64::total_cmp);
    let bytes = run.bytes.iter().sum::<usize>() as f64 / n;
    println!(
        "{label}: {} blocks x {txs} transfers: {:.0} transfers/s, {:.1} ms/block mean (min {:.1}, max {:.1}; execute+tree {:.1} ms, write {:.1} ms), {:.2} MB written/block ({:.0} B/transfer)",
        run.secs.len(),
        txs as f64 * n / total,
        1e3 * total / n,
        1e3 * sorted[0],
        1e3 * sorted[sorted.len() - 1],
        1e3 * exec / n,
        1e3 * (total - exec) / n,
        bytes / 1e6,
        bytes / txs as f64,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let accounts = env("BENCH_ACCOUNTS", 1_000_000);
    let block_txs = env("BENCH_BLOCK_TXS", 10_000);
    let blocks = env("BENCH_BLOCKS", 10);
    let proofs = env("BENCH_PROOFS", 10_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());

    let params = ChainParams::default();
    let vkeys: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_seed([i + 1; 32]))
        .collect();
    let operators: Vec<Address> = (0..3).map(|i| key(10_000_000 + i).address()).collect();
    let stake = 10 * params.app.power_unit;
    let mut gaccounts: Vec<GenesisAccount> = operators
        .iter()
        .map(|a| GenesisAccount {
            address: *a,
            balance: stake,
        })
        .collect();
    gaccounts.extend((0..WHALES).map(|w| GenesisAccount {
        address: key(20_000_000 + w).address(),
        balance: 1_000_000_000_000_000,
    }));
    let genesis = GenesisDoc {
        genesis_time: Time(1_800_000_000_000_000_000),
        chain_id: CHAIN.into(),
        initial_height: 1,
        params,
        validators: (0..3)
            .map(|i| GenesisValidator {
                name: format!("v{i}"),
                pub_key: vkeys[i].public_key(),
                node_id: vkeys[i].public_key().node_id(),
                operator: operators[i],
                self_stake: stake,
            })
            .collect(),
        accounts: gaccounts,
        admins: vec![],
    };
    let store = Store::open(&dir, &genesis, StoreOptions::default()).unwrap();
    let users: Vec<PublicKey> = (0..accounts).map(key).collect();
    let addrs: Vec<Address> = users.iter().map(PublicKey::address).collect();

    // Phase 1: create the accounts (whales fund them), block_txs per block.
    let mut whale_nonce = vec![0u64; WHALES];
    let mut create = Run {
        secs: vec![],
        exec_secs: vec![],
        bytes: vec![],
    };
    let t = Instant::now();
    for chunk in addrs.chunks(block_txs) {
        let txs: Vec<Bytes> = chunk
            .iter()
            .enumerate()
            .map(|(i, to)| {
                let w = i % WHALES;
                whale_nonce[w] += 1;
                transfer(key(20_000_000 + w), whale_nonce[w] - 1, *to, 1_000_000_000)
            })
            .collect();
        let b = block(&store, txs);
        run_block(&store, &b, &mut create);
    }
    report("create accounts", block_txs, &create);
    eprintln!(
        "setup took {:.1} s, db {:.0} MB",
        t.elapsed().as_secs_f64(),
        dir_bytes(&dir) as f64 / 1e6
    );

    // Phase 2: transfers between random existing accounts (each sender once per block).
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
    let mut nonces = vec![0u64; accounts];
    let mut measured = Run {
        secs: vec![],
        exec_secs: vec![],
        bytes: vec![],
    };
    let before = dir_bytes(&dir);
    for _ in 0..blocks {
        let mut senders = std::collections::BTreeSet::new();
        while senders.len() < block_txs.min(accounts) {
            senders.insert(rng.random_range(0..accounts));
        }
        let txs: Vec<Bytes> = senders
            .into_iter()
            .map(|s| {
                let to = addrs[rng.random_range(0..accounts)];
                nonces[s] += 1;
                transfer(users[s], nonces[s] - 1, to, rng.random_range(1..1000))
            })
            .collect();
        let b = block(&store, txs);
        run_block(&store, &b, &mut measured);
    }
    report("transfers", block_txs, &measured);
    eprintln!(
        "db directory grew {:.1} MB over {blocks} blocks (after flush/compaction so far)",
        (dir_bytes(&dir) as f64 - before as f64) / 1e6
    );

    // Phase 3: proofs for random accounts at the latest height.
    let queries: Vec<StateKey> = (0..proofs)
        .map(|_| StateKey::Account(addrs[rng.random_range(0..accounts)]))
        .collect();
    let t = Instant::now();
    let got: Vec<_> = queries
        .iter()
        .map(|k| store.query(k, None, true).unwrap())
        .collect();
    let gen_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (k, q) in queries.iter().zip(&got) {
        verify_proof(
            q.proof.as_ref().unwrap(),
            &q.root,
            &k.to_bytes(),
            q.value.as_deref(),
        )
        .unwrap();
    }
    let verify_secs = t.elapsed().as_secs_f64();
    let size: usize = got
        .iter()
        .map(|q| q.proof.as_ref().unwrap().to_bytes().len())
        .sum();
    println!(
        "proofs: {proofs} account proofs over {accounts} accounts: generation {:.0}/s, verification {:.0}/s, {:.0} bytes/proof",
        proofs as f64 / gen_secs,
        proofs as f64 / verify_secs,
        size as f64 / proofs as f64
    );
}
