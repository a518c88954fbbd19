//! What the mempool needs to know about state, read through traits the node implements.

use cairn_types::{Address, Msg, Time, Tx, ValidatorSet};

/// An account as the mempool sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountInfo {
    /// Spendable balance in base units.
    pub balance: u64,
    /// The next nonce the account will use (nonces start at 0).
    pub nonce: u64,
}

/// The committed state the mempool checks txs against (the latest block's).
pub trait StateView {
    /// The account at `addr` (a missing account is `AccountInfo::default()`).
    fn account(&self, addr: &Address) -> AccountInfo;
    /// The minimum fee per byte of signed tx.
    fn min_fee_per_byte(&self) -> u64;
}

/// What the evidence pool needs: historical validator sets and block times.
pub trait EvidenceView {
    /// The validator set that signed blocks at `height`, if still kept. Must
    /// also answer for the height in progress (latest + 1).
    fn validator_set(&self, height: u64) -> Option<ValidatorSet>;
    /// The time of the committed block at `height`, if any.
    fn block_time(&self, height: u64) -> Option<Time>;
}

/// What a tx can take from its sender's balance at most: the fee plus the
/// amount it moves (Transfer amount, Delegate amount, CreateValidator
/// self-stake; nothing else moves funds).
pub fn max_spend(tx: &Tx) -> u128 {
    let moved = match &tx.body.msg {
        Msg::Transfer { amount, .. } | Msg::Delegate { amount, .. } => *amount,
        Msg::CreateValidator { self_stake, .. } => *self_stake,
        _ => 0,
    };
    u128::from(tx.body.fee) + u128::from(moved)
}
