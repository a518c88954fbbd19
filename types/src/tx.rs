//! Signed transactions and their messages (DESIGN.md §5).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::{self, Bytes, CodecError, Text};
use crate::crypto::{
    Address, Hash, KeyError, NodeId, PublicKey, Signature, SignatureError, SigningKey,
};
use crate::params::ChainParams;
use crate::sign_bytes::{Domain, sign_bytes};

/// What a Put requires of the key's current value (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum PutCondition {
    /// Write whatever the current value is.
    Always,
    /// Write only if the key has no value.
    Absent,
    /// Write only if the current value equals this.
    Equals(Bytes),
}

/// The one action a transaction performs.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Msg {
    /// Move `amount` from the sender to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount in base units.
        amount: u64,
    },
    /// Store `value` under `key` in the sender's namespace.
    Put {
        /// Key within the sender's namespace.
        key: Bytes,
        /// New value.
        value: Bytes,
        /// Condition on the current value.
        condition: PutCondition,
    },
    /// Bond `amount` to the validator whose operator is `validator`.
    Delegate {
        /// The validator's operator address.
        validator: Address,
        /// Amount in base units.
        amount: u64,
    },
    /// Start unbonding `amount` from `validator`; funds return after the unbonding period.
    Undelegate {
        /// The validator's operator address.
        validator: Address,
        /// Amount in base units.
        amount: u64,
    },
    /// Register the sender as a validator operator (it must have been permitted by an admin).
    CreateValidator {
        /// The key that signs votes and proposals.
        consensus_key: PublicKey,
        /// The operator's node id, added to every node's peer allowlist.
        node_id: NodeId,
        /// Human-readable name.
        moniker: Text,
        /// Initial self-delegation.
        self_stake: u64,
    },
    /// Change the sender's validator description.
    EditValidator {
        /// New name, if any.
        moniker: Option<Text>,
        /// New node id, if any.
        node_id: Option<NodeId>,
    },
    /// Ask to leave jail (not possible once tombstoned).
    Unjail,
    /// Admin: allow `operator` to create a validator.
    PermitValidator {
        /// The operator's account address.
        operator: Address,
    },
    /// Admin: withdraw the permission; an active validator leaves the set.
    RevokeValidator {
        /// The operator's account address.
        operator: Address,
    },
    /// Admin: replace the chain parameters.
    UpdateParams {
        /// The new parameters (validated at execution).
        params: ChainParams,
    },
}

impl Msg {
    /// The message's name, as used in events and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Transfer { .. } => "transfer",
            Msg::Put { .. } => "put",
            Msg::Delegate { .. } => "delegate",
            Msg::Undelegate { .. } => "undelegate",
            Msg::CreateValidator { .. } => "create_validator",
            Msg::EditValidator { .. } => "edit_validator",
            Msg::Unjail => "unjail",
            Msg::PermitValidator { .. } => "permit_validator",
            Msg::RevokeValidator { .. } => "revoke_validator",
            Msg::UpdateParams { .. } => "update_params",
        }
    }
}

/// The signed fields of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBody {
    /// Must equal the chain's id: a tx for one chain is never valid on another.
    pub chain_id: Text,
    /// The sender's public key; the sender's address is derived from it.
    pub sender: PublicKey,
    /// The sender's next nonce (starts at 0).
    pub nonce: u64,
    /// Fee in base units, paid to the block's proposer.
    pub fee: u64,
    /// The action.
    pub msg: Msg,
}

/// A transaction: body plus the sender's signature over its sign bytes.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Tx {
    /// The signed fields.
    pub body: TxBody,
    /// Signature over `sign_bytes(Domain::Tx, chain_id, body)`.
    pub signature: Signature,
}

/// Why transaction bytes are not a valid transaction (stateless checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode canonically within the size limit.
    #[error("tx decode: {0}")]
    Decode(#[from] CodecError),
    /// Signed for another chain.
    #[error("tx is for chain {got:?}, this chain is {expected:?}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The tx's chain.
        got: String,
    },
    /// The signature does not verify.
    #[error("tx signature: {0}")]
    Signature(#[from] SignatureError),
    /// The sender's key is not usable (small order keys would let anyone sign for the address).
    #[error("tx sender key: {0}")]
    SenderKey(#[from] KeyError),
}

impl Tx {
    /// Signs `body` with `key` (whose public key should be `body.sender`).
    pub fn sign(body: TxBody, key: &SigningKey) -> Tx {
        let signature = key.sign(&body.sign_bytes());
        Tx { body, signature }
    }

    /// The canonical encoding, as gossiped and stored in blocks.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes canonically within `max_bytes` and checks the chain id (no signature check).
    pub fn decode(bytes: &[u8], max_bytes: usize, chain_id: &str) -> Result<Tx, TxError> {
        let tx: Tx = codec::decode(bytes, max_bytes)?;
        if *tx.body.chain_id != *chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.to_owned(),
                got: tx.body.chain_id.0.clone(),
            });
        }
        Ok(tx)
    }

    /// Verifies the sender's signature (ZIP-215), refusing small-order sender keys.
    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.body.sender.check_usable()?;
        Ok(self
            .body
            .sender
            .verify(&self.body.sign_bytes(), &self.signature)?)
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.body.sender.address()
    }
}

impl TxBody {
    /// The bytes the sender signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        sign_bytes(Domain::Tx, &self.chain_id, self)
    }
}

/// The hash of a transaction: SHA-256 of its full signed bytes.
pub fn tx_hash(tx_bytes: &[u8]) -> Hash {
    Hash::digest(tx_bytes)
}
