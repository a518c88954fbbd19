//! The Tendermint state machine for one height: Algorithm 1 of "The latest
//! gossip on BFT consensus" (Buchman, Kwon, Milosevic, arXiv:1807.04938).
//!
//! Every `upon` rule of the paper is a method below, each citing its lines.
//! After an input is applied, the rules are evaluated again and again until
//! none fires: an `upon` clause holds whenever its condition does, whatever
//! input made it true. Each rule changes the state so that it cannot fire
//! twice (a step change, or a "for the first time" flag).
//!
//! Deviations from the paper, all on the liveness side:
//! - The proposer also schedules `timeoutPropose` (as CometBFT does), so a
//!   shell that never answers [`Output::GetValue`] cannot stall the round.
//! - Our own votes come back as inputs (the shell signs, then feeds them
//!   back). An own vote ahead of the state (after a crash lost the WAL tail,
//!   the guard still has it) moves the round and step forward to it, and an
//!   own precommit for a block restores the lock it implies.

use std::collections::BTreeMap;

use cairn_types::time::MILLISECOND;
use cairn_types::validator::{is_one_third_plus, is_supermajority};
use cairn_types::{
    Address, Block, BlockId, Commit, CommitSig, Hash, Proposal, SignedProposal, SignedVote, Time,
    ValidatorSet, Vote, VoteKind,
};

use crate::input::{Input, Step};
use crate::keeper::{AddVote, VoteKeeper};
use crate::output::{Ignored, Message, Output};
use crate::params::Params;

/// Deliberately broken variants of the core, to prove that the simulator's
/// checks catch a broken protocol. Test-only (feature `mutants`).
#[cfg(feature = "mutants")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// Quorum at more than 1/2 of the power instead of more than 2/3.
    QuorumHalf,
    /// Prevote for any valid proposal, ignoring the lock (L23, L29).
    IgnoreLocks,
    /// L28 without its proof-of-lock check: a proposal's claimed `vr` is
    /// believed without 2/3 prevotes for the value in round `vr`.
    NoPolCheck,
}

/// A snapshot of the round state, for RPC, logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundState {
    /// `h_p`.
    pub height: u64,
    /// `round_p`.
    pub round: u32,
    /// `step_p`.
    pub step: Step,
    /// `(lockedRound_p, id(lockedValue_p))`, `None` while `lockedRound_p = -1`.
    pub locked: Option<(u32, BlockId)>,
    /// `(validRound_p, id(validValue_p))`, `None` while `validRound_p = -1`.
    pub valid: Option<(u32, BlockId)>,
    /// `decision_p[h_p]`.
    pub decided: Option<BlockId>,
}

/// A proposal the core accepted (from the round's proposer, signature checked).
#[derive(Debug, Clone)]
struct ProposalEntry {
    signed: SignedProposal,
    valid: bool,
}

/// "For the first time" flags of the current round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fired {
    /// L34-35 scheduled timeoutPrevote.
    prevote_timeout: bool,
    /// L36-43 ran.
    polka: bool,
    /// L47-48 scheduled timeoutPrecommit.
    precommit_timeout: bool,
}

/// The consensus state of one height. Create with [`Core::new`], call
/// [`Core::start`] once, then [`Core::handle`] for every input.
#[derive(Debug)]
pub struct Core {
    params: Params,
    height: u64,
    validators: ValidatorSet,
    prev_block_time: Time,
    round: u32,
    step: Step,
    locked: Option<(u32, BlockId)>,
    valid: Option<(u32, BlockId)>,
    fired: Fired,
    /// We asked for a value for the current round and have not proposed yet.
    awaiting_value: bool,
    keeper: VoteKeeper,
    proposals: BTreeMap<u32, Vec<ProposalEntry>>,
    blocks: BTreeMap<BlockId, Block>,
    proposers: BTreeMap<u32, Address>,
    own_proposal: Option<SignedProposal>,
    own_votes: BTreeMap<(u32, VoteKind), SignedVote>,
    decision: Option<(Block, Commit)>,
    started: bool,
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
}

impl Core {
    /// A core for `height`, whose validators are `validators` (with the
    /// height's proposer priorities); `prev_block_time` is the time of block
    /// `height - 1` (genesis time minus 1 ms for the first height), which
    /// bounds vote timestamps from below.
    pub fn new(
        params: Params,
        height: u64,
        validators: ValidatorSet,
        prev_block_time: Time,
    ) -> Core {
        let keeper = VoteKeeper::new(height, &validators, prev_block_time);
        Core {
            params,
            height,
            validators,
            prev_block_time,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            fired: Fired::default(),
            awaiting_value: false,
            keeper,
            proposals: BTreeMap::new(),
            blocks: BTreeMap::new(),
            proposers: BTreeMap::new(),
            own_proposal: None,
            own_votes: BTreeMap::new(),
            decision: None,
            started: false,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// Turns this core into a deliberately broken one (tests only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, mutant: Option<Mutant>) {
        self.mutant = mutant;
    }

    /// `upon start do StartRound(0)`. Call once; later calls do nothing.
    pub fn start(&mut self, now: Time) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            self.start_round(now, 0, &mut out);
            self.run_rules(now, &mut out);
        }
        out
    }

    /// Applies one input and returns the outputs, in order. `now` is the
    /// local time, used only for the timestamps of our own messages.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.decision.is_some() {
            out.push(Output::Ignored(Ignored::AlreadyDecided));
            return out;
        }
        let applied = match input {
            Input::Proposal {
                proposal,
                block,
                valid,
            } => self.on_proposal(proposal, block, valid),
            Input::Vote(vote) => self.on_vote(vote, &mut out),
            Input::TimeoutElapsed {
                height,
                round,
                step,
            } => self.on_timeout(now, height, round, step, &mut out),
            Input::ValueReady {
                height,
                round,
                block,
            } => self.on_value(now, height, round, block, &mut out),
            Input::Decided { block, commit } => self.on_decided(block, commit, &mut out),
        };
        match applied {
            Ok(()) => {
                if self.started {
                    self.run_rules(now, &mut out);
                }
            }
            Err(why) => out.push(Output::Ignored(why)),
        }
        out
    }

    // ---- inputs ----

    fn on_proposal(
        &mut self,
        signed: SignedProposal,
        block: Block,
        valid: bool,
    ) -> Result<(), Ignored> {
        let p = &signed.proposal;
        self.check_height_round(p.height, p.round)?;
        let proposer = self.proposer(p.round);
        if p.proposer != proposer {
            return Err(Ignored::NotProposer {
                round: p.round,
                got: p.proposer,
            });
        }
        if let Some(vr) = p.pol_round
            && vr >= p.round
        {
            return Err(Ignored::BadPolRound {
                round: p.round,
                pol_round: vr,
            });
        }
        let entries = self.proposals.entry(p.round).or_default();
        if entries.iter().any(|e| e.signed == signed) {
            return Err(Ignored::Duplicate);
        }
        if entries.len() >= self.params.max_proposals_per_round {
            return Err(Ignored::TooManyProposals(p.round));
        }
        let key = self
            .validators
            .get(&proposer)
            .map(|v| v.pub_key)
            .ok_or(Ignored::UnknownValidator(proposer))?;
        let msg = p.sign_bytes(&self.params.chain_id);
        if !self.params.verifier.verify(&key, &msg, &signed.signature) {
            return Err(Ignored::BadSignature(proposer));
        }
        if block.id() != p.block_id {
            return Err(Ignored::BlockMismatch);
        }
        if Some(proposer) == self.params.address {
            self.own_proposal = Some(signed.clone());
        }
        self.blocks.entry(p.block_id).or_insert(block);
        self.proposals
            .entry(signed.proposal.round)
            .or_default()
            .push(ProposalEntry { signed, valid });
        Ok(())
    }

    fn on_vote(&mut self, signed: SignedVote, out: &mut Vec<Output>) -> Result<(), Ignored> {
        let v = &signed.vote;
        self.check_height_round(v.height, v.round)?;
        let key = self
            .validators
            .get(&v.validator)
            .map(|val| val.pub_key)
            .ok_or(Ignored::UnknownValidator(v.validator))?;
        if !self.params.verifier.verify(
            &key,
            &v.sign_bytes(&self.params.chain_id),
            &signed.signature,
        ) {
            return Err(Ignored::BadSignature(v.validator));
        }
        let own = Some(v.validator) == self.params.address;
        let vote = signed.vote.clone();
        match self.keeper.add(signed.clone()) {
            AddVote::Added => {}
            AddVote::Duplicate => return Err(Ignored::Duplicate),
            AddVote::AlreadyReported => return Err(Ignored::AlreadyReported(vote.validator)),
            AddVote::UnknownValidator => return Err(Ignored::UnknownValidator(vote.validator)),
            AddVote::Equivocation(ev) => {
                // Evidence; the vote counts for its value only (see the keeper).
                out.push(Output::Evidence(*ev));
                return Ok(());
            }
        }
        if own {
            self.restore_from_own_vote(signed);
        }
        Ok(())
    }

    /// Our own vote came back. In normal operation the state is already at
    /// or past it. After a restart whose WAL lost its tail, the signing
    /// guard's record of what we signed is fed back here: resume at that
    /// round and step, and keep the lock a precommit for a block implies, so
    /// we never sign against a lock we held.
    fn restore_from_own_vote(&mut self, signed: SignedVote) {
        let v = &signed.vote;
        let step = match v.kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        if (v.round, step) > (self.round, self.step) {
            if v.round > self.round {
                self.round = v.round;
                self.fired = Fired::default();
                self.awaiting_value = false;
            }
            self.step = step;
        }
        if v.kind == VoteKind::Precommit
            && let Some(id) = v.value
            && self.locked.is_none_or(|(r, _)| r < v.round)
        {
            self.locked = Some((v.round, id));
        }
        self.own_votes.insert((v.round, v.kind), signed);
    }

    fn on_timeout(
        &mut self,
        now: Time,
        height: u64,
        round: u32,
        step: Step,
        out: &mut Vec<Output>,
    ) -> Result<(), Ignored> {
        if height != self.height || round != self.round {
            return Err(Ignored::StaleTimeout);
        }
        match step {
            // L57-60: OnTimeoutPropose: prevote nil.
            Step::Propose if self.step == Step::Propose => {
                self.vote(now, VoteKind::Prevote, None, out);
                self.step = Step::Prevote;
                Ok(())
            }
            // L61-64: OnTimeoutPrevote: precommit nil.
            Step::Prevote if self.step == Step::Prevote => {
                self.vote(now, VoteKind::Precommit, None, out);
                self.step = Step::Precommit;
                Ok(())
            }
            // L65-67: OnTimeoutPrecommit: next round, whatever the step.
            Step::Precommit => {
                self.start_round(now, self.round + 1, out);
                Ok(())
            }
            _ => Err(Ignored::StaleTimeout),
        }
    }

    fn on_value(
        &mut self,
        now: Time,
        height: u64,
        round: u32,
        block: Block,
        out: &mut Vec<Output>,
    ) -> Result<(), Ignored> {
        if height != self.height
            || round != self.round
            || self.step != Step::Propose
            || !self.awaiting_value
        {
            return Err(Ignored::UnexpectedValue);
        }
        self.awaiting_value = false;
        // L18: broadcast <PROPOSAL, h_p, round_p, getValue(), -1>.
        self.propose(now, block, None, out);
        Ok(())
    }

    fn on_decided(
        &mut self,
        block: Block,
        commit: Commit,
        out: &mut Vec<Output>,
    ) -> Result<(), Ignored> {
        if commit.height != self.height {
            return Err(Ignored::OtherHeight {
                height: commit.height,
                current: self.height,
            });
        }
        if block.id() != commit.block_id {
            return Err(Ignored::BlockMismatch);
        }
        crate::verify::verify_commit(
            self.params.verifier.as_ref(),
            &self.params.chain_id,
            &self.validators,
            self.height,
            &commit.block_id,
            &commit,
        )?;
        self.decision = Some((block.clone(), commit.clone()));
        out.push(Output::Decide { block, commit });
        Ok(())
    }

    fn check_height_round(&self, height: u64, round: u32) -> Result<(), Ignored> {
        if height != self.height {
            return Err(Ignored::OtherHeight {
                height,
                current: self.height,
            });
        }
        if round > self.round.saturating_add(self.params.round_window) {
            return Err(Ignored::FarFutureRound {
                round,
                current: self.round,
            });
        }
        Ok(())
    }

    // ---- Algorithm 1 ----

    /// L11-21: StartRound(round).
    fn start_round(&mut self, now: Time, round: u32, out: &mut Vec<Output>) {
        // L11-12
        self.round = round;
        self.step = Step::Propose;
        self.fired = Fired::default();
        self.awaiting_value = false;
        // L13: proposer(h_p, round_p) = p
        if Some(self.proposer(round)) == self.params.address {
            match self
                .valid
                .and_then(|(vr, id)| Some((vr, self.blocks.get(&id)?.clone())))
            {
                // L14-15, L18: re-propose the valid value with its round as proof of lock.
                Some((vr, block)) => self.propose(now, block, Some(vr), out),
                // L16: getValue(); the shell answers with Input::ValueReady.
                None => {
                    self.awaiting_value = true;
                    out.push(Output::GetValue {
                        height: self.height,
                        round,
                    });
                }
            }
        }
        // L20-21 (for the proposer too; see the module docs).
        out.push(Output::ScheduleTimeout {
            height: self.height,
            round,
            step: Step::Propose,
            duration_ms: self.params.timeouts.propose.at(round),
        });
    }

    /// Evaluates the `upon` rules until none fires.
    fn run_rules(&mut self, now: Time, out: &mut Vec<Output>) {
        loop {
            if self.decision.is_some() {
                return;
            }
            let fired = self.rule_decide(out)
                || self.rule_round_skip(now, out)
                || self.rule_proposal(now, out)
                || self.rule_prevote_any(out)
                || self.rule_polka(now, out)
                || self.rule_prevote_nil(now, out)
                || self.rule_precommit_any(out);
            if !fired {
                return;
            }
        }
    }

    /// L22-27 and L28-33: prevote on the round's proposal.
    fn rule_proposal(&mut self, now: Time, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let Some(entries) = self.proposals.get(&self.round) else {
            return false;
        };
        for e in entries {
            let id = e.signed.proposal.block_id;
            let prevote = match e.signed.proposal.pol_round {
                // L22: <PROPOSAL, h_p, round_p, v, -1> while step_p = propose.
                // L23: valid(v) and (lockedRound_p = -1 or lockedValue_p = v).
                None => {
                    e.valid && (self.locked.is_none() || self.ignores_locks() || self.locked_on(id))
                }
                // L28: <PROPOSAL, h_p, round_p, v, vr> and 2f+1 <PREVOTE, h_p, vr, id(v)>,
                // while step_p = propose and 0 <= vr < round_p (vr < round_p checked on receipt).
                Some(vr) => {
                    let pol = self.quorum(self.keeper.power_for(vr, VoteKind::Prevote, Some(id)));
                    if !pol && !self.skips_pol_check() {
                        continue;
                    }
                    // L29: valid(v) and (lockedRound_p <= vr or lockedValue_p = v).
                    e.valid
                        && (self.locked.is_none_or(|(lr, _)| lr <= vr)
                            || self.ignores_locks()
                            || self.locked_on(id))
                }
            };
            // L24 / L30 prevote id(v); L26 / L32 prevote nil.
            let value = prevote.then_some(id);
            self.vote(now, VoteKind::Prevote, value, out);
            // L27 / L33
            self.step = Step::Prevote;
            return true;
        }
        false
    }

    /// L34-35: 2f+1 prevotes for anything while step_p = prevote, for the
    /// first time: schedule timeoutPrevote.
    fn rule_prevote_any(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote
            || self.fired.prevote_timeout
            || !self.quorum(self.keeper.power_any(self.round, VoteKind::Prevote))
        {
            return false;
        }
        self.fired.prevote_timeout = true;
        out.push(Output::ScheduleTimeout {
            height: self.height,
            round: self.round,
            step: Step::Prevote,
            duration_ms: self.params.timeouts.prevote.at(self.round),
        });
        true
    }

    /// L36-43: a valid proposal and 2f+1 prevotes for it in round_p, while
    /// step_p >= prevote, for the first time.
    fn rule_polka(&mut self, now: Time, out: &mut Vec<Output>) -> bool {
        if self.step < Step::Prevote || self.fired.polka {
            return false;
        }
        let Some(id) = self.proposals.get(&self.round).and_then(|entries| {
            entries
                .iter()
                .filter(|e| e.valid)
                .map(|e| e.signed.proposal.block_id)
                .find(|id| {
                    self.quorum(
                        self.keeper
                            .power_for(self.round, VoteKind::Prevote, Some(*id)),
                    )
                })
        }) else {
            return false;
        };
        self.fired.polka = true;
        // L37-41: lock and precommit, if still at prevote.
        if self.step == Step::Prevote {
            self.locked = Some((self.round, id));
            self.vote(now, VoteKind::Precommit, Some(id), out);
            self.step = Step::Precommit;
        }
        // L42-43
        self.valid = Some((self.round, id));
        true
    }

    /// L44-46: 2f+1 prevotes for nil while step_p = prevote: precommit nil.
    fn rule_prevote_nil(&mut self, now: Time, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote
            || !self.quorum(self.keeper.power_for(self.round, VoteKind::Prevote, None))
        {
            return false;
        }
        self.vote(now, VoteKind::Precommit, None, out);
        self.step = Step::Precommit;
        true
    }

    /// L47-48: 2f+1 precommits for anything in round_p, for the first time:
    /// schedule timeoutPrecommit.
    fn rule_precommit_any(&mut self, out: &mut Vec<Output>) -> bool {
        if self.fired.precommit_timeout
            || !self.quorum(self.keeper.power_any(self.round, VoteKind::Precommit))
        {
            return false;
        }
        self.fired.precommit_timeout = true;
        out.push(Output::ScheduleTimeout {
            height: self.height,
            round: self.round,
            step: Step::Precommit,
            duration_ms: self.params.timeouts.precommit.at(self.round),
        });
        true
    }

    /// L49-54: a valid proposal of any round r and 2f+1 precommits for it in
    /// r, while undecided: decide.
    fn rule_decide(&mut self, out: &mut Vec<Output>) -> bool {
        let mut found = None;
        'rounds: for r in self.keeper.rounds() {
            for (value, power) in self.keeper.tally(r, VoteKind::Precommit) {
                let Some(id) = value else { continue };
                if !self.quorum(power) {
                    continue;
                }
                // L50: valid(v), with the proposal from proposer(h_p, r).
                let proposed = self.proposals.get(&r).is_some_and(|entries| {
                    entries
                        .iter()
                        .any(|e| e.valid && e.signed.proposal.block_id == id)
                });
                if proposed {
                    found = Some((r, id));
                    break 'rounds;
                }
            }
        }
        let Some((r, id)) = found else {
            return false;
        };
        let Some(block) = self.blocks.get(&id).cloned() else {
            return false;
        };
        // L51: decision_p[h_p] = v; L52-54 (next height) is the shell's: it
        // commits and starts a new core with the next validator set.
        let commit = self.build_commit(r, id);
        self.decision = Some((block.clone(), commit.clone()));
        out.push(Output::Decide { block, commit });
        true
    }

    /// L55-56: f+1 messages of a round above round_p: StartRound(round).
    fn rule_round_skip(&mut self, now: Time, out: &mut Vec<Output>) -> bool {
        let total = self.keeper.total_power();
        let target = self
            .keeper
            .rounds()
            .filter(|r| *r > self.round)
            .filter(|r| is_one_third_plus(self.keeper.sender_power(*r), total))
            .max();
        match target {
            Some(r) => {
                self.start_round(now, r, out);
                true
            }
            None => false,
        }
    }

    // ---- helpers ----

    /// 2f+1 by power: more than 2/3 of the total.
    fn quorum(&self, power: u64) -> bool {
        let total = self.keeper.total_power();
        #[cfg(feature = "mutants")]
        if self.mutant == Some(Mutant::QuorumHalf) {
            return 2 * u128::from(power) > u128::from(total);
        }
        is_supermajority(power, total)
    }

    fn ignores_locks(&self) -> bool {
        #[cfg(feature = "mutants")]
        if self.mutant == Some(Mutant::IgnoreLocks) {
            return true;
        }
        false
    }

    fn skips_pol_check(&self) -> bool {
        #[cfg(feature = "mutants")]
        if self.mutant == Some(Mutant::NoPolCheck) {
            return true;
        }
        false
    }

    fn locked_on(&self, id: BlockId) -> bool {
        self.locked.is_some_and(|(_, l)| l == id)
    }

    /// proposer(h_p, round), cached: each lookup replays `round` priority increments.
    fn proposer(&mut self, round: u32) -> Address {
        if let Some(a) = self.proposers.get(&round) {
            return *a;
        }
        let a = self.validators.proposer_for_round(round).address;
        self.proposers.insert(round, a);
        a
    }

    /// BFT time of our votes: max(now, previous block time + 1 ms).
    fn vote_time(&self, now: Time) -> Time {
        now.max(Time(self.prev_block_time.0.saturating_add(MILLISECOND)))
    }

    fn vote(&self, now: Time, kind: VoteKind, value: Option<BlockId>, out: &mut Vec<Output>) {
        let Some(validator) = self.params.address else {
            return;
        };
        if self.validators.get(&validator).is_none() {
            return;
        }
        out.push(Output::SignVote(Vote {
            kind,
            height: self.height,
            round: self.round,
            value,
            timestamp: self.vote_time(now),
            validator,
        }));
    }

    fn propose(&mut self, now: Time, block: Block, pol_round: Option<u32>, out: &mut Vec<Output>) {
        let Some(proposer) = self.params.address else {
            return;
        };
        let proposal = Proposal {
            height: self.height,
            round: self.round,
            pol_round,
            block_id: block.id(),
            timestamp: now,
            proposer,
        };
        out.push(Output::SignProposal { proposal, block });
    }

    /// One entry per validator in set order from the precommits of round `r`.
    fn build_commit(&self, r: u32, id: BlockId) -> Commit {
        let signatures = (0..self.validators.len())
            .map(|i| {
                if let Some(sv) = self.keeper.vote_for(r, VoteKind::Precommit, i, Some(id)) {
                    CommitSig::ForBlock {
                        timestamp: sv.vote.timestamp,
                        signature: sv.signature,
                    }
                } else if let Some(sv) = self.keeper.vote_for(r, VoteKind::Precommit, i, None) {
                    CommitSig::ForNil {
                        timestamp: sv.vote.timestamp,
                        signature: sv.signature,
                    }
                } else {
                    CommitSig::Absent
                }
            })
            .collect();
        Commit {
            height: self.height,
            round: r,
            block_id: id,
            signatures,
        }
    }

    // ---- queries ----

    /// The round state.
    pub fn round_state(&self) -> RoundState {
        RoundState {
            height: self.height,
            round: self.round,
            step: self.step,
            locked: self.locked,
            valid: self.valid,
            decided: self.decision.as_ref().map(|(_, c)| c.block_id),
        }
    }

    /// The height this core decides.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The validator set of this height.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// The decided block and its commit, once decided.
    pub fn decision(&self) -> Option<(&Block, &Commit)> {
        self.decision.as_ref().map(|(b, c)| (b, c))
    }

    /// What to send again while a round makes no progress (gossip does not
    /// re-deliver): our proposal of the current round, every vote we cast at
    /// this height, and the prevotes that prove our valid value (the polka of
    /// `validRound`).
    ///
    /// All our votes, not only the latest round's: a peer still in an
    /// earlier round needs our precommit of that round to reach 2f+1 and time
    /// out (L47), when the nodes ahead of it hold too little power for it to
    /// skip rounds (L55). The polka: a peer that missed it can never accept a
    /// re-proposal of the value (L28 needs 2f+1 prevotes of `vr`), and the
    /// locked peers may be unable to gather a quorum without that peer.
    pub fn rebroadcast(&self) -> Vec<Message> {
        let mut msgs = Vec::new();
        if let Some((vr, id)) = self.valid {
            msgs.extend(
                self.keeper
                    .votes(vr)
                    .into_iter()
                    .filter(|v| v.vote.kind == VoteKind::Prevote && v.vote.value == Some(id))
                    .map(Message::Vote),
            );
        }
        if let Some(p) = &self.own_proposal
            && p.proposal.round == self.round
            && let Some(b) = self.blocks.get(&p.proposal.block_id)
        {
            msgs.push(Message::Proposal(p.clone(), b.clone()));
        }
        msgs.extend(self.own_votes.values().cloned().map(Message::Vote));
        msgs
    }

    /// The counted votes of `round` (to answer a peer's catch-up request).
    pub fn votes(&self, round: u32) -> Vec<SignedVote> {
        self.keeper.votes(round)
    }

    /// The accepted proposals of `round` with their blocks.
    pub fn proposals(&self, round: u32) -> Vec<Message> {
        self.proposals.get(&round).map_or_else(Vec::new, |entries| {
            entries
                .iter()
                .filter_map(|e| {
                    let b = self.blocks.get(&e.signed.proposal.block_id)?;
                    Some(Message::Proposal(e.signed.clone(), b.clone()))
                })
                .collect()
        })
    }

    /// A digest of everything that determines future behaviour: the round
    /// state, the "first time" flags, every counted vote and every accepted
    /// proposal. Two cores with equal digests act alike (WAL replay tests).
    pub fn state_digest(&self) -> Hash {
        use cairn_types::codec::encode;
        let mut parts: Vec<Vec<u8>> = vec![
            encode(&(self.height, self.round, self.step)),
            encode(&(self.locked, self.valid)),
            encode(&(
                self.fired.prevote_timeout,
                self.fired.polka,
                self.fired.precommit_timeout,
                self.awaiting_value,
                self.started,
            )),
            encode(&self.decision.as_ref().map(|(_, c)| c)),
        ];
        for r in self.keeper.rounds() {
            parts.push(encode(&(r, self.keeper.votes(r))));
        }
        for (r, entries) in &self.proposals {
            for e in entries {
                parts.push(encode(&(r, &e.signed, e.valid)));
            }
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Hash::digest_parts(&refs)
    }
}
