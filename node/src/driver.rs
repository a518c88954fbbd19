//! The consensus driver: the tokio shell around the pure consensus core.
//!
//! One task owns the [`Core`] of the current height, the signing guard, the
//! WAL and the timers. It feeds the core from the network and the timers and
//! performs the core's outputs:
//! - every input is appended to the WAL (fsynced) before the core sees it;
//! - votes and proposals are signed through the guard, which persists before
//!   a signature leaves, then broadcast and fed back to the core;
//! - `GetValue` builds a block from the mempool, the evidence pool and the
//!   last commit ([`chain::build_block`]); incoming proposals are validated
//!   ([`chain::validate_block`]) before the core hears "valid";
//! - `Decide` commits the block to the store in one write batch, then
//!   updates the mempool and evidence pool, publishes the block, and starts
//!   the next height `timeout_commit` after the decision (at once when the
//!   next block is already fetched: a peer's claimed height alone does not
//!   skip the wait).
//!
//! Gossip does not re-deliver, so the driver re-sends its own latest
//! messages while a round makes no progress, and when it sees messages of a
//! later height (or a peer reports one) it asks peers for the decided block
//! and commit of its own height: one mechanism serves catch-up after a missed
//! decision and block sync after a restart or a long absence. Every fetched
//! block is validated against our own state before the core (which checks
//! the commit against the height's validator set) accepts it. A peer whose
//! request failed is not chosen to sync from for `SYNC_COOLDOWN`.
//!
//! A failed write (store, WAL, guard) is fatal: the driver stops with an
//! error rather than continue on a state it cannot trust.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_consensus::guard::{GuardError, SignedMessage, SigningGuard};
use cairn_consensus::wal::{self, WalRecord};
use cairn_consensus::{Backlog, Core, Input, Message, Output, Params, Step, Timeout, Timeouts};
use cairn_mempool::Recheck;
use cairn_state::{Executed, Signatures};
use cairn_types::{
    Address, Block, Commit, DuplicateVoteEvidence, Evidence, NodeId, SignedVote, SigningKey, Time,
    VoteKind,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::chain::{self, StoreView};
use crate::config::ConsensusConfig;
use crate::home::Home;
use crate::node::Shared;
use crate::persist::{FileGuardStore, WalFile, WalFileError};

/// What the driver asks of the network.
#[derive(Debug, Clone)]
pub enum NetCommand {
    /// Gossip a proposal (with its block) or a vote.
    Broadcast(Box<Message>),
    /// Gossip evidence.
    BroadcastEvidence(Box<Evidence>),
    /// Ask peers for the decided block and commit of `height`.
    RequestDecided {
        /// The height we are stuck at.
        height: u64,
        /// A peer known to be ahead, if any.
        peer: Option<NodeId>,
    },
    /// Ask peers for their votes of `height` in `rounds` (pull re-delivery:
    /// gossipsub drops a re-published identical message, so a peer that
    /// missed a vote gets it by asking).
    RequestVotes {
        /// The height in progress.
        height: u64,
        /// The rounds to ask about.
        rounds: std::ops::Range<u32>,
    },
    /// A peer sent a message that proves misbehaviour.
    Penalise(NodeId),
}

/// A peer's question for the votes this node holds.
#[derive(Debug)]
pub struct VoteQuery {
    /// Height asked about.
    pub height: u64,
    /// Round asked about.
    pub round: u32,
    /// Where the votes go.
    pub reply: tokio::sync::oneshot::Sender<Vec<SignedVote>>,
}

/// Rounds asked about at once when stalled: peers may be a few rounds ahead.
const VOTE_QUERY_ROUNDS: u32 = 6;

/// What the network hands to the driver.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// A gossiped proposal or vote.
    Message {
        /// The message.
        msg: Message,
        /// Who relayed it.
        from: Option<NodeId>,
    },
    /// Gossiped evidence.
    Evidence {
        /// The evidence.
        evidence: Evidence,
        /// Who relayed it.
        from: Option<NodeId>,
    },
    /// A decided block with its commit, fetched from a peer.
    Decided {
        /// The block.
        block: Block,
        /// Its commit.
        commit: Commit,
        /// Who served it.
        from: Option<NodeId>,
    },
    /// A peer reported its latest height.
    PeerHeight {
        /// The peer.
        peer: NodeId,
        /// Its latest committed height.
        height: u64,
    },
    /// A peer disconnected or was banned: its advertised height no longer
    /// counts (a banned liar would otherwise stay the peer to sync from).
    PeerGone {
        /// The peer.
        peer: NodeId,
    },
    /// A block request to a peer failed without proof of misbehaviour
    /// (timeout, refusal, lost connection): it is passed over as the peer
    /// to sync from for [`SYNC_COOLDOWN`].
    Unresponsive {
        /// The peer.
        peer: NodeId,
    },
}

/// A committed block, as published to RPC subscribers.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The block.
    pub block: Arc<Block>,
    /// Its commit.
    pub commit: Arc<Commit>,
    /// Its execution: results and tx hashes in block order, the new app hash.
    pub executed: Arc<Executed>,
    /// The round it was decided in.
    pub round: u32,
    /// Time spent executing and writing it.
    pub processing: Duration,
    /// From the start of its height at this node to the decision; `None`
    /// when the block arrived before this node started the height (sync).
    pub decision: Option<Duration>,
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The store failed: fatal.
    #[error("state: {0}")]
    State(#[from] cairn_state::StateError),
    /// The WAL failed: fatal.
    #[error("{0}")]
    Wal(#[from] WalFileError),
    /// The guard's store failed: fatal.
    #[error("signing guard: {0}")]
    Guard(GuardError),
    /// The store has no validator set for the next height.
    #[error("building a block: {0}")]
    Build(#[from] chain::InvalidBlock),
}

/// Signals shared with the rest of the node (metrics, RPC).
#[derive(Debug, Default)]
pub struct DriverStatus {
    /// Set when another process signs with our key; we stopped signing.
    pub duplicate_signer: AtomicBool,
    /// Set while the node knows peers are ahead and it is catching up.
    pub catching_up: AtomicBool,
}

/// Everything the driver owns.
pub struct Driver {
    shared: Arc<Shared>,
    config: ConsensusConfig,
    params: Params,
    address: Option<Address>,
    guard: Option<SigningGuard<SigningKey, FileGuardStore>>,
    wal: WalFile,
    core: Core,
    /// When `Some`, the core's height waits for `timeout_commit` to start.
    start_at: Option<Instant>,
    /// When the core's current height started (for the decision latency).
    height_started: Option<Instant>,
    timers: BTreeMap<(Instant, u64), (u64, u32, Step)>,
    timer_seq: u64,
    backlog: Backlog,
    /// Equivocations seen by the core, turned into evidence once their height is committed.
    equivocations: Vec<DuplicateVoteEvidence>,
    /// Height we last asked peers for, and when.
    requested: Option<(u64, Instant)>,
    /// Decided blocks fetched ahead of our height (a sync response carries several).
    fetched: BTreeMap<u64, (Block, Commit, Option<NodeId>)>,
    /// Highest height a peer reported, and who.
    best_peer: Option<(NodeId, u64)>,
    /// Peers whose block request failed, and when: not chosen to sync from
    /// until [`SYNC_COOLDOWN`] has passed.
    unresponsive: HashMap<NodeId, Instant>,
    /// `(height, round, step)` at the last re-broadcast tick.
    last_progress: Option<(u64, u32, Step)>,
    /// `GetValue` waiting for transactions (`create_empty_blocks = false`).
    pending_value: Option<(u64, u32)>,
    status: Arc<DriverStatus>,
    net: mpsc::Sender<NetCommand>,
    committed: broadcast::Sender<Committed>,
}

/// The local clock as consensus time.
pub fn now() -> Time {
    crate::home::now()
}

fn timeouts(c: &ConsensusConfig) -> Timeouts {
    let t = |base_ms, delta_ms| Timeout { base_ms, delta_ms };
    Timeouts {
        propose: t(c.timeout_propose_ms, c.timeout_propose_delta_ms),
        prevote: t(c.timeout_prevote_ms, c.timeout_prevote_delta_ms),
        precommit: t(c.timeout_precommit_ms, c.timeout_precommit_delta_ms),
    }
}

fn step_of(kind: VoteKind) -> Step {
    match kind {
        VoteKind::Prevote => Step::Prevote,
        VoteKind::Precommit => Step::Precommit,
    }
}

/// Most decided blocks kept ahead of our height.
const MAX_FETCHED: u64 = 256;

/// How long to wait before asking again for a decided block.
const REQUEST_RETRY: Duration = Duration::from_millis(1000);

/// How long a peer that failed a block request is passed over as the peer
/// to sync from. Not a ban: an honest peer cut off by a partition fails too.
pub const SYNC_COOLDOWN: Duration = Duration::from_secs(30);

impl Driver {
    /// Opens the WAL, restores the current height from it and from the guard,
    /// and returns a driver ready to [`Driver::run`].
    pub fn recover(
        shared: Arc<Shared>,
        config: ConsensusConfig,
        validator_key: Option<SigningKey>,
        home: &Home,
        net: mpsc::Sender<NetCommand>,
        committed: broadcast::Sender<Committed>,
        status: Arc<DriverStatus>,
    ) -> Result<Driver, DriverError> {
        let chain_id = shared.store.chain_id().to_owned();
        let address = validator_key.as_ref().map(|k| k.public_key().address());
        let guard = match validator_key {
            Some(k) => Some(
                SigningGuard::new(
                    k,
                    chain_id.clone(),
                    FileGuardStore::new(home.validator_state_file()),
                )
                .map_err(DriverError::Guard)?,
            ),
            None => None,
        };
        let mut params = Params::new(chain_id, address);
        params.timeouts = timeouts(&config);
        let nb = shared.store.next_block()?;
        let core = Core::new(params.clone(), nb.height, nb.validators, nb.last_time);
        let (wal, recovered) = WalFile::open(home.data_dir().join("cs.wal"))?;
        if let Some(bytes) = recovered.torn_tail_bytes {
            warn!(
                bytes,
                "WAL had a torn tail (crash during a write); cut it off"
            );
        }
        let mut driver = Driver {
            shared,
            config,
            params,
            address,
            guard,
            wal,
            core,
            start_at: None,
            height_started: None,
            timers: BTreeMap::new(),
            timer_seq: 0,
            backlog: Backlog::new(10_000, 2),
            equivocations: Vec::new(),
            requested: None,
            fetched: BTreeMap::new(),
            best_peer: None,
            unresponsive: HashMap::new(),
            last_progress: None,
            pending_value: None,
            status,
            net,
            committed,
        };
        let height = driver.core.height();
        let records = wal::records_for_height(&recovered.records, height).to_vec();
        if records.is_empty() {
            driver.start_height(now())?;
        } else {
            info!(
                height,
                records = records.len(),
                "replaying the WAL of the current height"
            );
            let outputs = wal::replay(&mut driver.core, &records);
            driver.perform(outputs, false)?;
            let own: Vec<SignedVote> = driver
                .guard
                .as_ref()
                .map(|g| g.restore_votes(height))
                .unwrap_or_default();
            for v in own {
                driver.process(Input::Vote(v))?;
            }
        }
        Ok(driver)
    }

    /// The height the core is at.
    pub fn height(&self) -> u64 {
        self.core.height()
    }

    /// Runs until `shutdown` turns true or a fatal error.
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<NetEvent>,
        mut queries: mpsc::Receiver<VoteQuery>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), DriverError> {
        let mut rebroadcast = tokio::time::interval(Duration::from_millis(
            self.config.rebroadcast_interval_ms.max(50),
        ));
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            let next_timer = self.next_deadline();
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        info!(height = self.core.height(), "consensus driver stopping");
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep_until(next_timer) => self.fire_timers()?,
                ev = inbox.recv() => match ev {
                    Some(ev) => self.on_net_event(ev)?,
                    None => return Ok(()),
                },
                Some(q) = queries.recv() => {
                    let votes = if q.height == self.core.height() {
                        self.core.votes(q.round)
                    } else {
                        Vec::new()
                    };
                    let _ = q.reply.send(votes);
                }
                _ = rebroadcast.tick() => self.rebroadcast_if_stalled(),
                _ = poll.tick() => self.poll()?,
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let timer = self.timers.keys().next().map_or(far, |(at, _)| *at);
        self.start_at.map_or(timer, |s| s.min(timer))
    }

    fn fire_timers(&mut self) -> Result<(), DriverError> {
        let now_i = Instant::now();
        if let Some(at) = self.start_at
            && at <= now_i
        {
            self.start_at = None;
            self.start_height(now())?;
        }
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > now_i {
                break;
            }
            if let Some((height, round, step)) = self.timers.remove(&(at, seq)) {
                self.process(Input::TimeoutElapsed {
                    height,
                    round,
                    step,
                })?;
            }
        }
        Ok(())
    }

    /// Starts the core of its height: a fresh WAL, `start`, then the backlog.
    fn start_height(&mut self, now: Time) -> Result<(), DriverError> {
        let height = self.core.height();
        self.wal.rotate(&WalRecord::NewHeight { height, now })?;
        self.height_started = Some(Instant::now());
        let outputs = self.core.start(now);
        self.perform(outputs, true)?;
        for msg in self.backlog.take(height) {
            self.feed_message(msg, None)?;
        }
        self.fetched.retain(|h, _| *h >= height);
        if let Some((block, commit, from)) = self.fetched.remove(&height) {
            self.on_decided(block, commit, from)?;
        } else {
            self.maybe_request();
        }
        Ok(())
    }

    fn on_net_event(&mut self, ev: NetEvent) -> Result<(), DriverError> {
        match ev {
            NetEvent::Message { msg, from } => self.route_message(msg, from),
            NetEvent::Evidence { evidence, from } => {
                self.add_evidence(evidence, from, false);
                Ok(())
            }
            NetEvent::Decided {
                block,
                commit,
                from,
            } => self.on_decided(block, commit, from),
            NetEvent::PeerHeight { peer, height } => {
                self.note_peer_height(peer, height);
                self.maybe_request();
                Ok(())
            }
            NetEvent::PeerGone { peer } => {
                self.forget_sync_target(peer);
                Ok(())
            }
            NetEvent::Unresponsive { peer } => {
                let now = Instant::now();
                self.unresponsive
                    .retain(|_, at| now.duration_since(*at) < SYNC_COOLDOWN);
                self.unresponsive.insert(peer, now);
                self.forget_sync_target(peer);
                Ok(())
            }
        }
    }

    /// Makes `peer` the one to sync from if it is the highest seen and has
    /// not failed a request within [`SYNC_COOLDOWN`].
    fn note_peer_height(&mut self, peer: NodeId, height: u64) {
        let cooling = self
            .unresponsive
            .get(&peer)
            .is_some_and(|at| at.elapsed() < SYNC_COOLDOWN);
        if !cooling && self.best_peer.is_none_or(|(_, h)| height > h) {
            self.best_peer = Some((peer, height));
        }
    }

    fn forget_sync_target(&mut self, peer: NodeId) {
        if self.best_peer.is_some_and(|(p, _)| p == peer) {
            self.best_peer = None;
        }
    }

    fn route_message(&mut self, msg: Message, from: Option<NodeId>) -> Result<(), DriverError> {
        let height = msg.height();
        let current = self.core.height();
        if height < current {
            return Ok(());
        }
        if height > current || self.start_at.is_some() {
            self.backlog
                .push(current.min(height.saturating_sub(1)), msg);
            if height > current {
                // A message of height h proves its sender has h - 1.
                if let Some(peer) = from {
                    self.note_peer_height(peer, height.saturating_sub(1));
                }
                self.maybe_request();
            }
            return Ok(());
        }
        self.feed_message(msg, from)
    }

    fn feed_message(&mut self, msg: Message, from: Option<NodeId>) -> Result<(), DriverError> {
        let input = match msg {
            Message::Vote(v) => {
                self.check_duplicate_signer(&v);
                Input::Vote(v)
            }
            Message::Proposal(proposal, block) => {
                let valid = if proposal.proposal.block_id == block.id() {
                    self.validate(&block, proposal.proposal.round)
                } else {
                    false
                };
                Input::Proposal {
                    proposal,
                    block,
                    valid,
                }
            }
        };
        let outputs = self.process(input)?;
        self.penalise_if_misbehaved(&outputs, from);
        Ok(())
    }

    /// Reports `from` when the core found its input provably bad; returns whether it did.
    fn penalise_if_misbehaved(&self, outputs: &[Output], from: Option<NodeId>) -> bool {
        let bad = outputs
            .iter()
            .any(|o| matches!(o, Output::Ignored(i) if i.is_misbehaviour()));
        if bad && let Some(peer) = from {
            let _ = self.net.try_send(NetCommand::Penalise(peer));
        }
        bad
    }

    fn validate(&self, block: &Block, round: u32) -> bool {
        let s = &self.shared;
        let verdict = s
            .store
            .next_block()
            .map_err(chain::InvalidBlock::from)
            .and_then(|nb| {
                chain::validate_block(&s.store, &s.mempool, &s.evidence, &nb, block, round)
            });
        match verdict {
            Ok(()) => true,
            Err(e) => {
                warn!(height = block.header.height, round, error = %e, "invalid block");
                false
            }
        }
    }

    /// A vote signed with our key that our guard did not sign, at or after
    /// the last step it signed: another process holds our key. Stop signing.
    fn check_duplicate_signer(&mut self, v: &SignedVote) {
        let (Some(ours), Some(guard)) = (self.address, self.guard.as_ref()) else {
            return;
        };
        if v.vote.validator != ours {
            return;
        }
        let Some(last) = guard.last() else {
            return;
        };
        let slot = (v.vote.height, v.vote.round, step_of(v.vote.kind));
        if slot >= (last.height, last.round, last.step)
            && last.message != SignedMessage::Vote(v.clone())
            && !self.status.duplicate_signer.swap(true, Ordering::SeqCst)
        {
            error!(
                height = v.vote.height,
                round = v.vote.round,
                "a vote signed with this node's validator key was not signed by this node: another process runs the same key; this node stops signing"
            );
        }
    }

    fn on_decided(
        &mut self,
        block: Block,
        commit: Commit,
        from: Option<NodeId>,
    ) -> Result<(), DriverError> {
        let height = block.header.height;
        let current = self.core.height();
        if height < current || height > current + MAX_FETCHED {
            return Ok(());
        }
        if height > current || self.start_at.is_some() {
            // Kept until our core reaches that height; peers are ahead, so
            // a waiting core starts at once.
            self.fetched.insert(height, (block, commit, from));
            if self.start_at.is_some() {
                self.start_at = Some(Instant::now());
            }
            return Ok(());
        }
        if !self.validate(&block, commit.round) {
            if let Some(peer) = from {
                let _ = self.net.try_send(NetCommand::Penalise(peer));
            }
            self.requested = None;
            return Ok(());
        }
        let outputs = self.process(Input::Decided { block, commit })?;
        // A valid block with a forged commit: ask again, elsewhere.
        if self.penalise_if_misbehaved(&outputs, from) {
            self.requested = None;
        }
        Ok(())
    }

    /// Appends `input` to the WAL, hands it to the core, and performs the
    /// outputs; signed messages are fed back the same way. Returns the
    /// outputs of the first input (to judge the sender).
    fn process(&mut self, input: Input) -> Result<Vec<Output>, DriverError> {
        let now = now();
        self.wal.append(&WalRecord::Input {
            now,
            input: input.clone(),
        })?;
        let outputs = self.core.handle(now, input);
        self.perform(outputs.clone(), true)?;
        Ok(outputs)
    }

    /// Performs outputs. `feed_back` is false during WAL replay, whose
    /// records already hold the signed messages that were fed back.
    fn perform(&mut self, outputs: Vec<Output>, feed_back: bool) -> Result<(), DriverError> {
        for out in outputs {
            match out {
                Output::SignProposal { proposal, block } => {
                    if let Some(sp) = self.sign(|g| g.sign_proposal(proposal))? {
                        let msg = Message::Proposal(sp.clone(), block.clone());
                        self.send(NetCommand::Broadcast(Box::new(msg)));
                        if feed_back {
                            self.process(Input::Proposal {
                                proposal: sp,
                                block,
                                valid: true,
                            })?;
                        }
                    }
                }
                Output::SignVote(vote) => {
                    if let Some(sv) = self.sign(|g| g.sign_vote(vote))? {
                        self.send(NetCommand::Broadcast(Box::new(Message::Vote(sv.clone()))));
                        if feed_back {
                            self.process(Input::Vote(sv))?;
                        }
                    }
                }
                Output::ScheduleTimeout {
                    height,
                    round,
                    step,
                    duration_ms,
                } => {
                    self.timer_seq += 1;
                    let at = Instant::now() + Duration::from_millis(duration_ms);
                    self.timers
                        .insert((at, self.timer_seq), (height, round, step));
                }
                Output::GetValue { height, round } => {
                    if feed_back {
                        self.pending_value = Some((height, round));
                        self.poll()?;
                    }
                }
                Output::Decide { block, commit } => self.commit(block, commit)?,
                Output::Evidence(ev) => {
                    warn!(validator = %ev.vote_a.vote.validator, height = ev.vote_a.vote.height, "equivocation observed");
                    self.equivocations.push(ev);
                }
                Output::Ignored(why) => debug!(%why, "input ignored"),
            }
        }
        Ok(())
    }

    /// Signs through the guard. `Ok(None)`: refused (regression, conflict,
    /// or signing halted); `Err`: the guard's store failed (fatal).
    fn sign<T>(
        &mut self,
        f: impl FnOnce(&mut SigningGuard<SigningKey, FileGuardStore>) -> Result<T, GuardError>,
    ) -> Result<Option<T>, DriverError> {
        if self.status.duplicate_signer.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(guard) = self.guard.as_mut() else {
            return Ok(None);
        };
        match f(guard) {
            Ok(signed) => Ok(Some(signed)),
            Err(e) if e.is_fatal() => Err(DriverError::Guard(e)),
            Err(e) => {
                warn!(error = %e, "signing guard refused");
                Ok(None)
            }
        }
    }

    fn send(&self, cmd: NetCommand) {
        if let Err(e) = self.net.try_send(cmd) {
            debug!(error = %e, "network queue full; gossip message dropped (re-sent on the next tick)");
        }
    }

    /// Answers a pending `GetValue` when a block may be made.
    fn poll(&mut self) -> Result<(), DriverError> {
        let Some((height, round)) = self.pending_value else {
            return Ok(());
        };
        if height != self.core.height() {
            self.pending_value = None;
            return Ok(());
        }
        let has_txs = self
            .shared
            .mempool
            .lock()
            .map(|m| !m.is_empty())
            .unwrap_or(true);
        if !self.config.create_empty_blocks && !has_txs {
            return Ok(());
        }
        self.pending_value = None;
        let Some(proposer) = self.address else {
            return Ok(());
        };
        let s = Arc::clone(&self.shared);
        let nb = s.store.next_block()?;
        let block = chain::build_block(&s.store, &s.mempool, &s.evidence, &nb, proposer)?;
        self.process(Input::ValueReady {
            height,
            round,
            block,
        })?;
        Ok(())
    }

    /// Commits a decided block: one write batch, then pools, events, next height.
    fn commit(&mut self, block: Block, commit: Commit) -> Result<(), DriverError> {
        let decision = self.height_started.take().map(|t| t.elapsed());
        let started = Instant::now();
        let s = Arc::clone(&self.shared);
        let executed = s.store.execute_block(&block, Signatures::Trusted)?;
        let executing = started.elapsed();
        let height = block.header.height;
        let executed = s.store.commit(&block, &commit, executed)?;
        let writing = started.elapsed() - executing;
        let params = s.store.params()?;
        let view = StoreView(&s.store);
        // New parameters may raise the minimum fee: every sender then.
        let recheck = match executed.new_params {
            Some(_) => Recheck::All,
            None => Recheck::Changed(&executed.changed_accounts),
        };
        if let Ok(mut m) = s.mempool.lock() {
            let report = m.update(height, &block.txs, recheck, &view);
            debug!(
                committed = report.committed,
                dropped = report.invalid.len(),
                "mempool updated"
            );
        }
        if let Ok(mut e) = s.evidence.lock() {
            e.update(
                height,
                block.header.time,
                params.consensus.clone(),
                &block.evidence,
            );
        }
        info!(
            height,
            round = commit.round,
            txs = block.txs.len(),
            hash = %block.id().0,
            ms = started.elapsed().as_millis() as u64,
            execute_ms = executing.as_millis() as u64,
            write_ms = writing.as_millis() as u64,
            "committed block"
        );
        let round = commit.round;
        let _ = self.committed.send(Committed {
            block: Arc::new(block),
            commit: Arc::new(commit),
            executed: Arc::new(executed),
            round,
            processing: started.elapsed(),
            decision,
        });
        self.report_equivocations(height);
        // The next height: a new core, started after timeout_commit.
        let nb = s.store.next_block()?;
        self.core = Core::new(self.params.clone(), nb.height, nb.validators, nb.last_time);
        self.timers.clear();
        self.requested = None;
        self.pending_value = None;
        self.last_progress = None;
        // Behind only on evidence, the next block already fetched: a peer's
        // claim alone would let one that advertises a far height and never
        // serves it make us skip every timeout_commit. A fetched block that
        // arrives during the wait starts the height at once (`on_decided`).
        let behind = self.fetched.contains_key(&nb.height);
        self.status.catching_up.store(behind, Ordering::SeqCst);
        // timeout_commit counts from the decision (CometBFT's CommitTime),
        // so the time spent executing above is part of it. The start happens
        // on the next turn of the loop, not here, so that a long run of
        // fetched blocks does not recurse.
        self.start_at = Some(if behind {
            Instant::now()
        } else {
            started + Duration::from_millis(self.config.timeout_commit_ms)
        });
        self.maybe_request();
        Ok(())
    }

    /// Turns equivocations of committed heights into evidence with the
    /// infraction block's time and the set's powers, then pools and gossips it.
    fn report_equivocations(&mut self, committed_height: u64) {
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.equivocations)
            .into_iter()
            .partition(|e| e.vote_a.vote.height <= committed_height);
        self.equivocations = later;
        for e in ready {
            let h = e.vote_a.vote.height;
            let store = &self.shared.store;
            let (Ok(Some(set)), Ok(Some(rec))) = (store.validators_at(h), store.height_record(h))
            else {
                continue;
            };
            let Some(val) = set.get(&e.vote_a.vote.validator) else {
                continue;
            };
            match DuplicateVoteEvidence::new(
                e.vote_a,
                e.vote_b,
                val.power,
                set.total_power(),
                rec.time,
            ) {
                Ok(ev) => self.add_evidence(Evidence::DuplicateVote(ev), None, true),
                Err(err) => warn!(error = %err, "equivocation could not become evidence"),
            }
        }
    }

    fn add_evidence(&mut self, ev: Evidence, from: Option<NodeId>, gossip: bool) {
        let view = StoreView(&self.shared.store);
        let added = self
            .shared
            .evidence
            .lock()
            .map(|mut p| p.add(ev.clone(), &view));
        match added {
            Ok(Ok(hash)) => {
                info!(%hash, validator = %ev.validator(), height = ev.height(), "evidence pooled");
                if gossip {
                    self.send(NetCommand::BroadcastEvidence(Box::new(ev)));
                }
            }
            Ok(Err(e)) => {
                if e.is_bad_evidence()
                    && let Some(peer) = from
                {
                    let _ = self.net.try_send(NetCommand::Penalise(peer));
                }
                debug!(error = %e, "evidence not pooled");
            }
            Err(_) => {}
        }
    }

    /// Asks peers for the decided block of our height when one is ahead.
    fn maybe_request(&mut self) {
        let height = self.core.height();
        let Some((peer, best)) = self.best_peer else {
            return;
        };
        if best < height {
            return;
        }
        self.status.catching_up.store(true, Ordering::SeqCst);
        if let Some((h, at)) = self.requested
            && h == height
            && at.elapsed() < REQUEST_RETRY
        {
            return;
        }
        self.requested = Some((height, Instant::now()));
        self.send(NetCommand::RequestDecided {
            height,
            peer: Some(peer),
        });
    }

    /// Re-sends our latest proposal and votes when the round made no progress
    /// since the last tick (gossip never re-delivers on its own).
    fn rebroadcast_if_stalled(&mut self) {
        let rs = self.core.round_state();
        let now = (rs.height, rs.round, rs.step);
        if self.last_progress == Some(now) && self.start_at.is_none() {
            for m in self.core.rebroadcast() {
                self.send(NetCommand::Broadcast(Box::new(m)));
            }
            self.send(NetCommand::RequestVotes {
                height: rs.height,
                rounds: rs.round..rs.round.saturating_add(VOTE_QUERY_ROUNDS),
            });
            self.maybe_request();
        }
        self.last_progress = Some(now);
    }
}
