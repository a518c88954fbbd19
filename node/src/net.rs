//! The bridge between the p2p crate and the node.
//!
//! - Gossip in: transactions go to the mempool (one batch verification per
//!   gossiped batch); consensus messages are checked against the validator
//!   set of their height (signer, proposer, signature) before gossipsub may
//!   forward them, then handed to the driver; evidence is shape-checked and
//!   handed to the driver. Invalid messages are rejected (never forwarded,
//!   the sender penalised); valid ones below the last committed height are
//!   ignored (never forwarded).
//! - Gossip out: txs admitted over RPC are published in batches (up to
//!   [`TX_GOSSIP_LINGER`] after the first), never one message per tx.
//! - Requests in: blocks with their commits and catch-up queries are served
//!   from the store.
//! - Driver commands out: broadcasts, fetches of decided blocks (one sync
//!   request returns up to [`SYNC_BATCH`] blocks), penalties. A lying
//!   server is reported; one whose request fails without proof is named to
//!   the driver, which stops syncing from it for a while.
//! - After every commit the advertised height is updated.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_consensus::Message;
use cairn_p2p::{
    Acceptance, CatchUpRequest, CatchUpResponse, ConsensusMessage, GossipMessage, InboundRequest,
    NetworkConfig, NetworkEvent, PeerAddr,
};
use cairn_state::Store;
use cairn_types::{Bytes, NodeId};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::chain::StoreView;
use crate::config::Config;
use crate::driver::{NetCommand, NetEvent, VoteQuery};
use crate::node::{Assembled, Shared};

/// Blocks asked for in one sync request.
pub const SYNC_BATCH: u64 = 50;

/// Admitted txs waiting for the gossip batcher. When it is full (gossip
/// cannot keep up) a tx is not gossiped; it stays in this node's mempool and
/// reaches a block when this node proposes.
const TX_GOSSIP_QUEUE: usize = 16 * 1024;

/// Longest an admitted tx waits for batch-mates before it is gossiped. One
/// gossip message per tx costs every peer a gossipsub message (id hash,
/// duplicate cache, queue slot) and a single signature verification; in
/// batches both are paid once per batch.
const TX_GOSSIP_LINGER: Duration = Duration::from_millis(20);

/// Room kept in a batch's byte limit for its encoding (tags, length prefixes).
const TX_BATCH_ENCODING_ROOM: usize = 1024;

/// The node's handle on its network.
#[derive(Clone)]
pub struct Network {
    p2p: cairn_p2p::Network,
    peers: Arc<Mutex<Vec<cairn_p2p::PeerInfo>>>,
    listen: String,
    tx_gossip: mpsc::Sender<Vec<u8>>,
}

impl Network {
    /// Gossips a transaction accepted by this node's mempool (batched with
    /// others admitted within [`TX_GOSSIP_LINGER`]).
    pub fn gossip_tx(&self, tx: Vec<u8>) {
        if self.tx_gossip.try_send(tx).is_err() {
            debug!("tx gossip queue full: tx kept in the mempool only");
        }
    }

    /// Peers for `net_info`.
    pub fn net_info(&self) -> cairn_rpc::backend::NetInfo {
        let peers = self.peers.lock().map(|p| p.clone()).unwrap_or_default();
        cairn_rpc::backend::NetInfo {
            listening: true,
            listeners: vec![self.listen.clone()],
            peers: peers
                .into_iter()
                .map(|p| cairn_rpc::backend::PeerInfo {
                    node_id: p.node_id,
                    moniker: String::new(),
                    listen_addr: String::new(),
                    is_outbound: p.persistent,
                    remote_ip: String::new(),
                })
                .collect(),
        }
    }

    /// Connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Stops the network task.
    pub async fn stop(&self) {
        let _ = self.p2p.shutdown().await;
    }
}

fn multiaddr(hostport: &str) -> Result<cairn_p2p::Multiaddr> {
    let sock: std::net::SocketAddr = hostport
        .parse()
        .with_context(|| format!("p2p.listen_address {hostport:?} is not <ip>:<port>"))?;
    let ip = match sock.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    format!("{ip}/tcp/{}", sock.port())
        .parse()
        .context("listen address")
}

/// Publishes admitted txs in batches: a batch closes at `max_len` txs,
/// `max_bytes`, or [`TX_GOSSIP_LINGER`] after its first tx.
async fn batch_tx_gossip(
    p2p: cairn_p2p::Network,
    mut rx: mpsc::Receiver<Vec<u8>>,
    (max_len, max_bytes): (usize, usize),
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(tx) => tx,
            None => match rx.recv().await {
                Some(tx) => tx,
                None => return,
            },
        };
        let deadline = tokio::time::Instant::now() + TX_GOSSIP_LINGER;
        let mut bytes = first.len();
        let mut batch = vec![Bytes(first)];
        while batch.len() < max_len {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(tx)) if bytes + tx.len() > max_bytes => {
                    next = Some(tx);
                    break;
                }
                Ok(Some(tx)) => {
                    bytes += tx.len();
                    batch.push(Bytes(tx));
                }
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = p2p.publish_txs(batch).await {
            debug!(error = %e, "tx gossip not sent");
        }
    }
}

/// Starts the p2p service and the bridge tasks.
pub async fn spawn(
    config: &Config,
    assembled: &mut Assembled,
    metrics: cairn_p2p::Metrics,
    inbox: mpsc::Sender<NetEvent>,
    shutdown: watch::Receiver<bool>,
) -> Result<Network> {
    let store = &assembled.shared.store;
    let params = store.params()?;
    let mut net_config = NetworkConfig::new(store.chain_id(), &params.consensus);
    net_config.listen = vec![multiaddr(&config.p2p.listen_address)?];
    net_config.persistent_peers = config
        .p2p
        .persistent_peers
        .iter()
        .map(|p| PeerAddr::parse(p).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    net_config.validators = validator_node_ids(store)?;
    net_config.extra_allowed = config
        .p2p
        .allowed_peers
        .iter()
        .map(|s| NodeId::from_hex(s).with_context(|| format!("p2p.allowed_peers: {s:?}")))
        .collect::<Result<_>>()?;
    let mut allowed_validators = net_config.validators.clone();
    let extra_allowed = net_config.extra_allowed.clone();
    let batch_limits = (
        net_config.limits.max_tx_batch_len,
        net_config
            .limits
            .max_tx_batch_bytes
            .saturating_sub(TX_BATCH_ENCODING_ROOM),
    );
    let (p2p, mut events, _task) = cairn_p2p::start(net_config, &assembled.node_key, metrics)
        .await
        .context("starting libp2p")?;
    let (tx_gossip, tx_gossip_rx) = mpsc::channel(TX_GOSSIP_QUEUE);
    tokio::spawn(batch_tx_gossip(p2p.clone(), tx_gossip_rx, batch_limits));
    let network = Network {
        p2p: p2p.clone(),
        peers: Arc::new(Mutex::new(Vec::new())),
        listen: config.p2p.listen_address.clone(),
        tx_gossip,
    };
    let height = store.latest_height()?;
    let _ = p2p.set_height(height, store.genesis().initial_height).await;

    // Network events -> node.
    let shared = Arc::clone(&assembled.shared);
    let vote_queries = assembled.vote_queries.clone();
    let to_driver = inbox.clone();
    let peers = Arc::clone(&network.peers);
    let handle = p2p.clone();
    let mut stop = shutdown.clone();
    let tx_checks = spawn_tx_checker(Arc::clone(&assembled.shared));
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                ev = events.recv() => match ev { Some(ev) => ev, None => return },
                _ = stop.changed() => return,
            };
            match ev {
                NetworkEvent::Gossip {
                    from,
                    message,
                    token,
                } => on_gossip(&shared, &to_driver, &tx_checks, from, message, token).await,
                NetworkEvent::Request { request, .. } => serve(&shared, &vote_queries, request),
                NetworkEvent::PeerHeight { peer, height, .. } => {
                    let _ = to_driver.try_send(NetEvent::PeerHeight { peer, height });
                }
                NetworkEvent::PeerConnected { .. } | NetworkEvent::PeerDisconnected { .. } => {
                    if let NetworkEvent::PeerDisconnected { peer } = ev {
                        let _ = to_driver.try_send(NetEvent::PeerGone { peer });
                    }
                    if let Ok(list) = handle.peers().await
                        && let Ok(mut p) = peers.lock()
                    {
                        *p = list;
                    }
                }
                NetworkEvent::PeerBanned { peer, reason } => {
                    warn!(%peer, ?reason, "peer banned");
                    let _ = to_driver.try_send(NetEvent::PeerGone { peer });
                }
            }
        }
    });

    // Driver commands -> network.
    let mut commands = std::mem::replace(&mut assembled.net_commands, mpsc::channel(1).1);
    let handle = p2p.clone();
    let to_driver = inbox;
    let vote_fetch = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                NetCommand::Broadcast(msg) => {
                    let m = match *msg {
                        Message::Proposal(p, b) => ConsensusMessage::Proposal(p, Box::new(b)),
                        Message::Vote(v) => ConsensusMessage::Vote(v),
                    };
                    if let Err(e) = handle.publish_consensus(m).await {
                        debug!(error = %e, "consensus gossip not sent");
                    }
                }
                NetCommand::BroadcastEvidence(ev) => {
                    let _ = handle.publish_evidence(*ev).await;
                }
                NetCommand::RequestDecided { height, peer } => {
                    let handle = handle.clone();
                    let to_driver = to_driver.clone();
                    tokio::spawn(fetch_decided(handle, to_driver, height, peer));
                }
                NetCommand::RequestVotes { height, rounds } => {
                    // One catch-up at a time: a stalled node asks every
                    // tick, and requests piling up behind an unanswering
                    // peer would flood it when the link comes back.
                    if !vote_fetch.swap(true, Ordering::AcqRel) {
                        let (handle, to_driver) = (handle.clone(), to_driver.clone());
                        let running = Arc::clone(&vote_fetch);
                        tokio::spawn(async move {
                            fetch_votes(handle, to_driver, height, rounds).await;
                            running.store(false, Ordering::Release);
                        });
                    }
                }
                NetCommand::Penalise(peer) => {
                    let _ = handle
                        .report_bad_peer(peer, "invalid consensus message")
                        .await;
                }
            }
        }
    });

    // Commits -> advertised height, and an allowlist that follows the
    // validator records (a CreateValidator brings a node id the network must admit).
    let mut committed = assembled.committed.subscribe();
    let handle = p2p.clone();
    let base = store.genesis().initial_height;
    let shared = Arc::clone(&assembled.shared);
    tokio::spawn(async move {
        loop {
            let height = match committed.recv().await {
                Ok(c) => c.block.header.height,
                // A lagging receiver only missed heights; the next one is newer.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let _ = handle.set_height(height, base).await;
            match validator_node_ids(&shared.store) {
                Ok(ids) if ids != allowed_validators => {
                    info!(
                        validators = ids.len(),
                        "validator records changed: allowlist updated"
                    );
                    let _ = handle
                        .set_allowlist(ids.clone(), extra_allowed.clone())
                        .await;
                    allowed_validators = ids;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "reading validator records for the allowlist"),
            }
        }
    });
    Ok(network)
}

/// Node ids of every validator record (active, jailed or unbonding): the
/// peers the allowlist admits besides persistent peers and extras.
fn validator_node_ids(store: &Store) -> Result<Vec<NodeId>> {
    Ok(store
        .all_validators()?
        .into_iter()
        .map(|v| v.node_id)
        .collect())
}

/// Fetches decided blocks from `height` on and hands them to the driver.
async fn fetch_decided(
    p2p: cairn_p2p::Network,
    to_driver: mpsc::Sender<NetEvent>,
    height: u64,
    peer: Option<NodeId>,
) {
    let candidates: Vec<NodeId> = match peer {
        Some(p) => vec![p],
        None => p2p
            .peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.height.is_some_and(|h| h >= height))
            .map(|p| p.node_id)
            .collect(),
    };
    for peer in candidates {
        match p2p
            .request_blocks(peer, height, height + SYNC_BATCH - 1)
            .await
        {
            Ok(blocks) if !blocks.is_empty() => {
                for (block, commit) in blocks {
                    let _ = to_driver
                        .send(NetEvent::Decided {
                            block,
                            commit,
                            from: Some(peer),
                        })
                        .await;
                }
                return;
            }
            Ok(_) => {
                // Blocks are never pruned: a peer that advertised `height` or
                // more and serves nothing from it lied, and would otherwise
                // stay the peer a syncing node asks.
                let advertised = p2p
                    .peers()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .find(|p| p.node_id == peer)
                    .and_then(|p| p.height);
                if let Some(h) = advertised.filter(|h| *h >= height) {
                    let reason = format!("advertised height {h}, served nothing from {height}");
                    warn!(%peer, %reason, "block sync liar");
                    let _ = p2p.report_bad_peer(peer, reason).await;
                }
            }
            Err(e) if e.is_bad_peer() => {
                warn!(%peer, error = %e, "invalid block sync answer");
                let _ = p2p.report_bad_peer(peer, e.to_string()).await;
            }
            Err(e) => {
                debug!(%peer, error = %e, "block request failed");
                let _ = to_driver.send(NetEvent::Unresponsive { peer }).await;
            }
        }
    }
}

/// Asks every connected peer, all at once, for its votes of `height` in
/// `rounds` (one peer that does not answer delays only its own answers).
async fn fetch_votes(
    p2p: cairn_p2p::Network,
    to_driver: mpsc::Sender<NetEvent>,
    height: u64,
    rounds: std::ops::Range<u32>,
) {
    let mut asks = tokio::task::JoinSet::new();
    for peer in p2p.peers().await.unwrap_or_default() {
        let (p2p, to_driver, rounds) = (p2p.clone(), to_driver.clone(), rounds.clone());
        asks.spawn(async move {
            for round in rounds {
                let request = CatchUpRequest::Votes { height, round };
                let Ok(CatchUpResponse::Votes(votes)) = p2p.catch_up(peer.node_id, request).await
                else {
                    // Unanswered or refused: its later rounds would be too.
                    return;
                };
                for v in votes {
                    let msg = Message::Vote(v);
                    let from = Some(peer.node_id);
                    let _ = to_driver.send(NetEvent::Message { msg, from }).await;
                }
            }
        });
    }
    while asks.join_next().await.is_some() {}
}

/// Gossiped tx batches waiting for the checker. Small: a node that cannot
/// verify as fast as peers gossip sheds batches (reported as ignored, so they
/// are neither forwarded nor held against the peer) instead of queueing them.
const TX_CHECK_QUEUE: usize = 64;

type TxCheck = (cairn_p2p::TxBatch, cairn_p2p::ValidationToken);

/// Checks gossiped tx batches on a task of their own, so that signature
/// verification of a tx flood never delays consensus messages queued behind it.
fn spawn_tx_checker(shared: Arc<Shared>) -> mpsc::Sender<TxCheck> {
    let (tx, mut rx) = mpsc::channel::<TxCheck>(TX_CHECK_QUEUE);
    tokio::spawn(async move {
        while let Some((batch, token)) = rx.recv().await {
            let shared = Arc::clone(&shared);
            let verdict = tokio::task::spawn_blocking(move || check_tx_batch(&shared, batch))
                .await
                .unwrap_or(Acceptance::Ignore);
            token.report(verdict);
        }
    });
    tx
}

fn check_tx_batch(shared: &Shared, batch: cairn_p2p::TxBatch) -> Acceptance {
    let txs = batch.0.into_iter().map(|b| b.0).collect();
    let Some(results) =
        cairn_mempool::check_txs_shared(&shared.mempool, txs, &StoreView(&shared.store))
    else {
        return Acceptance::Ignore;
    };
    if results
        .iter()
        .any(|r| r.as_ref().is_err_and(|e| e.is_bad_transaction()))
    {
        Acceptance::Reject
    } else if results.iter().any(|r| r.is_ok()) {
        Acceptance::Accept
    } else {
        Acceptance::Ignore
    }
}

/// Judges a gossip message before gossipsub may forward it.
async fn on_gossip(
    shared: &Arc<Shared>,
    to_driver: &mpsc::Sender<NetEvent>,
    tx_checks: &mpsc::Sender<TxCheck>,
    from: NodeId,
    message: GossipMessage,
    token: cairn_p2p::ValidationToken,
) {
    match message {
        GossipMessage::Txs(batch) => {
            if let Err(mpsc::error::TrySendError::Full((_, token))) =
                tx_checks.try_send((batch, token))
            {
                debug!("tx check queue full: gossiped batch shed");
                token.report(Acceptance::Ignore);
            }
        }
        GossipMessage::Consensus(m) => {
            let msg = match m {
                ConsensusMessage::Proposal(p, b) => Message::Proposal(p, *b),
                ConsensusMessage::Vote(v) => Message::Vote(v),
            };
            let verdict = precheck(shared, &msg);
            token.report(verdict);
            if verdict == Acceptance::Accept {
                let _ = to_driver
                    .send(NetEvent::Message {
                        msg,
                        from: Some(from),
                    })
                    .await;
            }
        }
        GossipMessage::Evidence(ev) => {
            let cairn_types::Evidence::DuplicateVote(dv) = &ev;
            if dv.check_shape().is_err() {
                token.reject();
                return;
            }
            token.accept();
            let _ = to_driver
                .send(NetEvent::Evidence {
                    evidence: ev,
                    from: Some(from),
                })
                .await;
        }
    }
}

/// Judges a gossiped proposal or vote: signer, proposer and signature
/// against the set of the message's height. Heights whose set we do not
/// know yet are ignored (not forwarded, no penalty). Below the last
/// committed height a valid message helps no one (the driver drops it, a
/// peer that far behind syncs blocks): it is ignored too, so a replay of old
/// signed votes, once gossipsub's duplicate window has passed, is not
/// forwarded to every node again; an invalid one is still rejected.
pub fn precheck(shared: &Shared, msg: &Message) -> Acceptance {
    let chain_id = shared.store.chain_id();
    let height = msg.height();
    let Ok(Some(set)) = shared.store.validators_at(height) else {
        return Acceptance::Ignore;
    };
    let stale = shared
        .store
        .latest_height()
        .is_ok_and(|latest| height < latest);
    let ok = match msg {
        Message::Vote(sv) => set
            .get(&sv.vote.validator)
            .is_some_and(|v| sv.verify(chain_id, &v.pub_key).is_ok()),
        Message::Proposal(sp, block) => {
            let p = &sp.proposal;
            let proposer = set.proposer_for_round(p.round);
            proposer.address == p.proposer
                && block.id() == p.block_id
                && sp.verify(chain_id, &proposer.pub_key).is_ok()
        }
    };
    match (ok, stale) {
        (false, _) => Acceptance::Reject,
        (true, true) => Acceptance::Ignore,
        (true, false) => Acceptance::Accept,
    }
}

/// Answers a peer's request from the store (votes from the driver).
fn serve(shared: &Shared, vote_queries: &mpsc::Sender<VoteQuery>, request: InboundRequest) {
    match request {
        InboundRequest::Blocks {
            from,
            to,
            responder,
        } => {
            let mut out = Vec::new();
            for h in from..=to {
                match shared.decided(h) {
                    Some(bc) => out.push(bc),
                    None => break,
                }
            }
            responder.send(out);
        }
        InboundRequest::CatchUp { request, responder } => {
            if let CatchUpRequest::Votes { height, round } = request {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let query = VoteQuery {
                    height,
                    round,
                    reply,
                };
                if vote_queries.try_send(query).is_ok() {
                    tokio::spawn(async move {
                        responder.send(CatchUpResponse::Votes(answer.await.unwrap_or_default()));
                    });
                } else {
                    responder.send(CatchUpResponse::Votes(Vec::new()));
                }
                return;
            }
            let answer = match request {
                CatchUpRequest::Commit { height } => {
                    CatchUpResponse::Commit(shared.store.commit_at(height).ok().flatten())
                }
                CatchUpRequest::Block { id } => CatchUpResponse::Block(
                    shared.store.block_by_hash(&id).ok().flatten().map(Box::new),
                ),
                CatchUpRequest::Votes { .. } => CatchUpResponse::Votes(Vec::new()),
            };
            responder.send(answer);
        }
    }
}
