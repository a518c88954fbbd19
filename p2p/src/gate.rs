//! The permission gate: a connection is kept only when the remote's node id
//! is allowed and not banned.
//!
//! The check runs when a connection is established, i.e. after the noise
//! handshake has proven the remote's key (libp2p cannot know it earlier); a
//! denied connection is closed before any protocol runs on it. Connections
//! of peers that lose their place (allowlist update, ban) are closed by the
//! service with `Swarm::disconnect_peer_id`.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use cairn_types::NodeId;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};

use crate::identity;

/// Why the gate refused a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The PeerId does not carry a usable ed25519 key.
    #[error("peer {0} has no usable ed25519 node key")]
    NoNodeKey(PeerId),
    /// The node id is not in the allowlist.
    #[error("node {0} is not in the allowlist")]
    NotAllowed(NodeId),
    /// The node id is banned for a while.
    #[error("node {0} is banned")]
    Banned(NodeId),
}

/// The allowlist and bans, consulted for every established connection.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    pub(crate) persistent: HashSet<NodeId>,
    pub(crate) validators: HashSet<NodeId>,
    pub(crate) extra: HashSet<NodeId>,
    pub(crate) bans: HashMap<NodeId, Instant>,
}

impl Gate {
    pub(crate) fn is_allowed(&self, id: &NodeId) -> bool {
        self.persistent.contains(id) || self.validators.contains(id) || self.extra.contains(id)
    }

    pub(crate) fn is_banned(&mut self, id: &NodeId, now: Instant) -> bool {
        match self.bans.get(id) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.bans.remove(id);
                false
            }
            None => false,
        }
    }

    /// The node id of `peer` if it may stay connected.
    pub(crate) fn check(&mut self, peer: &PeerId) -> Result<NodeId, Denied> {
        let key = identity::public_key_of(peer).ok_or(Denied::NoNodeKey(*peer))?;
        if key.check_usable().is_err() {
            return Err(Denied::NoNodeKey(*peer));
        }
        let id = key.node_id();
        if !self.is_allowed(&id) {
            return Err(Denied::NotAllowed(id));
        }
        if self.is_banned(&id, Instant::now()) {
            return Err(Denied::Banned(id));
        }
        Ok(id)
    }

    fn enforce(&mut self, peer: &PeerId) -> Result<dummy::ConnectionHandler, ConnectionDenied> {
        match self.check(peer) {
            Ok(_) => Ok(dummy::ConnectionHandler),
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "connection denied");
                Err(ConnectionDenied::new(e))
            }
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
