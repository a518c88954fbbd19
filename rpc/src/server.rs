//! The HTTP server: configuration and limits, shared state, routes, the
//! connection-limited listener, and start/stop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cairn_types::{Block, BlockId, Hash, ValidatorSet};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;

use crate::backend::NodeBackend;
use crate::error::RpcError;
use crate::events::RpcEvents;
use crate::metrics::Metrics;
use crate::render::{self, Lookup};
use crate::ws::EventFanout;

/// Server configuration. The defaults are the node's `[rpc]` defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Where to listen. Default `127.0.0.1:26657`: loopback only unless the operator opens it.
    pub listen_address: SocketAddr,
    /// Largest request body (larger gets HTTP 413). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Most open TCP connections; further ones wait in the kernel's accept queue. Default 900.
    pub max_connections: usize,
    /// Most requests in one JSON-RPC batch. Default 50.
    pub max_batch_size: usize,
    /// Time limit of one request (each call of a batch). Default 10 s.
    pub timeout: Duration,
    /// How long `broadcast_tx_commit` waits for the commit. Default 10 s.
    pub timeout_broadcast_tx_commit: Duration,
    /// Most websocket clients, and most concurrent `broadcast_tx_commit` waiters. Default 100.
    pub max_subscription_clients: usize,
    /// Most subscriptions per websocket client. Default 5.
    pub max_subscriptions_per_client: usize,
    /// Largest websocket message (and frame) a client may send. Default 64 KiB.
    pub ws_max_message_bytes: usize,
    /// Most responses queued to one websocket client before it counts as too slow. Default 100.
    pub ws_send_queue: usize,
    /// Longest time a websocket write may take before the client counts as too slow. Default 10 s.
    pub ws_write_timeout: Duration,
    /// Most `broadcast_tx_async` submissions in flight. Default 1000.
    pub max_async_broadcasts: usize,
    /// How long a connection may take to send a request's header, counted
    /// from its first byte or, kept alive, from the previous response; then
    /// it is closed, so idle and slowloris connections cannot hold the
    /// `max_connections` slots. Upgraded websockets are exempt. Default 10 s.
    pub header_read_timeout: Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            listen_address: SocketAddr::from(([127, 0, 0, 1], 26657)),
            max_body_bytes: 1024 * 1024,
            max_connections: 900,
            max_batch_size: 50,
            timeout: Duration::from_secs(10),
            timeout_broadcast_tx_commit: Duration::from_secs(10),
            max_subscription_clients: 100,
            max_subscriptions_per_client: 5,
            ws_max_message_bytes: 64 * 1024,
            ws_send_queue: 100,
            ws_write_timeout: Duration::from_secs(10),
            max_async_broadcasts: 1000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Entries kept in each lookup cache before it is cleared.
const CACHE_ENTRIES: usize = 4096;

/// State shared by every handler.
pub struct RpcState {
    pub(crate) backend: Arc<dyn NodeBackend>,
    pub(crate) events: RpcEvents,
    pub(crate) config: RpcConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) fanout: EventFanout,
    pub(crate) ws_clients: Arc<Semaphore>,
    pub(crate) commit_waiters: Arc<Semaphore>,
    pub(crate) async_broadcasts: Arc<Semaphore>,
    pub(crate) metrics: Option<Metrics>,
    pub(crate) registry: Option<Arc<Registry>>,
    parts: Mutex<HashMap<u64, (BlockId, Hash)>>,
    vals: Mutex<HashMap<u64, Arc<ValidatorSet>>>,
}

impl RpcState {
    /// The block at `height`, which the caller has checked is in range.
    pub(crate) fn block_at(&self, height: u64) -> Result<Block, RpcError> {
        let b = self.backend.block(height)?.ok_or_else(|| {
            RpcError::params(format!("block at height {height} is not available"))
        })?;
        self.remember_parts(height, b.id(), render::block_parts_hash(&b));
        Ok(b)
    }

    /// The validator set of block `height`.
    pub(crate) fn validators_at_height(&self, height: u64) -> Result<Arc<ValidatorSet>, RpcError> {
        self.validators_at(height).ok_or_else(|| {
            RpcError::params(format!("validator set at height {height} is not available"))
        })
    }

    fn remember_parts(&self, height: u64, id: BlockId, parts: Hash) {
        if let Ok(mut m) = self.parts.lock() {
            if m.len() >= CACHE_ENTRIES {
                m.clear();
            }
            m.insert(height, (id, parts));
        }
    }
}

impl Lookup for RpcState {
    fn parts_hash(&self, height: u64, id: &BlockId) -> Option<Hash> {
        if let Ok(m) = self.parts.lock()
            && let Some((cid, parts)) = m.get(&height)
        {
            return (cid == id).then_some(*parts);
        }
        let b = self.backend.block(height).ok().flatten()?;
        let (bid, parts) = (b.id(), render::block_parts_hash(&b));
        self.remember_parts(height, bid, parts);
        (bid == *id).then_some(parts)
    }

    fn validators_at(&self, height: u64) -> Option<Arc<ValidatorSet>> {
        if let Ok(m) = self.vals.lock()
            && let Some(v) = m.get(&height)
        {
            return Some(v.clone());
        }
        let set = Arc::new(self.backend.validators(height).ok().flatten()?);
        if let Ok(mut m) = self.vals.lock() {
            if m.len() >= CACHE_ENTRIES {
                m.clear();
            }
            m.insert(height, set.clone());
        }
        Some(set)
    }
}

/// The RPC server, before it is started.
pub struct RpcServer {
    config: RpcConfig,
    backend: Arc<dyn NodeBackend>,
    events: RpcEvents,
    metrics: Option<(Arc<Registry>, Metrics)>,
}

/// A running server.
pub struct RunningRpc {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    renderer: JoinHandle<()>,
}

impl RunningRpc {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight requests finish (bounded by the request timeout), and returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.renderer.abort();
        let _ = (&mut self.task).await;
    }
}

impl RpcServer {
    /// A server over `backend` that streams the events published on `events`.
    pub fn new(config: RpcConfig, backend: Arc<dyn NodeBackend>, events: RpcEvents) -> RpcServer {
        RpcServer {
            config,
            backend,
            events,
            metrics: None,
        }
    }

    /// Serves `registry` at `/metrics` and counts RPC requests in `metrics`
    /// (which must be registered in `registry`, see [`Metrics::register`]).
    pub fn with_metrics(mut self, registry: Arc<Registry>, metrics: Metrics) -> RpcServer {
        self.metrics = Some((registry, metrics));
        self
    }

    fn state(self, local_addr: SocketAddr) -> Arc<RpcState> {
        let (registry, metrics) = match self.metrics {
            Some((r, m)) => (Some(r), Some(m)),
            None => (None, None),
        };
        Arc::new(RpcState {
            ws_clients: Arc::new(Semaphore::new(self.config.max_subscription_clients)),
            commit_waiters: Arc::new(Semaphore::new(self.config.max_subscription_clients)),
            async_broadcasts: Arc::new(Semaphore::new(self.config.max_async_broadcasts)),
            backend: self.backend,
            events: self.events,
            config: self.config,
            local_addr,
            fanout: EventFanout::default(),
            metrics,
            registry,
            parts: Mutex::new(HashMap::new()),
            vals: Mutex::new(HashMap::new()),
        })
    }

    /// Binds the listen address and serves until [`RunningRpc::stop`].
    pub async fn start(self) -> Result<RunningRpc, ServeError> {
        let addr = self.config.listen_address;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let state = self.state(local_addr);
        let renderer = tokio::spawn(crate::ws::render_events(state.clone()));
        let app = router(state.clone());
        let listener = LimitedListener {
            inner: listener,
            permits: Arc::new(Semaphore::new(state.config.max_connections)),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, state.config.header_read_timeout, rx));
        tracing::info!(%local_addr, "rpc server listening");
        Ok(RunningRpc {
            local_addr,
            shutdown: Some(tx),
            task,
            renderer,
        })
    }
}

/// All routes. Static routes win over `/{method}`, so `/api`, `/explorer`,
/// `/metrics` and `/websocket` are never taken for JSON-RPC methods.
pub(crate) fn router(state: Arc<RpcState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = state
        .config
        .timeout
        .max(state.config.timeout_broadcast_tx_commit)
        + Duration::from_secs(2);
    Router::new()
        .route(
            "/",
            post(crate::jsonrpc::post_handler).get(crate::explorer::redirect_root),
        )
        .route("/websocket", get(crate::ws::ws_handler))
        .route("/metrics", get(crate::metrics::metrics_handler))
        .merge(crate::explorer::routes())
        .route("/{method}", get(crate::jsonrpc::uri_handler))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Accepts connections until `stop` fires and serves each on a task of its
/// own: HTTP/1.1 with upgrades (websocket) and hyper's header read timeout
/// (axum's own `serve` sets none, so idle connections held slots forever).
async fn serve(
    mut listener: LimitedListener,
    app: Router,
    header_read_timeout: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    use axum::serve::Listener;
    loop {
        let (io, _) = tokio::select! {
            conn = listener.accept() => conn,
            _ = &mut stop => return,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "rpc connection ended with an error");
            }
        });
    }
}

/// A TCP listener that holds at most `permits` connections open: `accept`
/// waits for a free permit first, so excess clients queue in the kernel
/// instead of costing the node memory.
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

/// A connection that returns its permit when closed.
pub(crate) struct LimitedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                // The semaphore is never closed; wait and retry rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        LimitedStream {
                            inner: stream,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "rpc accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
