//! Errors of the store. Every one of them is fatal for the node except
//! [`StateError::is_bad_block`] ones, which mean the caller handed over a
//! block that does not extend this store.

use cairn_types::Hash;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// RocksDB failed (I/O, corruption, lock held by another process).
    #[error("storage: {0}")]
    Storage(#[from] rocksdb::Error),
    /// The Merkle tree failed to read or update (missing node: pruned or corrupt).
    #[error("merkle tree: {0}")]
    Merkle(String),
    /// A stored record does not decode: the database is corrupt or from another version.
    #[error("corrupt record in column family {cf:?} at key {key}: {reason}")]
    Corrupt {
        /// Column family.
        cf: &'static str,
        /// Hex of the key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The open-time check found stored pieces that disagree; the store refuses to run.
    #[error("state at {dir} cannot be trusted: {what}")]
    Inconsistent {
        /// Database directory.
        dir: String,
        /// What disagrees, with both values.
        what: String,
    },
    /// The database was initialised from another genesis.
    #[error(
        "database was initialised with genesis {stored} but the genesis given hashes to {given}"
    )]
    GenesisMismatch {
        /// Hash stored at init.
        stored: Hash,
        /// Hash of the document given.
        given: Hash,
    },
    /// The genesis document is not valid.
    #[error("genesis: {0}")]
    Genesis(#[from] cairn_genesis::GenesisError),
    /// The block does not extend the stored chain (wrong height, app hash, header field).
    #[error("block {height} does not extend the store: {field}: expected {expected}, got {got}")]
    BadBlock {
        /// The block's height.
        height: u64,
        /// The header field or relation at fault.
        field: &'static str,
        /// What the store expected.
        expected: String,
        /// What the block carries.
        got: String,
    },
    /// `commit` was given an execution result computed on another state.
    #[error("execution result is stale: computed on height {computed_on}, store is at {current}")]
    StaleExecution {
        /// Height the result was computed on.
        computed_on: u64,
        /// The store's height now.
        current: u64,
    },
    /// A height outside what the store retains (pruned, or not yet reached).
    #[error("height {height} is not retained (retained state: {oldest}..={latest})")]
    NotRetained {
        /// The height asked for.
        height: u64,
        /// Oldest retained state version.
        oldest: u64,
        /// Latest height.
        latest: u64,
    },
    /// Validator-set arithmetic failed in a way genesis and execution should prevent.
    #[error("validator set: {0}")]
    ValidatorSet(#[from] cairn_types::validator::ValidatorSetError),
    /// A lock was poisoned by a panicking thread.
    #[error("internal lock poisoned")]
    Poisoned,
}

impl StateError {
    /// True when the caller handed over a block or result that does not fit
    /// this store (a caller bug or a peer's bad block); the store itself is intact.
    pub fn is_bad_block(&self) -> bool {
        matches!(
            self,
            StateError::BadBlock { .. } | StateError::StaleExecution { .. }
        )
    }

    pub(crate) fn corrupt(cf: &'static str, key: &[u8], reason: impl ToString) -> StateError {
        StateError::Corrupt {
            cf,
            key: hex::encode(key),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn merkle(e: impl std::fmt::Display) -> StateError {
        StateError::Merkle(e.to_string())
    }
}
