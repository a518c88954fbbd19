//! Mempool limits (see the crate docs for why each default was chosen).

use cairn_types::ChainParams;

/// Limits and identity of a [`Mempool`](crate::Mempool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolConfig {
    /// The chain's id; txs for any other chain are refused.
    pub chain_id: String,
    /// Largest encoded tx (the consensus parameter `tx_max_bytes`).
    pub max_tx_bytes: usize,
    /// Most pending txs, ready and future together.
    pub max_txs: usize,
    /// Most pending bytes (sum of encoded tx sizes).
    pub max_total_bytes: usize,
    /// Most pending txs of one sender, ready and future together. Also the
    /// nonce window: a nonce at or beyond `account nonce + max_per_sender`
    /// is refused.
    pub max_per_sender: usize,
    /// Most future txs (held behind a nonce gap) of one sender.
    pub max_future_per_sender: usize,
    /// A tx still pending this many blocks after admission is dropped (0 disables).
    pub ttl_blocks: u64,
    /// Size of the LRU cache of recently seen tx hashes (gossip echoes, resubmissions).
    pub seen_cache_size: usize,
    /// Size of the LRU cache of tx hashes whose signature verified.
    pub verified_cache_size: usize,
    /// Most senders' decompressed public keys kept for batch verification
    /// (about 200 bytes each; 0 keeps none).
    pub key_cache_size: usize,
}

impl MempoolConfig {
    /// Defaults for `chain_id`, with `max_tx_bytes` taken from `params`.
    pub fn new(chain_id: impl Into<String>, params: &ChainParams) -> Self {
        MempoolConfig {
            chain_id: chain_id.into(),
            max_tx_bytes: usize::try_from(params.consensus.tx_max_bytes).unwrap_or(usize::MAX),
            max_txs: 100_000,
            max_total_bytes: 64 * 1024 * 1024,
            max_per_sender: 64,
            max_future_per_sender: 16,
            ttl_blocks: 600,
            seen_cache_size: 100_000,
            verified_cache_size: 150_000,
            key_cache_size: 32_768,
        }
    }
}
