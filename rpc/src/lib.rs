//! # cairn-rpc
//!
//! The node's outside face on one HTTP address: CometBFT-compatible JSON-RPC
//! (so cosmjs and tendermint-rs clients work unchanged), websocket events,
//! the block explorer (REST API and a self-contained page) and Prometheus
//! metrics.
//!
//! ## What it owns, what it does not
//! It owns the wire formats of these interfaces, their parsing and
//! validation, their limits, and the event fan-out. It owns no chain data:
//! everything is read through [`NodeBackend`], which the node implements over
//! its block store, state, mempool and p2p handles. Among Cairn's crates it
//! depends on `types` only (DESIGN.md §2): never on consensus, state,
//! mempool or p2p.
//!
//! ## Module map
//! - [`backend`]: the [`NodeBackend`] trait and the plain result structs the
//!   node fills in ([`StatusInfo`], [`TxRecord`], [`BlockResults`], ...).
//! - [`events`]: [`RpcEvents`], the handle the node publishes committed
//!   blocks and txs into.
//! - [`server`]: [`RpcConfig`] (limits), [`RpcServer`] (start/stop), routes,
//!   the connection-limited listener.
//! - `jsonrpc` (private): JSON-RPC 2.0 envelopes, `POST /` and `GET /<method>`.
//! - [`methods`]: the methods (CometBFT v0.38 names, params, results).
//! - [`params`]: parameter reading with CometBFT's conventions (JSON and URI).
//! - [`render`]: Cairn types in CometBFT's JSON shapes.
//! - [`query`]: the event query language (`tx_search`, `subscribe`).
//! - [`ws`]: `/websocket`, subscriptions and the event renderer.
//! - [`error`]: [`RpcError`], one JSON-RPC code per kind.
//! - [`metrics`]: [`Metrics`], every metric of the node (listed in `rpc/METRICS.md`).
//! - [`explorer`]: `/api/...` and the page at `/explorer` (embedded HTML/CSS/JS).
//!
//! ## Flow
//! ```text
//! client ─POST / or GET /method─▶ body limit ─▶ jsonrpc envelope ─▶ methods::call
//!                                                   (timeout) ─▶ spawn_blocking(NodeBackend reads)
//!                                                             └▶ NodeBackend::broadcast_tx (async)
//! node commit ─▶ RpcEvents::publish_block / publish_tx ─▶ broadcast channel
//!                 ├▶ broadcast_tx_commit waiters (match tx hash)
//!                 └▶ renderer (one per server: JSON once) ─▶ each websocket client
//!                                                             (match its queries)
//! ```
//! Wiring, in the node:
//! ```ignore
//! let events = RpcEvents::default();
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = Metrics::register(&mut registry);   // and libp2p's metrics
//! let rpc = RpcServer::new(config, Arc::new(my_backend), events.clone())
//!     .with_metrics(Arc::new(registry), metrics.clone())
//!     .start().await?;
//! // after each durable commit:
//! events.publish_block(block, results);
//! for tx in records { events.publish_tx(tx); }
//! ```
//!
//! ## Invariants (what clients rely on)
//! - CometBFT's JSON conventions: 64-bit integers as strings; hashes and
//!   addresses uppercase hex; node ids 40 lowercase hex; bytes base64;
//!   RFC 3339 times; `{type, value}` keys; `block_id.parts` with total 1 and
//!   the SHA-256 of the encoded block; the first block's missing
//!   `last_block_id`/`last_commit` in CometBFT's empty forms.
//! - `node_info.version` is [`methods::COMETBFT_VERSION`] (a full 0.38
//!   version: clients choose decoders by it); Cairn's version is in
//!   `node_info.other.cairn_version`.
//! - `latest_app_hash` is never empty and `abci_query` never answers height 0.
//! - Every failure is HTTP 200 with a JSON-RPC error (-32700 parse, -32600
//!   invalid request, -32601 unknown method, -32602 invalid params including
//!   out-of-range heights, -32603 node failure or timeout) whose message says
//!   what was wrong; only a body over the limit gets HTTP 413.
//! - No input can make the server panic, allocate without bound, or stop
//!   serving other clients.
//!
//! ## Limits (defaults = the node's `[rpc]` config) and why
//! | limit | default | why |
//! |---|---|---|
//! | listen address | `127.0.0.1:26657` | RPC is an admin surface: loopback unless the operator opens it |
//! | body | 1 MiB (413 above) | a tx is at most 64 KiB by default; batches stay small |
//! | connections | 900 | file descriptors; extra clients wait in the accept queue |
//! | batch | 50 calls | one request cannot fan out into unbounded work |
//! | request timeout | 10 s | a slow read cannot pin a connection forever |
//! | `broadcast_tx_commit` | 10 s, at most 100 waiting | waiting costs a subscription each |
//! | websocket clients | 100 (503 above) | each holds a task and an event cursor |
//! | subscriptions per client | 5 | each is matched against every event |
//! | websocket message | 64 KiB | requests are small; a tx fits |
//! | slow subscriber | event queue 400, write timeout 10 s | it is disconnected (with an error when the socket still takes one), never buffered |
//! | paging | 30 per page, at most 100; `blockchain` 20 metas | CometBFT's numbers |
//! | queries | 512 bytes, 16 conditions | bounded matching cost |
//!
//! ## Errors
//! [`RpcError`] for JSON-RPC, [`BackendError`] from the node (which
//! classifies itself: client-caused errors become -32602),
//! [`explorer::ApiError`] for the REST API, [`ServeError`] at start-up.

pub mod backend;
pub mod error;
pub mod events;
pub mod explorer;
mod jsonrpc;
pub mod methods;
pub mod metrics;
pub mod params;
pub mod query;
pub mod render;
pub mod server;
pub mod ws;

pub use backend::{
    AccountInfo, BackendError, BlockResults, BlockSummary, BoxFuture, CheckTxResult, Event,
    EvidenceRecord, MempoolStats, NetInfo, NodeBackend, OwnValidator, PeerInfo, ProofOp,
    QueryResult, StatusInfo, TxPage, TxRecord, TxResultInfo, ValidatorInfo, ValidatorUpdate,
};
pub use error::RpcError;
pub use events::{ChainEvent, RpcEvents};
pub use jsonrpc::{Request, parse_request};
pub use metrics::Metrics;
pub use server::{RpcConfig, RpcServer, RunningRpc, ServeError};
