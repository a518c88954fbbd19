//! What goes into the core.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::{Block, Commit, SignedProposal, SignedVote};

/// The steps of a round, in order. Also the step a timeout belongs to, and
/// the step a signature is recorded under by the signing guard.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub enum Step {
    /// Waiting for (or sending) the proposal.
    Propose,
    /// Prevoted; waiting for 2/3 prevotes.
    Prevote,
    /// Precommitted; waiting for 2/3 precommits.
    Precommit,
}

/// One input to [`crate::Core::handle`]. Every input is recorded in the WAL
/// (with the `now` it was handled at) before it is handled.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Input {
    /// A proposal with its block, from the network or our own (fed back after
    /// signing). `valid` is the shell's verdict on the block (`valid(v)` in
    /// the paper): it needs the application state, which the core does not have.
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
        /// The block it proposes; its id must equal `proposal.block_id`.
        block: Block,
        /// Whether the block is valid on top of the current state.
        valid: bool,
    },
    /// A prevote or precommit: gossiped, fetched by catch-up, or our own fed back.
    Vote(SignedVote),
    /// A timeout scheduled by [`crate::Output::ScheduleTimeout`] elapsed.
    TimeoutElapsed {
        /// Height it was scheduled for.
        height: u64,
        /// Round it was scheduled for.
        round: u32,
        /// Step it guards.
        step: Step,
    },
    /// The value asked for by [`crate::Output::GetValue`] (`getValue()`, L16).
    ValueReady {
        /// Height it was asked for.
        height: u64,
        /// Round it was asked for.
        round: u32,
        /// The block to propose (built and checked by the shell).
        block: Block,
    },
    /// A decided block with its commit, fetched by block sync: the height was
    /// decided without us (or we missed the precommits).
    Decided {
        /// The block.
        block: Block,
        /// More than 2/3 precommits for it, checked against the height's validator set.
        commit: Commit,
    },
}
