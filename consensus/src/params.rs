//! Configuration of a consensus core: who we are, timeouts, memory bounds,
//! and how signatures are checked.

use std::sync::Arc;

use cairn_types::{Address, PublicKey, Signature};

/// A timeout that grows with the round: `base + delta x round` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// Duration in round 0, in milliseconds.
    pub base_ms: u64,
    /// Added per round, in milliseconds, so that a slow network eventually fits in a round.
    pub delta_ms: u64,
}

impl Timeout {
    /// The duration for `round`, in milliseconds (saturating).
    pub fn at(&self, round: u32) -> u64 {
        self.base_ms
            .saturating_add(self.delta_ms.saturating_mul(u64::from(round)))
    }
}

/// The three round timeouts of Algorithm 1 (`timeoutPropose`, `timeoutPrevote`, `timeoutPrecommit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for the proposal (L20-21, L57-60).
    pub propose: Timeout,
    /// Wait after 2/3 prevotes for anything (L34-35, L61-64).
    pub prevote: Timeout,
    /// Wait after 2/3 precommits for anything (L47-48, L65-67).
    pub precommit: Timeout,
}

impl Default for Timeouts {
    /// CometBFT's defaults: 3 s + 0.5 s per round to propose, 1 s + 0.5 s per round to vote.
    fn default() -> Self {
        Timeouts {
            propose: Timeout {
                base_ms: 3000,
                delta_ms: 500,
            },
            prevote: Timeout {
                base_ms: 1000,
                delta_ms: 500,
            },
            precommit: Timeout {
                base_ms: 1000,
                delta_ms: 500,
            },
        }
    }
}

/// Checks one signature. Validity must be one deterministic function of
/// (key, message, signature) (DESIGN.md §3); an implementation may cache.
pub trait SignatureVerifier: Send + Sync {
    /// Whether `sig` is a valid signature of `msg` under `key`.
    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> bool;
}

/// ZIP-215 verification through [`PublicKey::verify`] (ed25519-zebra).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ed25519Verifier;

impl SignatureVerifier for Ed25519Verifier {
    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
        key.verify(msg, sig).is_ok()
    }
}

/// Everything a [`crate::Core`] needs besides the height's validator set.
#[derive(Clone)]
pub struct Params {
    /// Chain id, part of every sign-bytes.
    pub chain_id: String,
    /// This node's validator address; `None` for a node that follows without voting.
    pub address: Option<Address>,
    /// Round timeouts.
    pub timeouts: Timeouts,
    /// Messages for rounds above `current + round_window` are dropped, so a
    /// peer cannot make the core store votes for unboundedly many rounds.
    pub round_window: u32,
    /// At most this many distinct proposals are kept per round (a Byzantine
    /// proposer may send many; one correct proposer sends one).
    pub max_proposals_per_round: usize,
    /// Signature checks of incoming proposals, votes and commits.
    pub verifier: Arc<dyn SignatureVerifier>,
}

impl Params {
    /// Parameters with default timeouts and bounds, verifying with [`Ed25519Verifier`].
    pub fn new(chain_id: impl Into<String>, address: Option<Address>) -> Params {
        Params {
            chain_id: chain_id.into(),
            address,
            timeouts: Timeouts::default(),
            round_window: 64,
            max_proposals_per_round: 4,
            verifier: Arc::new(Ed25519Verifier),
        }
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field("chain_id", &self.chain_id)
            .field("address", &self.address)
            .field("timeouts", &self.timeouts)
            .field("round_window", &self.round_window)
            .field("max_proposals_per_round", &self.max_proposals_per_round)
            .finish_non_exhaustive()
    }
}
