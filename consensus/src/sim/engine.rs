//! The simulation engine: an event queue ordered by (time, sequence), nodes
//! that are shells around real cores, and the invariant checks.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;

use cairn_types::block::{APP_VERSION, BLOCK_VERSION};
use cairn_types::time::MILLISECOND;
use cairn_types::{
    Address, Block, BlockId, Bytes, Commit, Hash, Header, Proposal, Signature, SignedProposal,
    SignedVote, SigningKey, Text, Time, Validator, ValidatorSet, Version, Vote, VoteKind,
};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::crypto::{CachedSigner, CachedVerifier, CryptoCache};
use super::{Byzantine, FaultKind, Scenario};
use crate::Backlog;
use crate::core::{Core, Mutant};
use crate::guard::{MemoryStore, Signer, SigningGuard};
use crate::input::{Input, Step};
use crate::output::{Ignored, Message, Output};
use crate::params::{Params, SignatureVerifier, Timeout, Timeouts};
use crate::wal::{self, WalRecord};

const CHAIN: &str = "cairn-sim";
const GENESIS_NS: u64 = 1_800_000_000_000_000_000;
const REBROADCAST_MS: u64 = 400;
const WAL_SYNC_MS: u64 = 150;
const CHECK_MS: u64 = 1_000;
/// After GST, every correct node that is up decides its next height within this bound.
pub(crate) const TERMINATION_BOUND_MS: u64 = 30_000;
const INVALID_MARK: &[u8] = b"invalid-block";

/// A successful run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Hash of every event processed, in order: equal for two runs of one seed.
    pub trace: u64,
    /// Fault kinds that actually happened.
    pub kinds: BTreeSet<FaultKind>,
    /// Simulated time at the end, ms.
    pub sim_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Lowest height decided by every correct node.
    pub heights: u64,
    /// Highest round any correct node decided in.
    pub max_round: u32,
    /// Longest wait for a decision after GST, ms.
    pub max_gap_after_gst_ms: u64,
}

/// An invariant that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The seed.
    pub seed: u64,
    /// The mutant, if the run used one.
    pub mutant: Option<Mutant>,
    /// Whether correct nodes signed without the guard.
    pub guard_off: bool,
    /// Simulated time, ms.
    pub at_ms: u64,
    /// Which invariant.
    pub invariant: &'static str,
    /// What happened.
    pub detail: String,
}

impl Violation {
    /// A one-line command that reproduces the failure.
    pub fn reproduce(&self) -> String {
        let mut env = format!("SIM_SEED={}", self.seed);
        if let Some(m) = self.mutant {
            env.push_str(&format!(" SIM_MUTANT={m:?}"));
        }
        if self.guard_off {
            env.push_str(" SIM_MUTANT=GuardOff");
        }
        format!(
            "{env} cargo test -p cairn-consensus --release --test sim -- replay_seed --exact --ignored --nocapture"
        )
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} at {} ms: {}: {}\n  reproduce: {}",
            self.seed,
            self.at_ms,
            self.invariant,
            self.detail,
            self.reproduce()
        )
    }
}

#[derive(Debug, Clone)]
enum Wire {
    Proposal(SignedProposal, Block),
    Vote(SignedVote),
    SyncRequest(u64),
    SyncResponse(Block, Commit),
    /// Bytes that should be a vote: garbage, or a real vote with a flipped bit.
    Junk(Vec<u8>),
}

// Queued by value; boxing the wire message would add an allocation per send.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        wire: Wire,
    },
    Timeout {
        node: usize,
        inc: u32,
        height: u64,
        round: u32,
        step: Step,
    },
    Rebroadcast {
        node: usize,
        inc: u32,
    },
    WalSync {
        node: usize,
        inc: u32,
    },
    Crash {
        node: usize,
        down_ms: u64,
    },
    Restart {
        node: usize,
    },
    PartitionStart {
        len_ms: u64,
    },
    PartitionEnd,
    Check,
}

struct Queued {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(o.time, o.seq))
    }
}

type Slot = (Address, u64, u32, VoteKind);

struct Node {
    byz: Option<Byzantine>,
    signer: CachedSigner,
    address: Address,
    guard: Option<SigningGuard<CachedSigner, MemoryStore>>,
    stored_guard: Option<MemoryStore>,
    core: Option<Core>,
    up: bool,
    inc: u32,
    wal: Vec<WalRecord>,
    synced: usize,
    decided: BTreeMap<u64, (Block, Commit)>,
    backlog: Backlog,
    progress_mark: u64,
    last_sync_request: u64,
    served: BTreeMap<(usize, u64), u64>,
    evidence: BTreeSet<Slot>,
    first_seen: BTreeMap<Slot, Option<BlockId>>,
}

impl Node {
    fn height(&self) -> u64 {
        self.decided.keys().next_back().map_or(1, |h| h + 1)
    }
}

struct Sim<'a> {
    sc: &'a Scenario,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    nodes: Vec<Node>,
    sets: Vec<ValidatorSet>,
    verifier: Arc<CachedVerifier>,
    partition: Option<Vec<bool>>,
    latency: Vec<Vec<u64>>,
    last_arrival: Vec<Vec<u64>>,
    decided: BTreeMap<u64, BlockId>,
    proposed: BTreeSet<BlockId>,
    signed_by_correct: BTreeMap<(usize, u64, u32, Step), Option<BlockId>>,
    board: BTreeMap<(u64, u32), (BlockId, BlockId)>,
    trace: u64,
    events: u64,
    kinds: BTreeSet<FaultKind>,
    violation: Option<Violation>,
    max_gap: u64,
    max_round: u32,
    /// `SIM_DEBUG=<node>`: print that node's inputs and outputs.
    debug: Option<usize>,
    /// The forged proof-of-lock attack in progress, if the seed has one.
    attack: Option<Attack>,
}

/// The state of the forged proof-of-lock attack ([`super::ForgedLock`]).
struct Attack {
    height: u64,
    /// Whether each node is a decider.
    inner: Vec<bool>,
    /// A decider has decided: the deciders are cut off from the rest.
    cut: bool,
    /// Forged rounds, with the forged value and the coalition's messages
    /// (sender, message), re-sent on the sender's re-broadcast timer.
    forged: BTreeMap<u32, (BlockId, Vec<(usize, Wire)>)>,
    /// The network is timely again (the rest passed the forged round, or GST).
    healed: bool,
}

/// Forged rounds per attack before the adversary gives up and heals the cut.
const FORGED_ATTEMPTS: usize = 2;

fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// Runs the scenario with a fresh signature cache.
pub fn run(sc: &Scenario) -> Result<Outcome, Violation> {
    run_with_cache(sc, CryptoCache::new())
}

/// Runs the scenario; `cache` may be shared with another run of the same
/// seed (the cache changes no result, only the cost).
pub fn run_with_cache(sc: &Scenario, cache: Arc<CryptoCache>) -> Result<Outcome, Violation> {
    let mut sim = Sim::new(sc, cache);
    sim.init();
    sim.main_loop();
    match sim.violation.take() {
        Some(v) => Err(v),
        None => Ok(sim.outcome()),
    }
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario, cache: Arc<CryptoCache>) -> Sim<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
        let n = sc.powers.len();
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&sc.seed.to_le_bytes());
                seed[8] = i as u8;
                seed[9] = 0xc5;
                SigningKey::from_seed(seed)
            })
            .collect();
        let validators: Vec<Validator> = keys
            .iter()
            .zip(&sc.powers)
            .map(|(k, p)| Validator::new(k.public_key(), *p))
            .collect();
        let genesis = ValidatorSet::new(validators).ok();
        let sets = genesis.into_iter().collect();
        let latency = (0..n)
            .map(|_| (0..n).map(|_| rng.random_range(5..60)).collect())
            .collect();
        let nodes = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let signer = CachedSigner::new(key, cache.clone());
                Node {
                    byz: sc.byzantine_kind(i),
                    address: signer.public_key().address(),
                    guard: None,
                    stored_guard: Some(MemoryStore::default()),
                    signer,
                    core: None,
                    up: false,
                    inc: 0,
                    wal: Vec::new(),
                    synced: 0,
                    decided: BTreeMap::new(),
                    backlog: Backlog::new(64, 2),
                    progress_mark: 0,
                    last_sync_request: 0,
                    served: BTreeMap::new(),
                    evidence: BTreeSet::new(),
                    first_seen: BTreeMap::new(),
                }
            })
            .collect();
        Sim {
            sc,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            sets,
            verifier: Arc::new(CachedVerifier(cache)),
            partition: None,
            latency,
            last_arrival: vec![vec![0; n]; n],
            decided: BTreeMap::new(),
            proposed: BTreeSet::new(),
            signed_by_correct: BTreeMap::new(),
            board: BTreeMap::new(),
            trace: 0xcbf2_9ce4_8422_2325,
            events: 0,
            kinds: BTreeSet::new(),
            violation: None,
            max_gap: 0,
            max_round: 0,
            debug: std::env::var("SIM_DEBUG").ok().and_then(|s| s.parse().ok()),
            attack: sc.forged_lock.as_ref().map(|f| Attack {
                height: f.height,
                inner: (0..n).map(|i| f.deciders.contains(&i)).collect(),
                cut: false,
                forged: BTreeMap::new(),
                healed: false,
            }),
        }
    }

    fn fail(&mut self, invariant: &'static str, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                seed: self.sc.seed,
                mutant: self.sc.mutant,
                guard_off: self.sc.guard_off,
                at_ms: self.now,
                invariant,
                detail,
            });
        }
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            time: at,
            seq: self.seq,
            ev,
        }));
    }

    fn time(&self) -> Time {
        Time(GENESIS_NS + self.now * MILLISECOND)
    }

    fn set_for(&mut self, height: u64) -> Option<ValidatorSet> {
        while self.sets.len() < height as usize {
            let next = self.sets.last()?.advanced();
            self.sets.push(next);
        }
        self.sets.get(height as usize - 1).cloned()
    }

    fn is_correct(&self, i: usize) -> bool {
        self.nodes[i].byz.is_none()
    }

    fn correct(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.is_correct(*i))
            .collect()
    }

    fn params(&self, i: usize) -> Params {
        let mut p = Params::new(CHAIN, Some(self.nodes[i].address));
        p.timeouts = Timeouts {
            propose: Timeout {
                base_ms: 300,
                delta_ms: 150,
            },
            prevote: Timeout {
                base_ms: 150,
                delta_ms: 75,
            },
            precommit: Timeout {
                base_ms: 150,
                delta_ms: 75,
            },
        };
        p.verifier = self.verifier.clone();
        p
    }

    /// A core for node `i` at `height`, with the scenario's mutant.
    fn new_core(&mut self, i: usize, height: u64) -> Option<Core> {
        let set = self.set_for(height)?;
        let prev = match self.nodes[i].decided.get(&(height - 1)) {
            Some((b, _)) => b.header.time,
            None => Time(GENESIS_NS - MILLISECOND),
        };
        let mut core = Core::new(self.params(i), height, set, prev);
        match self.nodes[i].byz {
            None => core.set_mutant(self.sc.mutant),
            Some(Byzantine::Amnesia) => core.set_mutant(Some(Mutant::IgnoreLocks)),
            Some(_) => {}
        }
        Some(core)
    }

    fn init(&mut self) {
        let n = self.nodes.len();
        for i in 0..n {
            if self.nodes[i].byz == Some(Byzantine::Silent) {
                self.kinds.insert(FaultKind::Silent);
                continue;
            }
            self.boot(i);
            let offset = self.rng.random_range(0..REBROADCAST_MS);
            let inc = self.nodes[i].inc;
            self.schedule(offset, Ev::Rebroadcast { node: i, inc });
        }
        for (node, at, down) in self.sc.crashes.clone() {
            self.schedule(
                at,
                Ev::Crash {
                    node,
                    down_ms: down,
                },
            );
        }
        for (at, len) in self.sc.partitions.clone() {
            self.schedule(at, Ev::PartitionStart { len_ms: len });
        }
        for (_, kind) in self.sc.byzantine.clone() {
            let kind = match kind {
                Byzantine::Equivocator => FaultKind::Equivocator,
                Byzantine::SplitProposer => FaultKind::SplitProposer,
                Byzantine::Silent => FaultKind::Silent,
                Byzantine::Amnesia => FaultKind::Amnesia,
                Byzantine::Garbage => FaultKind::Garbage,
                // Counted when the attack reaches its forged proposal.
                Byzantine::ForgedLock => continue,
            };
            self.kinds.insert(kind);
        }
        self.schedule(CHECK_MS, Ev::Check);
    }

    /// Starts (or restarts) node `i` from its durable state: decided blocks,
    /// the synced WAL prefix, and the guard's store.
    fn boot(&mut self, i: usize) {
        let height = self.nodes[i].height();
        let Some(mut core) = self.new_core(i, height) else {
            return;
        };
        let now = self.time();
        let node = &mut self.nodes[i];
        node.up = true;
        node.inc += 1;
        if (node.byz.is_none() || node.byz == Some(Byzantine::Garbage))
            && let Some(store) = node.stored_guard.take()
        {
            node.guard = SigningGuard::new(node.signer.clone(), CHAIN, store).ok();
        }
        let records = wal::records_for_height(&node.wal, height).to_vec();
        let mut outs = if records.is_empty() {
            node.wal.push(WalRecord::NewHeight { height, now });
            node.synced = node.wal.len();
            core.start(now)
        } else {
            wal::replay(&mut core, &records)
        };
        // The guard knows what we signed even where the WAL lost it.
        let restore = node
            .guard
            .as_ref()
            .map(|g| g.restore_votes(height))
            .unwrap_or_default();
        let before = core.round_state();
        for v in restore {
            let input = Input::Vote(v);
            node.wal.push(WalRecord::Input {
                now,
                input: input.clone(),
            });
            outs.extend(core.handle(now, input));
        }
        let restored = core.round_state() != before;
        node.core = Some(core);
        node.progress_mark = node.progress_mark.max(self.now);
        if restored {
            self.kinds.insert(FaultKind::GuardRestore);
        }
        if !self.sc.sync_own {
            let inc = self.nodes[i].inc;
            self.schedule(self.now + WAL_SYNC_MS, Ev::WalSync { node: i, inc });
        }
        self.perform(i, outs);
    }

    fn all_done(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.byz.is_some() || n.height() > self.sc.heights)
    }

    fn main_loop(&mut self) {
        let limit = self.sc.gst_ms + 60_000 + self.sc.heights * TERMINATION_BOUND_MS;
        while let Some(Reverse(q)) = self.queue.pop() {
            if self.violation.is_some() || self.all_done() {
                return;
            }
            self.now = q.time;
            if self.now > limit {
                self.fail("termination", "simulated time limit reached".into());
                return;
            }
            self.events += 1;
            self.trace_event(&q.ev);
            self.dispatch(q.ev);
        }
        if self.violation.is_none() && !self.all_done() {
            self.fail("termination", "event queue ran dry".into());
        }
    }

    fn trace_event(&mut self, ev: &Ev) {
        let mut h = self.trace;
        fnv(&mut h, &self.now.to_le_bytes());
        match ev {
            Ev::Deliver { to, from, wire } => {
                fnv(&mut h, &[0, *to as u8, *from as u8]);
                match wire {
                    Wire::Proposal(p, _) => fnv(&mut h, &p.signature.0[..8]),
                    Wire::Vote(v) => fnv(&mut h, &v.signature.0[..8]),
                    Wire::SyncRequest(height) => fnv(&mut h, &height.to_le_bytes()),
                    Wire::SyncResponse(_, c) => fnv(&mut h, &c.block_id.0.0[..8]),
                    Wire::Junk(b) => fnv(&mut h, b),
                }
            }
            Ev::Timeout {
                node,
                height,
                round,
                step,
                ..
            } => {
                fnv(&mut h, &[1, *node as u8, *step as u8]);
                fnv(&mut h, &height.to_le_bytes());
                fnv(&mut h, &round.to_le_bytes());
            }
            Ev::Rebroadcast { node, .. } => fnv(&mut h, &[2, *node as u8]),
            Ev::WalSync { node, .. } => fnv(&mut h, &[3, *node as u8]),
            Ev::Crash { node, .. } => fnv(&mut h, &[4, *node as u8]),
            Ev::Restart { node } => fnv(&mut h, &[5, *node as u8]),
            Ev::PartitionStart { .. } => fnv(&mut h, &[6]),
            Ev::PartitionEnd => fnv(&mut h, &[7]),
            Ev::Check => fnv(&mut h, &[8]),
        }
        self.trace = h;
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { to, from, wire } => self.deliver(to, from, wire),
            Ev::Timeout {
                node,
                inc,
                height,
                round,
                step,
            } => {
                if !self.nodes[node].up || self.nodes[node].inc != inc {
                    return;
                }
                if self.nodes[node].byz == Some(Byzantine::Amnesia)
                    && step == Step::Precommit
                    && self.rng.random_bool(0.3)
                {
                    // Forget everything about this height.
                    let h = self.nodes[node].height();
                    if let Some(mut core) = self.new_core(node, h) {
                        let outs = core.start(self.time());
                        self.nodes[node].core = Some(core);
                        self.perform(node, outs);
                    }
                    return;
                }
                self.input(
                    node,
                    Input::TimeoutElapsed {
                        height,
                        round,
                        step,
                    },
                );
            }
            Ev::Rebroadcast { node, inc } => {
                if !self.nodes[node].up || self.nodes[node].inc != inc {
                    return;
                }
                let msgs = self.nodes[node]
                    .core
                    .as_ref()
                    .map(Core::rebroadcast)
                    .unwrap_or_default();
                for m in msgs {
                    let wire = match m {
                        Message::Proposal(p, b) => Wire::Proposal(p, b),
                        Message::Vote(v) => Wire::Vote(v),
                    };
                    if self.nodes[node].byz == Some(Byzantine::SplitProposer)
                        && matches!(wire, Wire::Proposal(..))
                    {
                        continue; // it already told each half its own story
                    }
                    self.broadcast(node, wire);
                }
                if self.nodes[node].byz == Some(Byzantine::Garbage) {
                    self.send_garbage(node);
                }
                self.attack_tick(node);
                let next = self.now + REBROADCAST_MS + self.rng.random_range(0..50);
                self.schedule(next, Ev::Rebroadcast { node, inc });
            }
            Ev::WalSync { node, inc } => {
                let n = &mut self.nodes[node];
                if n.up && n.inc == inc {
                    n.synced = n.wal.len();
                    self.schedule(self.now + WAL_SYNC_MS, Ev::WalSync { node, inc });
                }
            }
            Ev::Crash { node, down_ms } => {
                let n = &mut self.nodes[node];
                if !n.up {
                    return;
                }
                n.up = false;
                n.inc += 1;
                let lost = n.wal.len() - n.synced;
                n.wal.truncate(n.synced);
                n.stored_guard = n.guard.take().map(SigningGuard::into_store);
                n.core = None;
                n.backlog = Backlog::new(64, 2);
                n.first_seen.clear();
                self.kinds.insert(FaultKind::CrashRestart);
                if lost > 0 {
                    self.kinds.insert(FaultKind::LostWalTail);
                }
                self.schedule(self.now + down_ms, Ev::Restart { node });
            }
            Ev::Restart { node } => {
                self.boot(node);
                let inc = self.nodes[node].inc;
                self.schedule(self.now + 1, Ev::Rebroadcast { node, inc });
            }
            Ev::PartitionStart { len_ms } => {
                let n = self.nodes.len();
                let mut side: Vec<bool> = (0..n).map(|_| self.rng.random_bool(0.5)).collect();
                side[0] = true;
                side[n - 1] = false;
                self.partition = Some(side);
                self.kinds.insert(FaultKind::Partition);
                self.schedule(self.now + len_ms, Ev::PartitionEnd);
            }
            Ev::PartitionEnd => self.partition = None,
            Ev::Check => {
                for i in self.correct() {
                    let n = &self.nodes[i];
                    if !n.up || n.height() > self.sc.heights {
                        continue;
                    }
                    let mark = n.progress_mark.max(self.sc.gst_ms);
                    if self.now > mark + TERMINATION_BOUND_MS {
                        let h = n.height();
                        let waited = self.now - mark;
                        let all: Vec<String> = self
                            .nodes
                            .iter()
                            .map(|n| {
                                let rs = n.core.as_ref().map(Core::round_state);
                                let (r, st) = rs.map_or((0, Step::Propose), |s| (s.round, s.step));
                                format!(
                                    "{:?}:h{}r{}{:?}{}",
                                    n.byz,
                                    n.height(),
                                    r,
                                    st,
                                    if n.up { "" } else { "(down)" }
                                )
                            })
                            .collect();
                        self.fail(
                            "termination",
                            format!(
                                "node {i} has not decided height {h} for {waited} ms after GST or its last decision; nodes: {}",
                                all.join(" ")
                            ),
                        );
                        return;
                    }
                }
                self.schedule(self.now + CHECK_MS, Ev::Check);
            }
        }
    }

    // ---- network ----

    fn send(&mut self, from: usize, to: usize, wire: Wire) {
        if from == to {
            return;
        }
        if let Some(side) = &self.partition
            && side[from] != side[to]
        {
            return;
        }
        if self.attack_drops(from, to, &wire) {
            return;
        }
        let after_gst = self.now >= self.sc.gst_ms;
        let loss = if after_gst {
            self.sc.loss_after_gst
        } else {
            self.sc.loss
        };
        if loss > 0.0 && self.rng.random_bool(loss) {
            self.kinds.insert(FaultKind::Loss);
            return;
        }
        let jitter = if after_gst {
            self.rng.random_range(0..=10)
        } else {
            self.rng.random_range(0..=self.sc.jitter_ms)
        };
        let at = self.now + self.latency[from][to] + jitter;
        if at < self.last_arrival[from][to] {
            self.kinds.insert(FaultKind::Reordering);
        }
        self.last_arrival[from][to] = self.last_arrival[from][to].max(at);
        if self.sc.dup > 0.0 && self.rng.random_bool(self.sc.dup) {
            self.kinds.insert(FaultKind::Duplication);
            let again = at + self.rng.random_range(0..100);
            self.schedule(
                again,
                Ev::Deliver {
                    to,
                    from,
                    wire: wire.clone(),
                },
            );
        }
        self.schedule(at, Ev::Deliver { to, from, wire });
    }

    fn broadcast(&mut self, from: usize, wire: Wire) {
        for to in 0..self.nodes.len() {
            self.send(from, to, wire.clone());
        }
    }

    fn deliver(&mut self, i: usize, from: usize, wire: Wire) {
        if !self.nodes[i].up || self.nodes[i].core.is_none() {
            return;
        }
        match wire {
            Wire::Junk(bytes) => {
                if let Ok(v) = cairn_types::codec::decode::<SignedVote>(&bytes, 4096) {
                    self.on_peer_input(i, from, Input::Vote(v));
                }
            }
            Wire::Vote(v) => self.on_peer_input(i, from, Input::Vote(v)),
            Wire::Proposal(proposal, block) => {
                let valid = block_valid(&block, proposal.proposal.height);
                self.on_peer_input(
                    i,
                    from,
                    Input::Proposal {
                        proposal,
                        block,
                        valid,
                    },
                );
            }
            Wire::SyncRequest(h) => self.serve(i, from, h),
            Wire::SyncResponse(block, commit) => {
                if commit.height == self.nodes[i].height() {
                    let before = self.nodes[i].height();
                    self.on_peer_input(i, from, Input::Decided { block, commit });
                    if self.nodes[i].height() > before {
                        self.kinds.insert(FaultKind::CatchUp);
                    }
                }
            }
        }
    }

    fn serve(&mut self, i: usize, to: usize, height: u64) {
        if self.nodes[i].byz == Some(Byzantine::Silent) {
            return;
        }
        let last = self.nodes[i].served.get(&(to, height)).copied();
        if last.is_some_and(|t| self.now < t + 300) {
            return;
        }
        if let Some((b, c)) = self.nodes[i].decided.get(&height).cloned() {
            self.nodes[i].served.insert((to, height), self.now);
            self.send(i, to, Wire::SyncResponse(b, c));
        }
    }

    // ---- node shell ----

    /// A message from a peer: log it, handle it, check the evidence invariant.
    fn on_peer_input(&mut self, i: usize, from: usize, input: Input) {
        let watched = self.watch_vote(i, &input);
        let outs = self.input(i, input.clone());
        for o in &outs {
            let Output::Ignored(why) = o else { continue };
            match why {
                Ignored::BadSignature(_) => {
                    self.kinds.insert(FaultKind::BadSignature);
                }
                Ignored::FarFutureRound { .. } => {
                    self.kinds.insert(FaultKind::FarFuture);
                }
                Ignored::OtherHeight { height, current } if height > current => {
                    if *height > current + 2 {
                        self.kinds.insert(FaultKind::FarFuture);
                    }
                    let current = *current;
                    let msg = match &input {
                        Input::Vote(v) => Some(Message::Vote(v.clone())),
                        Input::Proposal {
                            proposal, block, ..
                        } => Some(Message::Proposal(proposal.clone(), block.clone())),
                        _ => None,
                    };
                    if let Some(m) = msg {
                        self.nodes[i].backlog.push(current, m);
                    }
                    if self.now >= self.nodes[i].last_sync_request + 100 {
                        self.nodes[i].last_sync_request = self.now;
                        self.send(i, from, Wire::SyncRequest(current));
                    }
                }
                Ignored::OtherHeight { height, .. } => self.serve(i, from, *height),
                _ => {}
            }
        }
        if let Some(slot) = watched {
            self.check_evidence(i, slot, &input);
        }
    }

    /// Whether the core of correct node `i` must count this vote (valid
    /// signature, its height, within the round window): if so, note the
    /// value seen for the slot.
    fn watch_vote(&mut self, i: usize, input: &Input) -> Option<Slot> {
        let Input::Vote(sv) = input else { return None };
        if !self.is_correct(i) {
            return None;
        }
        let core = self.nodes[i].core.as_ref()?;
        let v = &sv.vote;
        let rs = core.round_state();
        if v.height != rs.height || rs.decided.is_some() || v.round > rs.round + 64 {
            return None;
        }
        let key = core.validators().get(&v.validator)?.pub_key;
        if !self
            .verifier
            .verify(&key, &v.sign_bytes(CHAIN), &sv.signature)
        {
            return None;
        }
        let slot = (v.validator, v.height, v.round, v.kind);
        self.nodes[i].first_seen.entry(slot).or_insert(v.value);
        Some(slot)
    }

    fn check_evidence(&mut self, i: usize, slot: Slot, input: &Input) {
        let Input::Vote(sv) = input else { return };
        let first = self.nodes[i].first_seen.get(&slot).copied();
        if first.is_some_and(|f| f != sv.vote.value) && !self.nodes[i].evidence.contains(&slot) {
            self.fail(
                "evidence",
                format!(
                    "node {i} saw {} vote two values at {slot:?} but reported no evidence",
                    sv.vote.validator
                ),
            );
        }
    }

    /// Logs `input` in node `i`'s WAL, handles it, performs the outputs.
    fn input(&mut self, i: usize, input: Input) -> Vec<Output> {
        let now = self.time();
        let node = &mut self.nodes[i];
        let Some(core) = node.core.as_mut() else {
            return Vec::new();
        };
        node.wal.push(WalRecord::Input {
            now,
            input: input.clone(),
        });
        let dbg_in = (self.debug == Some(i)).then(|| format!("{input:?}"));
        let outs = core.handle(now, input);
        if let Some(d) = dbg_in {
            let d: String = d.chars().take(300).collect();
            eprintln!(
                "[{}] node {i} <- {d}\n    -> {:?} {:?}",
                self.now,
                outs.iter()
                    .map(|o| format!("{o:?}").chars().take(200).collect::<String>())
                    .collect::<Vec<_>>(),
                core.round_state()
            );
        }
        self.perform(i, outs.clone());
        outs
    }

    /// Performs a core's outputs for node `i`, as the node's driver would.
    fn perform(&mut self, i: usize, outs: Vec<Output>) {
        let mut queue: VecDeque<Output> = outs.into();
        while let Some(o) = queue.pop_front() {
            if self.violation.is_some() || !self.nodes[i].up {
                return;
            }
            match o {
                Output::SignVote(v) => self.own_vote(i, v),
                Output::SignProposal { proposal, block } => self.own_proposal(i, proposal, block),
                Output::ScheduleTimeout {
                    height,
                    round,
                    step,
                    duration_ms,
                } => {
                    let inc = self.nodes[i].inc;
                    self.schedule(
                        self.now + duration_ms,
                        Ev::Timeout {
                            node: i,
                            inc,
                            height,
                            round,
                            step,
                        },
                    );
                }
                Output::GetValue { height, round } => {
                    let invalid =
                        self.nodes[i].byz == Some(Byzantine::Garbage) && self.rng.random_bool(0.5);
                    let salt = self.rng.random::<u64>();
                    let block = self.build_block(i, height, round, invalid, salt);
                    self.input(
                        i,
                        Input::ValueReady {
                            height,
                            round,
                            block,
                        },
                    );
                }
                Output::Decide { block, commit } => self.decide(i, block, commit),
                Output::Evidence(ev) => {
                    let v = &ev.vote_a.vote;
                    self.nodes[i]
                        .evidence
                        .insert((v.validator, v.height, v.round, v.kind));
                }
                Output::Ignored(_) => {}
            }
        }
    }

    fn sign_raw_vote(&self, i: usize, vote: Vote) -> SignedVote {
        let signature = self.nodes[i].signer.sign(&vote.sign_bytes(CHAIN));
        SignedVote { vote, signature }
    }

    fn sign_raw_proposal(&self, i: usize, proposal: Proposal) -> SignedProposal {
        let signature = self.nodes[i].signer.sign(&proposal.sign_bytes(CHAIN));
        SignedProposal {
            proposal,
            signature,
        }
    }

    /// Records what a correct node signed; two values for one slot is a violation.
    fn note_signed(&mut self, i: usize, h: u64, r: u32, step: Step, value: Option<BlockId>) {
        if !self.is_correct(i) {
            return;
        }
        match self.signed_by_correct.get(&(i, h, r, step)) {
            Some(prev) if *prev != value => self.fail(
                "no conflicting signatures",
                format!("correct node {i} signed {prev:?} and {value:?} at {h}/{r}/{step:?}"),
            ),
            Some(_) => {}
            None => {
                self.signed_by_correct.insert((i, h, r, step), value);
            }
        }
    }

    fn log_own(&mut self, i: usize, input: &Input) {
        let now = self.time();
        let node = &mut self.nodes[i];
        node.wal.push(WalRecord::Input {
            now,
            input: input.clone(),
        });
        if self.sc.sync_own {
            node.synced = node.wal.len();
        }
    }

    fn own_vote(&mut self, i: usize, vote: Vote) {
        let byz = self.nodes[i].byz;
        if matches!(byz, Some(Byzantine::Equivocator | Byzantine::SplitProposer)) {
            self.equivocate(i, vote);
            return;
        }
        if byz == Some(Byzantine::ForgedLock) {
            self.coalition_vote(i, vote);
            return;
        }
        let signed = if self.sc.guard_off && byz.is_none() || byz == Some(Byzantine::Amnesia) {
            self.sign_raw_vote(i, vote)
        } else {
            let Some(guard) = self.nodes[i].guard.as_mut() else {
                return;
            };
            match guard.sign_vote(vote) {
                Ok(s) => s,
                Err(_) => {
                    self.kinds.insert(FaultKind::GuardRefusal);
                    return;
                }
            }
        };
        let step = match signed.vote.kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        let v = &signed.vote;
        self.note_signed(i, v.height, v.round, step, v.value);
        let input = Input::Vote(signed.clone());
        self.log_own(i, &input);
        self.broadcast(i, Wire::Vote(signed));
        self.input(i, input);
    }

    fn own_proposal(&mut self, i: usize, proposal: Proposal, block: Block) {
        let byz = self.nodes[i].byz;
        if byz == Some(Byzantine::SplitProposer) {
            self.split_proposal(i, proposal, block);
            return;
        }
        if byz == Some(Byzantine::ForgedLock) && self.forge_proposal(i, &proposal) {
            return;
        }
        let signed = if self.sc.guard_off && byz.is_none()
            || matches!(byz, Some(Byzantine::Amnesia | Byzantine::ForgedLock))
        {
            self.sign_raw_proposal(i, proposal)
        } else {
            let Some(guard) = self.nodes[i].guard.as_mut() else {
                return;
            };
            match guard.sign_proposal(proposal) {
                Ok(s) => s,
                Err(_) => {
                    self.kinds.insert(FaultKind::GuardRefusal);
                    return;
                }
            }
        };
        let p = &signed.proposal;
        self.note_signed(i, p.height, p.round, Step::Propose, Some(p.block_id));
        self.proposed.insert(p.block_id);
        let input = Input::Proposal {
            proposal: signed.clone(),
            block: block.clone(),
            valid: true,
        };
        self.log_own(i, &input);
        self.broadcast(i, Wire::Proposal(signed, block));
        self.input(i, input);
    }

    /// The peers split in two for (height, round): the same split for every
    /// Byzantine node, so that they attack together.
    fn halves(&self, i: usize, h: u64, r: u32) -> (Vec<usize>, Vec<usize>) {
        let mut all: Vec<(u64, usize)> = (0..self.nodes.len())
            .map(|j| {
                let mut x = 0xcbf2_9ce4_8422_2325u64;
                fnv(&mut x, &self.sc.seed.to_le_bytes());
                fnv(&mut x, &h.to_le_bytes());
                fnv(&mut x, &r.to_le_bytes());
                fnv(&mut x, &[j as u8]);
                (x, j)
            })
            .collect();
        all.sort();
        let half = all.len() / 2;
        let pick = |s: &[(u64, usize)]| s.iter().map(|(_, j)| *j).filter(|j| *j != i).collect();
        (pick(&all[..half]), pick(&all[half..]))
    }

    /// Signs two values for the vote and sends one to each half.
    fn equivocate(&mut self, i: usize, vote: Vote) {
        let (h, r) = (vote.height, vote.round);
        let (va, vb) = match self.board.get(&(h, r)) {
            Some((a, b)) => (Some(*a), Some(*b)),
            None => match vote.value {
                Some(v) => (Some(v), None),
                None => {
                    let other = self.nodes[i]
                        .core
                        .as_ref()
                        .and_then(|c| {
                            c.proposals(r).into_iter().find_map(|m| match m {
                                Message::Proposal(p, _) => Some(p.proposal.block_id),
                                Message::Vote(_) => None,
                            })
                        })
                        .unwrap_or(BlockId(Hash::digest(
                            &self.rng.random::<u64>().to_le_bytes(),
                        )));
                    (None, Some(other))
                }
            },
        };
        let mut a = vote.clone();
        a.value = va;
        let mut b = vote;
        b.value = vb;
        let sa = self.sign_raw_vote(i, a);
        let sb = self.sign_raw_vote(i, b);
        let (ga, gb) = self.halves(i, h, r);
        for j in ga {
            self.send(i, j, Wire::Vote(sa.clone()));
        }
        for j in gb {
            self.send(i, j, Wire::Vote(sb.clone()));
        }
        self.input(i, Input::Vote(sa));
    }

    /// A Byzantine proposer: different blocks to the two halves, a forged
    /// proof-of-lock round, or an honest proposal.
    fn split_proposal(&mut self, i: usize, proposal: Proposal, block: Block) {
        let (h, r) = (proposal.height, proposal.round);
        // Where a polka happened (others may be locked), try to break the
        // locks: a fresh value with no proof of lock, or with a forged one.
        let polka = self.nodes[i]
            .core
            .as_ref()
            .and_then(|c| c.round_state().valid);
        let strategy = match polka {
            Some(_) if r > 0 => 1 + self.rng.random_range(0..2),
            _ if self.rng.random_bool(0.5) => 0,
            _ => 3,
        };
        if strategy == 0 {
            let salt = self.rng.random::<u64>();
            let other = self.build_block(i, h, r, false, salt);
            let mut pb = proposal.clone();
            pb.block_id = other.id();
            let sa = self.sign_raw_proposal(i, proposal.clone());
            let sb = self.sign_raw_proposal(i, pb);
            self.board.insert((h, r), (proposal.block_id, other.id()));
            self.proposed.insert(proposal.block_id);
            self.proposed.insert(other.id());
            let (ga, gb) = self.halves(i, h, r);
            for j in ga {
                self.send(i, j, Wire::Proposal(sa.clone(), block.clone()));
            }
            for j in gb {
                self.send(i, j, Wire::Proposal(sb.clone(), other.clone()));
            }
            self.input(
                i,
                Input::Proposal {
                    proposal: sa,
                    block,
                    valid: true,
                },
            );
            return;
        }
        let (p, b) = if strategy == 1 || strategy == 2 {
            // A fresh block instead of its valid value: with no proof of lock
            // (a lock must hold against it), or claiming a proof-of-lock round
            // it does not have (L28 must check the prevotes).
            let salt = self.rng.random::<u64>();
            let fresh = self.build_block(i, h, r, false, salt);
            let mut p = proposal;
            p.block_id = fresh.id();
            p.pol_round = match polka {
                _ if strategy != 1 => None,
                Some((vr, _)) => Some(vr.max(r - 1)),
                None => Some(r - 1),
            };
            (p, fresh)
        } else {
            (proposal, block)
        };
        let signed = self.sign_raw_proposal(i, p);
        self.proposed.insert(signed.proposal.block_id);
        self.broadcast(i, Wire::Proposal(signed.clone(), b.clone()));
        self.input(
            i,
            Input::Proposal {
                proposal: signed,
                block: b,
                valid: true,
            },
        );
    }

    // ---- the forged proof-of-lock attack ----

    /// The attack's network is in force: not healed, and before GST.
    fn attack_active(&self) -> Option<&Attack> {
        self.attack
            .as_ref()
            .filter(|a| !a.healed && self.now < self.sc.gst_ms)
    }

    /// Whether the adversary's network drops this message: once cut, all
    /// traffic between the deciders and the others (so no catch-up); before,
    /// the deciders' precommits for a value at the attacked height to the
    /// others (so neither the rest nor the coalition's cores ever see 2f+1
    /// precommits for it, L49).
    fn attack_drops(&self, from: usize, to: usize, wire: &Wire) -> bool {
        let Some(a) = self.attack_active() else {
            return false;
        };
        if a.inner[from] == a.inner[to] {
            return false;
        }
        if a.cut {
            return true;
        }
        match wire {
            Wire::Vote(sv) => {
                let v = &sv.vote;
                a.inner[from]
                    && v.height == a.height
                    && v.kind == VoteKind::Precommit
                    && v.value.is_some()
            }
            _ => false,
        }
    }

    /// A coalition member's vote. At the attacked height: nothing in a
    /// forged round (the forged votes went out already), and nil instead of
    /// a precommit for a value (the coalition's precommits would give the
    /// rest 2f+1). Elsewhere as its core says.
    fn coalition_vote(&mut self, i: usize, mut vote: Vote) {
        if let Some(a) = self.attack_active()
            && vote.height == a.height
        {
            if a.forged.contains_key(&vote.round) {
                return;
            }
            if vote.kind == VoteKind::Precommit {
                vote.value = None;
            }
        }
        let signed = self.sign_raw_vote(i, vote);
        self.broadcast(i, Wire::Vote(signed.clone()));
        self.input(i, Input::Vote(signed));
    }

    /// Once a decider has decided, a coalition proposer proposes a fresh
    /// value B with the forged proof-of-lock round `round - 1` (>= any lock
    /// the rest hold, so only L28's prevote check can refuse it), and every
    /// coalition member prevotes and precommits B. Returns whether it forged.
    fn forge_proposal(&mut self, i: usize, proposal: &Proposal) -> bool {
        let (h, r) = (proposal.height, proposal.round);
        let Some(a) = self.attack_active() else {
            return false;
        };
        if !a.cut || h != a.height || r == 0 || a.forged.len() >= FORGED_ATTEMPTS {
            return false;
        }
        // The rest must still be undecided, or there is nothing to break.
        let rest: Vec<usize> = (0..self.nodes.len())
            .filter(|j| self.is_correct(*j) && !a.inner[*j])
            .collect();
        if rest.iter().any(|j| self.nodes[*j].decided.contains_key(&h)) {
            return false;
        }
        let salt = self.rng.random::<u64>();
        let fresh = self.build_block(i, h, r, false, salt);
        let value = fresh.id();
        let mut p = proposal.clone();
        p.block_id = value;
        p.pol_round = Some(r - 1);
        let signed = self.sign_raw_proposal(i, p);
        self.proposed.insert(value);
        let mut msgs = vec![(i, Wire::Proposal(signed.clone(), fresh.clone()))];
        let coalition: Vec<usize> = (0..self.nodes.len())
            .filter(|j| self.nodes[*j].byz == Some(Byzantine::ForgedLock))
            .collect();
        for j in coalition {
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                let vote = Vote {
                    kind,
                    height: h,
                    round: r,
                    value: Some(value),
                    timestamp: self.time(),
                    validator: self.nodes[j].address,
                };
                msgs.push((j, Wire::Vote(self.sign_raw_vote(j, vote))));
            }
        }
        for (from, wire) in &msgs {
            self.broadcast(*from, wire.clone());
        }
        if let Some(a) = self.attack.as_mut() {
            a.forged.insert(r, (value, msgs));
        }
        self.kinds.insert(FaultKind::ForgedLock);
        self.input(
            i,
            Input::Proposal {
                proposal: signed,
                block: fresh,
                valid: true,
            },
        );
        true
    }

    /// On node `i`'s re-broadcast timer: re-send its forged messages, and
    /// heal the cut once every correct node of the rest has passed the last
    /// forged round (or decided) and the adversary has no attempts left.
    fn attack_tick(&mut self, i: usize) {
        let Some(a) = self.attack_active() else {
            return;
        };
        let h = a.height;
        let resend: Vec<Wire> = a
            .forged
            .values()
            .flat_map(|(_, msgs)| msgs.iter())
            .filter(|(from, _)| *from == i)
            .map(|(_, w)| w.clone())
            .collect();
        let done = a.forged.len() >= FORGED_ATTEMPTS
            && a.forged.keys().next_back().is_some_and(|last| {
                (0..self.nodes.len())
                    .filter(|j| self.is_correct(*j) && !a.inner[*j])
                    .all(|j| {
                        let n = &self.nodes[j];
                        n.height() > h
                            || n.core
                                .as_ref()
                                .is_some_and(|c| c.round_state().round > *last)
                    })
            });
        for w in resend {
            self.broadcast(i, w);
        }
        if done && let Some(a) = self.attack.as_mut() {
            a.healed = true;
        }
    }

    fn send_garbage(&mut self, i: usize) {
        let Some(core) = self.nodes[i].core.as_ref() else {
            return;
        };
        let rs = core.round_state();
        let n = self.nodes.len();
        let victim = self.rng.random_range(0..n);
        let base = Vote {
            kind: VoteKind::Prevote,
            height: rs.height,
            round: rs.round,
            value: None,
            timestamp: self.time(),
            validator: self.nodes[i].address,
        };
        let wire = match self.rng.random_range(0..6) {
            0 => {
                // Impersonation: another validator's name, a made-up signature.
                let mut v = base;
                v.validator = self.nodes[self.rng.random_range(0..n)].address;
                let mut sig = [0u8; 64];
                for b in sig.iter_mut() {
                    *b = self.rng.random();
                }
                Wire::Vote(SignedVote {
                    vote: v,
                    signature: Signature(sig),
                })
            }
            1 => {
                let mut v = base;
                v.round = rs.round + 500;
                Wire::Vote(self.sign_raw_vote(i, v))
            }
            2 => {
                let mut v = base;
                v.height = rs.height + 1_000;
                Wire::Vote(self.sign_raw_vote(i, v))
            }
            3 => {
                let salt = self.rng.random::<u64>();
                let block = self.build_block(i, rs.height, rs.round, false, salt);
                let p = Proposal {
                    height: rs.height,
                    round: rs.round,
                    pol_round: None,
                    block_id: block.id(),
                    timestamp: self.time(),
                    proposer: self.nodes[i].address,
                };
                Wire::Proposal(self.sign_raw_proposal(i, p), block)
            }
            4 => {
                let len = self.rng.random_range(0..200);
                Wire::Junk((0..len).map(|_| self.rng.random()).collect())
            }
            _ => {
                let mut bytes = cairn_types::codec::encode(&self.sign_raw_vote(i, base));
                let at = self.rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << self.rng.random_range(0..8);
                Wire::Junk(bytes)
            }
        };
        self.send(i, victim, wire);
    }

    fn build_block(
        &mut self,
        i: usize,
        height: u64,
        round: u32,
        invalid: bool,
        salt: u64,
    ) -> Block {
        let prev = self.nodes[i].decided.get(&(height - 1));
        let prev_time = prev.map_or(Time(GENESIS_NS), |(b, _)| b.header.time);
        let time = self.time().max(Time(prev_time.0 + MILLISECOND));
        let tx = if invalid {
            INVALID_MARK.to_vec()
        } else {
            salt.to_le_bytes().to_vec()
        };
        Block {
            header: Header {
                version: Version {
                    block: BLOCK_VERSION,
                    app: APP_VERSION,
                },
                chain_id: Text(CHAIN.into()),
                height,
                time,
                last_block_id: prev.map(|(b, _)| b.id()),
                last_commit_hash: Hash::default(),
                data_hash: Hash::digest_parts(&[&tx, &round.to_le_bytes()]),
                validators_hash: Hash::default(),
                next_validators_hash: Hash::default(),
                consensus_hash: Hash::default(),
                app_hash: Hash::default(),
                last_results_hash: Hash::default(),
                evidence_hash: Hash::default(),
                proposer_address: self.nodes[i].address,
            },
            txs: vec![Bytes(tx)],
            evidence: vec![],
            last_commit: prev.map(|(_, c)| c.clone()),
        }
    }

    fn decide(&mut self, i: usize, block: Block, commit: Commit) {
        let h = commit.height;
        if self.nodes[i].decided.contains_key(&h) {
            return;
        }
        if self.is_correct(i) {
            let id = block.id();
            let Some(set) = self.set_for(h) else { return };
            if let Err(e) =
                crate::verify::verify_commit(self.verifier.as_ref(), CHAIN, &set, h, &id, &commit)
            {
                self.fail(
                    "valid commit",
                    format!("node {i} decided {h} with a bad commit: {e}"),
                );
                return;
            }
            if !self.proposed.contains(&id) || !block_valid(&block, h) {
                self.fail(
                    "validity",
                    format!("node {i} decided {id:?} at {h}, which was never validly proposed"),
                );
                return;
            }
            match self.decided.get(&h) {
                Some(other) if *other != id => {
                    self.fail(
                        "agreement",
                        format!(
                            "node {i} decided {id:?} at height {h}, another correct node {other:?}"
                        ),
                    );
                    return;
                }
                Some(_) => {}
                None => {
                    self.decided.insert(h, id);
                }
            }
            if self.now > self.sc.gst_ms {
                let mark = self.nodes[i].progress_mark.max(self.sc.gst_ms);
                self.max_gap = self.max_gap.max(self.now - mark);
            }
            self.max_round = self.max_round.max(commit.round);
        }
        if let Some(a) = self.attack.as_mut()
            && h == a.height
            && a.inner[i]
        {
            a.cut = true;
        }
        let node = &mut self.nodes[i];
        node.progress_mark = self.now;
        node.decided.insert(h, (block, commit));
        node.first_seen.retain(|(_, sh, _, _), _| *sh > h);
        node.evidence.retain(|(_, sh, _, _)| *sh > h);
        // Keep the WAL short: records of decided heights are not needed.
        let keep_from = node
            .wal
            .iter()
            .rposition(|r| matches!(r, WalRecord::NewHeight { height, .. } if *height == h))
            .unwrap_or(0);
        let synced_from = keep_from.min(node.synced);
        node.wal.drain(..synced_from);
        node.synced -= synced_from;
        let next = h + 1;
        let Some(mut core) = self.new_core(i, next) else {
            return;
        };
        let now = self.time();
        let node = &mut self.nodes[i];
        node.wal.push(WalRecord::NewHeight { height: next, now });
        if self.sc.sync_own {
            node.synced = node.wal.len();
        }
        let outs = core.start(now);
        node.core = Some(core);
        let pending = node.backlog.take(next);
        self.perform(i, outs);
        for m in pending {
            let input = match m {
                Message::Vote(v) => Input::Vote(v),
                Message::Proposal(p, b) => {
                    let valid = block_valid(&b, p.proposal.height);
                    Input::Proposal {
                        proposal: p,
                        block: b,
                        valid,
                    }
                }
            };
            if self.nodes[i].height() != next {
                break;
            }
            self.on_peer_input(i, i, input);
        }
    }

    fn outcome(&self) -> Outcome {
        let heights = self
            .correct()
            .iter()
            .map(|i| self.nodes[*i].height() - 1)
            .min()
            .unwrap_or(0);
        Outcome {
            seed: self.sc.seed,
            trace: self.trace,
            kinds: self.kinds.clone(),
            sim_ms: self.now,
            events: self.events,
            heights,
            max_round: self.max_round,
            max_gap_after_gst_ms: self.max_gap,
        }
    }
}

/// The simulator's block validity: a function of the block alone, so every
/// correct node gives the same verdict.
fn block_valid(block: &Block, height: u64) -> bool {
    block.header.height == height
        && block.header.chain_id.0 == CHAIN
        && !block.txs.iter().any(|t| t.0 == INVALID_MARK)
}
