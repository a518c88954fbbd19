//! Harness: real swarms on 127.0.0.1 with OS-assigned ports, each driven by
//! a small task that plays the node (validates gossip, answers requests).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use cairn_p2p::{
    Acceptance, BanReason, CatchUpRequest, CatchUpResponse, GossipMessage, InboundRequest, Metrics,
    Multiaddr, Network, NetworkConfig, NetworkEvent, PeerAddr,
};
use cairn_types::block::Version;
use cairn_types::{Block, BlockId, ChainParams, Commit, Hash, Header, NodeId, SigningKey, Time};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const CHAIN: &str = "p2p-test";

pub fn key(i: u8) -> SigningKey {
    SigningKey::from_seed([i; 32])
}

pub fn id(i: u8) -> NodeId {
    key(i).public_key().node_id()
}

/// A config for tests: loopback, fast heartbeat, status and redial.
pub fn config(persistent: Vec<PeerAddr>, allowed: Vec<NodeId>) -> NetworkConfig {
    let mut c = NetworkConfig::new(CHAIN, &ChainParams::default().consensus);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c.persistent_peers = persistent;
    c.validators = allowed;
    c.heartbeat = Duration::from_millis(100);
    c.status_interval = Duration::from_millis(300);
    c.redial_min = Duration::from_millis(100);
    c.redial_max = Duration::from_millis(800);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// What the node role saw.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Seen {
    Gossip(NodeId, GossipMessage, Acceptance),
    Connected(NodeId),
    Disconnected(NodeId),
    Height(NodeId, u64),
    Banned(NodeId, BanReason),
    Served(NodeId),
}

pub type Validator = Arc<dyn Fn(&GossipMessage) -> Acceptance + Send + Sync>;
pub type CatchUp = Arc<dyn Fn(&CatchUpRequest) -> CatchUpResponse + Send + Sync>;

/// How the node role behaves.
#[derive(Clone)]
pub struct Role {
    pub validate: Validator,
    pub chain: Arc<Vec<(Block, Commit)>>,
    pub catch_up: CatchUp,
}

impl Default for Role {
    fn default() -> Self {
        Role {
            validate: Arc::new(|_| Acceptance::Accept),
            chain: Arc::new(Vec::new()),
            catch_up: Arc::new(|_| CatchUpResponse::Commit(None)),
        }
    }
}

pub struct TestNode {
    pub net: Network,
    pub seen: mpsc::UnboundedReceiver<Seen>,
    pub addr: Multiaddr,
    pub id: NodeId,
    pub task: JoinHandle<()>,
    pub role_task: JoinHandle<()>,
}

impl TestNode {
    pub fn peer_addr(&self) -> PeerAddr {
        PeerAddr {
            node_id: self.id,
            addr: self.addr.clone(),
        }
    }

    /// Waits (bounded) for the first observation `f` maps to Some.
    pub async fn wait<T>(
        &mut self,
        within: Duration,
        mut f: impl FnMut(&Seen) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(s)) => {
                    if let Some(t) = f(&s) {
                        return Some(t);
                    }
                }
                _ => return None,
            }
        }
    }

    /// Everything observed during `d`.
    pub async fn collect(&mut self, d: Duration) -> Vec<Seen> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, self.seen.recv()).await {
            out.push(s);
        }
        out
    }

    pub async fn stop(self) {
        self.net.shutdown().await.ok();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .ok();
        self.role_task.abort();
    }
}

pub async fn spawn(key: &SigningKey, cfg: NetworkConfig, role: Role) -> TestNode {
    let (net, events, task) = cairn_p2p::start(cfg, key, Metrics::default())
        .await
        .unwrap();
    let addr = net
        .listen_addrs()
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let (tx, seen) = mpsc::unbounded_channel();
    let role_task = tokio::spawn(drive(events, role, tx));
    TestNode {
        id: net.node_id(),
        net,
        seen,
        addr,
        task,
        role_task,
    }
}

async fn drive(
    mut events: mpsc::Receiver<NetworkEvent>,
    role: Role,
    tx: mpsc::UnboundedSender<Seen>,
) {
    while let Some(ev) = events.recv().await {
        let seen = match ev {
            NetworkEvent::Gossip {
                from,
                message,
                token,
            } => {
                let verdict = (role.validate)(&message);
                token.report(verdict);
                Seen::Gossip(from, message, verdict)
            }
            NetworkEvent::Request { from, request } => {
                match request {
                    InboundRequest::Blocks {
                        from: lo,
                        to,
                        responder,
                    } => {
                        let blocks = role
                            .chain
                            .iter()
                            .filter(|(b, _)| b.header.height >= lo && b.header.height <= to)
                            .cloned()
                            .collect();
                        responder.send(blocks);
                    }
                    InboundRequest::CatchUp { request, responder } => {
                        responder.send((role.catch_up)(&request));
                    }
                }
                Seen::Served(from)
            }
            NetworkEvent::PeerConnected { peer } => Seen::Connected(peer),
            NetworkEvent::PeerDisconnected { peer } => Seen::Disconnected(peer),
            NetworkEvent::PeerHeight { peer, height, .. } => Seen::Height(peer, height),
            NetworkEvent::PeerBanned { peer, reason } => Seen::Banned(peer, reason),
        };
        let _ = tx.send(seen);
    }
}

/// A hash-linked chain of `n` empty blocks with (unsigned) commits; `salt`
/// makes different chains.
pub fn chain(n: u64, salt: u8) -> Vec<(Block, Commit)> {
    let mut out = Vec::new();
    let mut prev: Option<BlockId> = None;
    for h in 1..=n {
        let header = Header {
            version: Version { block: 11, app: 1 },
            chain_id: CHAIN.into(),
            height: h,
            time: Time(h * 1_000_000_000),
            last_block_id: prev,
            last_commit_hash: Hash::default(),
            data_hash: Hash::default(),
            validators_hash: Hash::default(),
            next_validators_hash: Hash::default(),
            consensus_hash: Hash::default(),
            app_hash: Hash([salt; 32]),
            last_results_hash: Hash::default(),
            evidence_hash: Hash::default(),
            proposer_address: Default::default(),
        };
        let block = Block {
            header,
            txs: Vec::new(),
            evidence: Vec::new(),
            last_commit: None,
        };
        let id = block.id();
        out.push((
            block,
            Commit {
                height: h,
                round: 0,
                block_id: id,
                signatures: Vec::new(),
            },
        ));
        prev = Some(id);
    }
    out
}

/// Waits until every node reports `n` connected peers.
pub async fn wait_peers(nodes: &[&TestNode], n: usize, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let mut ok = true;
        for node in nodes {
            if node.net.peers().await.map(|p| p.len()).unwrap_or(0) < n {
                ok = false;
            }
        }
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
