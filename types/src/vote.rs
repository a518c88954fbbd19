//! Votes and proposals: the signed messages of consensus.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::block::BlockId;
use crate::crypto::{Address, PublicKey, Signature, SignatureError, SigningKey};
use crate::sign_bytes::{Domain, sign_bytes};
use crate::time::Time;

/// The two voting steps of a round.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub enum VoteKind {
    /// First step: a vote on the proposal.
    Prevote,
    /// Second step: a vote to commit.
    Precommit,
}

/// A prevote or precommit (the signed fields).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// Height voted on.
    pub height: u64,
    /// Round voted in.
    pub round: u32,
    /// The block voted for; `None` is a vote for nil.
    pub value: Option<BlockId>,
    /// BFT timestamp: max(local now, last block time + 1 ms).
    pub timestamp: Time,
    /// The voter's validator address.
    pub validator: Address,
}

impl Vote {
    /// The bytes the validator signs.
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        sign_bytes(Domain::Vote, chain_id, self)
    }

    /// Whether `other` is the same vote slot (validator, height, round, kind).
    pub fn same_slot(&self, other: &Vote) -> bool {
        self.validator == other.validator
            && self.height == other.height
            && self.round == other.round
            && self.kind == other.kind
    }
}

/// A vote with its signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// Signature over `vote.sign_bytes(chain_id)`.
    pub signature: Signature,
}

impl SignedVote {
    /// Signs `vote` for `chain_id`.
    pub fn sign(vote: Vote, chain_id: &str, key: &SigningKey) -> SignedVote {
        let signature = key.sign(&vote.sign_bytes(chain_id));
        SignedVote { vote, signature }
    }

    /// Verifies the signature under `key`.
    pub fn verify(&self, chain_id: &str, key: &PublicKey) -> Result<(), SignatureError> {
        key.verify(&self.vote.sign_bytes(chain_id), &self.signature)
    }
}

/// A block proposal (the signed fields); the block travels beside it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height proposed for.
    pub height: u64,
    /// Round proposed in.
    pub round: u32,
    /// The round in which the proposer saw 2/3 prevotes for this block
    /// (proof-of-lock round, `validRound` in the paper), if any.
    pub pol_round: Option<u32>,
    /// The proposed block.
    pub block_id: BlockId,
    /// When it was proposed (informational; block time is fixed by the header).
    pub timestamp: Time,
    /// The proposer's validator address.
    pub proposer: Address,
}

impl Proposal {
    /// The bytes the proposer signs.
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        sign_bytes(Domain::Proposal, chain_id, self)
    }
}

/// A proposal with its signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// Signature over `proposal.sign_bytes(chain_id)`.
    pub signature: Signature,
}

impl SignedProposal {
    /// Signs `proposal` for `chain_id`.
    pub fn sign(proposal: Proposal, chain_id: &str, key: &SigningKey) -> SignedProposal {
        let signature = key.sign(&proposal.sign_bytes(chain_id));
        SignedProposal {
            proposal,
            signature,
        }
    }

    /// Verifies the signature under `key`.
    pub fn verify(&self, chain_id: &str, key: &PublicKey) -> Result<(), SignatureError> {
        key.verify(&self.proposal.sign_bytes(chain_id), &self.signature)
    }
}
