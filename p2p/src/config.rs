//! Network configuration and the limits chosen (see the crate docs for why).

use std::time::Duration;

use cairn_types::{ConsensusParams, NodeId};
use libp2p::Multiaddr;

use crate::ratelimit::Rate;
use crate::wire::Topic;

/// A peer to stay connected to: its node id and a dialable address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    /// The node id the remote must prove (noise) to be kept.
    pub node_id: NodeId,
    /// Where to dial it.
    pub addr: Multiaddr,
}

impl PeerAddr {
    /// Parses CometBFT's `<node id>@<ip>:<port>` form (IP literals only: no DNS).
    pub fn parse(s: &str) -> Result<PeerAddr, String> {
        let (id, hostport) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?}: expected <node id>@<ip>:<port>"))?;
        let node_id = NodeId::from_hex(id).map_err(|e| format!("{s:?}: {e}"))?;
        let sock: std::net::SocketAddr = hostport
            .parse()
            .map_err(|_| format!("{s:?}: {hostport:?} is not <ip>:<port>"))?;
        let ip = match sock.ip() {
            std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
            std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
        };
        let addr = format!("{ip}/tcp/{}", sock.port())
            .parse()
            .map_err(|e| format!("{s:?}: {e}"))?;
        Ok(PeerAddr { node_id, addr })
    }
}

/// Every bound the network enforces on untrusted input.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest gossip message on the consensus topic (a proposal with its block).
    pub max_consensus_msg_bytes: usize,
    /// Largest gossip message on the tx topic (one batch).
    pub max_tx_batch_bytes: usize,
    /// Most txs in one gossiped batch.
    pub max_tx_batch_len: usize,
    /// Largest tx in a batch (`tx_max_bytes`).
    pub max_tx_bytes: usize,
    /// Largest gossip message on the evidence topic.
    pub max_evidence_msg_bytes: usize,
    /// Largest request of either protocol.
    pub max_request_bytes: usize,
    /// Most blocks per sync request.
    pub max_sync_blocks: u64,
    /// Largest sync response (blocks are dropped from the end to fit, but at least one is sent).
    pub max_sync_response_bytes: usize,
    /// Largest catch-up response.
    pub max_catchup_response_bytes: usize,
    /// Most votes in one catch-up response.
    pub max_votes_per_response: usize,
    /// Inbound sync requests per peer.
    pub sync_rate: Rate,
    /// Inbound catch-up requests per peer.
    pub catchup_rate: Rate,
    /// Most concurrent inbound requests per connection and protocol.
    pub max_concurrent_requests: usize,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections per peer.
    pub max_connections_per_peer: u32,
    /// Most connections in the handshake phase (incoming).
    pub max_pending_incoming: u32,
    /// Rejected gossip messages from one peer within `strike_window` before it is banned.
    pub max_strikes: u32,
    /// The window for `max_strikes`.
    pub strike_window: Duration,
}

/// Overhead allowed beyond a block in a proposal message or a sync entry
/// (signed proposal; a commit of up to a few hundred validators).
const ENVELOPE: usize = 256 * 1024;

impl Limits {
    /// Limits derived from the consensus parameters.
    pub fn from_params(p: &ConsensusParams) -> Limits {
        let block = usize::try_from(p.block_max_bytes).unwrap_or(usize::MAX);
        let tx = usize::try_from(p.tx_max_bytes).unwrap_or(usize::MAX);
        let evidence = usize::try_from(p.evidence_max_bytes).unwrap_or(usize::MAX);
        let max_sync_response = (4 * (block + ENVELOPE)).max(16 * 1024 * 1024);
        Limits {
            max_consensus_msg_bytes: block.saturating_add(ENVELOPE),
            max_tx_batch_bytes: (1024 * 1024).max(tx.saturating_add(1024)),
            max_tx_batch_len: 1024,
            max_tx_bytes: tx,
            max_evidence_msg_bytes: evidence.clamp(16 * 1024, 64 * 1024),
            max_request_bytes: 1024,
            max_sync_blocks: 100,
            max_sync_response_bytes: max_sync_response,
            max_catchup_response_bytes: block.saturating_add(ENVELOPE),
            max_votes_per_response: 1024,
            sync_rate: Rate {
                burst: 20,
                per_second: 10.0,
            },
            catchup_rate: Rate {
                burst: 50,
                per_second: 20.0,
            },
            max_concurrent_requests: 32,
            max_connections: 200,
            max_connections_per_peer: 2,
            max_pending_incoming: 32,
            max_strikes: 10,
            strike_window: Duration::from_secs(60),
        }
    }

    /// Gossipsub's frame limit: the largest topic limit plus protobuf
    /// framing and control. A larger frame is dropped by gossipsub's decoder.
    pub fn max_frame_bytes(&self) -> usize {
        let largest = Topic::ALL
            .iter()
            .map(|t| self.topic_limit(*t))
            .max()
            .unwrap_or(0);
        largest + 64 * 1024
    }

    /// The gossip limit of a topic.
    pub fn topic_limit(&self, topic: Topic) -> usize {
        match topic {
            Topic::Txs => self.max_tx_batch_bytes,
            Topic::Consensus => self.max_consensus_msg_bytes,
            Topic::Evidence => self.max_evidence_msg_bytes,
        }
    }
}

/// How a node runs its network.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The chain id: names the gossip topics and protocols.
    pub chain_id: String,
    /// Addresses to listen on (e.g. `/ip4/0.0.0.0/tcp/26656`).
    pub listen: Vec<Multiaddr>,
    /// Peers to stay connected to; redialled with backoff after any disconnect.
    pub persistent_peers: Vec<PeerAddr>,
    /// Node ids of the current validators (allowed).
    pub validators: Vec<NodeId>,
    /// Other allowed node ids (sentries, full nodes).
    pub extra_allowed: Vec<NodeId>,
    /// Bounds on untrusted input.
    pub limits: Limits,
    /// How long an idle connection stays open (libp2p's default is 10 s).
    pub idle_timeout: Duration,
    /// First redial delay after a persistent peer disconnects or a dial fails.
    pub redial_min: Duration,
    /// Longest redial delay (the delay doubles on each failure up to this).
    pub redial_max: Duration,
    /// Longest a dial may take, TCP connect and handshakes included.
    pub dial_timeout: Duration,
    /// How often each connection is pinged.
    pub ping_interval: Duration,
    /// A connection whose ping is unanswered this long is closed (and a
    /// persistent peer redialled).
    pub ping_timeout: Duration,
    /// How often each peer is asked for its height.
    pub status_interval: Duration,
    /// Timeout of an outbound request, and of the node's answer to an inbound one.
    pub request_timeout: Duration,
    /// How long a peer reported bad (or caught lying) stays banned.
    pub ban_duration: Duration,
    /// Gossipsub heartbeat (mesh maintenance).
    pub heartbeat: Duration,
    /// Capacity of the event channel to the node.
    pub event_capacity: usize,
}

impl NetworkConfig {
    /// Defaults for `chain_id` with limits from `params`.
    pub fn new(chain_id: impl Into<String>, params: &ConsensusParams) -> NetworkConfig {
        NetworkConfig {
            chain_id: chain_id.into(),
            listen: Vec::new(),
            persistent_peers: Vec::new(),
            validators: Vec::new(),
            extra_allowed: Vec::new(),
            limits: Limits::from_params(params),
            idle_timeout: Duration::from_secs(24 * 3600),
            redial_min: Duration::from_millis(500),
            // Short (CometBFT redials persistent peers every ~5 s at
            // first): after a partition heals, the next attempt comes
            // within this. A dial costs a SYN.
            redial_max: Duration::from_secs(2),
            dial_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(1),
            ping_timeout: Duration::from_secs(5),
            status_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            ban_duration: Duration::from_secs(600),
            heartbeat: Duration::from_millis(700),
            event_capacity: 8192,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cometbft_peer_strings() {
        let p =
            PeerAddr::parse("00112233445566778899aabbccddeeff00112233@127.0.0.1:26656").unwrap();
        assert_eq!(p.addr.to_string(), "/ip4/127.0.0.1/tcp/26656");
        assert_eq!(
            p.node_id.to_hex(),
            "00112233445566778899aabbccddeeff00112233"
        );
        assert!(PeerAddr::parse("nohex@127.0.0.1:1").is_err());
        assert!(PeerAddr::parse("00112233445566778899aabbccddeeff00112233@example.com:1").is_err());
    }

    #[test]
    fn default_limits_fit_a_full_block() {
        let p = cairn_types::ChainParams::default().consensus;
        let l = Limits::from_params(&p);
        assert!(l.max_consensus_msg_bytes > p.block_max_bytes as usize);
        assert!(l.max_sync_response_bytes > p.block_max_bytes as usize);
        assert!(l.max_tx_batch_bytes > p.tx_max_bytes as usize);
    }
}
