//! Evidence of misbehaviour: two conflicting votes signed by one validator.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec;
use crate::crypto::{Address, Hash, SignatureError};
use crate::params::ConsensusParams;
use crate::time::{MILLISECOND, Time};
use crate::validator::ValidatorSet;
use crate::vote::SignedVote;

/// Misbehaviour that a block can carry.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Evidence {
    /// Two votes of one validator for the same height, round and kind with different values.
    DuplicateVote(DuplicateVoteEvidence),
}

impl Evidence {
    /// Hash of the encoded evidence (its identity in pools and indexes).
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Height of the infraction.
    pub fn height(&self) -> u64 {
        match self {
            Evidence::DuplicateVote(e) => e.vote_a.vote.height,
        }
    }

    /// The validator at fault.
    pub fn validator(&self) -> Address {
        match self {
            Evidence::DuplicateVote(e) => e.vote_a.vote.validator,
        }
    }
}

/// Two conflicting signed votes, in canonical order (`vote_a.value < vote_b.value`,
/// nil first), with CometBFT's extra fields.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DuplicateVoteEvidence {
    /// The vote with the smaller value.
    pub vote_a: SignedVote,
    /// The vote with the larger value.
    pub vote_b: SignedVote,
    /// The validator's voting power at the infraction height.
    pub validator_power: u64,
    /// The validator set's total power at the infraction height.
    pub total_power: u64,
    /// Time of the block at the infraction height.
    pub timestamp: Time,
}

/// Why evidence is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The votes are not for the same validator, height, round and kind.
    #[error("votes are not for the same validator, height, round and kind")]
    NotSameSlot,
    /// The votes agree on the value: no conflict.
    #[error("votes do not conflict (same value)")]
    NoConflict,
    /// `vote_a.value` is not smaller than `vote_b.value`.
    #[error("votes are not in canonical order")]
    NotCanonical,
    /// The validator is not in the set at the infraction height.
    #[error("validator {0} is not in the validator set at the infraction height")]
    UnknownValidator(Address),
    /// The stated powers do not match the set at the infraction height.
    #[error("stated power {stated}/{stated_total} differs from the set's {actual}/{actual_total}")]
    WrongPower {
        /// Stated validator power.
        stated: u64,
        /// Stated total power.
        stated_total: u64,
        /// Actual validator power.
        actual: u64,
        /// Actual total power.
        actual_total: u64,
    },
    /// A vote's signature does not verify.
    #[error("vote signature: {0}")]
    Signature(#[from] SignatureError),
    /// Older than the evidence max age in both blocks and time.
    #[error("evidence from height {height} is too old at height {now_height}")]
    Expired {
        /// Infraction height.
        height: u64,
        /// Height of the block being validated.
        now_height: u64,
    },
    /// The infraction is not below the height of the block being validated.
    #[error("evidence height {height} is not below {now_height}")]
    FromTheFuture {
        /// Infraction height.
        height: u64,
        /// Height of the block being validated.
        now_height: u64,
    },
}

impl DuplicateVoteEvidence {
    /// Builds evidence from two conflicting votes in any order.
    pub fn new(
        a: SignedVote,
        b: SignedVote,
        validator_power: u64,
        total_power: u64,
        timestamp: Time,
    ) -> Result<DuplicateVoteEvidence, EvidenceError> {
        let (vote_a, vote_b) = if a.vote.value <= b.vote.value {
            (a, b)
        } else {
            (b, a)
        };
        let ev = DuplicateVoteEvidence {
            vote_a,
            vote_b,
            validator_power,
            total_power,
            timestamp,
        };
        ev.check_shape()?;
        Ok(ev)
    }

    /// Checks that needs nothing but the evidence: same slot, conflicting values, canonical order.
    pub fn check_shape(&self) -> Result<(), EvidenceError> {
        let (a, b) = (&self.vote_a.vote, &self.vote_b.vote);
        if !a.same_slot(b) {
            return Err(EvidenceError::NotSameSlot);
        }
        if a.value == b.value {
            return Err(EvidenceError::NoConflict);
        }
        if a.value > b.value {
            return Err(EvidenceError::NotCanonical);
        }
        Ok(())
    }

    /// Full check against the validator set at the infraction height and the
    /// block being validated (height and time: never the local clock).
    pub fn verify(
        &self,
        chain_id: &str,
        set_at_infraction: &ValidatorSet,
        params: &ConsensusParams,
        now_height: u64,
        now_time: Time,
    ) -> Result<(), EvidenceError> {
        self.check_shape()?;
        let height = self.vote_a.vote.height;
        if height >= now_height {
            return Err(EvidenceError::FromTheFuture { height, now_height });
        }
        let age_blocks = now_height - height;
        let age_ms = now_time.0.saturating_sub(self.timestamp.0) / MILLISECOND;
        // As CometBFT: expired only when too old in blocks AND in time.
        if age_blocks > params.evidence_max_age_blocks && age_ms > params.evidence_max_age_ms {
            return Err(EvidenceError::Expired { height, now_height });
        }
        let addr = self.vote_a.vote.validator;
        let val = set_at_infraction
            .get(&addr)
            .ok_or(EvidenceError::UnknownValidator(addr))?;
        let total = set_at_infraction.total_power();
        if val.power != self.validator_power || total != self.total_power {
            return Err(EvidenceError::WrongPower {
                stated: self.validator_power,
                stated_total: self.total_power,
                actual: val.power,
                actual_total: total,
            });
        }
        self.vote_a.verify(chain_id, &val.pub_key)?;
        self.vote_b.verify(chain_id, &val.pub_key)?;
        Ok(())
    }
}
