//! # cairn-state
//!
//! Where committed history and the chain's state live: the RocksDB block
//! store, the Merkle state (a Jellyfish Merkle tree, versioned by height, with
//! inclusion and exclusion proofs) and the application (accounts, fees,
//! staking, slashing, permissions).
//!
//! ## What it owns
//! - [`store::Store`]: blocks, commits, block-hash and tx indexes, per-height
//!   records, validator sets and parameters by height, the state and its tree.
//!   Column families are listed in [`db`].
//! - [`app`]: the state machine. Keys of the state are listed in [`keys`];
//!   the records in [`model`]; result codes in [`model::codes`].
//! - [`merkle`]: the tree over RocksDB, [`merkle::MerkleProof`] and
//!   [`merkle::verify_proof`], which needs only the proof, the key, the value
//!   and the root.
//! - `cache`: bounded maps of flat-state entries and tree nodes in front of
//!   RocksDB for execution (`DbTuning::exec_cache_bytes`); commits write
//!   through them, and only the writer fills them, so they are never stale.
//!
//! ## The flow (how the node calls it)
//! ```text
//! Store::open(dir, &genesis, options)      // genesis state on first open; open-time check always
//! store.next_block()                      // header fields the state dictates (proposers, validation)
//! store.execute_block(&block, Signatures::Trusted) -> Executed   // nothing written
//! store.commit(&block, &commit, executed) -> Executed  // ONE synced WriteBatch; results given back
//! // or store.apply_block(&block, &commit, sigs) for both under one lock
//! ```
//! `Executed` carries the new app hash (header `H+1`'s `app_hash`), each tx's
//! [`model::TxResult`], evidence outcomes, the validator power changes and
//! `set(H+2)`.
//!
//! ## Heights, hashes and validator sets (team conventions)
//! - State version `h` is the state after executing block `h`; genesis is
//!   version `initial_height - 1`. Header `H` carries the root of version
//!   `H - 1` as `app_hash`, `results_hash` of block `H - 1`'s codes as
//!   `last_results_hash`, `hash(set(H))`, `hash(set(H + 1))`, and SHA-256 of
//!   the encoded consensus parameters in force at `H` ([`app::consensus_hash`]).
//!   [`store::Store::execute_block`] checks all of these.
//! - Validator sets follow CometBFT: `set(initial) = genesis.validator_set()`,
//!   `set(initial + 1) = set(initial).advanced()`, and after block `H` with
//!   power changes `U`: `set(H + 2) = set(H + 1).with_changes(U).advanced()`
//!   (just `.advanced()` when `U` is empty, or when the changes would leave an
//!   empty or overweight set, in which case the membership stays as it was).
//!   Every set is stored by height, priorities included.
//! - Power = pool tokens / `power_unit`; the active set is the top
//!   `max_validators` by tokens (ties by consensus address) among validators
//!   that are permitted, not jailed, and whose operator's own stake is at
//!   least `min_self_stake`.
//! - Parameters: everything in block `H` uses the parameters in force at the
//!   start of `H`; an UpdateParams in `H` is in force from `H + 1`.
//!
//! ## Transactions
//! Tx bytes are decoded with `Tx::decode(bytes, tx_max_bytes, chain_id)`.
//! Signatures are checked only with [`store::Signatures::Verify`]; the node
//! passes `Trusted` for blocks whose signatures it already verified.
//! - Wrong nonce, fee below `min_fee_per_byte x len(bytes)`, or a balance
//!   below the fee: a non-zero code and *no effect* (no fee, no nonce).
//! - Otherwise the fee is charged and the nonce used; then the message runs
//!   all-or-nothing (a journal over the block's copy-on-write overlay); a failure gives a code and a
//!   log and nothing else. Fees of the block go to the proposer's operator at
//!   the end of the block.
//!
//! ## Staking and slashing
//! Delegations are shares of a validator's pool; a slash lowers the pool's
//! tokens, so every delegator loses the same fraction. Undelegate moves
//! tokens into an unbonding entry that pays out at the end of height
//! `H + unbonding_blocks`. DuplicateVote evidence is checked against the set
//! at the infraction height, the block being executed (height and time), the
//! stored block time at the infraction and the tombstone; then
//! `double_sign_slash_ppm` of the pool and of the validator's unbonding
//! entries created at or after the infraction height is burned, and the
//! validator is jailed and tombstoned. An operator whose own stake falls below
//! `min_self_stake` by undelegating is jailed (Unjail once it is back above).
//!
//! ## Invariants
//! - One block = one synced RocksDB `WriteBatch` (block, commit, indexes,
//!   state delta, tree nodes, app hash, height, pruning): a crash leaves the
//!   whole block or none of it.
//! - Execution is deterministic: no clock, no randomness, only ordered maps;
//!   every stored record is canonically encoded.
//! - Conservation: balances + bonded + unbonding = genesis supply - burned,
//!   at every block boundary ([`store::Store::supply_audit`]).
//! - On open, the stored height, latest block, height record, Merkle root and
//!   app hash must agree, or [`Store::open`] refuses with
//!   [`StateError::Inconsistent`] saying what disagrees.
//! - A storage error is fatal: the node must stop, not limp on.
//! - Pruning (`keep_recent`) removes old tree versions only; blocks, commits,
//!   results and the tx index are kept, and validator sets are kept while
//!   evidence from their height could still be valid.

pub mod app;
mod cache;
pub mod db;
pub mod error;
pub mod keys;
pub mod merkle;
pub mod model;
mod overlay;
pub mod store;

pub use db::DbTuning;
pub use error::StateError;
pub use merkle::{MerkleProof, ProofError, verify_proof};
pub use model::{Account, Delegation, Event, TxResult, UnbondingEntry, ValidatorRecord, codes};
pub use store::{
    AccountView, CommitStats, Executed, HeightRecord, NextBlock, OpenReport, Proven, Signatures,
    StateKey, Store, StoreOptions, StoredTx, SupplyAudit, TxLocation,
};
