//! Shared helpers for the state tests and benchmark: seeded chains, signed
//! txs, blocks built on top of a store the way a proposer would.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod scenario;

use std::path::Path;

use cairn_genesis::GenesisDoc;
use cairn_genesis::testnet::{self, Testnet, TestnetSpec};
use cairn_state::{Executed, Signatures, Store, StoreOptions};
use cairn_types::block::{APP_VERSION, BLOCK_VERSION, Version};
use cairn_types::crypto::{Address, SigningKey};
use cairn_types::evidence::{DuplicateVoteEvidence, Evidence};
use cairn_types::merkle::merkle_root;
use cairn_types::params::ChainParams;
use cairn_types::tx::{Msg, Tx, TxBody};
use cairn_types::vote::{SignedVote, Vote, VoteKind};
use cairn_types::{Block, BlockId, Bytes, Commit, Hash, Header, Time};
use rand::SeedableRng;

pub const CHAIN: &str = "cairn-test";

/// Parameters that make every rule reachable in a few blocks.
pub fn small_params() -> ChainParams {
    let mut p = ChainParams::default();
    p.consensus.evidence_max_age_blocks = 8;
    p.consensus.evidence_max_age_ms = 8_000;
    p.app.unbonding_blocks = 10;
    p.app.max_validators = 4;
    p.app.power_unit = 1_000_000;
    p.app.min_self_stake = 1_000_000;
    p.app.double_sign_slash_ppm = 50_000;
    p.app.put_max_key_bytes = 16;
    p.app.put_max_value_bytes = 64;
    p
}

pub fn testnet(seed: u64, validators: usize, accounts: usize, params: ChainParams) -> Testnet {
    let spec = TestnetSpec {
        chain_id: CHAIN.into(),
        validators,
        full_nodes: 0,
        accounts,
        genesis_time: Time(1_800_000_000_000_000_000),
        params,
    };
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    testnet::generate(&spec, &mut rng).expect("testnet")
}

pub fn open(dir: &Path, g: &GenesisDoc) -> Store {
    Store::open(dir, g, StoreOptions::default()).expect("open")
}

/// Signs a tx paying exactly the minimum fee.
pub fn tx(key: &SigningKey, nonce: u64, fee_per_byte: u64, msg: Msg) -> Bytes {
    let mut body = TxBody {
        chain_id: CHAIN.into(),
        sender: key.public_key(),
        nonce,
        fee: 0,
        msg,
    };
    // The fee is a fixed-width field: the length does not depend on its value.
    let len = Tx::sign(body.clone(), key).to_bytes().len() as u64;
    body.fee = len * fee_per_byte;
    Bytes(Tx::sign(body, key).to_bytes())
}

/// A tx with an explicit fee.
pub fn tx_fee(key: &SigningKey, nonce: u64, fee: u64, msg: Msg) -> Bytes {
    let body = TxBody {
        chain_id: CHAIN.into(),
        sender: key.public_key(),
        nonce,
        fee,
        msg,
    };
    Bytes(Tx::sign(body, key).to_bytes())
}

/// The next block on top of `store`, as a proposer builds it (time: +1 s).
pub fn next_block(store: &Store, txs: Vec<Bytes>, evidence: Vec<Evidence>) -> Block {
    let nb = store.next_block().expect("next_block");
    let time = if nb.last_block_id.is_none() {
        nb.last_time
    } else {
        nb.last_time.plus_millis(1_000)
    };
    let ev_items: Vec<Vec<u8>> = evidence.iter().map(cairn_types::codec::encode).collect();
    let header = Header {
        version: Version {
            block: BLOCK_VERSION,
            app: APP_VERSION,
        },
        chain_id: nb.chain_id.as_str().into(),
        height: nb.height,
        time,
        last_block_id: nb.last_block_id,
        last_commit_hash: merkle_root::<&[u8]>(&[]),
        data_hash: merkle_root(&txs),
        validators_hash: nb.validators_hash,
        next_validators_hash: nb.next_validators_hash,
        consensus_hash: nb.consensus_hash,
        app_hash: nb.app_hash,
        last_results_hash: nb.last_results_hash,
        evidence_hash: merkle_root(&ev_items),
        proposer_address: nb.validators.proposer().address,
    };
    Block {
        header,
        txs,
        evidence,
        last_commit: None,
    }
}

/// A commit record for `block` (signatures are the node's business, not the store's).
pub fn commit_for(block: &Block) -> Commit {
    Commit {
        height: block.header.height,
        round: 0,
        block_id: block.id(),
        signatures: Vec::new(),
    }
}

/// Builds, executes and commits the next block.
pub fn apply(store: &Store, txs: Vec<Bytes>, evidence: Vec<Evidence>) -> Executed {
    let block = next_block(store, txs, evidence);
    store
        .apply_block(&block, &commit_for(&block), Signatures::Verify)
        .expect("apply_block")
}

/// Double-sign evidence by the validator with consensus key `key` at `height`.
pub fn double_sign(store: &Store, key: &SigningKey, height: u64) -> Evidence {
    // A pruned set gives evidence with zero powers (the store will refuse it).
    let set = store.validators_at(height).unwrap();
    let addr = key.public_key().address();
    let power = set
        .as_ref()
        .and_then(|s| s.get(&addr))
        .map_or(0, |v| v.power);
    let total = set.as_ref().map_or(0, |s| s.total_power());
    let time = store
        .height_record(height)
        .unwrap()
        .expect("height record")
        .time;
    let vote = |value: Option<BlockId>| {
        SignedVote::sign(
            Vote {
                kind: VoteKind::Prevote,
                height,
                round: 0,
                value,
                timestamp: time,
                validator: addr,
            },
            CHAIN,
            key,
        )
    };
    let a = vote(Some(BlockId(Hash([1; 32]))));
    let b = vote(Some(BlockId(Hash([2; 32]))));
    Evidence::DuplicateVote(DuplicateVoteEvidence::new(a, b, power, total, time).expect("evidence"))
}

pub fn addr(k: &SigningKey) -> Address {
    k.public_key().address()
}
