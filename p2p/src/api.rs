//! The node's side of the network: the [`Network`] handle (commands), the
//! events it receives, validation tokens and responders.

use cairn_types::{Block, Bytes, Commit, Evidence, NodeId};
use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::error::NetworkError;
use crate::metrics::Metrics;
use crate::wire::{
    CatchUpRequest, CatchUpResponse, ConsensusMessage, GossipMessage, Topic, TxBatch,
};

/// What the node decides about a gossip message (gossipsub manual validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid: forward it to the mesh.
    Accept,
    /// Not forwarded, no penalty (duplicate, stale, not judgeable now).
    Ignore,
    /// Invalid: not forwarded, and the peer that sent it is penalised.
    Reject,
}

#[derive(Debug)]
pub(crate) struct Validation {
    pub(crate) id: MessageId,
    pub(crate) source: PeerId,
    pub(crate) topic: Topic,
    pub(crate) acceptance: Acceptance,
}

/// The node's verdict on one gossip message must be reported through this
/// token. Nothing is forwarded before that; a token dropped unreported
/// counts as [`Acceptance::Ignore`].
#[derive(Debug)]
pub struct ValidationToken {
    pub(crate) id: MessageId,
    pub(crate) source: PeerId,
    pub(crate) topic: Topic,
    pub(crate) tx: Option<mpsc::UnboundedSender<Validation>>,
}

impl ValidationToken {
    /// Reports the verdict.
    pub fn report(mut self, acceptance: Acceptance) {
        self.send(acceptance);
    }

    /// Valid: forward.
    pub fn accept(self) {
        self.report(Acceptance::Accept)
    }

    /// Drop without penalty.
    pub fn ignore(self) {
        self.report(Acceptance::Ignore)
    }

    /// Invalid: drop and penalise the sender.
    pub fn reject(self) {
        self.report(Acceptance::Reject)
    }

    fn send(&mut self, acceptance: Acceptance) {
        if let Some(tx) = self.tx.take() {
            // The network task may have stopped: then there is nothing to forward anyway.
            let _ = tx.send(Validation {
                id: self.id.clone(),
                source: self.source,
                topic: self.topic,
                acceptance,
            });
        }
    }
}

impl Drop for ValidationToken {
    fn drop(&mut self) {
        self.send(Acceptance::Ignore);
    }
}

/// Answers one inbound request. Dropping it unanswered makes p2p answer
/// "unavailable"; so does not answering within the request timeout.
#[derive(Debug)]
pub struct Responder<T> {
    pub(crate) tx: oneshot::Sender<T>,
}

impl<T> Responder<T> {
    /// Sends the answer (p2p trims it to the response limits).
    pub fn send(self, value: T) {
        // If the requester gave up, the answer has nowhere to go.
        let _ = self.tx.send(value);
    }
}

/// A request from a peer that the node answers with its data.
#[derive(Debug)]
pub enum InboundRequest {
    /// Blocks `from..=to` with their commits (the range is already checked
    /// against `max_sync_blocks`). Answer with consecutive blocks from `from`.
    Blocks {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
        /// Where the answer goes.
        responder: Responder<Vec<(Block, Commit)>>,
    },
    /// A catch-up query.
    CatchUp {
        /// The query.
        request: CatchUpRequest,
        /// Where the answer goes.
        responder: Responder<CatchUpResponse>,
    },
}

/// Why p2p banned a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanReason {
    /// It advertised a height, then a lower one (CVE-2025-24371's lie).
    HeightRegressed {
        /// The highest height it advertised before.
        advertised: u64,
        /// The lower height it advertises now.
        now: u64,
    },
    /// The node reported it (e.g. it served invalid blocks).
    Reported(String),
    /// Too many of its gossip messages were rejected.
    TooManyRejects,
}

/// What the network tells the node.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // events are moved once; boxing buys nothing
pub enum NetworkEvent {
    /// A gossip message that decoded within its limits; report the verdict with `token`.
    Gossip {
        /// The peer that forwarded it.
        from: NodeId,
        /// The message.
        message: GossipMessage,
        /// The verdict goes here.
        token: ValidationToken,
    },
    /// A peer's request that needs the node's data.
    Request {
        /// The requesting peer.
        from: NodeId,
        /// What it asks.
        request: InboundRequest,
    },
    /// An allowed peer connected.
    PeerConnected {
        /// The peer.
        peer: NodeId,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// The peer.
        peer: NodeId,
    },
    /// A peer advertised a (new) height.
    PeerHeight {
        /// The peer.
        peer: NodeId,
        /// Its latest committed height.
        height: u64,
        /// The lowest height it serves.
        base: u64,
    },
    /// A peer was disconnected and banned for the ban duration.
    PeerBanned {
        /// The peer.
        peer: NodeId,
        /// Why.
        reason: BanReason,
    },
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node id.
    pub node_id: NodeId,
    /// The highest height it advertised.
    pub height: Option<u64>,
    /// Whether it is a persistent peer.
    pub persistent: bool,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, NetworkError>>;

#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: Reply<()>,
    },
    SyncBlocks {
        peer: NodeId,
        from: u64,
        to: u64,
        reply: Reply<Vec<(Block, Commit)>>,
    },
    CatchUp {
        peer: NodeId,
        request: CatchUpRequest,
        reply: Reply<CatchUpResponse>,
    },
    SetHeight {
        height: u64,
        base: u64,
    },
    SetAllowlist {
        validators: Vec<NodeId>,
        extra: Vec<NodeId>,
    },
    ReportBadPeer {
        peer: NodeId,
        reason: String,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Dial {
        addr: Multiaddr,
    },
    Shutdown,
}

/// The node's handle on the network task. Cheap to clone; every method
/// sends one command over a bounded channel.
#[derive(Debug, Clone)]
pub struct Network {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) node_id: NodeId,
    pub(crate) peer_id: PeerId,
    pub(crate) metrics: Metrics,
}

impl Network {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// This node's libp2p PeerId (for logs and tests).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The metrics this network updates.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    async fn send(&self, cmd: Command) -> Result<(), NetworkError> {
        self.tx.send(cmd).await.map_err(|_| NetworkError::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Publishes a gossip message on its topic.
    pub async fn publish(&self, message: &GossipMessage) -> Result<(), NetworkError> {
        let topic = message.topic();
        let data = message.encode();
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await
    }

    /// Publishes a batch of txs (their canonical signed bytes).
    pub async fn publish_txs(&self, txs: Vec<Bytes>) -> Result<(), NetworkError> {
        self.publish(&GossipMessage::Txs(TxBatch(txs))).await
    }

    /// Publishes a proposal (with its block) or a vote.
    pub async fn publish_consensus(&self, msg: ConsensusMessage) -> Result<(), NetworkError> {
        self.publish(&GossipMessage::Consensus(msg)).await
    }

    /// Publishes evidence.
    pub async fn publish_evidence(&self, ev: Evidence) -> Result<(), NetworkError> {
        self.publish(&GossipMessage::Evidence(ev)).await
    }

    /// Publishes raw bytes on a topic (tests of malformed input only).
    #[doc(hidden)]
    pub async fn publish_raw(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await
    }

    /// Asks `peer` for blocks `from..=to` with commits. The answer is
    /// checked structurally (consecutive heights from `from`, each commit
    /// for its block); verifying the commits is the node's job.
    pub async fn request_blocks(
        &self,
        peer: NodeId,
        from: u64,
        to: u64,
    ) -> Result<Vec<(Block, Commit)>, NetworkError> {
        self.ask(|reply| Command::SyncBlocks {
            peer,
            from,
            to,
            reply,
        })
        .await
    }

    /// Sends a catch-up query to `peer`; the answer is of the kind asked
    /// and for the height, round or id asked.
    pub async fn catch_up(
        &self,
        peer: NodeId,
        request: CatchUpRequest,
    ) -> Result<CatchUpResponse, NetworkError> {
        self.ask(|reply| Command::CatchUp {
            peer,
            request,
            reply,
        })
        .await
    }

    /// Sets the height this node advertises (after each commit) and the
    /// lowest height it serves.
    pub async fn set_height(&self, height: u64, base: u64) -> Result<(), NetworkError> {
        self.send(Command::SetHeight { height, base }).await
    }

    /// Replaces the validators' node ids and the extra allowed ids (e.g.
    /// when the validator set changes). Connected peers that are no longer
    /// allowed are disconnected at once. Persistent peers stay allowed.
    pub async fn set_allowlist(
        &self,
        validators: Vec<NodeId>,
        extra: Vec<NodeId>,
    ) -> Result<(), NetworkError> {
        self.send(Command::SetAllowlist { validators, extra }).await
    }

    /// Disconnects `peer` and refuses it for the ban duration (e.g. it served an invalid block).
    pub async fn report_bad_peer(
        &self,
        peer: NodeId,
        reason: impl Into<String>,
    ) -> Result<(), NetworkError> {
        self.send(Command::ReportBadPeer {
            peer,
            reason: reason.into(),
        })
        .await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Peers { reply: tx }).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// The addresses this node listens on (with the OS-assigned ports).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::ListenAddrs { reply: tx }).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Dials an address once (no redial; persistent peers are configured instead).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.send(Command::Dial { addr }).await
    }

    /// Stops the network task (connections close).
    pub async fn shutdown(&self) -> Result<(), NetworkError> {
        self.send(Command::Shutdown).await
    }
}
