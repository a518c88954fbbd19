//! What the RPC server needs from the node, as one trait and plain result structs.
//!
//! The node implements [`NodeBackend`] over its block store, state, mempool
//! and p2p handles; this crate never sees those crates. Everything here is
//! committed data or a snapshot: a method never blocks on consensus, except
//! the two mempool calls, which are async so the node can await its mempool task.
//!
//! Read methods are synchronous and called from a blocking-task pool
//! ([`tokio::task::spawn_blocking`]), so an implementation may read RocksDB
//! directly. They return `Ok(None)` for "no such thing" and an error only when
//! the node itself failed.

use std::future::Future;
use std::pin::Pin;

use cairn_types::{
    Address, Block, BlockId, ChainParams, Commit, Evidence, Hash, NodeId, PublicKey, Time,
    ValidatorSet,
};

use crate::query::TxQuery;

/// A boxed, sendable future (the return type of the async backend methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the node could not answer a read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The data existed once but was pruned, or is not kept by this node.
    #[error("{what} is not available on this node")]
    Unavailable {
        /// What was asked for, e.g. "state at height 5".
        what: String,
    },
    /// The request is well formed but the node refuses it (e.g. an unknown abci_query path).
    #[error("{reason}")]
    Rejected {
        /// Why, in words a client can act on.
        reason: String,
    },
    /// The node failed (storage error, task gone). Logged; the client sees a JSON-RPC -32603.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl BackendError {
    /// Whether the client's request (not the node) is at fault, so the error
    /// becomes "invalid params" (-32602) rather than "internal error" (-32603).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            BackendError::Unavailable { .. } | BackendError::Rejected { .. }
        )
    }
}

/// A block at the tip or the base of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// Height.
    pub height: u64,
    /// Header hash.
    pub block_id: BlockId,
    /// The header's `app_hash` (state root after the previous block).
    pub app_hash: Hash,
    /// The header's time.
    pub time: Time,
}

/// The node's own validator key (CometBFT's `validator_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnValidator {
    /// Consensus key.
    pub pub_key: PublicKey,
    /// Voting power now (0 when not in the active set).
    pub voting_power: u64,
}

/// A snapshot for `/status` and `/abci_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// The node's id (node key).
    pub node_id: NodeId,
    /// Operator-chosen name.
    pub moniker: String,
    /// The chain id (CometBFT's `network`).
    pub chain_id: String,
    /// Where the node listens for peers (`host:port` or a multiaddr).
    pub p2p_listen_addr: String,
    /// The newest committed block; `None` before the first block.
    pub latest: Option<BlockSummary>,
    /// The oldest block still stored; `None` before the first block.
    pub earliest: Option<BlockSummary>,
    /// State root after executing `latest` (the next header's `app_hash`); the
    /// genesis state root before the first block. Never empty.
    pub state_root: Hash,
    /// Genesis time (shown as the latest block time before the first block).
    pub genesis_time: Time,
    /// Whether block sync is still catching up.
    pub catching_up: bool,
    /// This node's validator key.
    pub validator: OwnValidator,
    /// Whether the tx index is on.
    pub tx_index: bool,
}

/// One ABCI-style event: a type and ordered key/value attributes (all strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event type, e.g. `transfer`.
    pub kind: String,
    /// Attributes in emission order, e.g. `("sender", "ABCD...")`.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// An event from a type and attribute pairs.
    pub fn new(kind: &str, attributes: &[(&str, &str)]) -> Event {
        Event {
            kind: kind.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// The outcome of executing (or checking) one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxResultInfo {
    /// 0 for success; the application's error code otherwise.
    pub code: u32,
    /// Result bytes (usually empty).
    pub data: Vec<u8>,
    /// Human-readable result or error.
    pub log: String,
    /// Where `code` is defined; empty for the application itself.
    pub codespace: String,
    /// Gas is not metered; fee units charged, for display.
    pub gas_used: u64,
    /// Events emitted (indexed for `tx_search` and subscriptions).
    pub events: Vec<Event>,
}

/// A committed transaction as the tx index stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// SHA-256 of `tx`.
    pub hash: Hash,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Signed tx bytes.
    pub tx: Vec<u8>,
    /// Execution result.
    pub result: TxResultInfo,
}

/// A validator power change decided by a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorUpdate {
    /// Consensus key.
    pub pub_key: PublicKey,
    /// New power (0: removed).
    pub power: u64,
}

/// The results of executing one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockResults {
    /// One per tx, in block order.
    pub txs: Vec<TxResultInfo>,
    /// Block-level events (rewards, slashing, jailing...).
    pub finalize_block_events: Vec<Event>,
    /// Validator-set changes decided in this block (in force at height + 2).
    pub validator_updates: Vec<ValidatorUpdate>,
    /// New parameters when an UpdateParams executed in this block.
    pub param_updates: Option<ChainParams>,
    /// State root after executing the block (the next header's `app_hash`).
    pub app_hash: Hash,
}

/// Result of admitting a tx to the mempool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckTxResult {
    /// 0 when admitted (or checked valid); the rejection code otherwise.
    pub code: u32,
    /// Why, for people.
    pub log: String,
    /// Where `code` is defined (empty for the application, `mempool` for pool limits...).
    pub codespace: String,
}

/// One Merkle proof operation (CometBFT's `ProofOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofOp {
    /// Proof format, e.g. `jmt:v`.
    pub kind: String,
    /// The key the op proves.
    pub key: Vec<u8>,
    /// Encoded proof.
    pub data: Vec<u8>,
}

/// An `abci_query` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// 0 when found; non-zero for "not found" and other query errors.
    pub code: u32,
    /// Explanation.
    pub log: String,
    /// The key that was looked up (state key).
    pub key: Vec<u8>,
    /// The value (empty when absent).
    pub value: Vec<u8>,
    /// The state version answered: the block height whose execution produced
    /// it, verifiable against the `app_hash` of header `height + 1`. Never 0.
    pub height: u64,
    /// Proof of the value (or of its absence) when `prove` was asked.
    pub proof_ops: Option<Vec<ProofOp>>,
}

/// A page of `tx_search` results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxPage {
    /// The txs of the requested page.
    pub txs: Vec<TxRecord>,
    /// All matches.
    pub total: u64,
}

/// Mempool occupancy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MempoolStats {
    /// Pending transactions.
    pub n_txs: u64,
    /// Their total size.
    pub total_bytes: u64,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id.
    pub node_id: NodeId,
    /// Its moniker, when known.
    pub moniker: String,
    /// Its listen address, when known.
    pub listen_addr: String,
    /// Whether we dialed it.
    pub is_outbound: bool,
    /// Its IP address.
    pub remote_ip: String,
}

/// Network state for `/net_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetInfo {
    /// Whether the p2p listener is up.
    pub listening: bool,
    /// Listen addresses.
    pub listeners: Vec<String>,
    /// Connected peers.
    pub peers: Vec<PeerInfo>,
}

/// An account, for the explorer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The address.
    pub address: Address,
    /// Spendable balance.
    pub balance: u64,
    /// Next nonce.
    pub nonce: u64,
    /// Total delegated (bonded) by this account.
    pub delegated: u64,
    /// Funds unbonding.
    pub unbonding: u64,
}

/// A staking validator, for the explorer (active, jailed or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorInfo {
    /// The operator's account address.
    pub operator: Address,
    /// Consensus address (of `pub_key`).
    pub consensus_address: Address,
    /// Consensus key.
    pub pub_key: PublicKey,
    /// Name.
    pub moniker: String,
    /// Bonded stake (self + delegations).
    pub stake: u64,
    /// Voting power (0 when not in the active set).
    pub power: u64,
    /// Jailed (out of the set until Unjail).
    pub jailed: bool,
    /// Tombstoned (double-signed; can never return).
    pub tombstoned: bool,
}

/// Evidence committed in a block, for the explorer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// Height of the block that included it.
    pub included_height: u64,
    /// The evidence.
    pub evidence: Evidence,
}

/// Everything the RPC server reads from the node.
///
/// Heights are absolute block heights; "latest" is resolved by the server from
/// [`NodeBackend::status`] before calling, so an implementation never has to
/// interpret 0. Implementations must be cheap to call concurrently.
pub trait NodeBackend: Send + Sync + 'static {
    /// Node, chain tip and sync state.
    fn status(&self) -> Result<StatusInfo, BackendError>;

    /// The committed block at `height`.
    fn block(&self, height: u64) -> Result<Option<Block>, BackendError>;

    /// The height of the committed block with header hash `hash`.
    fn block_height_by_hash(&self, hash: &Hash) -> Result<Option<u64>, BackendError>;

    /// The commit for block `height` and whether it is canonical: the next
    /// block's `last_commit` (canonical) or, for the latest block, the commit
    /// this node saw (not canonical).
    fn commit(&self, height: u64) -> Result<Option<(Commit, bool)>, BackendError>;

    /// The validator set that signs block `height` (also used to name the signers of commits).
    fn validators(&self, height: u64) -> Result<Option<ValidatorSet>, BackendError>;

    /// Execution results of block `height`.
    fn block_results(&self, height: u64) -> Result<Option<BlockResults>, BackendError>;

    /// A committed tx by hash.
    fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, BackendError>;

    /// Committed txs matching `query`, ordered by (height, index) ascending or
    /// descending, paged (`page` starts at 1). [`TxQuery::matches`] decides
    /// membership; the index only has to find candidates (by hash, height, or
    /// the attribute values of the events named in [`crate::query`]).
    fn tx_search(
        &self,
        query: &TxQuery,
        page: u32,
        per_page: u32,
        descending: bool,
    ) -> Result<TxPage, BackendError>;

    /// The genesis document, as stored (served as-is under `genesis`).
    fn genesis_json(&self) -> Result<serde_json::Value, BackendError>;

    /// The parameters in force at `height`.
    fn consensus_params(&self, height: u64) -> Result<Option<ChainParams>, BackendError>;

    /// A state query (see [`crate::methods`] for the paths the node serves).
    /// `height` is the state version (block height), already resolved.
    fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: u64,
        prove: bool,
    ) -> Result<QueryResult, BackendError>;

    /// Checks a tx against the current state without adding it to the mempool.
    fn check_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>>;

    /// Admits a tx to the mempool and gossips it when admitted.
    fn broadcast_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>>;

    /// Mempool occupancy.
    fn mempool_stats(&self) -> Result<MempoolStats, BackendError>;

    /// Up to `limit` pending txs, in reap order.
    fn unconfirmed_txs(&self, limit: usize) -> Result<Vec<Vec<u8>>, BackendError>;

    /// Peers and listeners.
    fn net_info(&self) -> Result<NetInfo, BackendError>;

    /// An account at the latest state (`None`: never seen).
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, BackendError>;

    /// Every validator known to staking (active, inactive, jailed, tombstoned).
    fn validator_infos(&self) -> Result<Vec<ValidatorInfo>, BackendError>;

    /// The most recent committed evidence, newest first, at most `limit`.
    fn recent_evidence(&self, limit: usize) -> Result<Vec<EvidenceRecord>, BackendError>;
}
