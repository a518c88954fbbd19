//! The vote keeper: the votes of one height, tallied by voting power per
//! round and kind, with equivocation detection.
//!
//! Each validator counts once per (round, kind): its first vote. A later vote
//! for the same slot with the same value is a duplicate; with a different
//! value it is equivocation, returned as [`DuplicateVoteEvidence`] holding
//! both signed votes, and it is not counted. Signatures are checked by the
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
    /// Validators already reported for equivocating in this set.
    reported: BTreeSet<usize>,
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
            if !set.reported.insert(i) {
                return AddVote::AlreadyReported;
            }
            return match DuplicateVoteEvidence::new(
                first.clone(),
                signed,
                power,
                total,
                evidence_time,
            ) {
                Ok(ev) => AddVote::Equivocation(Box::new(ev)),
                // Same slot and different values by construction; unreachable in practice.
                Err(_) => AddVote::AlreadyReported,
            };
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

    /// The counted vote of validator `index` (set order) for `round` and `kind`.
    pub fn vote_of(&self, round: u32, kind: VoteKind, index: usize) -> Option<&SignedVote> {
        self.rounds.get(&round)?.set(kind).votes.get(&index)
    }

    /// All counted votes of `round`, prevotes first, in set order.
    pub fn votes(&self, round: u32) -> Vec<SignedVote> {
        self.rounds.get(&round).map_or_else(Vec::new, |r| {
            r.prevotes
                .votes
                .values()
                .chain(r.precommits.votes.values())
                .cloned()
                .collect()
        })
    }

    /// The height these votes are for.
    pub fn height(&self) -> u64 {
        self.height
    }
}
