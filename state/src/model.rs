//! The records the application keeps in the Merkle state, and the results it
//! reports per transaction.
//!
//! Every record is encoded with the canonical codec ([`cairn_types::codec`]):
//! these bytes are what the app hash commits to, so a change here changes
//! every app hash (the pinned fixtures in `tests/fixtures.rs` catch it).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::crypto::{Address, NodeId, PublicKey};
use serde::{Deserialize, Serialize};

/// An account: spendable balance and the next nonce it must sign with.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize,
)]
pub struct Account {
    /// Spendable balance in base units.
    pub balance: u64,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// A validator: its description, its stake pool and its standing.
///
/// Delegators own *shares* of the pool (`tokens` base units backed by
/// `shares` shares). A slash lowers `tokens` and leaves the shares alone, so
/// every delegator loses the same fraction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ValidatorRecord {
    /// The operator account that created it (its key in the state).
    pub operator: Address,
    /// Key that signs votes and proposals.
    pub consensus_key: PublicKey,
    /// The validator node's network id.
    pub node_id: NodeId,
    /// Human-readable name.
    pub moniker: String,
    /// Bonded base units in the pool.
    pub tokens: u64,
    /// Shares issued against the pool.
    pub shares: u128,
    /// Out of the active set until it unjails.
    pub jailed: bool,
    /// Punished for double signing: jailed for good.
    pub tombstoned: bool,
    /// Total slashed from this validator's pool and unbonding entries.
    pub slashed: u64,
}

impl ValidatorRecord {
    /// Base units that `shares` of this pool are worth (rounded down).
    pub fn tokens_for(&self, shares: u128) -> u64 {
        if self.shares == 0 {
            return 0;
        }
        let t = shares.saturating_mul(u128::from(self.tokens)) / self.shares;
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    /// The consensus address (what votes, evidence and the header name).
    pub fn consensus_address(&self) -> Address {
        self.consensus_key.address()
    }
}

/// A delegator's claim on a validator's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Delegation {
    /// Shares of the validator's pool.
    pub shares: u128,
}

/// Funds on their way back to a delegator.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct UnbondingEntry {
    /// Who gets the funds.
    pub delegator: Address,
    /// The validator they were bonded to (slashes of it reach this entry).
    pub validator: Address,
    /// Height of the Undelegate.
    pub creation_height: u64,
    /// At the end of this height the balance returns to the delegator.
    pub completion_height: u64,
    /// What is left to return (slashes lower it).
    pub balance: u64,
}

/// One member of the active validator set as the application last computed it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ActiveMember {
    /// Consensus key.
    pub key: PublicKey,
    /// Voting power.
    pub power: u64,
}

/// The supply ledger: what genesis minted and what slashing burned.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize,
)]
pub struct SupplyLedger {
    /// Sum of genesis balances.
    pub genesis_supply: u64,
    /// Burned by slashing so far.
    pub burned: u64,
}

/// One attribute-carrying event emitted by a transaction (CometBFT's shape).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Event {
    /// Event type, e.g. `transfer`.
    pub kind: String,
    /// Ordered (key, value) attributes, e.g. `("sender", "AB12..")`.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// An event of `kind` with `attributes`.
    pub fn new(kind: &str, attributes: Vec<(&str, String)>) -> Event {
        Event {
            kind: kind.to_owned(),
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }
}

/// The outcome of one transaction, stored in the tx index.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxResult {
    /// 0 for success, otherwise one of [`codes`].
    pub code: u32,
    /// Human-readable explanation (not hashed; may be reworded).
    pub log: String,
    /// Events, for indexing and subscriptions.
    pub events: Vec<Event>,
}

impl TxResult {
    /// Whether the message took effect.
    pub fn is_ok(&self) -> bool {
        self.code == codes::OK
    }
}

/// Transaction result codes. Only the codes enter `last_results_hash`.
///
/// | code | name | effect on state |
/// |---:|---|---|
/// | 0 | `OK` | fee charged, nonce used, message applied |
/// | 1 | `DECODE` | none (bytes do not decode, wrong chain id, too large) |
/// | 2 | `BAD_SIGNATURE` | none (only when the caller asks execution to verify) |
/// | 3 | `BAD_NONCE` | none (wrong nonce, e.g. a duplicate) |
/// | 4 | `FEE_TOO_LOW` | none (fee below `min_fee_per_byte` x length) |
/// | 5 | `CANNOT_PAY_FEE` | none (balance below the fee) |
/// | 10 | `INSUFFICIENT_FUNDS` | fee charged, nonce used, nothing else |
/// | 11 | `UNAUTHORIZED` | fee charged, nonce used, nothing else |
/// | 12 | `INVALID_MSG` | fee charged, nonce used, nothing else |
/// | 13 | `CONDITION_FAILED` | fee charged, nonce used, nothing else (Put compare-and-set) |
/// | 14 | `NOT_FOUND` | fee charged, nonce used, nothing else |
/// | 15 | `ALREADY_EXISTS` | fee charged, nonce used, nothing else |
/// | 16 | `VALIDATOR_STATE` | fee charged, nonce used, nothing else (tombstoned, not jailed, ...) |
/// | 17 | `INVALID_PARAMS` | fee charged, nonce used, nothing else |
pub mod codes {
    /// Success.
    pub const OK: u32 = 0;
    /// The bytes are not a transaction for this chain.
    pub const DECODE: u32 = 1;
    /// The signature does not verify (only checked when asked).
    pub const BAD_SIGNATURE: u32 = 2;
    /// The nonce is not the sender's next nonce.
    pub const BAD_NONCE: u32 = 3;
    /// The fee is below the minimum for the tx's size.
    pub const FEE_TOO_LOW: u32 = 4;
    /// The sender cannot pay the fee.
    pub const CANNOT_PAY_FEE: u32 = 5;
    /// The sender lacks the funds the message moves.
    pub const INSUFFICIENT_FUNDS: u32 = 10;
    /// The sender may not send this message.
    pub const UNAUTHORIZED: u32 = 11;
    /// The message's fields are out of range.
    pub const INVALID_MSG: u32 = 12;
    /// A Put's condition on the current value does not hold.
    pub const CONDITION_FAILED: u32 = 13;
    /// The validator or delegation named does not exist.
    pub const NOT_FOUND: u32 = 14;
    /// The validator or consensus key already exists.
    pub const ALREADY_EXISTS: u32 = 15;
    /// The validator is not in a state that allows the message.
    pub const VALIDATOR_STATE: u32 = 16;
    /// UpdateParams with parameters that do not validate.
    pub const INVALID_PARAMS: u32 = 17;

    /// Whether a tx with this code left the state untouched (no fee, no nonce).
    pub fn has_no_effect(code: u32) -> bool {
        matches!(
            code,
            DECODE | BAD_SIGNATURE | BAD_NONCE | FEE_TOO_LOW | CANNOT_PAY_FEE
        )
    }
}

/// What happened to one piece of evidence in a block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EvidenceOutcome {
    /// Hash of the evidence.
    pub hash: cairn_types::Hash,
    /// The validator's consensus address.
    pub validator: Address,
    /// Base units burned (0 when the evidence was refused).
    pub slashed: u64,
    /// `ok` or why it was ignored.
    pub log: String,
}
