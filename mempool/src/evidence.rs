//! The evidence pool: verified, deduplicated DuplicateVote evidence waiting
//! to be proposed, and the record of what was committed.

use std::collections::{BTreeMap, HashMap};

use cairn_types::time::MILLISECOND;
use cairn_types::vote::VoteKind;
use cairn_types::{Address, ConsensusParams, Evidence, Hash, Time, codec};

use crate::error::EvidencePoolError;
use crate::view::EvidenceView;

/// The offence a piece of evidence proves: one validator, one vote slot.
/// Two different pairs of conflicting votes for one slot punish one offence.
type Offence = (Address, u64, u32, VoteKind);

fn offence(ev: &Evidence) -> Offence {
    match ev {
        Evidence::DuplicateVote(d) => {
            let v = &d.vote_a.vote;
            (v.validator, v.height, v.round, v.kind)
        }
    }
}

fn infraction_time(ev: &Evidence) -> Time {
    match ev {
        Evidence::DuplicateVote(d) => d.timestamp,
    }
}

/// Expired as CometBFT defines it: older than the max age in blocks AND in
/// time, measured against the block that would include it.
fn is_expired(ev: &Evidence, params: &ConsensusParams, now_height: u64, now_time: Time) -> bool {
    let age_blocks = now_height.saturating_sub(ev.height());
    let age_ms = now_time.0.saturating_sub(infraction_time(ev).0) / MILLISECOND;
    age_blocks > params.evidence_max_age_blocks && age_ms > params.evidence_max_age_ms
}

/// Pending evidence for proposers, and committed evidence never to be re-included.
#[derive(Debug)]
pub struct EvidencePool {
    chain_id: String,
    params: ConsensusParams,
    max_pending: usize,
    latest_height: u64,
    latest_time: Time,
    /// Pending, in proposal order (infraction height, then hash).
    pending: BTreeMap<(u64, Hash), Evidence>,
    pending_offences: HashMap<Offence, Hash>,
    /// Committed evidence hash -> (infraction height, infraction time), kept
    /// until it would be expired anyway.
    committed: HashMap<Hash, (u64, Time)>,
}

impl EvidencePool {
    /// An empty pool after the block at `latest_height` (time `latest_time`).
    pub fn new(
        chain_id: impl Into<String>,
        params: ConsensusParams,
        latest_height: u64,
        latest_time: Time,
        max_pending: usize,
    ) -> EvidencePool {
        EvidencePool {
            chain_id: chain_id.into(),
            params,
            max_pending,
            latest_height,
            latest_time,
            pending: BTreeMap::new(),
            pending_offences: HashMap::new(),
            committed: HashMap::new(),
        }
    }

    /// Number of pending items.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether evidence with this hash was committed (and is still within max age).
    pub fn is_committed(&self, hash: &Hash) -> bool {
        self.committed.contains_key(hash)
    }

    /// Whether evidence with this hash is pending.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.pending.keys().any(|(_, h)| h == hash)
    }

    /// Verifies and adds evidence (from gossip or from this node's vote
    /// keeper). Age is measured against the next block (latest height + 1,
    /// latest block time): never the local clock. Evidence of the height in
    /// progress is accepted and proposed from the next height on.
    pub fn add(
        &mut self,
        ev: Evidence,
        view: &impl EvidenceView,
    ) -> Result<Hash, EvidencePoolError> {
        let hash = ev.hash();
        if self.committed.contains_key(&hash) {
            return Err(EvidencePoolError::AlreadyCommitted { hash });
        }
        let height = ev.height();
        if self.pending.contains_key(&(height, hash)) {
            return Err(EvidencePoolError::Duplicate { hash });
        }
        if let Some(&other) = self.pending_offences.get(&offence(&ev)) {
            return Err(EvidencePoolError::Duplicate { hash: other });
        }
        let next_height = self.latest_height.saturating_add(1);
        if height > next_height {
            return Err(EvidencePoolError::UnknownHeight { height });
        }
        let set = view
            .validator_set(height)
            .ok_or(EvidencePoolError::UnknownHeight { height })?;
        // Evidence of the height in progress is judged as if for the block after it.
        let judge_height = next_height.max(height.saturating_add(1));
        match &ev {
            Evidence::DuplicateVote(d) => {
                d.verify(
                    &self.chain_id,
                    &set,
                    &self.params,
                    judge_height,
                    self.latest_time,
                )?;
                if let Some(actual) = view.block_time(height)
                    && actual != d.timestamp
                {
                    return Err(EvidencePoolError::WrongTime {
                        height,
                        stated: d.timestamp,
                        actual,
                    });
                }
            }
        }
        if self.pending.len() >= self.max_pending {
            return Err(EvidencePoolError::Full {
                max: self.max_pending,
            });
        }
        self.pending_offences.insert(offence(&ev), hash);
        self.pending.insert((height, hash), ev);
        Ok(hash)
    }

    /// Evidence for the block at `height` (latest + 1 normally), oldest
    /// first, within `max_bytes` of encoded evidence (the consensus parameter
    /// `evidence_max_bytes`). Only evidence from below `height` is offered.
    pub fn pending_for_block(&self, height: u64, max_bytes: usize) -> Vec<Evidence> {
        let mut out = Vec::new();
        let mut used = 0usize;
        for ((h, _), ev) in &self.pending {
            if *h >= height {
                break;
            }
            let size = codec::encode(ev).len();
            if used + size > max_bytes {
                break;
            }
            used += size;
            out.push(ev.clone());
        }
        out
    }

    /// After the block at `height` with time `time` is committed: marks its
    /// evidence committed (never re-included), drops expired pending
    /// evidence and forgets committed evidence once it is past max age.
    pub fn update(
        &mut self,
        height: u64,
        time: Time,
        params: ConsensusParams,
        committed: &[Evidence],
    ) -> Vec<Hash> {
        self.latest_height = height;
        self.latest_time = time;
        self.params = params;
        for ev in committed {
            let hash = ev.hash();
            self.pending.remove(&(ev.height(), hash));
            if self.pending_offences.get(&offence(ev)) == Some(&hash) {
                self.pending_offences.remove(&offence(ev));
            }
            self.committed
                .insert(hash, (ev.height(), infraction_time(ev)));
        }
        let next = height.saturating_add(1);
        let mut dropped = Vec::new();
        let expired: Vec<(u64, Hash)> = self
            .pending
            .iter()
            .filter(|(_, ev)| is_expired(ev, &self.params, next, time))
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(ev) = self.pending.remove(&key) {
                self.pending_offences.remove(&offence(&ev));
                dropped.push(key.1);
            }
        }
        let params = &self.params;
        self.committed.retain(|_, (h, t)| {
            let age_blocks = next.saturating_sub(*h);
            let age_ms = time.0.saturating_sub(t.0) / MILLISECOND;
            !(age_blocks > params.evidence_max_age_blocks && age_ms > params.evidence_max_age_ms)
        });
        dropped
    }

    /// Whether `ev` may go into the block at `height` as far as this pool
    /// knows: not committed before. (Full verification is
    /// [`DuplicateVoteEvidence::verify`](cairn_types::DuplicateVoteEvidence::verify).)
    pub fn check_not_committed(&self, ev: &Evidence) -> Result<(), EvidencePoolError> {
        let hash = ev.hash();
        if self.committed.contains_key(&hash) {
            return Err(EvidencePoolError::AlreadyCommitted { hash });
        }
        Ok(())
    }
}
