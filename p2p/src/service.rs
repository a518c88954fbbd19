//! The swarm task: one tokio task owns the libp2p swarm and talks to the
//! node only through the command channel and the event channel.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cairn_types::{Block, Commit, Hash, NodeId, SigningKey};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify, noise,
    ping, tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api::{
    Acceptance, BanReason, Command, InboundRequest, Network, NetworkEvent, PeerInfo, Reply,
    Responder, Validation, ValidationToken,
};
use crate::config::NetworkConfig;
use crate::error::NetworkError;
use crate::gate::{Denied, Gate};
use crate::identity;
use crate::metrics::Metrics;
use crate::protocol::WireCodec;
use crate::ratelimit::{Bucket, Rate};
use crate::wire::{
    CatchUpRequest, CatchUpResponse, GossipMessage, Refusal, SyncRequest, SyncResponse, Topic,
};

type SyncCodec = WireCodec<SyncRequest, SyncResponse>;
type CatchUpCodec = WireCodec<CatchUpRequest, CatchUpResponse>;

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    gate: Gate,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    catchup: request_response::Behaviour<CatchUpCodec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Proto {
    Sync,
    CatchUp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Sync => "sync",
            Proto::CatchUp => "catchup",
        }
    }
}

struct Redial {
    addr: Multiaddr,
    backoff: Duration,
    next: Option<Instant>,
    dialing: bool,
}

enum PendingSync {
    Status,
    Blocks {
        peer: NodeId,
        from: u64,
        to: u64,
        reply: Reply<Vec<(Block, Commit)>>,
    },
}

struct PendingCatchUp {
    peer: NodeId,
    request: CatchUpRequest,
    reply: Reply<CatchUpResponse>,
}

#[allow(clippy::large_enum_variant)] // one per in-flight response
enum Ready {
    Blocks {
        channel: ResponseChannel<SyncResponse>,
        from: u64,
        to: u64,
        blocks: Option<Vec<(Block, Commit)>>,
    },
    CatchUp {
        channel: ResponseChannel<CatchUpResponse>,
        response: Option<CatchUpResponse>,
    },
}

/// Starts the network: builds the swarm (tcp + noise + yamux; identify,
/// ping, gossipsub, two request-response protocols, the permission gate and
/// connection limits), listens on `config.listen` (waiting until every
/// listener has its address, so OS-assigned ports are known), and spawns
/// the task. Returns the handle, the event stream and the task's handle.
pub async fn start(
    config: NetworkConfig,
    key: &SigningKey,
    metrics: Metrics,
) -> Result<(Network, mpsc::Receiver<NetworkEvent>, JoinHandle<()>), NetworkError> {
    let keypair = identity::keypair(key)?;
    let local_peer = keypair.public().to_peer_id();
    let transport_err = |e: &dyn std::fmt::Display| NetworkError::Transport(e.to_string());
    let behaviour_config = config.clone();
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport_err(&e))?
        .with_behaviour(|k| build_behaviour(k, &behaviour_config))
        .map_err(|e| transport_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .with_connection_timeout(config.dial_timeout)
        .build();

    let mut listeners = HashSet::new();
    for addr in &config.listen {
        listeners.insert(
            swarm
                .listen_on(addr.clone())
                .map_err(|e| transport_err(&e))?,
        );
    }
    let wait = async {
        while !listeners.is_empty() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    tracing::info!(%address, "p2p listening");
                    listeners.remove(&listener_id);
                }
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(NetworkError::Transport(format!(
                        "listener closed: {reason:?}"
                    )));
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(transport_err(&error));
                }
                _ => {}
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| NetworkError::Transport("listen timed out".into()))??;

    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity.max(1));
    let (val_tx, val_rx) = mpsc::unbounded_channel();
    let mut topics = HashMap::new();
    for t in Topic::ALL {
        topics.insert(IdentTopic::new(t.name(&config.chain_id)).hash(), t);
    }
    {
        let gate = &mut swarm.behaviour_mut().gate;
        gate.persistent = config.persistent_peers.iter().map(|p| p.node_id).collect();
        gate.validators = config.validators.iter().copied().collect();
        gate.extra = config.extra_allowed.iter().copied().collect();
    }
    let persistent = config
        .persistent_peers
        .iter()
        .map(|p| {
            (
                p.node_id,
                Redial {
                    addr: p.addr.clone(),
                    backoff: config.redial_min,
                    next: Some(Instant::now()),
                    dialing: false,
                },
            )
        })
        .collect();
    let node_id = key.public_key().node_id();
    let service = Service {
        swarm,
        config,
        topics,
        events: ev_tx,
        validation_tx: val_tx,
        metrics: metrics.clone(),
        connected: HashMap::new(),
        by_node: HashMap::new(),
        persistent,
        dials: HashMap::new(),
        answered: HashMap::new(),
        heights: HashMap::new(),
        last_status: HashMap::new(),
        status_in_flight: HashSet::new(),
        local_height: 0,
        local_base: 0,
        buckets: HashMap::new(),
        strikes: HashMap::new(),
        pending_sync: HashMap::new(),
        pending_catchup: HashMap::new(),
        responses: FuturesUnordered::new(),
    };
    let handle = tokio::spawn(service.run(cmd_rx, val_rx));
    let network = Network {
        tx: cmd_tx,
        node_id,
        peer_id: local_peer,
        metrics,
    };
    Ok((network, ev_rx, handle))
}

/// Every dial leaves from a new local port. libp2p's default reuses the
/// listening port, so two nodes dialling each other at once open one TCP
/// connection from both ends (a simultaneous open) on which both start the
/// noise handshake as initiator, and it fails. Between network namespaces
/// with 50 ms links (`scripts/chaos-net.sh`), synchronised redials made
/// that happen on most pairs, every time.
fn dial_opts(addr: Multiaddr) -> DialOpts {
    DialOpts::unknown_peer_id()
        .address(addr)
        .allocate_new_port()
        .build()
}

fn build_behaviour(
    key: &libp2p::identity::Keypair,
    config: &NetworkConfig,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let limits = &config.limits;
    let mut gs = gossipsub::ConfigBuilder::default();
    gs.validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Hash::digest(&m.data).0.to_vec()))
        // The whole RPC frame: the largest message plus protobuf framing and control.
        // No per-topic limit here: gossipsub would drop a message above it
        // silently (peer scoring is off), so the sender would never be
        // penalised. `on_gossip` decodes with the topic's limit and strikes.
        .max_transmit_size(limits.max_frame_bytes())
        .heartbeat_interval(config.heartbeat)
        .duplicate_cache_time(Duration::from_secs(120));
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gs.build()?)?;
    for t in Topic::ALL {
        gossipsub.subscribe(&IdentTopic::new(t.name(&config.chain_id)))?;
    }
    let rr = request_response::Config::default()
        .with_request_timeout(config.request_timeout)
        .with_max_concurrent_streams(limits.max_concurrent_requests);
    let sync_proto = StreamProtocol::try_from_owned(format!("/cairn/{}/sync/1", config.chain_id))?;
    let catchup_proto =
        StreamProtocol::try_from_owned(format!("/cairn/{}/catchup/1", config.chain_id))?;
    Ok(Behaviour {
        gate: Gate::default(),
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(limits.max_connections))
                .with_max_established_per_peer(Some(limits.max_connections_per_peer))
                .with_max_pending_incoming(Some(limits.max_pending_incoming)),
        ),
        identify: identify::Behaviour::new(
            identify::Config::new(format!("/cairn/{}/1", config.chain_id), key.public())
                .with_agent_version(format!("cairn/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(config.ping_interval)
                .with_timeout(config.ping_timeout),
        ),
        gossipsub,
        sync: request_response::Behaviour::with_codec(
            WireCodec::new(limits.max_request_bytes, limits.max_sync_response_bytes),
            [(sync_proto, ProtocolSupport::Full)],
            rr.clone(),
        ),
        catchup: request_response::Behaviour::with_codec(
            WireCodec::new(limits.max_request_bytes, limits.max_catchup_response_bytes),
            [(catchup_proto, ProtocolSupport::Full)],
            rr,
        ),
    })
}

struct Service {
    swarm: Swarm<Behaviour>,
    config: NetworkConfig,
    topics: HashMap<TopicHash, Topic>,
    events: mpsc::Sender<NetworkEvent>,
    validation_tx: mpsc::UnboundedSender<Validation>,
    metrics: Metrics,
    connected: HashMap<PeerId, NodeId>,
    by_node: HashMap<NodeId, PeerId>,
    persistent: HashMap<NodeId, Redial>,
    dials: HashMap<ConnectionId, NodeId>,
    /// When each connection last answered a ping (or was established).
    answered: HashMap<ConnectionId, (PeerId, Instant)>,
    /// Highest height each peer advertised.
    heights: HashMap<PeerId, u64>,
    last_status: HashMap<PeerId, Instant>,
    /// Peers with a status request unanswered: at most one each, so answers
    /// arrive in request order and a lower height really is a regression (two
    /// in flight, queued behind a partition, were answered out of order and
    /// an honest validator was banned for "regressing" from 64 to 63).
    status_in_flight: HashSet<PeerId>,
    local_height: u64,
    local_base: u64,
    buckets: HashMap<(PeerId, Proto), Bucket>,
    strikes: HashMap<PeerId, (u32, Instant)>,
    pending_sync: HashMap<OutboundRequestId, PendingSync>,
    pending_catchup: HashMap<OutboundRequestId, PendingCatchUp>,
    responses: FuturesUnordered<BoxFuture<'static, Ready>>,
}

impl Service {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut validations: mpsc::UnboundedReceiver<Validation>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(c) => self.on_command(c),
                },
                Some(v) = validations.recv() => self.on_validation(v),
                Some(r) = self.responses.next(), if !self.responses.is_empty() => self.on_ready(r),
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::info!("p2p task stopped");
    }

    fn emit(&self, ev: NetworkEvent) {
        if let Err(e) = self.events.try_send(ev) {
            self.metrics.dropped_events.inc();
            tracing::warn!(error = %e, "event channel full or closed: event dropped");
        }
    }

    // ----- timers -----

    fn on_tick(&mut self) {
        let now = Instant::now();
        let due: Vec<(NodeId, Multiaddr)> = self
            .persistent
            .iter()
            .filter(|(id, r)| {
                !self.by_node.contains_key(*id) && !r.dialing && r.next.is_some_and(|t| t <= now)
            })
            .map(|(id, r)| (*id, r.addr.clone()))
            .collect();
        for (id, addr) in due {
            if self.swarm.behaviour_mut().gate.is_banned(&id, now) {
                continue;
            }
            let opts = dial_opts(addr.clone());
            let conn = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    self.dials.insert(conn, id);
                    if let Some(r) = self.persistent.get_mut(&id) {
                        r.dialing = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %id, %addr, error = %e, "dial failed");
                    self.backoff(&id, now);
                }
            }
        }
        self.close_unresponsive(now);
        let interval = self.config.status_interval;
        let stale: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| {
                !self.status_in_flight.contains(*p)
                    && self
                        .last_status
                        .get(*p)
                        .is_none_or(|t| now.saturating_duration_since(*t) >= interval)
            })
            .copied()
            .collect();
        for p in stale {
            self.ask_status(p, now);
        }
        self.buckets
            .retain(|_, b| !b.idle(now, Duration::from_secs(60)));
        let window = self.config.limits.strike_window;
        self.strikes
            .retain(|_, (_, start)| now.saturating_duration_since(*start) <= window);
    }

    /// Closes connections that answered no ping for `ping_timeout` (see
    /// the crate docs: a dead link is replaced, not waited for). libp2p's
    /// ping reports only the second failure in a row, and opening its next
    /// stream on a dead link takes the 10 s upgrade timeout, so the
    /// deadline is kept here.
    fn close_unresponsive(&mut self, now: Instant) {
        let timeout = self.config.ping_timeout;
        let dead: Vec<(ConnectionId, PeerId)> = self
            .answered
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) > timeout)
            .map(|(conn, (peer, _))| (*conn, *peer))
            .collect();
        for (conn, peer) in dead {
            self.answered.remove(&conn);
            if self.swarm.close_connection(conn) {
                self.metrics.unresponsive_connections.inc();
                let peer = self.connected.get(&peer).copied();
                tracing::info!(?peer, ?timeout, "connection answered no ping: closed");
            }
        }
    }

    fn backoff(&mut self, id: &NodeId, now: Instant) {
        let max = self.config.redial_max;
        if let Some(r) = self.persistent.get_mut(id) {
            r.dialing = false;
            r.next = Some(now + r.backoff);
            r.backoff = (r.backoff * 2).min(max);
        }
    }

    fn ask_status(&mut self, peer: PeerId, now: Instant) {
        self.last_status.insert(peer, now);
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, SyncRequest::Status);
        self.pending_sync.insert(id, PendingSync::Status);
        self.status_in_flight.insert(peer);
    }

    // ----- swarm events -----

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                ..
            } => self.on_connected(peer_id, connection_id, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                self.answered.remove(&connection_id);
                if num_established == 0 {
                    self.on_disconnected(peer_id, cause.map(|c| c.to_string()));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let DialError::Denied { cause } = &error {
                    self.note_denied(cause.downcast_ref::<Denied>());
                }
                if let Some(id) = self.dials.remove(&connection_id) {
                    tracing::debug!(peer = %id, %error, "dial of persistent peer failed");
                    self.backoff(&id, Instant::now());
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                ..
            } => self.note_denied(cause.downcast_ref::<Denied>()),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Ok(_),
            })) => {
                self.answered.insert(connection, (peer, Instant::now()));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Catchup(ev)) => self.on_catchup_event(ev),
            _ => {}
        }
    }

    fn note_denied(&self, denied: Option<&Denied>) {
        if let Some(d) = denied {
            self.metrics.denied_connections.inc();
            tracing::warn!(reason = %d, "connection from a peer that may not connect closed");
        }
    }

    fn on_connected(&mut self, peer: PeerId, conn: ConnectionId, count: u32) {
        self.answered.insert(conn, (peer, Instant::now()));
        let Some(node) = identity::node_id_of(&peer) else {
            // The gate only admits ed25519 peers; be safe anyway.
            self.swarm.disconnect_peer_id(peer).ok();
            return;
        };
        if let Some(expected) = self.dials.remove(&conn)
            && expected != node
        {
            tracing::warn!(%expected, got = %node, "persistent peer address is served by another node");
            self.backoff(&expected, Instant::now());
        }
        if let Some(r) = self.persistent.get_mut(&node) {
            r.dialing = false;
            r.backoff = self.config.redial_min;
            r.next = None;
        }
        if count == 1 && !self.connected.contains_key(&peer) {
            self.connected.insert(peer, node);
            self.by_node.insert(node, peer);
            self.metrics.peers.inc();
            tracing::info!(peer = %node, "peer connected");
            self.emit(NetworkEvent::PeerConnected { peer: node });
            self.ask_status(peer, Instant::now());
        }
    }

    fn on_disconnected(&mut self, peer: PeerId, cause: Option<String>) {
        let Some(node) = self.connected.remove(&peer) else {
            return;
        };
        self.by_node.remove(&node);
        self.heights.remove(&peer);
        self.last_status.remove(&peer);
        self.status_in_flight.remove(&peer);
        self.metrics.peers.dec();
        tracing::info!(peer = %node, ?cause, "peer disconnected");
        self.emit(NetworkEvent::PeerDisconnected { peer: node });
        let now = Instant::now();
        let ban_end = self.swarm.behaviour().gate.bans.get(&node).copied();
        if let Some(r) = self.persistent.get_mut(&node) {
            r.dialing = false;
            r.next = Some(ban_end.unwrap_or(now + r.backoff).max(now + r.backoff));
        }
    }

    fn ban(&mut self, node: NodeId, reason: BanReason) {
        let now = Instant::now();
        let until = now + self.config.ban_duration;
        self.swarm.behaviour_mut().gate.bans.insert(node, until);
        if let Some(r) = self.persistent.get_mut(&node) {
            r.next = Some(until);
        }
        self.metrics.banned_peers.inc();
        tracing::warn!(peer = %node, ?reason, "peer banned");
        if let Some(pid) = self.by_node.get(&node).copied() {
            // Closing is asynchronous: until it completes the peer is
            // neither listed nor asked (see `usable_peer`).
            self.heights.remove(&pid);
            self.swarm.disconnect_peer_id(pid).ok();
        }
        self.emit(NetworkEvent::PeerBanned { peer: node, reason });
    }

    fn strike(&mut self, peer: PeerId) {
        let now = Instant::now();
        let window = self.config.limits.strike_window;
        let entry = self.strikes.entry(peer).or_insert((0, now));
        if now.saturating_duration_since(entry.1) > window {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 > self.config.limits.max_strikes {
            self.strikes.remove(&peer);
            if let Some(node) = self.connected.get(&peer).copied() {
                self.ban(node, BanReason::TooManyRejects);
            }
        }
    }

    // ----- gossip -----

    fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        let Some(topic) = self.topics.get(&message.topic).copied() else {
            self.report(&id, &source, MessageAcceptance::Ignore);
            return;
        };
        let label = Metrics::topic(topic);
        self.metrics.messages_in.get_or_create(&label).inc();
        self.metrics
            .bytes_in
            .get_or_create(&label)
            .inc_by(message.data.len() as u64);
        let limits = &self.config.limits;
        let decoded = GossipMessage::decode(
            topic,
            &message.data,
            limits.topic_limit(topic),
            limits.max_tx_batch_len,
            limits.max_tx_bytes,
        );
        let (Ok(msg), Some(from)) = (decoded.as_ref(), self.connected.get(&source).copied()) else {
            if let Err(e) = decoded {
                tracing::debug!(%source, %e, topic = topic.as_str(), "undecodable gossip rejected");
                self.metrics.rejected.get_or_create(&label).inc();
                self.report(&id, &source, MessageAcceptance::Reject);
                self.strike(source);
            } else {
                self.report(&id, &source, MessageAcceptance::Ignore);
            }
            return;
        };
        let token = ValidationToken {
            id,
            source,
            topic,
            tx: Some(self.validation_tx.clone()),
        };
        self.emit(NetworkEvent::Gossip {
            from,
            message: msg.clone(),
            token,
        });
    }

    fn report(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_validation(&mut self, v: Validation) {
        let acceptance = match v.acceptance {
            Acceptance::Accept => MessageAcceptance::Accept,
            Acceptance::Ignore => MessageAcceptance::Ignore,
            Acceptance::Reject => MessageAcceptance::Reject,
        };
        self.report(&v.id, &v.source, acceptance);
        if v.acceptance == Acceptance::Reject {
            self.metrics
                .rejected
                .get_or_create(&Metrics::topic(v.topic))
                .inc();
            self.strike(v.source);
        }
    }

    // ----- request-response -----

    fn take_token(&mut self, peer: PeerId, proto: Proto) -> bool {
        let now = Instant::now();
        let rate: Rate = match proto {
            Proto::Sync => self.config.limits.sync_rate,
            Proto::CatchUp => self.config.limits.catchup_rate,
        };
        let ok = self
            .buckets
            .entry((peer, proto))
            .or_insert_with(|| Bucket::new(rate, now))
            .try_take(rate, now);
        if !ok {
            self.refused(proto);
        }
        ok
    }

    fn refused(&self, proto: Proto) {
        self.metrics
            .refused_requests
            .get_or_create(&Metrics::proto(proto.name()))
            .inc();
    }

    fn on_sync_event(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_sync_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_sync_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(PendingSync::Blocks {
                    peer: node, reply, ..
                }) = self.pending_sync.remove(&request_id)
                {
                    let _ = reply.send(Err(NetworkError::RequestFailed {
                        peer: node,
                        reason: error.to_string(),
                    }));
                } else {
                    self.status_in_flight.remove(&peer);
                    tracing::debug!(%peer, %error, "status request failed");
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let Some(from_node) = self.connected.get(&peer).copied() else {
            return;
        };
        if !self.take_token(peer, Proto::Sync) {
            self.respond_sync(channel, SyncResponse::Refused(Refusal::RateLimited));
            return;
        }
        match request {
            SyncRequest::Status => {
                let resp = SyncResponse::Status {
                    height: self.local_height,
                    base: self.local_base,
                };
                self.respond_sync(channel, resp);
            }
            SyncRequest::Blocks { from, to } => {
                let max = self.config.limits.max_sync_blocks;
                if from == 0 || to < from || to - from >= max {
                    self.refused(Proto::Sync);
                    self.respond_sync(channel, SyncResponse::Refused(Refusal::BadRange { max }));
                    return;
                }
                let (tx, rx) = oneshot::channel();
                self.emit(NetworkEvent::Request {
                    from: from_node,
                    request: InboundRequest::Blocks {
                        from,
                        to,
                        responder: Responder { tx },
                    },
                });
                let timeout = self.config.request_timeout;
                self.responses.push(Box::pin(async move {
                    let blocks = tokio::time::timeout(timeout, rx)
                        .await
                        .ok()
                        .and_then(Result::ok);
                    Ready::Blocks {
                        channel,
                        from,
                        to,
                        blocks,
                    }
                }));
            }
        }
    }

    fn respond_sync(&mut self, channel: ResponseChannel<SyncResponse>, resp: SyncResponse) {
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, resp)
            .is_err()
        {
            tracing::debug!("sync requester went away before the response");
        }
    }

    fn respond_catchup(
        &mut self,
        channel: ResponseChannel<CatchUpResponse>,
        resp: CatchUpResponse,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .catchup
            .send_response(channel, resp)
            .is_err()
        {
            tracing::debug!("catch-up requester went away before the response");
        }
    }

    fn on_ready(&mut self, ready: Ready) {
        match ready {
            Ready::Blocks {
                channel,
                from,
                to,
                blocks,
            } => {
                let resp = match blocks {
                    Some(blocks) => SyncResponse::Blocks(self.trim_blocks(from, to, blocks)),
                    None => SyncResponse::Refused(Refusal::Unavailable),
                };
                self.respond_sync(channel, resp);
            }
            Ready::CatchUp { channel, response } => {
                let resp = match response {
                    Some(r) => self.trim_catchup(r),
                    None => CatchUpResponse::Refused(Refusal::Unavailable),
                };
                self.respond_catchup(channel, resp);
            }
        }
    }

    /// Keeps the consecutive blocks from `from` within `to` that fit the
    /// response limit.
    fn trim_blocks(
        &self,
        from: u64,
        to: u64,
        blocks: Vec<(Block, Commit)>,
    ) -> Vec<(Block, Commit)> {
        let limit = self.config.limits.max_sync_response_bytes;
        // enum tag + vec length prefix
        let mut used = 5usize;
        let mut out = Vec::new();
        for (i, (b, c)) in blocks.into_iter().enumerate() {
            let h = from.saturating_add(i as u64);
            if h > to || b.header.height != h {
                break;
            }
            let size = borsh::object_length(&(&b, &c)).unwrap_or(usize::MAX);
            if used.saturating_add(size) > limit {
                break;
            }
            used += size;
            out.push((b, c));
        }
        out
    }

    fn trim_catchup(&self, resp: CatchUpResponse) -> CatchUpResponse {
        let limits = &self.config.limits;
        let resp = match resp {
            CatchUpResponse::Votes(mut v) => {
                v.truncate(limits.max_votes_per_response);
                CatchUpResponse::Votes(v)
            }
            other => other,
        };
        if borsh::object_length(&resp).unwrap_or(usize::MAX) > limits.max_catchup_response_bytes {
            return CatchUpResponse::Refused(Refusal::Unavailable);
        }
        resp
    }

    fn on_sync_response(&mut self, peer: PeerId, id: OutboundRequestId, resp: SyncResponse) {
        match self.pending_sync.remove(&id) {
            Some(PendingSync::Status) => {
                self.status_in_flight.remove(&peer);
                self.on_status(peer, resp);
            }
            Some(PendingSync::Blocks {
                peer: node,
                from,
                to,
                reply,
            }) => {
                let result = match resp {
                    SyncResponse::Blocks(blocks) => check_blocks(node, from, to, blocks),
                    SyncResponse::Refused(refusal) => Err(NetworkError::Refused {
                        peer: node,
                        refusal,
                    }),
                    SyncResponse::Status { .. } => Err(NetworkError::InvalidResponse {
                        peer: node,
                        reason: "status in answer to a block request".into(),
                    }),
                };
                let _ = reply.send(result);
            }
            None => {}
        }
    }

    fn on_status(&mut self, peer: PeerId, resp: SyncResponse) {
        let Some(node) = self.connected.get(&peer).copied() else {
            return;
        };
        let SyncResponse::Status { height, base } = resp else {
            return;
        };
        let previous = self.heights.get(&peer).copied();
        if let Some(advertised) = previous
            && height < advertised
        {
            // CVE-2025-24371: a peer that advertises a height and then a lower
            // one would make a syncing node wait forever for blocks it will
            // never serve. Drop it; sync goes on with the others.
            self.ban(
                node,
                BanReason::HeightRegressed {
                    advertised,
                    now: height,
                },
            );
            return;
        }
        if base > height.saturating_add(1) {
            self.ban(
                node,
                BanReason::Reported(format!("base {base} above height {height}")),
            );
            return;
        }
        self.heights.insert(peer, height);
        if previous != Some(height) {
            self.emit(NetworkEvent::PeerHeight {
                peer: node,
                height,
                base,
            });
        }
    }

    fn on_catchup_event(&mut self, ev: request_response::Event<CatchUpRequest, CatchUpResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(from) = self.connected.get(&peer).copied() else {
                        return;
                    };
                    if !self.take_token(peer, Proto::CatchUp) {
                        self.respond_catchup(
                            channel,
                            CatchUpResponse::Refused(Refusal::RateLimited),
                        );
                        return;
                    }
                    let (tx, rx) = oneshot::channel();
                    self.emit(NetworkEvent::Request {
                        from,
                        request: InboundRequest::CatchUp {
                            request,
                            responder: Responder { tx },
                        },
                    });
                    let timeout = self.config.request_timeout;
                    self.responses.push(Box::pin(async move {
                        let response = tokio::time::timeout(timeout, rx)
                            .await
                            .ok()
                            .and_then(Result::ok);
                        Ready::CatchUp { channel, response }
                    }));
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(p) = self.pending_catchup.remove(&request_id) {
                        let _ = p.reply.send(check_catchup(p.peer, &p.request, response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(p) = self.pending_catchup.remove(&request_id) {
                    let _ = p.reply.send(Err(NetworkError::RequestFailed {
                        peer: p.peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound catch-up request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    // ----- commands -----

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::SyncBlocks {
                peer,
                from,
                to,
                reply,
            } => match self.usable_peer(&peer) {
                Some(pid) => {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_request(&pid, SyncRequest::Blocks { from, to });
                    self.pending_sync.insert(
                        id,
                        PendingSync::Blocks {
                            peer,
                            from,
                            to,
                            reply,
                        },
                    );
                }
                None => {
                    let _ = reply.send(Err(NetworkError::NotConnected(peer)));
                }
            },
            Command::CatchUp {
                peer,
                request,
                reply,
            } => match self.usable_peer(&peer) {
                Some(pid) => {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .catchup
                        .send_request(&pid, request.clone());
                    self.pending_catchup.insert(
                        id,
                        PendingCatchUp {
                            peer,
                            request,
                            reply,
                        },
                    );
                }
                None => {
                    let _ = reply.send(Err(NetworkError::NotConnected(peer)));
                }
            },
            Command::SetHeight { height, base } => {
                self.local_height = height;
                self.local_base = base;
            }
            Command::SetAllowlist { validators, extra } => {
                let gate = &mut self.swarm.behaviour_mut().gate;
                gate.validators = validators.into_iter().collect();
                gate.extra = extra.into_iter().collect();
                let gone: Vec<(PeerId, NodeId)> = self
                    .connected
                    .iter()
                    .filter(|(_, n)| !self.swarm.behaviour().gate.is_allowed(n))
                    .map(|(p, n)| (*p, *n))
                    .collect();
                for (pid, node) in gone {
                    tracing::warn!(peer = %node, "peer no longer allowed: disconnecting");
                    self.metrics.denied_connections.inc();
                    self.swarm.disconnect_peer_id(pid).ok();
                }
            }
            Command::ReportBadPeer { peer, reason } => {
                self.ban(peer, BanReason::Reported(reason));
            }
            Command::Peers { reply } => {
                let now = Instant::now();
                let gate = &mut self.swarm.behaviour_mut().gate;
                let banned: HashSet<NodeId> = self
                    .connected
                    .values()
                    .filter(|n| gate.is_banned(n, now))
                    .copied()
                    .collect();
                let peers = self
                    .connected
                    .iter()
                    .filter(|(_, node)| !banned.contains(*node))
                    .map(|(pid, node)| PeerInfo {
                        node_id: *node,
                        height: self.heights.get(pid).copied(),
                        persistent: self.persistent.contains_key(node),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial { addr } => {
                if let Err(e) = self.swarm.dial(dial_opts(addr.clone())) {
                    tracing::warn!(%addr, error = %e, "dial failed");
                }
            }
            Command::Shutdown => {}
        }
    }

    /// The PeerId of a connected peer that is not banned.
    fn usable_peer(&mut self, node: &NodeId) -> Option<PeerId> {
        let pid = self.by_node.get(node).copied()?;
        let banned = self
            .swarm
            .behaviour_mut()
            .gate
            .is_banned(node, Instant::now());
        (!banned).then_some(pid)
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        let max = self.config.limits.topic_limit(topic);
        if data.len() > max {
            return Err(NetworkError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let len = data.len() as u64;
        let t = IdentTopic::new(topic.name(&self.config.chain_id));
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(t, data)
            .map_err(|e| NetworkError::Publish(e.to_string()))?;
        self.metrics
            .bytes_out
            .get_or_create(&Metrics::topic(topic))
            .inc_by(len);
        Ok(())
    }
}

/// Structural check of a block response: consecutive heights from `from`,
/// within `to`, each commit for its block at its height.
fn check_blocks(
    peer: NodeId,
    from: u64,
    to: u64,
    blocks: Vec<(Block, Commit)>,
) -> Result<Vec<(Block, Commit)>, NetworkError> {
    let bad = |reason: String| Err(NetworkError::InvalidResponse { peer, reason });
    for (i, (b, c)) in blocks.iter().enumerate() {
        let h = from.saturating_add(i as u64);
        if h > to {
            return bad(format!("more blocks than asked ({from}..={to})"));
        }
        if b.header.height != h {
            return bad(format!("block {i} has height {} not {h}", b.header.height));
        }
        if c.height != h || c.block_id != b.id() {
            return bad(format!("commit at {h} is not for the block served"));
        }
    }
    Ok(blocks)
}

/// Structural check of a catch-up response against its request.
fn check_catchup(
    peer: NodeId,
    request: &CatchUpRequest,
    response: CatchUpResponse,
) -> Result<CatchUpResponse, NetworkError> {
    let bad = |reason: &str| {
        Err(NetworkError::InvalidResponse {
            peer,
            reason: reason.to_owned(),
        })
    };
    if let CatchUpResponse::Refused(refusal) = response {
        return Err(NetworkError::Refused { peer, refusal });
    }
    if !response.answers(request) {
        return bad("answer of another kind");
    }
    match (request, &response) {
        (CatchUpRequest::Votes { height, round }, CatchUpResponse::Votes(votes))
            if votes
                .iter()
                .any(|v| v.vote.height != *height || v.vote.round != *round) =>
        {
            bad("vote for another height or round")
        }
        (CatchUpRequest::Commit { height }, CatchUpResponse::Commit(Some(c)))
            if c.height != *height =>
        {
            bad("commit for another height")
        }
        (CatchUpRequest::Block { id }, CatchUpResponse::Block(Some(b))) if b.id() != *id => {
            bad("block with another id")
        }
        _ => Ok(response),
    }
}
