//! The node's Prometheus metrics, served at `/metrics` in the OpenMetrics
//! text format. Names, types and meanings are listed in `rpc/METRICS.md`.
//!
//! There is no global recorder: the node creates one [`Registry`], calls
//! [`Metrics::register`] (and libp2p's metrics on the same registry), keeps
//! the returned [`Metrics`] (cheap clones sharing the same atomics) in the
//! components that update them, and hands the registry to the server. Each
//! in-process test node thus has its own numbers.
//!
//! Label values are bounded: validators (at most `max_validators`), topics
//! and rejection reasons (fixed sets chosen by the node), and RPC methods
//! (the served set; anything else is counted as `unknown`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_types::ValidatorSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::server::RpcState;

/// Labels: one `(name, value)` pair list per series.
pub type Labels = Vec<(String, String)>;

/// Every metric the node exports. Fields are public so each component updates its own.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Height of the latest committed block.
    pub height: Gauge,
    /// Round in which the latest height was decided (0: first round).
    pub rounds: Gauge,
    /// Rounds needed per height (0: decided in the first round).
    pub rounds_per_height: Histogram,
    /// Seconds between the latest block's time and the previous one's.
    pub block_interval_seconds: Histogram,
    /// Seconds from the start of a height (after `timeout_commit`) to this node's decision.
    pub decision_seconds: Histogram,
    /// Transactions in the latest block.
    pub block_txs: Gauge,
    /// Transactions committed since start.
    pub txs: Counter,
    /// Encoded size of the latest block, bytes.
    pub block_size_bytes: Gauge,
    /// Validators in the current set.
    pub validators: Gauge,
    /// Total voting power of the current set.
    pub validators_power: Gauge,
    /// Voting power per validator address.
    pub validator_power: Family<Labels, Gauge>,
    /// Validators absent from the latest commit.
    pub missing_validators: Gauge,
    /// Their voting power.
    pub missing_validators_power: Gauge,
    /// Validators punished by evidence in the latest block.
    pub byzantine_validators: Gauge,
    /// Their voting power.
    pub byzantine_validators_power: Gauge,
    /// Votes seen that carry this node's validator key but that this node did not sign.
    pub duplicate_signer_alarms: Counter,
    /// Seconds to execute and commit one block.
    pub block_processing_seconds: Histogram,
    /// Transactions in the mempool.
    pub mempool_size: Gauge,
    /// Bytes in the mempool.
    pub mempool_size_bytes: Gauge,
    /// Transactions refused by the mempool, by `reason`.
    pub mempool_rejected_txs: Family<Labels, Counter>,
    /// Connected peers.
    pub peers: Gauge,
    /// Gossip bytes by `topic` and `direction` (`in`/`out`).
    pub p2p_message_bytes: Family<Labels, Counter>,
    /// JSON-RPC calls by `method`.
    pub rpc_requests: Family<Labels, Counter>,
    /// Open websocket clients.
    pub ws_clients: Gauge,
}

const INTERVAL_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0, 300.0,
];
const PROCESSING_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const ROUND_BUCKETS: [f64; 6] = [0.0, 1.0, 2.0, 3.0, 5.0, 10.0];

impl Metrics {
    /// Registers every metric under the `cairn_` prefix and returns the handles.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            height: Gauge::default(),
            rounds: Gauge::default(),
            rounds_per_height: Histogram::new(ROUND_BUCKETS),
            block_interval_seconds: Histogram::new(INTERVAL_BUCKETS),
            decision_seconds: Histogram::new(PROCESSING_BUCKETS),
            block_txs: Gauge::default(),
            txs: Counter::default(),
            block_size_bytes: Gauge::default(),
            validators: Gauge::default(),
            validators_power: Gauge::default(),
            validator_power: Family::default(),
            missing_validators: Gauge::default(),
            missing_validators_power: Gauge::default(),
            byzantine_validators: Gauge::default(),
            byzantine_validators_power: Gauge::default(),
            duplicate_signer_alarms: Counter::default(),
            block_processing_seconds: Histogram::new(PROCESSING_BUCKETS),
            mempool_size: Gauge::default(),
            mempool_size_bytes: Gauge::default(),
            mempool_rejected_txs: Family::default(),
            peers: Gauge::default(),
            p2p_message_bytes: Family::default(),
            rpc_requests: Family::default(),
            ws_clients: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("cairn");
        let c = r.sub_registry_with_prefix("consensus");
        c.register(
            "height",
            "Height of the latest committed block",
            m.height.clone(),
        );
        c.register(
            "rounds",
            "Round in which the latest height was decided (0: first round)",
            m.rounds.clone(),
        );
        c.register(
            "rounds_per_height",
            "Rounds needed to decide each height (0: first round)",
            m.rounds_per_height.clone(),
        );
        c.register(
            "block_interval_seconds",
            "Seconds between consecutive block times",
            m.block_interval_seconds.clone(),
        );
        c.register(
            "decision_seconds",
            "Seconds from the start of a height (after timeout_commit) to this node's decision",
            m.decision_seconds.clone(),
        );
        c.register(
            "block_txs",
            "Transactions in the latest block",
            m.block_txs.clone(),
        );
        c.register(
            "txs",
            "Transactions committed since the node started",
            m.txs.clone(),
        );
        c.register(
            "block_size_bytes",
            "Encoded size of the latest block in bytes",
            m.block_size_bytes.clone(),
        );
        c.register(
            "validators",
            "Validators in the current set",
            m.validators.clone(),
        );
        c.register(
            "validators_power",
            "Total voting power of the current set",
            m.validators_power.clone(),
        );
        c.register(
            "validator_power",
            "Voting power of each validator (label: validator address)",
            m.validator_power.clone(),
        );
        c.register(
            "missing_validators",
            "Validators absent from the latest commit",
            m.missing_validators.clone(),
        );
        c.register(
            "missing_validators_power",
            "Voting power absent from the latest commit",
            m.missing_validators_power.clone(),
        );
        c.register(
            "byzantine_validators",
            "Validators punished by evidence in the latest block",
            m.byzantine_validators.clone(),
        );
        c.register(
            "byzantine_validators_power",
            "Voting power of the validators punished in the latest block",
            m.byzantine_validators_power.clone(),
        );
        c.register("duplicate_signer_alarms", "Votes seen with this node's validator key that this node did not sign (another process uses the key)", m.duplicate_signer_alarms.clone());
        let s = r.sub_registry_with_prefix("state");
        s.register(
            "block_processing_seconds",
            "Seconds to execute and commit one block",
            m.block_processing_seconds.clone(),
        );
        let mp = r.sub_registry_with_prefix("mempool");
        mp.register(
            "size",
            "Transactions in the mempool",
            m.mempool_size.clone(),
        );
        mp.register(
            "size_bytes",
            "Bytes of transactions in the mempool",
            m.mempool_size_bytes.clone(),
        );
        mp.register(
            "rejected_txs",
            "Transactions refused by the mempool (label: reason)",
            m.mempool_rejected_txs.clone(),
        );
        let p = r.sub_registry_with_prefix("p2p");
        p.register("peers", "Connected peers", m.peers.clone());
        p.register(
            "message_bytes",
            "Gossip payload bytes (labels: topic, direction in/out)",
            m.p2p_message_bytes.clone(),
        );
        let rp = r.sub_registry_with_prefix("rpc");
        rp.register(
            "requests",
            "JSON-RPC calls (label: method)",
            m.rpc_requests.clone(),
        );
        rp.register(
            "websocket_clients",
            "Open websocket connections",
            m.ws_clients.clone(),
        );
        m
    }

    /// Sets the validator gauges from the current set (replacing the per-validator series).
    pub fn set_validator_set(&self, set: &ValidatorSet) {
        self.validators.set(set.len() as i64);
        self.validators_power.set(clamp(set.total_power()));
        self.validator_power.clear();
        for v in set.validators() {
            self.validator_power
                .get_or_create(&vec![("validator".to_owned(), v.address.to_hex())])
                .set(clamp(v.power));
        }
    }

    /// Counts a mempool rejection with a short, fixed `reason` (e.g. `bad_signature`, `full`).
    pub fn reject_tx(&self, reason: &str) {
        self.mempool_rejected_txs
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }

    /// Adds gossip bytes for a topic (`tx`, `consensus`, `evidence`, `sync`) and direction (`in`/`out`).
    pub fn p2p_bytes(&self, topic: &str, direction: &str, bytes: u64) {
        self.p2p_message_bytes
            .get_or_create(&vec![
                ("topic".to_owned(), topic.to_owned()),
                ("direction".to_owned(), direction.to_owned()),
            ])
            .inc_by(bytes);
    }

    /// Counts one JSON-RPC call (unknown names are counted as `unknown`).
    pub(crate) fn rpc_request(&self, method: &str) {
        let known =
            crate::methods::METHODS.contains(&method) || crate::methods::WS_ONLY.contains(&method);
        let label = if known { method } else { "unknown" };
        self.rpc_requests
            .get_or_create(&vec![("method".to_owned(), label.to_owned())])
            .inc();
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `GET /metrics`.
pub(crate) async fn metrics_handler(State(state): State<Arc<RpcState>>) -> Response {
    let Some(registry) = &state.registry else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are not enabled on this node",
        )
            .into_response();
    };
    let mut out = String::new();
    if let Err(e) = encode(&mut out, registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_registered_and_encoded() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        m.height.set(42);
        m.txs.inc_by(3);
        m.reject_tx("bad_signature");
        m.p2p_bytes("tx", "in", 100);
        m.block_interval_seconds.observe(1.5);
        let mut out = String::new();
        encode(&mut out, &reg).unwrap();
        for needle in [
            "cairn_consensus_height 42",
            "cairn_consensus_txs_total 3",
            "cairn_mempool_rejected_txs_total{reason=\"bad_signature\"} 1",
            "cairn_p2p_message_bytes_total{topic=\"tx\",direction=\"in\"} 100",
            "cairn_consensus_block_interval_seconds_count 1",
            "cairn_consensus_duplicate_signer_alarms_total 0",
            "cairn_state_block_processing_seconds_count 0",
            "cairn_mempool_size_bytes 0",
            "cairn_p2p_peers 0",
        ] {
            assert!(out.contains(needle), "missing {needle} in\n{out}");
        }
    }
}
