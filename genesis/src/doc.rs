//! The genesis document: its JSON form, validation and hash.

use std::collections::{BTreeMap, BTreeSet};

use borsh::BorshSerialize;
use cairn_types::crypto::{Address, Hash, KeyError, NodeId, PublicKey};
use cairn_types::params::{ChainParams, ParamsError};
use cairn_types::validator::{Validator, ValidatorSet, ValidatorSetError};
use cairn_types::{Time, codec};
use serde::{Deserialize, Serialize};

/// The chain's starting point, shared byte for byte by every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDoc {
    /// Time of the first block.
    pub genesis_time: Time,
    /// The chain's name; part of every signature.
    pub chain_id: String,
    /// Height of the first block.
    pub initial_height: u64,
    /// Consensus and application parameters.
    pub params: ChainParams,
    /// The initial validators.
    pub validators: Vec<GenesisValidator>,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Accounts allowed to send admin messages (PermitValidator, RevokeValidator, UpdateParams).
    pub admins: Vec<Address>,
}

/// A validator at genesis. Its self stake is bonded from the operator's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Human-readable name.
    pub name: String,
    /// Consensus key.
    pub pub_key: PublicKey,
    /// The validator node's id (joins every node's allowlist).
    pub node_id: NodeId,
    /// The operator account that owns the stake; it must be in `accounts`.
    pub operator: Address,
    /// Stake bonded at genesis, taken from the operator's balance.
    pub self_stake: u64,
}

/// A funded account at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account's address.
    pub address: Address,
    /// Its balance in base units (before validator stakes are bonded).
    pub balance: u64,
}

/// Why a genesis document is refused. Each error names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The file is not valid JSON of the expected shape.
    #[error("genesis JSON: {0}")]
    Json(String),
    /// Bad chain id.
    #[error("chain_id {0:?}: must be 1-50 characters of [A-Za-z0-9._-]")]
    ChainId(String),
    /// Height 0 is not a block height.
    #[error("initial_height: must be at least 1")]
    InitialHeight,
    /// A parameter is out of range.
    #[error("{0}")]
    Params(#[from] ParamsError),
    /// No validators.
    #[error("validators: the set is empty")]
    NoValidators,
    /// More validators than `max_validators`.
    #[error("validators: {count} exceed params.app.max_validators ({max})")]
    TooManyValidators {
        /// Validators listed.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// A validator's key is listed twice.
    #[error("validators[{index}].pub_key: duplicate of validators[{first}]")]
    DuplicateValidatorKey {
        /// The second occurrence.
        index: usize,
        /// The first.
        first: usize,
    },
    /// A validator's node id is listed twice.
    #[error("validators[{index}].node_id: duplicate of validators[{first}]")]
    DuplicateNodeId {
        /// The second occurrence.
        index: usize,
        /// The first.
        first: usize,
    },
    /// Two validators share an operator.
    #[error("validators[{index}].operator: {operator} already operates validators[{first}]")]
    DuplicateOperator {
        /// The second occurrence.
        index: usize,
        /// The first.
        first: usize,
        /// The operator.
        operator: Address,
    },
    /// A validator key that must not enter the chain.
    #[error("validators[{index}].pub_key: {source}")]
    BadValidatorKey {
        /// The validator.
        index: usize,
        /// Why.
        source: KeyError,
    },
    /// Zero self stake.
    #[error("validators[{index}].self_stake: must be positive")]
    ZeroStake {
        /// The validator.
        index: usize,
    },
    /// Self stake below the minimum.
    #[error("validators[{index}].self_stake: {stake} is below params.app.min_self_stake ({min})")]
    StakeBelowMinimum {
        /// The validator.
        index: usize,
        /// Its stake.
        stake: u64,
        /// The minimum.
        min: u64,
    },
    /// The operator has no account.
    #[error("validators[{index}].operator: {operator} has no entry in accounts")]
    OperatorWithoutAccount {
        /// The validator.
        index: usize,
        /// The operator.
        operator: Address,
    },
    /// The operator cannot cover the stake.
    #[error("validators[{index}].self_stake: {stake} exceeds the operator's balance {balance}")]
    StakeAboveBalance {
        /// The validator.
        index: usize,
        /// Its stake.
        stake: u64,
        /// The operator's balance.
        balance: u64,
    },
    /// The resulting set is not valid (e.g. too much total power).
    #[error("validators: {0}")]
    ValidatorSet(#[from] ValidatorSetError),
    /// An account is listed twice.
    #[error("accounts[{index}].address: {address} is listed twice")]
    DuplicateAccount {
        /// The second occurrence.
        index: usize,
        /// The address.
        address: Address,
    },
    /// Balances overflow.
    #[error("accounts: total supply overflows 64 bits")]
    SupplyOverflow,
    /// An admin listed twice.
    #[error("admins[{index}]: {address} is listed twice")]
    DuplicateAdmin {
        /// The second occurrence.
        index: usize,
        /// Its address.
        address: Address,
    },
    /// An admin without an account.
    #[error("admins[{index}]: {address} has no entry in accounts")]
    UnknownAdmin {
        /// The admin.
        index: usize,
        /// Its address.
        address: Address,
    },
}

/// Checks a chain id: 1-50 characters of `[A-Za-z0-9._-]`.
pub fn validate_chain_id(chain_id: &str) -> Result<(), GenesisError> {
    let ok = !chain_id.is_empty()
        && chain_id.len() <= 50
        && chain_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(GenesisError::ChainId(chain_id.to_owned()))
    }
}

impl GenesisDoc {
    /// Parses and validates a genesis JSON document.
    pub fn from_json(json: &str) -> Result<GenesisDoc, GenesisError> {
        let doc: GenesisDoc =
            serde_json::from_str(json).map_err(|e| GenesisError::Json(e.to_string()))?;
        doc.validate()?;
        Ok(doc)
    }

    /// Pretty JSON, as written to `config/genesis.json`.
    pub fn to_json(&self) -> String {
        // Serialising plain data to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The genesis hash: SHA-256 of the canonical encoding (independent of JSON formatting).
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Voting power of a genesis validator.
    pub fn power_of(&self, v: &GenesisValidator) -> u64 {
        v.self_stake / self.params.app.power_unit
    }

    /// The validator set for the first height.
    pub fn validator_set(&self) -> Result<ValidatorSet, GenesisError> {
        let members = self
            .validators
            .iter()
            .map(|v| Validator::new(v.pub_key, self.power_of(v)))
            .collect();
        Ok(ValidatorSet::new(members)?)
    }

    /// Sum of all balances (the genesis supply).
    pub fn total_supply(&self) -> Result<u64, GenesisError> {
        self.accounts.iter().try_fold(0u64, |acc, a| {
            acc.checked_add(a.balance)
                .ok_or(GenesisError::SupplyOverflow)
        })
    }

    /// Checks every rule; the error names the field at fault.
    pub fn validate(&self) -> Result<(), GenesisError> {
        validate_chain_id(&self.chain_id)?;
        if self.initial_height == 0 {
            return Err(GenesisError::InitialHeight);
        }
        self.params.validate()?;

        let mut balances = BTreeMap::new();
        for (index, a) in self.accounts.iter().enumerate() {
            if balances.insert(a.address, a.balance).is_some() {
                return Err(GenesisError::DuplicateAccount {
                    index,
                    address: a.address,
                });
            }
        }
        self.total_supply()?;

        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let max = self.params.app.max_validators;
        if self.validators.len() > max as usize {
            return Err(GenesisError::TooManyValidators {
                count: self.validators.len(),
                max,
            });
        }
        let mut keys = BTreeMap::new();
        let mut node_ids = BTreeMap::new();
        let mut operators = BTreeMap::new();
        for (index, v) in self.validators.iter().enumerate() {
            if let Some(&first) = keys.get(&v.pub_key) {
                return Err(GenesisError::DuplicateValidatorKey { index, first });
            }
            keys.insert(v.pub_key, index);
            if let Some(&first) = node_ids.get(&v.node_id) {
                return Err(GenesisError::DuplicateNodeId { index, first });
            }
            node_ids.insert(v.node_id, index);
            if let Some(&first) = operators.get(&v.operator) {
                return Err(GenesisError::DuplicateOperator {
                    index,
                    first,
                    operator: v.operator,
                });
            }
            operators.insert(v.operator, index);
            v.pub_key
                .check_usable()
                .map_err(|source| GenesisError::BadValidatorKey { index, source })?;
            if v.self_stake == 0 {
                return Err(GenesisError::ZeroStake { index });
            }
            let min = self.params.app.min_self_stake;
            if v.self_stake < min {
                return Err(GenesisError::StakeBelowMinimum {
                    index,
                    stake: v.self_stake,
                    min,
                });
            }
            let balance =
                *balances
                    .get(&v.operator)
                    .ok_or(GenesisError::OperatorWithoutAccount {
                        index,
                        operator: v.operator,
                    })?;
            if v.self_stake > balance {
                return Err(GenesisError::StakeAboveBalance {
                    index,
                    stake: v.self_stake,
                    balance,
                });
            }
        }
        self.validator_set()?;

        let mut seen = BTreeSet::new();
        for (index, admin) in self.admins.iter().enumerate() {
            if !balances.contains_key(admin) {
                return Err(GenesisError::UnknownAdmin {
                    index,
                    address: *admin,
                });
            }
            if !seen.insert(*admin) {
                return Err(GenesisError::DuplicateAdmin {
                    index,
                    address: *admin,
                });
            }
        }
        Ok(())
    }
}
