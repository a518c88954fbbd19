//! # cairn-mempool
//!
//! The transaction mempool and the evidence pool: what sits between
//! untrusted input (RPC clients, gossip) and the block proposer.
//!
//! This crate is a synchronous library: every method takes `&mut self` or
//! `&self`, nothing sleeps, reads a clock or touches I/O. The node wraps a
//! [`Mempool`] and an [`EvidencePool`] in a lock; [`check_txs_shared`] is the
//! one function that takes that lock itself, twice, so that a batch's
//! signatures verify while block building, validation and the commit's
//! recheck can use the pool. State
//! is read through the [`StateView`] and [`EvidenceView`] traits, which the
//! node implements over the state crate's store; this crate never depends on
//! storage, networking or async runtimes.
//!
//! ## What it owns
//! - Admission ([`Mempool::check_tx`], [`Mempool::check_txs`],
//!   [`check_txs_shared`]).
//! - Ordering and [`Mempool::reap`] for the proposer.
//! - Limits, eviction, the seen cache and the TTL.
//! - Recheck after each commit ([`Mempool::update`]).
//! - The verified-signature cache shared with block validation
//!   ([`Mempool::is_verified`], [`Mempool::unverified`]).
//! - Pending and committed evidence ([`EvidencePool`]).
//!
//! ## Admission flow
//! 1. **Stateless**, cheapest first: size `<= max_tx_bytes` (before even
//!    hashing); the tx hash (SHA-256 of the full signed bytes) is looked up
//!    in the pool and in the seen cache (an echo costs one hash and two map
//!    lookups); canonical decoding with the byte limit; chain id; the sender
//!    key must not have small order (answered from the cache of senders'
//!    decompressed keys, [`KeyCache`](cairn_types::KeyCache), which the batch
//!    check shares); then the signature (ZIP-215). With
//!    [`Mempool::check_txs`] all signatures of a batch are verified in ONE
//!    deterministic [`BatchVerifier`](cairn_types::BatchVerifier) call (the
//!    throughput path for RPC and gossip: roughly twice the single-verify
//!    rate); when the batch fails, each item is checked alone to find the
//!    bad ones. Txs whose hash is in the verified cache skip verification.
//! 2. **Stateful**, against the committed state as of the last
//!    [`Mempool::update`] (each sender's account is read from the
//!    [`StateView`] once per height, so the node must call `update` after
//!    every commit; until it does, admission sees the height before): fee `>=`
//!    `min_fee_per_byte × size`; nonce `>=` the account's next nonce and
//!    within the window `account nonce + max_per_sender`; no other pending
//!    tx with that nonce; the sender's balance covers this tx's maximum
//!    spend ([`max_spend`]: fee + amount moved) plus that of all its pending
//!    txs; the per-sender and future-tx limits.
//! 3. **Capacity**: when the pool is at `max_txs` or `max_total_bytes`,
//!    lower-priority txs are evicted if the new tx outranks them, else the
//!    new tx is refused with [`MempoolError::Full`] and nothing is evicted.
//!
//! ## Ordering
//! Per sender by nonce. A sender's tx is *ready* when every nonce from the
//! account's next nonce up to it is pending; the others are *future* and
//! wait (at most `max_future_per_sender` of them) until the gap fills.
//! Across senders: fee per byte (compared as exact fractions in `u128`, no
//! floats), then earlier arrival. [`Mempool::reap`] merges the senders'
//! ready runs with a heap keyed by each sender's next tx: `O(S + k log S)`
//! for S senders and k txs reaped, so a block is reaped from 50,000
//! pending txs in milliseconds.
//!
//! ## Eviction
//! Only a sender's *last* tx can be evicted (the tails are kept in one
//! ordered set), so evicting never leaves a kept tx behind a nonce gap.
//! Future tails go first, then ready tails by lowest fee per byte and
//! latest arrival. A victim must rank strictly below the new tx, and the
//! new tx's own sender is never a victim. The plan is made before anything
//! is removed: either enough room is found or nothing changes.
//!
//! ## After a commit: [`Mempool::update`]
//! Included txs are removed and their hashes enter the seen cache (gossip
//! echoes of them are then refused cheaply) and leave the verified cache;
//! txs older than `ttl_blocks` are dropped (found through an index by
//! admission height, not a scan); the remaining txs of the senders whose
//! accounts the block changed ([`Recheck::Changed`], which the node takes
//! from the execution; [`Recheck::All`] when the parameters changed), and of
//! the senders that lost a tx here, are rechecked against the new state
//! (nonce, fee, cumulative balance), and invalid ones are dropped with their
//! reason. Every other sender's account and queue are as at its last check,
//! so its verdicts stand: the cost follows the block, not the pool. Dropping a tx can open a nonce gap: the
//! later txs become future and, past the future limit, are dropped from the
//! highest nonce down. Signatures are not re-verified (they do not depend
//! on state).
//!
//! ## Errors classify themselves
//! [`MempoolError::is_bad_transaction`] is true when the bytes can never be
//! valid (oversized, malformed, wrong chain, small-order key, bad
//! signature, known invalid): the peer that relayed them is penalised.
//! Duplicates, a full pool, nonce, fee and balance failures depend on
//! timing or state that a peer may see differently: ignored, no penalty.
//! [`EvidencePoolError::is_bad_evidence`] does the same for evidence.
//!
//! ## Evidence pool
//! [`EvidencePool::add`] verifies DuplicateVote evidence against the
//! validator set at the infraction height (signatures, membership, stated
//! powers, block time at that height) and its age against the latest
//! committed block (height + 1 and its time; never the local clock),
//! deduplicates by hash and by offence (validator, height, round, kind),
//! and refuses what was committed before. [`EvidencePool::pending_for_block`]
//! hands the proposer the oldest first within `evidence_max_bytes`;
//! [`EvidencePool::update`] records committed evidence and expires pending
//! evidence older than the max age in blocks AND time (CometBFT's rule, the
//! same as [`DuplicateVoteEvidence::verify`](cairn_types::DuplicateVoteEvidence::verify)).
//!
//! ## Invariants
//! - Every pending tx decoded canonically, is for this chain, has a usable
//!   sender key and a verified signature.
//! - `len() <= max_txs`, `total_bytes() <= max_total_bytes`, each sender has
//!   at most `max_per_sender` txs of which at most `max_future_per_sender`
//!   are future; each sender's pending spend is at most its balance at the
//!   last check.
//! - [`Mempool::reap`] never returns a tx whose predecessor nonce is neither
//!   committed nor earlier in the same reap.
//! - A tx hash in the verified cache had a valid signature when checked; as
//!   the hash covers the signature and the chain id, the same bytes verify
//!   again anywhere (ZIP-215 is deterministic), so block validation may skip
//!   them.
//!
//! ## Limits chosen (defaults in [`MempoolConfig::new`]) and why
//! - `max_tx_bytes`: the consensus parameter `tx_max_bytes` (64 KiB by
//!   default): a tx larger than a block may carry is useless.
//! - `max_txs` 100,000 and `max_total_bytes` 64 MiB: about 16 blocks of the
//!   default 4 MiB, enough to ride out a burst of a few seconds at the
//!   modelled ~7,000 tx/s while bounding memory (a 250-byte transfer costs
//!   ~500 bytes with indexes: ~50 MiB at the count limit).
//! - `max_per_sender` 64 (also the nonce window): one account cannot fill
//!   the pool; 64 in-flight txs cover any wallet's pipelining.
//! - `max_future_per_sender` 16: gapped txs cannot be executed, so they are
//!   held only briefly and in small number (and are evicted first).
//! - `ttl_blocks` 600: ten minutes at one-second blocks. Recheck drops what
//!   became invalid; the TTL drops what stays valid but is never reaped
//!   (e.g. future txs whose gap never fills).
//! - `seen_cache_size` 100,000 hashes (~10 MiB): covers the txs of the last
//!   tens of blocks, which is how long gossip echoes keep arriving.
//! - `verified_cache_size` 150,000: above `max_txs`, so every pending tx's
//!   verification survives until the block including it is validated.
//! - `key_cache_size` 32,768 decompressed sender keys (~7 MiB): a batch check
//!   then decompresses only each signature's R, not its signer's key, for
//!   every recurring sender; a flood of new keys only empties it.
//! - Evidence: `max_pending` is the caller's choice (the node uses a small
//!   number, e.g. 1,000); proposals are capped by `evidence_max_bytes`.

mod config;
mod error;
mod evidence;
mod lru;
mod pool;
mod view;

pub use config::MempoolConfig;
pub use error::{EvidencePoolError, MempoolError};
pub use evidence::EvidencePool;
pub use pool::{Admitted, Mempool, Recheck, TX_ENTRY_OVERHEAD, UpdateReport, check_txs_shared};
pub use view::{AccountInfo, EvidenceView, StateView, max_spend};
