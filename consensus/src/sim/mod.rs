//! A deterministic simulator: N validators run the real [`crate::Core`],
//! signing through the real [`crate::guard::SigningGuard`] and logging to
//! the real WAL format, over a simulated network driven by one seeded
//! ChaCha8 RNG (feature `sim`).
//!
//! - Links have latency, jitter (so reordering), loss (a lost message is
//!   gone; liveness comes from the nodes' own re-broadcast and block-sync
//!   catch-up), and duplication. Partitions form and heal before the global
//!   stabilisation time (GST); after it links are timely.
//! - Correct nodes crash and restart from their WAL and guard; a crash loses
//!   the WAL records not yet synced (some seeds sync on every own message,
//!   others only on a timer, so own messages can be lost too).
//! - Byzantine validators (total power < 1/3): equivocators, a proposer that
//!   sends different blocks to different peers (or forges a proof-of-lock
//!   round), silent nodes, amnesiacs that forget their locks, and senders of
//!   garbage, forged signatures and far-future messages.
//! - The forged proof-of-lock attack ([`ForgedLock`]): the Byzantine
//!   validators and the network, before GST, get a few correct nodes to
//!   decide while the others stay locked and undecided, then a Byzantine
//!   proposer claims a proof-of-lock round it does not have (L28).
//!
//! Invariants are checked as events happen ([`Violation`]): agreement,
//! validity, valid commits, equivocation seen becomes evidence, no correct
//! node signs conflicting messages, termination after GST. A run is a pure
//! function of its seed: [`run`] returns a trace hash, and the test suite
//! runs each seed twice and compares.

mod crypto;
mod engine;

pub use crypto::{CachedSigner, CachedVerifier, CryptoCache};
pub use engine::{Outcome, Violation, run, run_with_cache};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::core::Mutant;

/// The share of seeds with Byzantine validators that draw the forged
/// proof-of-lock attack.
const FORGED_LOCK_SHARE: f64 = 0.15;

/// A Byzantine behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Byzantine {
    /// Signs two values for each vote and sends them to different peers.
    Equivocator,
    /// Equivocates as above, and as proposer sends different blocks to the
    /// two halves of its peers, or, after a polka, proposes a fresh value to
    /// break locks (with no proof-of-lock round, or a forged one).
    SplitProposer,
    /// Sends nothing.
    Silent,
    /// Ignores its locks, has no guard, and now and then forgets its whole state.
    Amnesia,
    /// Behaves, and also sends forged signatures, far-future heights and
    /// rounds, proposals out of turn, invalid blocks and undecodable bytes.
    Garbage,
    /// A member of the coalition of [`Scenario::forged_lock`] (every
    /// Byzantine node of such a seed): at the attacked height it precommits
    /// nil, and once a decider has decided, as proposer it proposes a fresh
    /// value with a forged proof-of-lock round and prevotes and precommits it
    /// with the others. Elsewhere it behaves (without a guard).
    ForgedLock,
}

/// The forged proof-of-lock attack: a Byzantine coalition together with a
/// network the adversary controls before GST.
///
/// At `height`, non-nil precommits of the deciders reach only the deciders,
/// and the coalition precommits nil: the deciders see the correct nodes'
/// 2f+1 precommits and decide, the others (the rest) see at most 2/3 of the
/// power and do not. Once a decider has decided, the deciders are cut off
/// from the rest (no catch-up). The next Byzantine proposer proposes a fresh
/// value B with `vr = round - 1` (at least any lock the rest holds) and the
/// coalition prevotes and precommits B. A correct core refuses B (L28: no
/// 2f+1 prevotes for B in `vr`); a core that believes `vr` prevotes B, the
/// rest and the coalition hold more than 2/3, and the rest decide B. The cut
/// heals once the rest have passed the forged round, or at GST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgedLock {
    /// The attacked height.
    pub height: u64,
    /// The correct nodes that decide: less than 1/3 of the power, and with
    /// the Byzantine power at least 1/3 (so the rest hold at most 2/3).
    pub deciders: Vec<usize>,
}

/// The fault kinds a seed can exercise (for the per-kind counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Messages lost.
    Loss,
    /// Messages duplicated.
    Duplication,
    /// Messages delivered out of send order.
    Reordering,
    /// A partition formed and healed.
    Partition,
    /// A correct node crashed and restarted.
    CrashRestart,
    /// A crash lost unsynced WAL records.
    LostWalTail,
    /// A node restarted with its guard holding votes its WAL lost.
    GuardRestore,
    /// Byzantine equivocator.
    Equivocator,
    /// Byzantine split proposer.
    SplitProposer,
    /// Byzantine silent node.
    Silent,
    /// Byzantine amnesiac.
    Amnesia,
    /// Byzantine garbage sender.
    Garbage,
    /// A message with a bad signature was rejected.
    BadSignature,
    /// A far-future message was ignored.
    FarFuture,
    /// A node caught up by block sync.
    CatchUp,
    /// A correct node's guard refused to sign.
    GuardRefusal,
    /// The forged proof-of-lock attack reached its forged proposal: a decider
    /// had decided, the rest had not, and a Byzantine proposer claimed a
    /// proof-of-lock round (see [`ForgedLock`]).
    ForgedLock,
}

/// Shapes of validator sets the seeds cycle through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Four validators of power 1 (f = 1).
    Four,
    /// Seven validators of power 1 (f = 2).
    Seven,
    /// Six validators of unequal power.
    Unequal,
}

/// Everything a run depends on, derived from the seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The seed (of the scenario and of the run).
    pub seed: u64,
    /// Validator set shape.
    pub shape: Shape,
    /// Voting powers, by node index.
    pub powers: Vec<u64>,
    /// Byzantine nodes and their behaviour.
    pub byzantine: Vec<(usize, Byzantine)>,
    /// Heights every correct node must decide.
    pub heights: u64,
    /// Global stabilisation time, ms.
    pub gst_ms: u64,
    /// Loss probability before GST.
    pub loss: f64,
    /// Loss probability after GST.
    pub loss_after_gst: f64,
    /// Duplication probability.
    pub dup: f64,
    /// Extra random delay before GST, ms.
    pub jitter_ms: u64,
    /// Partitions (start ms, duration ms) before GST.
    pub partitions: Vec<(u64, u64)>,
    /// Crashes of correct nodes (node, at ms, down for ms).
    pub crashes: Vec<(usize, u64, u64)>,
    /// Whether the WAL is synced on every own message (else on a timer).
    pub sync_own: bool,
    /// A broken core for every correct node (mutant tests).
    pub mutant: Option<Mutant>,
    /// Correct nodes sign without the guard (mutant test).
    pub guard_off: bool,
    /// The forged proof-of-lock attack, if this seed draws it.
    pub forged_lock: Option<ForgedLock>,
}

impl Scenario {
    /// The scenario of `seed`: shape by `seed % 3`, faults drawn from the seed.
    pub fn from_seed(seed: u64) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ce0_a110);
        let shape = match seed % 3 {
            0 => Shape::Four,
            1 => Shape::Seven,
            _ => Shape::Unequal,
        };
        let powers: Vec<u64> = match shape {
            Shape::Four => vec![1; 4],
            Shape::Seven => vec![1; 7],
            Shape::Unequal => vec![9, 6, 4, 3, 2, 1],
        };
        let total: u64 = powers.iter().sum();
        // Byzantine set: random order, add while the power stays below 1/3.
        let mut order: Vec<usize> = (0..powers.len()).collect();
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        let mut byz_power = 0;
        let mut byzantine = Vec::new();
        let kinds = [
            Byzantine::Equivocator,
            Byzantine::SplitProposer,
            Byzantine::Silent,
            Byzantine::Amnesia,
            Byzantine::Garbage,
        ];
        let want_byz = rng.random_bool(0.9);
        for i in order {
            if !want_byz {
                break;
            }
            if 3 * (byz_power + powers[i]) < total {
                byz_power += powers[i];
                let kind = kinds[rng.random_range(0..kinds.len())];
                byzantine.push((i, kind));
            }
        }
        let correct: Vec<usize> = (0..powers.len())
            .filter(|i| !byzantine.iter().any(|(b, _)| b == i))
            .collect();
        let gst_ms = rng.random_range(0..8_000);
        let loss = if rng.random_bool(0.7) {
            rng.random_range(0.0..0.25)
        } else {
            0.0
        };
        let loss_after_gst = if rng.random_bool(0.5) { 0.01 } else { 0.0 };
        let dup = if rng.random_bool(0.5) {
            rng.random_range(0.0..0.1)
        } else {
            0.0
        };
        let jitter_ms = rng.random_range(0..150);
        let mut partitions = Vec::new();
        if rng.random_bool(0.5) && gst_ms > 1_000 {
            for _ in 0..rng.random_range(1..=3) {
                let start = rng.random_range(0..gst_ms);
                let len = rng.random_range(300..3_000);
                partitions.push((start, len.min(gst_ms - start)));
            }
        }
        let mut crashes = Vec::new();
        if rng.random_bool(0.6) && gst_ms > 500 {
            for _ in 0..rng.random_range(1..=2) {
                let node = correct[rng.random_range(0..correct.len())];
                let at = rng.random_range(100..gst_ms);
                let down = rng.random_range(50..3_000);
                crashes.push((node, at, down));
            }
        }
        let mut sc = Scenario {
            seed,
            shape,
            powers,
            byzantine,
            heights: 20,
            gst_ms,
            loss,
            loss_after_gst,
            dup,
            jitter_ms,
            partitions,
            crashes,
            sync_own: rng.random_bool(0.5),
            mutant: None,
            guard_off: false,
            forged_lock: None,
        };
        sc.draw_forged_lock();
        sc
    }

    /// Some seeds with Byzantine validators run the forged proof-of-lock
    /// attack. Drawn from a separate RNG, so the other seeds' scenarios do
    /// not change. The attack replaces the seed's random partitions and
    /// crashes, caps the loss, and sets GST late enough for it to unfold
    /// (the network is the adversary's only before GST).
    fn draw_forged_lock(&mut self) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xf0_12ed_10c4);
        if self.byzantine.is_empty() || !rng.random_bool(FORGED_LOCK_SHARE) {
            return;
        }
        let total: u64 = self.powers.iter().sum();
        let byz_power: u64 = self.byzantine.iter().map(|(i, _)| self.powers[*i]).sum();
        let mut correct: Vec<usize> = (0..self.powers.len())
            .filter(|i| self.byzantine_kind(*i).is_none())
            .collect();
        for i in (1..correct.len()).rev() {
            let j = rng.random_range(0..=i);
            correct.swap(i, j);
        }
        // Deciders: add while they hold less than 1/3 of the power.
        let mut deciders = Vec::new();
        let mut power = 0;
        for i in correct {
            if 3 * (power + self.powers[i]) < total {
                power += self.powers[i];
                deciders.push(i);
            }
        }
        // The rest must hold at most 2/3: deciders and Byzantine at least 1/3.
        if deciders.is_empty() || 3 * (power + byz_power) < total {
            return;
        }
        deciders.sort_unstable();
        for (_, kind) in &mut self.byzantine {
            *kind = Byzantine::ForgedLock;
        }
        self.partitions.clear();
        self.crashes.clear();
        self.loss = self.loss.min(0.05);
        self.gst_ms = rng.random_range(20_000..30_000);
        self.forged_lock = Some(ForgedLock {
            height: rng.random_range(2..=4),
            deciders,
        });
    }

    /// Whether node `i` is Byzantine, and how.
    pub fn byzantine_kind(&self, i: usize) -> Option<Byzantine> {
        self.byzantine
            .iter()
            .find(|(b, _)| *b == i)
            .map(|(_, k)| *k)
    }
}
