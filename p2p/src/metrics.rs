//! Metrics hooks: peers, bytes in and out per topic, rejected messages.
//!
//! prometheus-client types share their value when cloned, so the swarm task
//! updates the same counters that a registry (the node's `/metrics`) reads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::wire::Topic;

/// A label naming a gossip topic.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// The topic's short name.
    pub topic: String,
}

/// A label naming a request-response protocol.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    /// `sync` or `catchup`.
    pub protocol: String,
}

/// The network's metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Connected (allowed) peers.
    pub peers: Gauge,
    /// Gossip payload bytes received, per topic.
    pub bytes_in: Family<TopicLabel, Counter>,
    /// Gossip payload bytes published, per topic.
    pub bytes_out: Family<TopicLabel, Counter>,
    /// Gossip messages received, per topic.
    pub messages_in: Family<TopicLabel, Counter>,
    /// Gossip messages rejected (undecodable, or rejected by the node), per topic.
    pub rejected: Family<TopicLabel, Counter>,
    /// Connections refused or closed because the peer is not allowed or banned.
    pub denied_connections: Counter,
    /// Peers banned (bad reports, lies about heights, too many rejects).
    pub banned_peers: Counter,
    /// Inbound requests refused (rate limit, bad range, oversize), per protocol.
    pub refused_requests: Family<ProtocolLabel, Counter>,
    /// Events dropped because the node's event channel was full.
    pub dropped_events: Counter,
    /// Connections closed because the peer stopped answering pings.
    pub unresponsive_connections: Counter,
}

impl Metrics {
    /// Metrics registered under `cairn_p2p_*` in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("cairn_p2p");
        r.register("peers", "Connected peers", m.peers.clone());
        r.register(
            "gossip_bytes_in",
            "Gossip bytes received",
            m.bytes_in.clone(),
        );
        r.register(
            "gossip_bytes_out",
            "Gossip bytes published",
            m.bytes_out.clone(),
        );
        r.register(
            "gossip_messages_in",
            "Gossip messages received",
            m.messages_in.clone(),
        );
        r.register(
            "gossip_rejected",
            "Gossip messages rejected",
            m.rejected.clone(),
        );
        r.register(
            "denied_connections",
            "Connections denied",
            m.denied_connections.clone(),
        );
        r.register("banned_peers", "Peers banned", m.banned_peers.clone());
        r.register(
            "refused_requests",
            "Inbound requests refused",
            m.refused_requests.clone(),
        );
        r.register(
            "dropped_events",
            "Events dropped (node too slow)",
            m.dropped_events.clone(),
        );
        r.register(
            "unresponsive_connections",
            "Connections closed because the peer stopped answering pings",
            m.unresponsive_connections.clone(),
        );
        m
    }

    pub(crate) fn topic(topic: Topic) -> TopicLabel {
        TopicLabel {
            topic: topic.as_str().to_owned(),
        }
    }

    pub(crate) fn proto(name: &str) -> ProtocolLabel {
        ProtocolLabel {
            protocol: name.to_owned(),
        }
    }

    /// Rejected messages so far on `topic`.
    pub fn rejected_on(&self, topic: Topic) -> u64 {
        self.rejected.get_or_create(&Self::topic(topic)).get()
    }

    /// Refused requests so far on `protocol` (`sync` or `catchup`).
    pub fn refused_on(&self, protocol: &str) -> u64 {
        self.refused_requests
            .get_or_create(&Self::proto(protocol))
            .get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_share_values_with_the_handle() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.peers.inc();
        m.rejected.get_or_create(&Metrics::topic(Topic::Txs)).inc();
        m.bytes_out
            .get_or_create(&Metrics::topic(Topic::Consensus))
            .inc_by(42);
        assert_eq!(m.rejected_on(Topic::Txs), 1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("cairn_p2p_peers 1"), "{text}");
        assert!(
            text.contains("cairn_p2p_gossip_rejected_total{topic=\"txs\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cairn_p2p_gossip_bytes_out_total{topic=\"consensus\"} 42"),
            "{text}"
        );
    }
}
