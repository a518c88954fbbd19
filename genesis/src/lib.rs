//! # cairn-genesis
//!
//! The chain's starting point and the keys that sign for it.
//!
//! - [`doc`]: the genesis document (CometBFT's spirit: chain id, genesis
//!   time, initial height, parameters, validators, accounts, admins), its
//!   validation, where every error names the field at fault, and its hash
//!   (SHA-256 of the canonical encoding, so JSON formatting does not matter).
//! - [`keys`]: `priv_validator_key.json` and `node_key.json` in CometBFT's
//!   shapes, and account key files; written 0600 and atomically, refused
//!   when readable by others or when the key has small order.
//! - [`testnet`]: keys and genesis for an N-validator local network; the
//!   `cairn` binary lays out the homes.
//!
//! Invariants: a [`doc::GenesisDoc`] that validated yields a valid validator
//! set, every validator's stake is covered by its operator's balance, and the
//! unbonding period outlasts the evidence max age.

pub mod doc;
pub mod keys;
pub mod testnet;

pub use doc::{GenesisAccount, GenesisDoc, GenesisError, GenesisValidator, validate_chain_id};
