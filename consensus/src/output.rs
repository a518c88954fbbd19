//! What comes out of the core: actions for the shell, and why an input was ignored.

use cairn_types::{
    Address, Block, Commit, DuplicateVoteEvidence, Proposal, SignedProposal, SignedVote, Vote,
};

use crate::input::Step;

/// One action for the shell, in the order the core produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Sign `proposal` through the signing guard, append the signed proposal
    /// to the WAL, broadcast it with `block`, and feed it back as
    /// [`crate::Input::Proposal`] (valid: the shell built or accepted the block).
    SignProposal {
        /// The proposal to sign.
        proposal: Proposal,
        /// Its block.
        block: Block,
    },
    /// Sign this vote through the signing guard, append it to the WAL,
    /// broadcast it, and feed it back as [`crate::Input::Vote`].
    SignVote(Vote),
    /// Call back with [`crate::Input::TimeoutElapsed`] after `duration_ms`.
    ScheduleTimeout {
        /// Height of the timeout.
        height: u64,
        /// Round of the timeout.
        round: u32,
        /// Step it guards.
        step: Step,
        /// Milliseconds from now.
        duration_ms: u64,
    },
    /// We propose in this round and have no valid value: build a block and
    /// answer with [`crate::Input::ValueReady`] (L16).
    GetValue {
        /// Height to propose for.
        height: u64,
        /// Round to propose in.
        round: u32,
    },
    /// The height is decided: commit `block` with `commit` (one entry per
    /// validator, in set order, more than 2/3 of the power for the block).
    /// Then start a core for the next height.
    Decide {
        /// The decided block.
        block: Block,
        /// Its commit.
        commit: Commit,
    },
    /// A validator signed two different values for one height, round and
    /// vote kind. Hand it to the evidence pool.
    Evidence(DuplicateVoteEvidence),
    /// The input did not apply. An ordinary result: see [`Ignored::is_misbehaviour`].
    Ignored(Ignored),
}

/// A signed message the node may have to send again.
// Made once per send; boxing the block would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A proposal with its block.
    Proposal(SignedProposal, Block),
    /// A vote.
    Vote(SignedVote),
}

impl Message {
    /// The height the message is for.
    pub fn height(&self) -> u64 {
        match self {
            Message::Proposal(p, _) => p.proposal.height,
            Message::Vote(v) => v.vote.height,
        }
    }
}

/// Why an input did not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// For another height. A higher height means peers are ahead: buffer
    /// (bounded) or catch up by block sync.
    #[error("message for height {height}, core is at {current}")]
    OtherHeight {
        /// The message's height.
        height: u64,
        /// The core's height.
        current: u64,
    },
    /// For a round too far above the current one to be stored.
    #[error("message for round {round} is beyond the window above round {current}")]
    FarFutureRound {
        /// The message's round.
        round: u32,
        /// The core's round.
        current: u32,
    },
    /// Already have exactly this message (or this validator's vote for this slot).
    #[error("duplicate message")]
    Duplicate,
    /// The height is decided; nothing more to do here.
    #[error("height already decided")]
    AlreadyDecided,
    /// The signer is not a validator of this height.
    #[error("{0} is not a validator at this height")]
    UnknownValidator(Address),
    /// The signature does not verify.
    #[error("bad signature from {0}")]
    BadSignature(Address),
    /// A proposal from a validator who is not the round's proposer.
    #[error("{got} is not the proposer of round {round}")]
    NotProposer {
        /// The round.
        round: u32,
        /// Who signed the proposal.
        got: Address,
    },
    /// The block does not hash to the id the proposal (or commit) names.
    #[error("block does not match the proposed or committed block id")]
    BlockMismatch,
    /// A proof-of-lock round that is not below the proposal's round.
    #[error("proof-of-lock round {pol_round} is not below round {round}")]
    BadPolRound {
        /// The proposal's round.
        round: u32,
        /// Its claimed proof-of-lock round.
        pol_round: u32,
    },
    /// Too many distinct proposals for one round (the proposer equivocates).
    #[error("too many proposals for round {0}")]
    TooManyProposals(u32),
    /// A timeout for a height, round or step we have left.
    #[error("stale timeout")]
    StaleTimeout,
    /// A value for a round in which we no longer wait for one.
    #[error("value not expected")]
    UnexpectedValue,
    /// A fetched commit that does not prove its block.
    #[error("commit does not verify: {0}")]
    BadCommit(#[from] cairn_types::validator::CommitError),
    /// A second conflicting vote from a validator already reported for this slot.
    #[error("conflicting vote from {0}, already reported as evidence")]
    AlreadyReported(Address),
}

impl Ignored {
    /// Whether the sender provably misbehaved (bad signature, wrong proposer,
    /// malformed proposal, forged commit): the network layer may penalise it.
    /// Stale, duplicate or early messages are normal in gossip and are not.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            Ignored::UnknownValidator(_)
                | Ignored::BadSignature(_)
                | Ignored::NotProposer { .. }
                | Ignored::BlockMismatch
                | Ignored::BadPolRound { .. }
                | Ignored::BadCommit(_)
        )
    }

    /// Whether the input was for a higher height than the core's: peers are ahead.
    pub fn is_future_height(&self) -> bool {
        matches!(self, Ignored::OtherHeight { height, current } if height > current)
    }
}
