//! Keeps the Prometheus metrics (defined in `cairn_rpc::metrics`, listed in
//! `rpc/METRICS.md`) up to date from committed blocks and periodic samples.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_rpc::metrics::Metrics;
use cairn_types::CommitSig;
use tokio::sync::broadcast;

use crate::driver::{Committed, DriverStatus};
use crate::net::Network;
use crate::node::Shared;

/// Spawns the task that updates `metrics` until the node stops.
pub fn spawn(
    metrics: Metrics,
    shared: Arc<Shared>,
    status: Arc<DriverStatus>,
    network: Network,
    mut committed: broadcast::Receiver<Committed>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_time = None;
        let mut alarmed = false;
        loop {
            tokio::select! {
                c = committed.recv() => match c {
                    Ok(c) => {
                        on_commit(&metrics, &shared, &c, last_time);
                        last_time = Some(c.block.header.time);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = tick.tick() => {
                    if let Ok(m) = shared.mempool.lock() {
                        metrics.mempool_size.set(m.len() as i64);
                        metrics.mempool_size_bytes.set(m.total_bytes() as i64);
                    }
                    metrics.peers.set(network.peer_count() as i64);
                    if !alarmed && status.duplicate_signer.load(Ordering::SeqCst) {
                        alarmed = true;
                        metrics.duplicate_signer_alarms.inc();
                    }
                }
            }
        }
    });
}

fn on_commit(metrics: &Metrics, shared: &Shared, c: &Committed, last: Option<cairn_types::Time>) {
    let b = &c.block;
    metrics.height.set(b.header.height as i64);
    metrics.rounds.set(i64::from(c.round));
    metrics.rounds_per_height.observe(f64::from(c.round));
    metrics.block_txs.set(b.txs.len() as i64);
    metrics.txs.inc_by(b.txs.len() as u64);
    metrics.block_size_bytes.set(b.encoded_len() as i64);
    metrics
        .block_processing_seconds
        .observe(c.processing.as_secs_f64());
    if let Some(d) = c.decision {
        metrics.decision_seconds.observe(d.as_secs_f64());
    }
    if let Some(t) = last {
        metrics
            .block_interval_seconds
            .observe(b.header.time.0.saturating_sub(t.0) as f64 / 1e9);
    }
    let height = b.header.height;
    if let Ok(Some(set)) = shared.store.validators_at(height) {
        let missing: Vec<u64> = c
            .commit
            .signatures
            .iter()
            .zip(set.validators())
            .filter(|(s, _)| matches!(s, CommitSig::Absent))
            .map(|(_, v)| v.power)
            .collect();
        metrics.missing_validators.set(missing.len() as i64);
        metrics
            .missing_validators_power
            .set(missing.iter().sum::<u64>() as i64);
    }
    if let Ok(Some(next)) = shared.store.validators_at(height + 1) {
        metrics.set_validator_set(&next);
    }
    let byzantine: Vec<u64> = b
        .evidence
        .iter()
        .map(|e| match e {
            cairn_types::Evidence::DuplicateVote(d) => d.validator_power,
        })
        .collect();
    metrics.byzantine_validators.set(byzantine.len() as i64);
    metrics
        .byzantine_validators_power
        .set(byzantine.iter().sum::<u64>() as i64);
}
