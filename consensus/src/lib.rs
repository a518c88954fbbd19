//! # cairn-consensus
//!
//! Cairn's consensus core: Tendermint (Algorithm 1 of Buchman, Kwon,
//! Milosevic, "The latest gossip on BFT consensus", arXiv:1807.04938) as a
//! pure library. Inputs in, outputs out: no tokio, no sockets, no clock, no
//! unseeded randomness. The node's driver is the shell around it.
//!
//! ## What it owns
//! - [`Core`] ([`core`]): the state machine of one height: rounds, steps,
//!   locked and valid value, proposer selection
//!   ([`cairn_types::ValidatorSet::proposer_for_round`]), timeouts that grow
//!   with the round, decision with a [`cairn_types::Commit`].
//! - [`keeper::VoteKeeper`]: power-weighted tallies per round and vote kind;
//!   equivocation becomes [`cairn_types::DuplicateVoteEvidence`]; a validator
//!   is never counted twice.
//! - [`guard`]: the signing guard (persist before release, refuse
//!   regressions and conflicts, re-send rather than re-sign) over a small
//!   persistence trait, with a shared test suite (`guard::suite`, feature
//!   `test-suite`) for every store implementation.
//! - [`wal`]: the WAL record format (length, checksums, borsh payload), a
//!   decoder over a byte buffer that reports a torn tail and refuses
//!   corruption before it, and replay.
//! - `sim` (feature `sim`): a deterministic, seeded network simulator with
//!   Byzantine validators, crashes and partitions, checking safety and
//!   liveness invariants at every step.
//!
//! ## The flow
//! ```text
//!  shell ── Core::new(params, height, validator set, previous block time)
//!        ── Core::start(now) ─────────────────────────────┐
//!        ── Core::handle(now, Input) ── Vec<Output> ◀────┘
//!   Input:  Proposal{signed, block, valid} | Vote | TimeoutElapsed
//!           | ValueReady | Decided{block, commit} (block sync)
//!   Output: SignProposal | SignVote   → guard signs → WAL → broadcast → fed back as Input
//!           ScheduleTimeout{h, r, step, ms} → later Input::TimeoutElapsed
//!           GetValue{h, r}            → build a block → Input::ValueReady
//!           Decide{block, commit}     → commit; start a Core for h+1
//!           Evidence(DuplicateVote)   → evidence pool
//!           Ignored(why)              → ordinary result; `is_misbehaviour()` to penalise
//! ```
//! The shell appends every input (with its `now`) to the WAL before
//! handling it. On restart it replays the records of the current height
//! ([`wal::replay`]) and then feeds back the votes the guard holds
//! ([`guard::SigningGuard::restore_votes`]): an own vote that is ahead of the
//! replayed state moves the core to its round and step, and an own
//! precommit for a block restores the lock it implies.
//!
//! Gossip does not re-deliver, so liveness needs the shell to
//! re-send [`Core::rebroadcast`] on a timer while a round makes no progress
//! (our proposal of the round, every vote we cast at the height, and the
//! polka behind our valid value), to answer peers with [`Core::votes`] and
//! [`Core::proposals`], to answer a peer that sends messages of a height we
//! decided with that block and commit, and to catch up a missed height with
//! [`Input::Decided`] when peers send messages of a higher one
//! ([`Ignored::is_future_height`]). The simulator found each of these needs:
//! without the polka, a node that missed it can never accept the locked
//! value's re-proposal; without earlier rounds' votes, a node left behind in
//! a round cannot time out when the nodes ahead hold less than f+1.
//!
//! ## Decisions
//! - Signatures of incoming proposals, votes and fetched commits are checked
//!   by the core, through [`params::SignatureVerifier`] (ZIP-215 by default;
//!   the simulator plugs in a cache). The core never trusts the shell for them.
//! - Block validity (`valid(v)`) needs state, so the shell decides it and
//!   passes the verdict with [`Input::Proposal`].
//! - Votes for rounds above `round + round_window` are dropped; at most
//!   `max_proposals_per_round` proposals are kept per round; other heights are
//!   refused with [`Ignored::OtherHeight`] (the shell may keep a bounded
//!   [`Backlog`] of next-height messages).
//! - Evidence carries the previous block's time (the infraction height's
//!   block is not known when the equivocation is seen); the evidence pool
//!   may re-stamp it with the block time of the infraction height.
//! - An equivocator's second vote is kept (one per slot) and counts toward
//!   its own value's tally, never twice toward "2f+1 for anything": a polka
//!   that includes it is still a polka (see [`keeper`]).
//! - The proposer also schedules timeoutPropose, and an own vote fed back
//!   ahead of the state (from the guard after a lossy restart) moves the
//!   round and step to it and restores the lock it implies (see [`core`]).
//!
//! ## Invariants
//! - Quorums are by voting power in integers (`3·p > 2·T`; `3·p > T` for f+1).
//! - A correct core signs at most one value per (height, round, step); the
//!   guard enforces it across crashes.
//! - Handling is deterministic: the same inputs give the same outputs and
//!   the same [`Core::state_digest`]; replaying a height's WAL records
//!   restores the round state exactly, locks included.
//! - Checked by the simulator at every step, over thousands of seeds with
//!   crashes, partitions, loss and Byzantine validators: agreement,
//!   validity, every decision carries a valid commit, every equivocation a
//!   correct node counts becomes evidence, no correct node signs two values
//!   for one slot, and every correct node decides within a bound after GST.
//!   Deliberately broken cores (feature `mutants`) must fail these checks.
//!
//! ## Features
//! - `test-suite`: `guard::suite`, the conformance suite for guard stores.
//! - `sim`: the simulator (pulls in `rand`, seeded ChaCha8 only).
//! - `mutants`: deliberately broken cores, for the simulator's self-test. Never in a node.

pub mod backlog;
pub mod core;
pub mod guard;
pub mod input;
pub mod keeper;
pub mod output;
pub mod params;
pub mod verify;
pub mod wal;

#[cfg(feature = "sim")]
pub mod sim;

pub use crate::backlog::Backlog;
#[cfg(feature = "mutants")]
pub use crate::core::Mutant;
pub use crate::core::{Core, RoundState};
pub use crate::input::{Input, Step};
pub use crate::output::{Ignored, Message, Output};
pub use crate::params::{Ed25519Verifier, Params, SignatureVerifier, Timeout, Timeouts};
