//! The vote keeper: the votes of one height, tallied by voting power per
//! round and kind, with equivocation detection.
//!
//! Per (round, kind) a validator's first vote counts toward "2f+1 for
//! anything" and toward the round-skip senders, once. A later vote for the
//! same slot with the same value is a duplicate; with a different value it
//! is equivocation, returned as [`DuplicateVoteEvidence`] holding both
//! signed votes. The conflicting vote is kept (one per slot; any further
//! value is dropped) and counts toward the tally of *its* value only: a
//! signed prevote for v is a prevote for v, so a quorum for v still holds
//! f+1 correct validators, and two values still cannot both reach 2f+1. It
//! matters for liveness: a node that saw an equivocator's nil prevote first
//! must still be able to verify a polka for v that includes its v prevote
//! (L28), as every other correct node did (CometBFT counts such votes the
//! same way, through the peers' +2/3 claims). Signatures are checked by the
//! caller before a vote gets here.

use std::collections::{BTreeMap, BTreeSet};

use cairn_types::{
    Address, BlockId, DuplicateVoteEvidence, SignedVote, Time, ValidatorSet, VoteKind,
};

/// The result of [`VoteKeeper::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddVote {
    /// First vote of this validator for this slot: counted.
    Added,
    /// Same slot, same value: not counted again.
    Duplicate,
    /// Same slot, different value: evidence, and the vote is not counted.
    Equivocation(Box<DuplicateVoteEvidence>),
    /// Another conflicting vote from a validator already reported for this slot.
    AlreadyReported,
    /// The signer is not in the validator set.
    UnknownValidator,
}

/// The votes of one kind in one round.
#[derive(Debug, Clone, Default)]
struct VoteSet {
    /// First vote of each validator, by its index in the set.
    votes: BTreeMap<usize, SignedVote>,
    /// Power per value (`None` is nil).
    tally: BTreeMap<Option<BlockId>, u64>,
    /// Power of all counted votes.
    power: u64,
    /// The second, conflicting vote of validators that equivocated.
    conflicting: BTreeMap<usize, SignedVote>,
}

/// The votes of one round.
#[derive(Debug, Clone, Default)]
struct RoundVotes {
    prevotes: VoteSet,
    precommits: VoteSet,
    /// Validators that sent any vote in this round, and their power (for L55).
    senders: BTreeSet<usize>,
    sender_power: u64,
}

impl RoundVotes {
    fn set(&self, kind: VoteKind) -> &VoteSet {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }
}

/// All votes of one height.
#[derive(Debug, Clone)]
pub struct VoteKeeper {
    height: u64,
    /// (address, power) in set order.
    members: Vec<(Address, u64)>,
    index: BTreeMap<Address, usize>,
    total: u64,
    /// Stamped on evidence (see [`VoteKeeper::new`]).
    evidence_time: Time,
    rounds: BTreeMap<u32, RoundVotes>,
}

impl VoteKeeper {
    /// An empty keeper for `height` under `validators`. `evidence_time` is
    /// stamped on the evidence it produces (the core passes the previous
    /// block's time: the block of the infraction height is not known yet).
    pub fn new(height: u64, validators: &ValidatorSet, evidence_time: Time) -> VoteKeeper {
        let members: Vec<(Address, u64)> = validators
            .validators()
            .iter()
            .map(|v| (v.address, v.power))
            .collect();
        let index = members
            .iter()
            .enumerate()
            .map(|(i, (a, _))| (*a, i))
            .collect();
        VoteKeeper {
            height,
            total: members.iter().map(|(_, p)| p).sum(),
            members,
            index,
            evidence_time,
            rounds: BTreeMap::new(),
        }
    }

    /// Total voting power of the set.
    pub fn total_power(&self) -> u64 {
        self.total
    }

    /// Adds a vote whose signature the caller has verified.
    pub fn add(&mut self, signed: SignedVote) -> AddVote {
        let Some(&i) = self.index.get(&signed.vote.validator) else {
            return AddVote::UnknownValidator;
        };
        let power = self.members[i].1;
        let (total, evidence_time) = (self.total, self.evidence_time);
        let round = self.rounds.entry(signed.vote.round).or_default();
        let set = match signed.vote.kind {
            VoteKind::Prevote => &mut round.prevotes,
            VoteKind::Precommit => &mut round.precommits,
        };
        if let Some(first) = set.votes.get(&i) {
            if first.vote.value == signed.vote.value {
                return AddVote::Duplicate;
            }
            if let Some(second) = set.conflicting.get(&i) {
                return if second.vote.value == signed.vote.value {
                    AddVote::Duplicate
                } else {
                    AddVote::AlreadyReported
                };
            }
            let Ok(ev) = DuplicateVoteEvidence::new(
                first.clone(),
                signed.clone(),
                power,
                total,
                evidence_time,
            ) else {
                // Same slot and different values by construction; unreachable in practice.
                return AddVote::AlreadyReported;
            };
            *set.tally.entry(signed.vote.value).or_insert(0) += power;
            set.conflicting.insert(i, signed);
            return AddVote::Equivocation(Box::new(ev));
        }
        *set.tally.entry(signed.vote.value).or_insert(0) += power;
        set.power += power;
        set.votes.insert(i, signed);
        if round.senders.insert(i) {
            round.sender_power += power;
        }
        AddVote::Added
    }

    /// Power of the votes of `kind` in `round` for `value`.
    pub fn power_for(&self, round: u32, kind: VoteKind, value: Option<BlockId>) -> u64 {
        self.rounds
            .get(&round)
            .and_then(|r| r.set(kind).tally.get(&value).copied())
            .unwrap_or(0)
    }

    /// Power of all counted votes of `kind` in `round`, whatever their value.
    pub fn power_any(&self, round: u32, kind: VoteKind) -> u64 {
        self.rounds.get(&round).map_or(0, |r| r.set(kind).power)
    }

    /// Power of the distinct validators that sent any vote in `round`.
    pub fn sender_power(&self, round: u32) -> u64 {
        self.rounds.get(&round).map_or(0, |r| r.sender_power)
    }

    /// The rounds that hold any vote, ascending.
    pub fn rounds(&self) -> impl Iterator<Item = u32> + '_ {
        self.rounds.keys().copied()
    }

    /// The values voted for in `round` by `kind`, with their power.
    pub fn tally(&self, round: u32, kind: VoteKind) -> Vec<(Option<BlockId>, u64)> {
        self.rounds.get(&round).map_or_else(Vec::new, |r| {
            r.set(kind).tally.iter().map(|(v, p)| (*v, *p)).collect()
        })
    }

    /// The first vote of validator `index` (set order) for `round` and `kind`.
    pub fn vote_of(&self, round: u32, kind: VoteKind, index: usize) -> Option<&SignedVote> {
        self.rounds.get(&round)?.set(kind).votes.get(&index)
    }

    /// The vote of validator `index` for `value` in `round` and `kind`, be it
    /// its first or its conflicting one.
    pub fn vote_for(
        &self,
        round: u32,
        kind: VoteKind,
        index: usize,
        value: Option<BlockId>,
    ) -> Option<&SignedVote> {
        let set = self.rounds.get(&round)?.set(kind);
        [set.votes.get(&index), set.conflicting.get(&index)]
            .into_iter()
            .flatten()
            .find(|v| v.vote.value == value)
    }

    /// All votes of `round` (first and conflicting), prevotes first, in set order.
    pub fn votes(&self, round: u32) -> Vec<SignedVote> {
        self.rounds.get(&round).map_or_else(Vec::new, |r| {
            [&r.prevotes, &r.precommits]
                .into_iter()
                .flat_map(|s| s.votes.values().chain(s.conflicting.values()))
                .cloned()
                .collect()
        })
    }

    /// The height these votes are for.
    pub fn height(&self) -> u64 {
        self.height
    }
}
