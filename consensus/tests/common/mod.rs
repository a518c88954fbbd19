//! A small world for protocol tests: validators with real keys, blocks
//! named by a letter, and a readable projection of the core's outputs.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use cairn_consensus::{Core, Ignored, Input, Output, Params, Step};
use cairn_types::block::{APP_VERSION, BLOCK_VERSION};
use cairn_types::{
    Block, BlockId, Hash, Header, Proposal, SignedProposal, SignedVote, SigningKey, Text, Time,
    Validator, ValidatorSet, Version, Vote, VoteKind,
};

pub const CHAIN: &str = "test-chain";
pub const HEIGHT: u64 = 5;
pub const PREV_TIME: Time = Time(1_000_000_000_000);

pub struct World {
    pub keys: Vec<SigningKey>,
    pub set: ValidatorSet,
    /// Index (in set order) of the node under test.
    pub me: usize,
}

/// An output, with block ids replaced by their letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Prevote(u32, Option<char>),
    Precommit(u32, Option<char>),
    Timeout(Step, u32, u64),
    GetValue(u32),
    Propose(u32, char, Option<u32>),
    Decide(char, u32),
    Evidence(usize),
    Ignored(Ignored),
}

/// (round, step, locked, valid) with letters for blocks.
pub type St = (u32, Step, Option<(u32, char)>, Option<(u32, char)>);

pub fn letter_block(c: char) -> Block {
    Block {
        header: Header {
            version: Version {
                block: BLOCK_VERSION,
                app: APP_VERSION,
            },
            chain_id: Text(CHAIN.into()),
            height: HEIGHT,
            time: PREV_TIME,
            last_block_id: None,
            last_commit_hash: Hash::default(),
            data_hash: Hash::digest(&[c as u8]),
            validators_hash: Hash::default(),
            next_validators_hash: Hash::default(),
            consensus_hash: Hash::default(),
            app_hash: Hash::default(),
            last_results_hash: Hash::default(),
            evidence_hash: Hash::default(),
            proposer_address: Default::default(),
        },
        txs: vec![],
        evidence: vec![],
        last_commit: None,
    }
}

pub fn id(c: char) -> BlockId {
    letter_block(c).id()
}

pub fn letter_of(b: BlockId) -> char {
    ('A'..='Z').find(|c| id(*c) == b).unwrap_or('?')
}

impl World {
    /// Validators with `powers`; the node under test is chosen by `pick`
    /// from the set (e.g. the proposer of some round).
    pub fn new(powers: &[u64], pick: impl Fn(&ValidatorSet) -> usize) -> World {
        let keys: Vec<SigningKey> = (0..powers.len())
            .map(|i| SigningKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let set = ValidatorSet::new(
            keys.iter()
                .zip(powers)
                .map(|(k, p)| Validator::new(k.public_key(), *p))
                .collect(),
        )
        .unwrap();
        // Re-order keys into set order.
        let keys: Vec<SigningKey> = set
            .validators()
            .iter()
            .map(|v| {
                keys.iter()
                    .find(|k| k.public_key() == v.pub_key)
                    .unwrap()
                    .clone()
            })
            .collect();
        let me = pick(&set);
        World { keys, set, me }
    }

    /// Four validators of power 1; the node under test proposes in round 3 only (of 0..4).
    pub fn four() -> World {
        World::new(&[1, 1, 1, 1], |s| {
            s.index_of(&s.proposer_for_round(3).address).unwrap()
        })
    }

    /// Four validators of power 1; the node under test proposes in round `r`.
    pub fn four_proposing_in(r: u32) -> World {
        World::new(&[1, 1, 1, 1], move |s| {
            s.index_of(&s.proposer_for_round(r).address).unwrap()
        })
    }

    pub fn core(&self) -> Core {
        let params = Params::new(CHAIN, Some(self.set.validators()[self.me].address));
        Core::new(params, HEIGHT, self.set.clone(), PREV_TIME)
    }

    pub fn proposer(&self, round: u32) -> usize {
        self.set
            .index_of(&self.set.proposer_for_round(round).address)
            .unwrap()
    }

    /// Indices of the validators other than the node under test.
    pub fn others(&self) -> Vec<usize> {
        (0..self.keys.len()).filter(|i| *i != self.me).collect()
    }

    pub fn signed_proposal(
        &self,
        by: usize,
        round: u32,
        c: char,
        pol: Option<u32>,
    ) -> SignedProposal {
        let p = Proposal {
            height: HEIGHT,
            round,
            pol_round: pol,
            block_id: id(c),
            timestamp: PREV_TIME,
            proposer: self.set.validators()[by].address,
        };
        SignedProposal::sign(p, CHAIN, &self.keys[by])
    }

    /// The round's proposer proposes block `c`.
    pub fn proposal(&self, round: u32, c: char, pol: Option<u32>, valid: bool) -> Input {
        Input::Proposal {
            proposal: self.signed_proposal(self.proposer(round), round, c, pol),
            block: letter_block(c),
            valid,
        }
    }

    pub fn signed_vote(
        &self,
        by: usize,
        kind: VoteKind,
        round: u32,
        v: Option<char>,
    ) -> SignedVote {
        let vote = Vote {
            kind,
            height: HEIGHT,
            round,
            value: v.map(id),
            timestamp: Time(PREV_TIME.0 + 1_000_000),
            validator: self.set.validators()[by].address,
        };
        SignedVote::sign(vote, CHAIN, &self.keys[by])
    }

    pub fn prevote(&self, by: usize, round: u32, v: Option<char>) -> Input {
        Input::Vote(self.signed_vote(by, VoteKind::Prevote, round, v))
    }

    pub fn precommit(&self, by: usize, round: u32, v: Option<char>) -> Input {
        Input::Vote(self.signed_vote(by, VoteKind::Precommit, round, v))
    }

    /// Prevotes from each of `by`.
    pub fn prevotes(&self, by: &[usize], round: u32, v: Option<char>) -> Vec<Input> {
        by.iter().map(|i| self.prevote(*i, round, v)).collect()
    }

    pub fn precommits(&self, by: &[usize], round: u32, v: Option<char>) -> Vec<Input> {
        by.iter().map(|i| self.precommit(*i, round, v)).collect()
    }

    pub fn timeout(&self, round: u32, step: Step) -> Input {
        Input::TimeoutElapsed {
            height: HEIGHT,
            round,
            step,
        }
    }

    pub fn project(&self, outputs: &[Output]) -> Vec<Out> {
        outputs
            .iter()
            .map(|o| match o {
                Output::SignVote(v) => {
                    assert_eq!(v.validator, self.set.validators()[self.me].address);
                    let val = v.value.map(letter_of);
                    match v.kind {
                        VoteKind::Prevote => Out::Prevote(v.round, val),
                        VoteKind::Precommit => Out::Precommit(v.round, val),
                    }
                }
                Output::ScheduleTimeout {
                    round,
                    step,
                    duration_ms,
                    ..
                } => Out::Timeout(*step, *round, *duration_ms),
                Output::GetValue { round, .. } => Out::GetValue(*round),
                Output::SignProposal { proposal, .. } => Out::Propose(
                    proposal.round,
                    letter_of(proposal.block_id),
                    proposal.pol_round,
                ),
                Output::Decide { block, commit } => {
                    assert_eq!(block.id(), commit.block_id);
                    self.set
                        .verify_commit(CHAIN, HEIGHT, &commit.block_id, commit)
                        .expect("a decision carries a valid commit");
                    Out::Decide(letter_of(commit.block_id), commit.round)
                }
                Output::Evidence(ev) => {
                    Out::Evidence(self.set.index_of(&ev.vote_a.vote.validator).unwrap())
                }
                Output::Ignored(why) => Out::Ignored(why.clone()),
            })
            .collect()
    }

    /// Signs what the core asked to sign (as the shell does) and feeds it back.
    pub fn feed_back(&self, outputs: &[Output]) -> Vec<Input> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::SignVote(v) => Some(Input::Vote(SignedVote::sign(
                    v.clone(),
                    CHAIN,
                    &self.keys[self.me],
                ))),
                Output::SignProposal { proposal, block } => Some(Input::Proposal {
                    proposal: SignedProposal::sign(proposal.clone(), CHAIN, &self.keys[self.me]),
                    block: block.clone(),
                    valid: true,
                }),
                _ => None,
            })
            .collect()
    }
}

pub fn state(core: &Core) -> St {
    let s = core.round_state();
    (
        s.round,
        s.step,
        s.locked.map(|(r, b)| (r, letter_of(b))),
        s.valid.map(|(r, b)| (r, letter_of(b))),
    )
}

pub const T: Time = Time(PREV_TIME.0 + 5_000_000);
