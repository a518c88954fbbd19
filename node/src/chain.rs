//! Building and validating blocks against the node's state: `getValue()`
//! and `valid(v)` of the paper, which the consensus core leaves to the shell.

use std::sync::{Arc, Mutex};

use cairn_mempool::{EvidencePool, EvidenceView, Mempool, StateView};
use cairn_state::{NextBlock, Store};
use cairn_types::block::{APP_VERSION, BLOCK_VERSION};
use cairn_types::codec::Bytes;
use cairn_types::tx::tx_hash;
use cairn_types::{
    Address, BatchVerifier, Block, Commit, Evidence, Header, KeyCache, Time, Tx, ValidatorSet,
    Version,
};

/// Why a proposed or synced block is not valid on top of our state.
#[derive(Debug, thiserror::Error)]
pub enum InvalidBlock {
    /// A header field does not match what the state dictates.
    #[error("header.{field}: expected {expected}, got {got}")]
    Header {
        /// The field.
        field: &'static str,
        /// What we computed.
        expected: String,
        /// What the block says.
        got: String,
    },
    /// The previous block's commit does not verify.
    #[error("last_commit: {0}")]
    LastCommit(String),
    /// The block is larger than `block_max_bytes`.
    #[error("block of {size} bytes exceeds block_max_bytes {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: u64,
    },
    /// A transaction is malformed or badly signed.
    #[error("tx {index}: {reason}")]
    Tx {
        /// Position in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A piece of evidence does not verify or was committed before.
    #[error("evidence {index}: {reason}")]
    Evidence {
        /// Position in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The state could not be read (fatal, not the proposer's fault).
    #[error("state: {0}")]
    State(#[from] cairn_state::StateError),
}

fn mismatch<T: std::fmt::Debug>(field: &'static str, expected: T, got: T) -> InvalidBlock {
    InvalidBlock::Header {
        field,
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}

/// The mempool's and evidence pool's view of the latest committed state.
pub struct StoreView<'a>(pub &'a Store);

impl StateView for StoreView<'_> {
    fn account(&self, addr: &Address) -> cairn_mempool::AccountInfo {
        // A read error here is logged by the store's caller on the next write;
        // the mempool treats the account as empty, which only refuses txs.
        let a = self.0.account(addr).unwrap_or_default();
        cairn_mempool::AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
        }
    }
    fn min_fee_per_byte(&self) -> u64 {
        self.0
            .params()
            .map(|p| p.app.min_fee_per_byte)
            .unwrap_or(u64::MAX)
    }
}

impl EvidenceView for StoreView<'_> {
    fn validator_set(&self, height: u64) -> Option<ValidatorSet> {
        self.0.validators_at(height).ok().flatten()
    }
    fn block_time(&self, height: u64) -> Option<Time> {
        self.0.height_record(height).ok().flatten().map(|r| r.time)
    }
}

/// BFT time of the block after `last_commit` (DESIGN.md §3): the
/// power-weighted median of its timestamps; genesis time for the first block.
pub fn block_time(store: &Store, last_commit: Option<&Commit>) -> Result<Time, InvalidBlock> {
    match last_commit {
        None => Ok(store.genesis().genesis_time),
        Some(c) => {
            let set = store.validators_at(c.height)?.ok_or_else(|| {
                InvalidBlock::LastCommit(format!("no validator set for height {}", c.height))
            })?;
            Ok(set.median_time(c))
        }
    }
}

/// Overhead of the block around its txs, kept free when reaping.
const BLOCK_OVERHEAD: usize = 64 * 1024;

/// Builds the block this node proposes at `nb.height` (`getValue()`, L16):
/// txs reaped from the mempool, pending evidence, and the last commit.
pub fn build_block(
    store: &Store,
    mempool: &Mutex<Mempool>,
    evidence: &Mutex<EvidencePool>,
    nb: &NextBlock,
    proposer: Address,
) -> Result<Block, InvalidBlock> {
    let last_commit = match nb.height.checked_sub(1) {
        Some(prev) if nb.last_block_id.is_some() => store.commit_at(prev)?,
        _ => None,
    };
    let time = block_time(store, last_commit.as_ref())?;
    let max_block = usize::try_from(nb.params.consensus.block_max_bytes).unwrap_or(usize::MAX);
    let max_evidence = usize::try_from(nb.params.consensus.evidence_max_bytes).unwrap_or(0);
    let evidence = evidence
        .lock()
        .map(|p| p.pending_for_block(nb.height, max_evidence))
        .unwrap_or_default();
    let evidence_bytes: usize = evidence
        .iter()
        .map(|e| cairn_types::codec::encode(e).len())
        .sum();
    let room = max_block.saturating_sub(BLOCK_OVERHEAD + evidence_bytes);
    let txs = mempool
        .lock()
        .map(|m| m.reap(room, usize::MAX))
        .unwrap_or_default();
    let mut block = Block {
        header: Header {
            version: Version {
                block: BLOCK_VERSION,
                app: APP_VERSION,
            },
            chain_id: nb.chain_id.clone().into(),
            height: nb.height,
            time,
            last_block_id: nb.last_block_id,
            last_commit_hash: Default::default(),
            data_hash: Default::default(),
            validators_hash: nb.validators_hash,
            next_validators_hash: nb.next_validators_hash,
            consensus_hash: nb.consensus_hash,
            app_hash: nb.app_hash,
            last_results_hash: nb.last_results_hash,
            evidence_hash: Default::default(),
            proposer_address: proposer,
        },
        txs,
        evidence,
        last_commit,
    };
    block.header.last_commit_hash = block.compute_last_commit_hash();
    block.header.data_hash = block.compute_data_hash();
    block.header.evidence_hash = block.compute_evidence_hash();
    Ok(block)
}

/// `valid(v)`: checks `block` as the block of `nb.height` proposed in
/// `round`, against our state: every header field, BFT time, the last
/// commit, sizes, every tx's encoding and signature (skipping those the
/// mempool already verified, the rest in one batch), and the evidence.
pub fn validate_block(
    store: &Store,
    mempool: &Mutex<Mempool>,
    evidence: &Mutex<EvidencePool>,
    nb: &NextBlock,
    block: &Block,
    round: u32,
) -> Result<(), InvalidBlock> {
    let h = &block.header;
    let expect = |field, want: String, got: String| {
        if want == got {
            Ok(())
        } else {
            Err(InvalidBlock::Header {
                field,
                expected: want,
                got,
            })
        }
    };
    if h.version
        != (Version {
            block: BLOCK_VERSION,
            app: APP_VERSION,
        })
    {
        return Err(mismatch(
            "version",
            (BLOCK_VERSION, APP_VERSION),
            (h.version.block, h.version.app),
        ));
    }
    expect("chain_id", nb.chain_id.clone(), h.chain_id.0.clone())?;
    if h.height != nb.height {
        return Err(mismatch("height", nb.height, h.height));
    }
    if h.last_block_id != nb.last_block_id {
        return Err(mismatch("last_block_id", nb.last_block_id, h.last_block_id));
    }
    for (field, want, got) in [
        ("app_hash", nb.app_hash, h.app_hash),
        ("validators_hash", nb.validators_hash, h.validators_hash),
        (
            "next_validators_hash",
            nb.next_validators_hash,
            h.next_validators_hash,
        ),
        ("consensus_hash", nb.consensus_hash, h.consensus_hash),
        (
            "last_results_hash",
            nb.last_results_hash,
            h.last_results_hash,
        ),
        (
            "last_commit_hash",
            block.compute_last_commit_hash(),
            h.last_commit_hash,
        ),
        ("data_hash", block.compute_data_hash(), h.data_hash),
        (
            "evidence_hash",
            block.compute_evidence_hash(),
            h.evidence_hash,
        ),
    ] {
        if want != got {
            return Err(mismatch(field, want, got));
        }
    }
    let proposer = nb.validators.proposer_for_round(round).address;
    if h.proposer_address != proposer {
        return Err(mismatch("proposer_address", proposer, h.proposer_address));
    }
    // The last commit proves the previous block under the set of that height.
    match (&block.last_commit, nb.last_block_id) {
        (None, None) => {}
        (Some(c), Some(prev)) => {
            let prev_height = nb.height - 1;
            let set = store
                .validators_at(prev_height)?
                .ok_or_else(|| InvalidBlock::LastCommit("no validator set".into()))?;
            set.verify_commit(&nb.chain_id, prev_height, &prev, c)
                .map_err(|e| InvalidBlock::LastCommit(e.to_string()))?;
        }
        _ => return Err(InvalidBlock::LastCommit("missing or unexpected".into())),
    }
    let time = block_time(store, block.last_commit.as_ref())?;
    if h.time != time {
        return Err(mismatch("time", time, h.time));
    }
    let size = block.encoded_len();
    if size as u64 > nb.params.consensus.block_max_bytes {
        return Err(InvalidBlock::TooLarge {
            size,
            max: nb.params.consensus.block_max_bytes,
        });
    }
    check_txs(mempool, &nb.chain_id, &nb.params, &block.txs)?;
    check_evidence(store, evidence, nb, block)?;
    Ok(())
}

/// Every tx decodes canonically, is for this chain, within the size limit,
/// from a usable key, with a valid signature. Signatures the mempool
/// verified are not checked again; the others go through one batch.
pub fn check_txs(
    mempool: &Mutex<Mempool>,
    chain_id: &str,
    params: &cairn_types::ChainParams,
    txs: &[Bytes],
) -> Result<(), InvalidBlock> {
    let max = usize::try_from(params.consensus.tx_max_bytes).unwrap_or(usize::MAX);
    let (to_verify, keys) = mempool
        .lock()
        .map(|m| (m.unverified(txs), m.key_cache()))
        .unwrap_or_else(|_| ((0..txs.len()).collect(), Arc::new(KeyCache::new(0))));
    let mut batch = BatchVerifier::new();
    let mut decoded = Vec::with_capacity(to_verify.len());
    for (index, bytes) in txs.iter().enumerate() {
        let tx = Tx::decode(bytes, max, chain_id).map_err(|e| InvalidBlock::Tx {
            index,
            reason: e.to_string(),
        })?;
        if to_verify.binary_search(&index).is_ok() {
            keys.check_usable(&tx.body.sender)
                .map_err(|e| InvalidBlock::Tx {
                    index,
                    reason: e.to_string(),
                })?;
            batch.push(tx.body.sender, tx.body.sign_bytes(), tx.signature);
            decoded.push(index);
        }
    }
    if let Some(bad) = batch.verify_each_cached(&keys).iter().position(|ok| !ok) {
        return Err(InvalidBlock::Tx {
            index: decoded[bad],
            reason: "signature does not verify".into(),
        });
    }
    if let Ok(mut m) = mempool.lock() {
        for i in decoded {
            m.mark_verified(tx_hash(&txs[i]));
        }
    }
    Ok(())
}

fn check_evidence(
    store: &Store,
    pool: &Mutex<EvidencePool>,
    nb: &NextBlock,
    block: &Block,
) -> Result<(), InvalidBlock> {
    let bytes: usize = block
        .evidence
        .iter()
        .map(|e| cairn_types::codec::encode(e).len())
        .sum();
    if bytes as u64 > nb.params.consensus.evidence_max_bytes {
        return Err(InvalidBlock::Evidence {
            index: 0,
            reason: format!(
                "{bytes} bytes of evidence exceed evidence_max_bytes {}",
                nb.params.consensus.evidence_max_bytes
            ),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, ev) in block.evidence.iter().enumerate() {
        let err = |reason: String| InvalidBlock::Evidence { index, reason };
        if !seen.insert(ev.hash()) {
            return Err(err("included twice".into()));
        }
        if let Ok(p) = pool.lock() {
            p.check_not_committed(ev).map_err(|e| err(e.to_string()))?;
        }
        let Evidence::DuplicateVote(dv) = ev;
        let height = ev.height();
        let set = store
            .validators_at(height)?
            .ok_or_else(|| err(format!("no validator set kept for height {height}")))?;
        let params = store
            .params_at(height)?
            .map_or(nb.params.consensus.clone(), |p| p.consensus);
        dv.verify(&nb.chain_id, &set, &params, nb.height, block.header.time)
            .map_err(|e| err(e.to_string()))?;
        let infraction_time = store.height_record(height)?.map(|r| r.time);
        if infraction_time != Some(dv.timestamp) {
            return Err(err(format!(
                "timestamp {:?} is not the time of block {height} ({infraction_time:?})",
                dv.timestamp
            )));
        }
    }
    Ok(())
}
