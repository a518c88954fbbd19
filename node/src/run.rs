//! `cairn start`: runs a node until SIGINT or SIGTERM.
//!
//! Tasks: the consensus driver, the network, the RPC server. A fatal error
//! in any of them (a failed write, a dead network task) stops the node with
//! a non-zero exit; a signal stops signing first (the driver exits its loop),
//! then the network and RPC, then closes the database.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::Config;
use crate::home::Home;
use crate::net;
use crate::node::assemble;

/// Installs the log subscriber from `config.log` (`RUST_LOG` wins when set).
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the node of `home` with `config`.
pub async fn start(home: Home, config: Config) -> Result<()> {
    let mut assembled = assemble(&home, &config)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (inbox_tx, inbox_rx) = mpsc::channel(65_536);
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = cairn_rpc::metrics::Metrics::register(&mut registry);
    let p2p_metrics = cairn_p2p::Metrics::register(&mut registry);
    let network = net::spawn(
        &config,
        &mut assembled,
        p2p_metrics,
        inbox_tx,
        shutdown_rx.clone(),
    )
    .await
    .context("starting the network")?;
    crate::metrics::spawn(
        metrics.clone(),
        Arc::clone(&assembled.shared),
        Arc::clone(&assembled.status),
        network.clone(),
        assembled.committed.subscribe(),
    );
    let rpc = crate::rpc_backend::spawn(&config, &assembled, &network, Arc::new(registry), metrics)
        .await
        .context("starting the RPC server")?;
    info!(
        rpc = %rpc.local_addr(),
        node_id = %assembled.node_key.public_key().node_id(),
        height = assembled.driver.height(),
        "cairn node started"
    );
    let driver = assembled.driver;
    let lock = assembled.lock;
    let queries = assembled.vote_query_inbox;
    let mut driver_task = tokio::spawn(driver.run(inbox_rx, queries, shutdown_rx));
    let result = tokio::select! {
        r = &mut driver_task => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => { error!(error = %e, "consensus driver failed"); Err(anyhow::Error::new(e)) }
            Err(e) => Err(anyhow::anyhow!("consensus driver panicked: {e}")),
        },
        s = shutdown_signal() => {
            info!(signal = s, "shutting down");
            let _ = shutdown_tx.send(true);
            match driver_task.await {
                Ok(r) => r.map_err(anyhow::Error::new),
                Err(e) => Err(anyhow::anyhow!("consensus driver panicked: {e}")),
            }
        }
    };
    let _ = shutdown_tx.send(true);
    rpc.stop().await;
    network.stop().await;
    drop(lock);
    info!("stopped");
    result
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the node can still be killed; run until then.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
