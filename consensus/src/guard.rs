//! The signing guard: the only holder of the validator key.
//!
//! Before a signature leaves the guard, the guard saves (through
//! [`GuardStore::save`], which must be durable when it returns) the last
//! signed height, round, step, sign bytes and signature. Then:
//! - a request below the last (height, round, step) is refused ([`GuardError::Regression`]);
//! - a request at the same (height, round, step) for the same value returns
//!   the stored signed message, not a new signature (a vote may differ only
//!   in its timestamp; the stored timestamp wins): re-send, never re-sign;
//! - the same slot with another value is refused ([`GuardError::Conflict`]);
//! - anything above is signed, saved, then released.
//!
//! The guard also keeps the last precommit for a block at the current
//! height (the lock it implies), so a restarted node whose WAL lost its tail
//! can restore its round, step and lock from [`SigningGuard::restore_votes`].

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::{
    Address, Bytes, Proposal, PublicKey, Signature, SignedProposal, SignedVote, SigningKey, Vote,
    VoteKind,
};

use crate::input::Step;

#[cfg(feature = "test-suite")]
pub mod suite;

/// Produces signatures. [`SigningKey`] is the real one; the simulator wraps
/// it in a cache (ed25519 is deterministic, so a cache changes nothing).
pub trait Signer {
    /// The public key signatures verify under.
    fn public_key(&self) -> PublicKey;
    /// Signs `msg`.
    fn sign(&self, msg: &[u8]) -> Signature;
}

impl Signer for SigningKey {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        SigningKey::sign(self, msg)
    }
}

/// A message the guard signed.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SignedMessage {
    /// A proposal.
    Proposal(SignedProposal),
    /// A prevote or precommit.
    Vote(SignedVote),
}

/// What the guard persists before releasing a signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GuardState {
    /// Height of the last signed message.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// Its step (propose for a proposal).
    pub step: Step,
    /// Its sign bytes.
    pub sign_bytes: Bytes,
    /// Its signature.
    pub signature: Signature,
    /// The message itself, returned when asked again for the same slot and value.
    pub message: SignedMessage,
    /// The last precommit for a block at `height`: the lock it implies.
    pub lock: Option<SignedVote>,
}

impl GuardState {
    /// Canonical encoding, for stores that write files.
    pub fn to_bytes(&self) -> Vec<u8> {
        cairn_types::codec::encode(self)
    }

    /// Decodes what [`GuardState::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<GuardState, cairn_types::CodecError> {
        cairn_types::codec::decode(bytes, 1 << 20)
    }
}

/// A store failed: the guard cannot prove what it signed, so it signs nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing guard store: {0}")]
pub struct StoreError(pub String);

/// Durable storage of the guard's state.
pub trait GuardStore {
    /// The saved state, if any.
    fn load(&self) -> Result<Option<GuardState>, StoreError>;
    /// Saves `state`; when this returns `Ok`, the state survives a crash
    /// (a file store writes, fsyncs the file and its directory).
    fn save(&mut self, state: &GuardState) -> Result<(), StoreError>;
}

/// An in-memory store: survives a simulated crash (the simulator keeps it),
/// not a real one.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Option<GuardState>,
}

impl GuardStore for MemoryStore {
    fn load(&self) -> Result<Option<GuardState>, StoreError> {
        Ok(self.state.clone())
    }
    fn save(&mut self, state: &GuardState) -> Result<(), StoreError> {
        self.state = Some(state.clone());
        Ok(())
    }
}

/// Why the guard refused to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Below what was signed last.
    #[error(
        "refusing to sign {height}/{round}/{step:?}: already signed {last_height}/{last_round}/{last_step:?}"
    )]
    Regression {
        /// Requested height.
        height: u64,
        /// Requested round.
        round: u32,
        /// Requested step.
        step: Step,
        /// Last signed height.
        last_height: u64,
        /// Last signed round.
        last_round: u32,
        /// Last signed step.
        last_step: Step,
    },
    /// Same slot, another value.
    #[error("refusing to sign a conflicting message at {height}/{round}/{step:?}")]
    Conflict {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Step.
        step: Step,
    },
    /// The message names another validator than the guard's key.
    #[error("message is for validator {got}, the guard signs for {ours}")]
    WrongValidator {
        /// The guard's address.
        ours: Address,
        /// The message's.
        got: Address,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GuardError {
    /// Whether the node must stop (the store failed: it cannot be trusted),
    /// as opposed to a refusal, which is the guard doing its job.
    pub fn is_fatal(&self) -> bool {
        matches!(self, GuardError::Store(_))
    }
}

/// The signing guard over a signer and a store.
#[derive(Debug)]
pub struct SigningGuard<K: Signer, S: GuardStore> {
    signer: K,
    address: Address,
    chain_id: String,
    store: S,
    state: Option<GuardState>,
}

impl<K: Signer, S: GuardStore> SigningGuard<K, S> {
    /// A guard for `chain_id`, resuming from what `store` holds.
    pub fn new(signer: K, chain_id: impl Into<String>, store: S) -> Result<Self, GuardError> {
        let state = store.load()?;
        Ok(SigningGuard {
            address: signer.public_key().address(),
            signer,
            chain_id: chain_id.into(),
            store,
            state,
        })
    }

    /// The validator address of the key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The last signed state.
    pub fn last(&self) -> Option<&GuardState> {
        self.state.as_ref()
    }

    /// Gives the store back (to reopen it after a simulated crash).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The votes to feed back to a restarted core of `height`: the lock
    /// (last precommit for a block) and the last signed vote.
    pub fn restore_votes(&self, height: u64) -> Vec<SignedVote> {
        let Some(s) = &self.state else {
            return Vec::new();
        };
        if s.height != height {
            return Vec::new();
        }
        let mut votes: Vec<SignedVote> = s.lock.iter().cloned().collect();
        if let SignedMessage::Vote(v) = &s.message
            && s.lock.as_ref() != Some(v)
        {
            votes.push(v.clone());
        }
        votes
    }

    /// Where `(height, round, step)` stands against the last signed message:
    /// `Ok(Some(stored))` to re-send, `Ok(None)` to sign, `Err` to refuse.
    fn check(
        &self,
        height: u64,
        round: u32,
        step: Step,
    ) -> Result<Option<&GuardState>, GuardError> {
        let Some(last) = &self.state else {
            return Ok(None);
        };
        match (height, round, step).cmp(&(last.height, last.round, last.step)) {
            std::cmp::Ordering::Less => Err(GuardError::Regression {
                height,
                round,
                step,
                last_height: last.height,
                last_round: last.round,
                last_step: last.step,
            }),
            std::cmp::Ordering::Equal => Ok(Some(last)),
            std::cmp::Ordering::Greater => Ok(None),
        }
    }

    /// Signs `vote`, or returns the stored vote for the same slot and value.
    pub fn sign_vote(&mut self, vote: Vote) -> Result<SignedVote, GuardError> {
        if vote.validator != self.address {
            return Err(GuardError::WrongValidator {
                ours: self.address,
                got: vote.validator,
            });
        }
        let step = match vote.kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        if let Some(last) = self.check(vote.height, vote.round, step)? {
            return match &last.message {
                SignedMessage::Vote(v) if v.vote.value == vote.value => Ok(v.clone()),
                _ => Err(GuardError::Conflict {
                    height: vote.height,
                    round: vote.round,
                    step,
                }),
            };
        }
        let sign_bytes = vote.sign_bytes(&self.chain_id);
        let signature = self.signer.sign(&sign_bytes);
        let signed = SignedVote { vote, signature };
        let lock = if signed.vote.kind == VoteKind::Precommit && signed.vote.value.is_some() {
            Some(signed.clone())
        } else {
            self.state
                .as_ref()
                .filter(|s| s.height == signed.vote.height)
                .and_then(|s| s.lock.clone())
        };
        self.persist(GuardState {
            height: signed.vote.height,
            round: signed.vote.round,
            step,
            sign_bytes: Bytes(sign_bytes),
            signature,
            message: SignedMessage::Vote(signed.clone()),
            lock,
        })?;
        Ok(signed)
    }

    /// Signs `proposal`, or returns the stored proposal for the same height,
    /// round, block and proof-of-lock round.
    pub fn sign_proposal(&mut self, proposal: Proposal) -> Result<SignedProposal, GuardError> {
        if proposal.proposer != self.address {
            return Err(GuardError::WrongValidator {
                ours: self.address,
                got: proposal.proposer,
            });
        }
        if let Some(last) = self.check(proposal.height, proposal.round, Step::Propose)? {
            return match &last.message {
                SignedMessage::Proposal(p)
                    if p.proposal.block_id == proposal.block_id
                        && p.proposal.pol_round == proposal.pol_round =>
                {
                    Ok(p.clone())
                }
                _ => Err(GuardError::Conflict {
                    height: proposal.height,
                    round: proposal.round,
                    step: Step::Propose,
                }),
            };
        }
        let sign_bytes = proposal.sign_bytes(&self.chain_id);
        let signature = self.signer.sign(&sign_bytes);
        let signed = SignedProposal {
            proposal,
            signature,
        };
        let lock = self
            .state
            .as_ref()
            .filter(|s| s.height == signed.proposal.height)
            .and_then(|s| s.lock.clone());
        self.persist(GuardState {
            height: signed.proposal.height,
            round: signed.proposal.round,
            step: Step::Propose,
            sign_bytes: Bytes(sign_bytes),
            signature,
            message: SignedMessage::Proposal(signed.clone()),
            lock,
        })?;
        Ok(signed)
    }

    /// Saves, and only then adopts, the new state: a failed save releases nothing.
    fn persist(&mut self, state: GuardState) -> Result<(), GuardError> {
        self.store.save(&state)?;
        self.state = Some(state);
        Ok(())
    }
}
