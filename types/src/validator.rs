//! Validator sets: voting power, proposer priorities (CometBFT's weighted
//! round-robin), hashing, BFT time and commit verification.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::block::{BlockId, Commit, CommitSig};
use crate::codec;
use crate::crypto::{Address, BatchVerifier, Hash, PublicKey};
use crate::merkle::merkle_root;
use crate::time::Time;
use crate::vote::{Vote, VoteKind};

/// Total voting power is capped so that priority arithmetic never overflows (CometBFT's cap).
pub const MAX_TOTAL_VOTING_POWER: u64 = (i64::MAX / 8) as u64;
/// Priorities are kept within this many times the total power of each other.
const PRIORITY_WINDOW_SIZE_FACTOR: i64 = 2;

/// One validator of a set.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    /// Address of `pub_key`.
    pub address: Address,
    /// Consensus key that signs votes and proposals.
    pub pub_key: PublicKey,
    /// Voting power (positive).
    pub power: u64,
    /// Proposer priority; part of the replicated state.
    pub proposer_priority: i64,
}

impl Validator {
    /// A validator with zero priority.
    pub fn new(pub_key: PublicKey, power: u64) -> Validator {
        Validator {
            address: pub_key.address(),
            pub_key,
            power,
            proposer_priority: 0,
        }
    }
}

/// Why a validator set or an update to it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// A set must not be empty.
    #[error("validator set is empty")]
    Empty,
    /// The same key appears twice.
    #[error("validator {0} appears twice")]
    Duplicate(Address),
    /// A validator of the set has zero power.
    #[error("validator {0} has zero power")]
    ZeroPower(Address),
    /// The total exceeds [`MAX_TOTAL_VOTING_POWER`].
    #[error("total voting power exceeds {MAX_TOTAL_VOTING_POWER}")]
    TooMuchPower,
    /// An address does not match its key.
    #[error("validator address {0} does not match its public key")]
    AddressMismatch(Address),
    /// The stored proposer is not a member.
    #[error("proposer index {0} is out of range")]
    BadProposer(u32),
}

/// Why a commit does not prove a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// Commit for another height.
    #[error("commit is for height {got}, expected {expected}")]
    WrongHeight {
        /// Expected height.
        expected: u64,
        /// Commit height.
        got: u64,
    },
    /// Commit for another block.
    #[error("commit is for block {got:?}, expected {expected:?}")]
    WrongBlock {
        /// Expected block.
        expected: BlockId,
        /// Commit's block.
        got: BlockId,
    },
    /// Not one entry per validator.
    #[error("commit has {got} entries for a set of {expected}")]
    WrongSize {
        /// Set size.
        expected: usize,
        /// Entries.
        got: usize,
    },
    /// A signature does not verify.
    #[error("precommit signature of validator {0} does not verify")]
    BadSignature(Address),
    /// Not more than 2/3 of the power signed for the block.
    #[error("only {signed} of {total} voting power signed (need more than 2/3)")]
    InsufficientPower {
        /// Power for the block.
        signed: u64,
        /// Total power.
        total: u64,
    },
}

/// `3 * part > 2 * total`, in integers.
pub fn is_supermajority(part: u64, total: u64) -> bool {
    3 * u128::from(part) > 2 * u128::from(total)
}

/// `3 * part > total`: more than 1/3, enough to contain one correct validator.
pub fn is_one_third_plus(part: u64, total: u64) -> bool {
    3 * u128::from(part) > u128::from(total)
}

/// A validator set, ordered by power (descending) then address (ascending), with the
/// proposer chosen by the last priority increment.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    proposer: u32,
}

impl ValidatorSet {
    /// A new set as at genesis: every priority starts equal, then one increment picks the proposer.
    pub fn new(validators: Vec<Validator>) -> Result<ValidatorSet, ValidatorSetError> {
        if let Some(v) = validators.iter().find(|v| v.power == 0) {
            return Err(ValidatorSetError::ZeroPower(v.address));
        }
        let mut set = ValidatorSet {
            validators: Vec::new(),
            proposer: 0,
        };
        set.apply_changes(
            validators
                .into_iter()
                .map(|v| (v.pub_key, v.power))
                .collect(),
        )?;
        set.increment_proposer_priority(1);
        Ok(set)
    }

    /// Checks a set read from storage or the network.
    pub fn check(&self) -> Result<(), ValidatorSetError> {
        check_members(&self.validators)?;
        if self.proposer as usize >= self.validators.len() {
            return Err(ValidatorSetError::BadProposer(self.proposer));
        }
        Ok(())
    }

    /// The validators, in set order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether the set is empty (never true for a checked set).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Sum of voting power.
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }

    /// The validator with `address`, if a member.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| v.address == *address)
    }

    /// Position of `address` in the set.
    pub fn index_of(&self, address: &Address) -> Option<usize> {
        self.validators.iter().position(|v| v.address == *address)
    }

    /// The proposer for round 0 of the height this set is for.
    pub fn proposer(&self) -> &Validator {
        &self.validators[self.proposer as usize]
    }

    /// The proposer for `round` (CometBFT: a copy incremented `round` times).
    pub fn proposer_for_round(&self, round: u32) -> Validator {
        if round == 0 {
            return self.proposer().clone();
        }
        let mut copy = self.clone();
        copy.increment_proposer_priority(round);
        copy.proposer().clone()
    }

    /// The set for the next height when membership does not change.
    pub fn advanced(&self) -> ValidatorSet {
        let mut next = self.clone();
        next.increment_proposer_priority(1);
        next
    }

    /// Hash over (public key, power) of each member in order; priorities are not hashed.
    pub fn hash(&self) -> Hash {
        let items: Vec<Vec<u8>> = self
            .validators
            .iter()
            .map(|v| codec::encode(&(v.pub_key, v.power)))
            .collect();
        merkle_root(&items)
    }

    /// Applies power changes (power 0 removes) as CometBFT does: a new
    /// validator starts at -1.125 x the total, existing ones keep their
    /// priority, then priorities are rescaled and centred. The proposer is
    /// chosen anew by the next increment ([`ValidatorSet::advanced`]).
    pub fn with_changes(
        &self,
        changes: Vec<(PublicKey, u64)>,
    ) -> Result<ValidatorSet, ValidatorSetError> {
        let mut next = self.clone();
        next.apply_changes(changes)?;
        Ok(next)
    }

    fn apply_changes(&mut self, changes: Vec<(PublicKey, u64)>) -> Result<(), ValidatorSetError> {
        let mut seen = std::collections::BTreeSet::new();
        for (key, _) in &changes {
            if !seen.insert(key.address()) {
                return Err(ValidatorSetError::Duplicate(key.address()));
            }
        }
        // Total after the updates but before removals sets new validators' priority.
        let mut total_before_removals: u64 = 0;
        for v in &self.validators {
            let p = changes
                .iter()
                .find(|(k, _)| *k == v.pub_key)
                .map_or(v.power, |(_, p)| *p);
            total_before_removals = total_before_removals.saturating_add(p);
        }
        for (key, power) in &changes {
            if self.get(&key.address()).is_none() {
                total_before_removals = total_before_removals.saturating_add(*power);
            }
        }
        if total_before_removals > MAX_TOTAL_VOTING_POWER {
            return Err(ValidatorSetError::TooMuchPower);
        }
        let new_priority = -((total_before_removals + (total_before_removals >> 3)) as i64);
        for (key, power) in changes {
            match self.validators.iter().position(|v| v.pub_key == key) {
                Some(i) if power == 0 => {
                    self.validators.remove(i);
                }
                Some(i) => self.validators[i].power = power,
                None if power == 0 => {}
                None => self.validators.push(Validator {
                    address: key.address(),
                    pub_key: key,
                    power,
                    proposer_priority: new_priority,
                }),
            }
        }
        if self.validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        self.sort();
        self.rescale_priorities();
        self.shift_by_average_priority();
        self.proposer = 0;
        check_members(&self.validators)
    }

    fn sort(&mut self) {
        self.validators
            .sort_by(|a, b| b.power.cmp(&a.power).then(a.address.cmp(&b.address)));
    }

    /// CometBFT's IncrementProposerPriority(times).
    fn increment_proposer_priority(&mut self, times: u32) {
        self.rescale_priorities();
        self.shift_by_average_priority();
        let total = self.total_power() as i64;
        for _ in 0..times {
            for v in &mut self.validators {
                v.proposer_priority = v.proposer_priority.saturating_add(v.power as i64);
            }
            let mut best = 0;
            for (i, v) in self.validators.iter().enumerate() {
                let b = &self.validators[best];
                if v.proposer_priority > b.proposer_priority
                    || (v.proposer_priority == b.proposer_priority && v.address < b.address)
                {
                    best = i;
                }
            }
            let chosen = &mut self.validators[best];
            chosen.proposer_priority = chosen.proposer_priority.saturating_sub(total);
            self.proposer = best as u32;
        }
    }

    /// Divides every priority so that max - min is at most 2 x total.
    fn rescale_priorities(&mut self) {
        let diff_max = PRIORITY_WINDOW_SIZE_FACTOR * self.total_power() as i64;
        let max = self.validators.iter().map(|v| v.proposer_priority).max();
        let min = self.validators.iter().map(|v| v.proposer_priority).min();
        let (Some(max), Some(min)) = (max, min) else {
            return;
        };
        let diff = max.saturating_sub(min);
        if diff_max > 0 && diff > diff_max {
            let ratio =
                ((i128::from(diff) + i128::from(diff_max) - 1) / i128::from(diff_max)) as i64;
            for v in &mut self.validators {
                // Truncates toward zero, as Go's integer division.
                v.proposer_priority /= ratio;
            }
        }
    }

    /// Subtracts the average priority (floor division, as Go's big.Int) from each.
    fn shift_by_average_priority(&mut self) {
        if self.validators.is_empty() {
            return;
        }
        let sum: i128 = self
            .validators
            .iter()
            .map(|v| i128::from(v.proposer_priority))
            .sum();
        let avg = sum.div_euclid(self.validators.len() as i128) as i64;
        for v in &mut self.validators {
            v.proposer_priority = v.proposer_priority.saturating_sub(avg);
        }
    }

    /// The vote that commit entry `index` signed, if it is not absent.
    pub fn commit_vote(&self, commit: &Commit, index: usize) -> Option<Vote> {
        let (timestamp, value) = match commit.signatures.get(index)? {
            CommitSig::Absent => return None,
            CommitSig::ForBlock { timestamp, .. } => (*timestamp, Some(commit.block_id)),
            CommitSig::ForNil { timestamp, .. } => (*timestamp, None),
        };
        Some(Vote {
            kind: VoteKind::Precommit,
            height: commit.height,
            round: commit.round,
            value,
            timestamp,
            validator: self.validators.get(index)?.address,
        })
    }

    /// Verifies that `commit` proves `block_id` at `height` under this set:
    /// one entry per validator, every signature valid (one batch), and the
    /// for-block power more than 2/3 of the total.
    pub fn verify_commit(
        &self,
        chain_id: &str,
        height: u64,
        block_id: &BlockId,
        commit: &Commit,
    ) -> Result<(), CommitError> {
        if commit.height != height {
            return Err(CommitError::WrongHeight {
                expected: height,
                got: commit.height,
            });
        }
        if commit.block_id != *block_id {
            return Err(CommitError::WrongBlock {
                expected: *block_id,
                got: commit.block_id,
            });
        }
        if commit.signatures.len() != self.validators.len() {
            return Err(CommitError::WrongSize {
                expected: self.validators.len(),
                got: commit.signatures.len(),
            });
        }
        let mut batch = BatchVerifier::new();
        let mut signers = Vec::new();
        let mut signed: u64 = 0;
        for (i, (sig, val)) in commit.signatures.iter().zip(&self.validators).enumerate() {
            let (CommitSig::ForBlock { signature, .. } | CommitSig::ForNil { signature, .. }) = sig
            else {
                continue;
            };
            if matches!(sig, CommitSig::ForBlock { .. }) {
                signed += val.power;
            }
            if let Some(vote) = self.commit_vote(commit, i) {
                batch.push(val.pub_key, vote.sign_bytes(chain_id), *signature);
                signers.push(val.address);
            }
        }
        let total = self.total_power();
        if !is_supermajority(signed, total) {
            return Err(CommitError::InsufficientPower { signed, total });
        }
        if let Some(bad) = batch.verify_each().iter().position(|ok| !ok) {
            return Err(CommitError::BadSignature(signers[bad]));
        }
        Ok(())
    }

    /// BFT time of the block after `commit`: the median of the non-absent
    /// entries' timestamps weighted by power (CometBFT's MedianTime).
    pub fn median_time(&self, commit: &Commit) -> Time {
        let mut weighted: Vec<(Time, u64)> = commit
            .signatures
            .iter()
            .zip(&self.validators)
            .filter_map(|(sig, val)| match sig {
                CommitSig::Absent => None,
                CommitSig::ForBlock { timestamp, .. } | CommitSig::ForNil { timestamp, .. } => {
                    Some((*timestamp, val.power))
                }
            })
            .collect();
        let total: u64 = weighted.iter().map(|(_, w)| w).sum();
        weighted.sort_by_key(|(t, _)| *t);
        let mut median = total / 2;
        for (t, w) in weighted {
            if median <= w {
                return t;
            }
            median -= w;
        }
        Time::default()
    }
}

fn check_members(validators: &[Validator]) -> Result<(), ValidatorSetError> {
    if validators.is_empty() {
        return Err(ValidatorSetError::Empty);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut total: u64 = 0;
    for v in validators {
        if v.address != v.pub_key.address() {
            return Err(ValidatorSetError::AddressMismatch(v.address));
        }
        if v.power == 0 {
            return Err(ValidatorSetError::ZeroPower(v.address));
        }
        if !seen.insert(v.address) {
            return Err(ValidatorSetError::Duplicate(v.address));
        }
        total = total.saturating_add(v.power);
    }
    if total > MAX_TOTAL_VOTING_POWER {
        return Err(ValidatorSetError::TooMuchPower);
    }
    Ok(())
}
