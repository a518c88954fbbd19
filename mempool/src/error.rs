//! Why a transaction or a piece of evidence was not admitted.
//!
//! Every refusal says whose fault it is. [`MempoolError::is_bad_transaction`]
//! is true when the bytes can never become valid on this chain (malformed,
//! wrong chain, oversized, forged signature): the peer that relayed them
//! broke the protocol, since its own mempool must have refused them too, so
//! gossip rejects the message and penalises the peer. Everything else
//! (duplicates, a full pool, a nonce or balance that depends on state the
//! peer may see differently) is nobody's fault: gossip ignores the message
//! without penalty.

use cairn_types::Hash;
use cairn_types::crypto::{KeyError, SignatureError};
use cairn_types::evidence::EvidenceError;
use cairn_types::tx::TxError;

/// Why a transaction was refused by the mempool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The encoded tx is larger than `max_tx_bytes`.
    #[error("tx of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Stateless failure: the bytes do not decode canonically, or are for
    /// another chain, or the sender key is unusable.
    #[error("invalid tx: {0}")]
    Invalid(#[from] TxError),
    /// The signature does not verify.
    #[error("tx {hash} has an invalid signature")]
    BadSignature {
        /// The tx.
        hash: Hash,
    },
    /// This exact tx was refused as statelessly invalid moments ago (seen cache).
    #[error("tx {hash} is known to be invalid")]
    KnownInvalid {
        /// The tx.
        hash: Hash,
    },
    /// This exact tx is already pending.
    #[error("tx {hash} is already in the mempool")]
    AlreadyInPool {
        /// The tx.
        hash: Hash,
    },
    /// This exact tx was seen recently (committed, evicted or expired): an echo.
    #[error("tx {hash} was seen recently")]
    AlreadySeen {
        /// The tx.
        hash: Hash,
    },
    /// The nonce was already used by a committed tx.
    #[error("nonce {nonce} is below the account's next nonce {expected}")]
    NonceTooLow {
        /// The tx's nonce.
        nonce: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// Another tx of the sender with this nonce is pending.
    #[error("another tx with nonce {nonce} from this sender is pending")]
    NonceAlreadyPending {
        /// The nonce.
        nonce: u64,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error(
        "nonce {nonce} is too far ahead of the account's next nonce {expected} (window {window})"
    )]
    NonceTooFarAhead {
        /// The tx's nonce.
        nonce: u64,
        /// The account's next nonce.
        expected: u64,
        /// How far ahead a nonce may be.
        window: u64,
    },
    /// The sender already has the most future (gapped) txs allowed.
    #[error("sender already has {max} txs waiting for a nonce gap to fill")]
    TooManyFuture {
        /// The limit.
        max: usize,
    },
    /// The sender already has the most pending txs allowed.
    #[error("sender already has {max} pending txs")]
    SenderFull {
        /// The limit.
        max: usize,
    },
    /// The fee is below the minimum fee per byte times the tx size.
    #[error("fee {fee} is below the minimum {min} ({size} bytes)")]
    FeeTooLow {
        /// The tx's fee.
        fee: u64,
        /// The minimum for its size.
        min: u128,
        /// Its size.
        size: usize,
    },
    /// The balance does not cover this tx plus the sender's pending txs.
    #[error("balance {balance} does not cover {required} (this tx and the sender's pending txs)")]
    InsufficientBalance {
        /// What the pending txs and this one spend.
        required: u128,
        /// The account's balance.
        balance: u64,
    },
    /// The pool is full and the tx does not outrank anything that could be evicted.
    #[error(
        "mempool is full ({txs} txs, {bytes} bytes) and the tx's fee per byte is too low to evict"
    )]
    Full {
        /// Pending txs.
        txs: usize,
        /// Pending bytes.
        bytes: usize,
    },
}

impl MempoolError {
    /// True when the tx can never be valid on this chain: the peer that sent
    /// it is at fault and should be penalised (gossip "reject").
    pub fn is_bad_transaction(&self) -> bool {
        matches!(
            self,
            MempoolError::TooLarge { .. }
                | MempoolError::Invalid(_)
                | MempoolError::BadSignature { .. }
                | MempoolError::KnownInvalid { .. }
        )
    }

    /// Same as [`is_bad_transaction`](Self::is_bad_transaction): whether the
    /// relaying peer is penalised.
    pub fn penalise_sender(&self) -> bool {
        self.is_bad_transaction()
    }

    /// True for refusals caused by limits rather than by the tx itself
    /// (full pool, sender limits): the client may retry later.
    pub fn is_capacity(&self) -> bool {
        matches!(
            self,
            MempoolError::Full { .. }
                | MempoolError::SenderFull { .. }
                | MempoolError::TooManyFuture { .. }
        )
    }

    /// True when the exact tx is already known (pending or seen recently).
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            MempoolError::AlreadyInPool { .. } | MempoolError::AlreadySeen { .. }
        )
    }

    /// A stable numeric code for RPC responses (CheckTx-style, non-zero).
    pub fn code(&self) -> u32 {
        match self {
            MempoolError::TooLarge { .. } => 1,
            MempoolError::Invalid(TxError::Decode(_)) => 2,
            MempoolError::Invalid(TxError::WrongChain { .. }) => 3,
            MempoolError::Invalid(TxError::SenderKey(_)) => 4,
            MempoolError::Invalid(TxError::Signature(_)) | MempoolError::BadSignature { .. } => 5,
            MempoolError::KnownInvalid { .. } => 6,
            MempoolError::AlreadyInPool { .. } | MempoolError::AlreadySeen { .. } => 7,
            MempoolError::NonceTooLow { .. } => 8,
            MempoolError::NonceAlreadyPending { .. } => 9,
            MempoolError::NonceTooFarAhead { .. } | MempoolError::TooManyFuture { .. } => 10,
            MempoolError::SenderFull { .. } => 11,
            MempoolError::FeeTooLow { .. } => 12,
            MempoolError::InsufficientBalance { .. } => 13,
            MempoolError::Full { .. } => 14,
        }
    }
}

impl From<KeyError> for MempoolError {
    fn from(e: KeyError) -> Self {
        MempoolError::Invalid(TxError::SenderKey(e))
    }
}

impl From<SignatureError> for MempoolError {
    fn from(e: SignatureError) -> Self {
        MempoolError::Invalid(TxError::Signature(e))
    }
}

/// Why evidence was not added to the evidence pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidencePoolError {
    /// The evidence does not verify (bad signatures, no conflict, wrong
    /// powers, unknown validator, or too old).
    #[error("invalid evidence: {0}")]
    Invalid(#[from] EvidenceError),
    /// The stated infraction time differs from the block time at that height.
    #[error("evidence time {stated} differs from the block time {actual} at height {height}")]
    WrongTime {
        /// Infraction height.
        height: u64,
        /// Time stated in the evidence.
        stated: cairn_types::Time,
        /// Time of the block at that height.
        actual: cairn_types::Time,
    },
    /// The evidence is for a height this node cannot judge yet (beyond the
    /// height in progress) or whose validator set it no longer keeps.
    #[error("no validator set known for evidence height {height}")]
    UnknownHeight {
        /// Infraction height.
        height: u64,
    },
    /// This evidence (or evidence of the same offence) is already pending.
    #[error("evidence {hash} is already pending")]
    Duplicate {
        /// The evidence hash.
        hash: Hash,
    },
    /// This evidence was already committed; it is never included again.
    #[error("evidence {hash} was already committed")]
    AlreadyCommitted {
        /// The evidence hash.
        hash: Hash,
    },
    /// The pool holds the most pending evidence allowed.
    #[error("evidence pool is full ({max} items)")]
    Full {
        /// The limit.
        max: usize,
    },
}

impl EvidencePoolError {
    /// True when the evidence is forged or malformed: the peer that sent it
    /// is penalised. Expired evidence is not the peer's fault (it may be
    /// behind), nor are duplicates or unknown heights.
    pub fn is_bad_evidence(&self) -> bool {
        match self {
            EvidencePoolError::Invalid(e) => !matches!(
                e,
                EvidenceError::Expired { .. } | EvidenceError::FromTheFuture { .. }
            ),
            EvidencePoolError::WrongTime { .. } => true,
            _ => false,
        }
    }

    /// Same as [`is_bad_evidence`](Self::is_bad_evidence).
    pub fn penalise_sender(&self) -> bool {
        self.is_bad_evidence()
    }
}
