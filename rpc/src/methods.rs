//! The JSON-RPC methods: CometBFT v0.38's names, parameters and result shapes.
//!
//! Positional parameters follow CometBFT's order (e.g. `validators(height,
//! page, per_page)`). Heights: absent means latest; a height below 1, above
//! the tip, or below the store's base is refused with -32602 and a message
//! that states the valid range.
//!
//! ## `abci_query` paths
//! The path and data go to [`NodeBackend::abci_query`](crate::NodeBackend::abci_query) unchanged; the node
//! decides the paths. At the time of writing it serves (data in parentheses:
//! raw bytes, written as hex in JSON; each path also under `/store/...`):
//! `/account` (20-byte address), `/validator` (operator address),
//! `/delegation` (validator operator address ‖ delegator address),
//! `/put` (owner address ‖ key), `/params` (empty). An unknown path is -32602.
//! `height` 0 or absent is the latest state; the answer's `height` is the
//! block whose execution produced the state, never 0, and with `prove=true`
//! the proof ops verify against the `app_hash` of header `height + 1`.

use std::sync::Arc;
use std::time::Duration;

use cairn_types::Hash;
use cairn_types::json::base64_encode;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::backend::{CheckTxResult, StatusInfo, TxRecord};
use crate::error::RpcError;
use crate::events::ChainEvent;
use crate::params::Params;
use crate::query::TxQuery;
use crate::render;
use crate::server::RpcState;

/// The CometBFT RPC dialect this server speaks, reported in `node_info.version`.
pub const COMETBFT_VERSION: &str = "0.38.17";
/// The `channels` value CometBFT nodes report (clients require it non-empty).
pub const COMETBFT_CHANNELS: &str = "40202122233038606100";
/// CometBFT's p2p protocol version reported in `node_info.protocol_version.p2p`.
pub const P2P_PROTOCOL_VERSION: u64 = 8;
/// Default and largest page sizes for paged methods (CometBFT's).
pub const DEFAULT_PER_PAGE: u64 = 30;
/// Largest page size.
pub const MAX_PER_PAGE: u64 = 100;
/// Most block metas `blockchain` returns.
pub const MAX_BLOCKCHAIN_METAS: u64 = 20;

/// Methods only the websocket serves.
pub const WS_ONLY: &[&str] = &["subscribe", "unsubscribe", "unsubscribe_all"];

/// Every method served over HTTP.
pub const METHODS: &[&str] = &[
    "health",
    "status",
    "net_info",
    "blockchain",
    "block",
    "block_by_hash",
    "block_results",
    "header",
    "header_by_hash",
    "commit",
    "validators",
    "genesis",
    "consensus_params",
    "broadcast_tx_async",
    "broadcast_tx_sync",
    "broadcast_tx_commit",
    "check_tx",
    "tx",
    "tx_search",
    "abci_info",
    "abci_query",
    "unconfirmed_txs",
    "num_unconfirmed_txs",
];

/// Runs one method with the server's request timeout.
pub async fn call(state: &Arc<RpcState>, method: &str, params: Params) -> Result<Value, RpcError> {
    if let Some(m) = &state.metrics {
        m.rpc_request(method);
    }
    let timeout = if method == "broadcast_tx_commit" {
        state.config.timeout_broadcast_tx_commit + Duration::from_secs(1)
    } else {
        state.config.timeout
    };
    match tokio::time::timeout(timeout, dispatch(state, method, params)).await {
        Ok(r) => r,
        Err(_) => Err(RpcError::Internal(format!(
            "{method} timed out after {} ms",
            timeout.as_millis()
        ))),
    }
}

async fn dispatch(state: &Arc<RpcState>, method: &str, p: Params) -> Result<Value, RpcError> {
    match method {
        "health" => Ok(json!({})),
        "broadcast_tx_async" => broadcast_tx_async(state, &p).await,
        "broadcast_tx_sync" => broadcast_tx_sync(state, &p).await,
        "broadcast_tx_commit" => broadcast_tx_commit(state, &p).await,
        "check_tx" => {
            let tx = p.base64_bytes("tx", 0)?;
            let r = state.backend.check_tx(tx).await?;
            Ok(render::check_tx_result(&r))
        }
        m if WS_ONLY.contains(&m) => Err(RpcError::MethodNotFound(format!(
            "{m} (only available on the /websocket endpoint)"
        ))),
        m if METHODS.contains(&m) => {
            let m = m.to_owned();
            let st = state.clone();
            tokio::task::spawn_blocking(move || blocking(&st, &m, &p))
                .await
                .map_err(|e| RpcError::Internal(format!("request task failed: {e}")))?
        }
        m => Err(RpcError::MethodNotFound(m.chars().take(64).collect())),
    }
}

fn blocking(st: &RpcState, method: &str, p: &Params) -> Result<Value, RpcError> {
    match method {
        "status" => status(st),
        "net_info" => net_info(st),
        "blockchain" => blockchain(st, p),
        "block" => {
            let h = resolve_height(st, p, "height", 0)?;
            block_result(st, h)
        }
        "block_by_hash" => {
            let hash = p.hash("hash", 0)?;
            match st.backend.block_height_by_hash(&hash)? {
                Some(h) => block_result(st, h),
                None => Ok(json!({"block_id": render::empty_block_id(), "block": null})),
            }
        }
        "header" => {
            let h = resolve_height(st, p, "height", 0)?;
            let b = st.block_at(h)?;
            Ok(json!({"header": render::header(&b.header, st)}))
        }
        "header_by_hash" => {
            let hash = p.hash("hash", 0)?;
            match st.backend.block_height_by_hash(&hash)? {
                Some(h) => {
                    let b = st.block_at(h)?;
                    Ok(json!({"header": render::header(&b.header, st)}))
                }
                None => Ok(json!({"header": null})),
            }
        }
        "block_results" => block_results(st, p),
        "commit" => commit(st, p),
        "validators" => validators(st, p),
        "genesis" => Ok(json!({"genesis": st.backend.genesis_json()?})),
        "consensus_params" => {
            let h = resolve_height(st, p, "height", 0)?;
            let params = st.backend.consensus_params(h)?.ok_or_else(|| {
                RpcError::params(format!("consensus params at height {h} are not available"))
            })?;
            Ok(
                json!({"block_height": h.to_string(), "consensus_params": render::consensus_params(&params)}),
            )
        }
        "tx" => {
            let hash = p.hash("hash", 0)?;
            let _prove = p.bool("prove", 1)?;
            match st.backend.tx(&hash)? {
                Some(r) => Ok(render::tx_record(&r)),
                None => Err(RpcError::params(format!(
                    "tx ({}) not found",
                    hash.to_hex()
                ))),
            }
        }
        "tx_search" => tx_search(st, p),
        "abci_info" => {
            let s = st.backend.status()?;
            Ok(json!({"response": {
                "data": "cairn",
                "version": env!("CARGO_PKG_VERSION"),
                "app_version": cairn_types::block::APP_VERSION.to_string(),
                "last_block_height": s.latest.as_ref().map_or(0, |l| l.height).to_string(),
                "last_block_app_hash": base64_encode(&s.state_root.0),
            }}))
        }
        "abci_query" => abci_query(st, p),
        "unconfirmed_txs" => {
            let limit = p
                .u64_max("limit", 0, MAX_PER_PAGE)?
                .unwrap_or(DEFAULT_PER_PAGE);
            let stats = st.backend.mempool_stats()?;
            let txs = st.backend.unconfirmed_txs(limit as usize)?;
            let txs: Vec<String> = txs.iter().map(|t| base64_encode(t)).collect();
            Ok(json!({
                "n_txs": txs.len().to_string(),
                "total": stats.n_txs.to_string(),
                "total_bytes": stats.total_bytes.to_string(),
                "txs": txs,
            }))
        }
        "num_unconfirmed_txs" => {
            let stats = st.backend.mempool_stats()?;
            Ok(json!({
                "n_txs": stats.n_txs.to_string(),
                "total": stats.n_txs.to_string(),
                "total_bytes": stats.total_bytes.to_string(),
                "txs": null,
            }))
        }
        m => Err(RpcError::MethodNotFound(m.to_owned())),
    }
}

/// Latest and earliest stored heights (0, 0 before the first block).
fn bounds(s: &StatusInfo) -> (u64, u64) {
    let latest = s.latest.as_ref().map_or(0, |b| b.height);
    let earliest = s.earliest.as_ref().map_or(latest.min(1), |b| b.height);
    (earliest, latest)
}

/// Checks a requested height against the store: `> 0`, `<= latest`, `>= base`.
pub fn check_height(h: i64, earliest: u64, latest: u64) -> Result<u64, RpcError> {
    if h <= 0 {
        return Err(RpcError::params(format!(
            "height must be greater than 0, but got {h}"
        )));
    }
    let h = h as u64;
    if h > latest {
        return Err(RpcError::params(format!(
            "height {h} must be less than or equal to the current blockchain height {latest}"
        )));
    }
    if h < earliest {
        return Err(RpcError::params(format!(
            "height {h} is not available, lowest height is {earliest}"
        )));
    }
    Ok(h)
}

fn resolve_height(st: &RpcState, p: &Params, name: &str, pos: usize) -> Result<u64, RpcError> {
    let s = st.backend.status()?;
    let (earliest, latest) = bounds(&s);
    match p.i64(name, pos)? {
        Some(h) => check_height(h, earliest, latest),
        None if latest == 0 => Err(RpcError::params("no block has been committed yet")),
        None => Ok(latest),
    }
}

fn status(st: &RpcState) -> Result<Value, RpcError> {
    let s = st.backend.status()?;
    let summary = |b: Option<&crate::backend::BlockSummary>| match b {
        Some(b) => (b.block_id.0.to_hex(), b.app_hash.to_hex(), b.height, b.time),
        None => (String::new(), s.state_root.to_hex(), 0, s.genesis_time),
    };
    let (lh, la, lheight, ltime) = summary(s.latest.as_ref());
    let (eh, ea, eheight, etime) = summary(s.earliest.as_ref());
    Ok(json!({
        "node_info": node_info(st, &s),
        "sync_info": {
            "latest_block_hash": lh,
            "latest_app_hash": la,
            "latest_block_height": lheight.to_string(),
            "latest_block_time": render::time(ltime),
            "earliest_block_hash": eh,
            "earliest_app_hash": ea,
            "earliest_block_height": eheight.to_string(),
            "earliest_block_time": render::time(etime),
            "catching_up": s.catching_up,
        },
        "validator_info": {
            "address": s.validator.pub_key.address().to_hex(),
            "pub_key": s.validator.pub_key,
            "voting_power": s.validator.voting_power.to_string(),
        },
    }))
}

fn node_info_json(id: &str, listen: &str, network: &str, moniker: &str, rpc: &str) -> Value {
    // cosmjs requires these non-empty.
    let moniker = if moniker.is_empty() {
        "cairn-node"
    } else {
        moniker
    };
    let listen = if listen.is_empty() { "unknown" } else { listen };
    json!({
        "protocol_version": {
            "p2p": P2P_PROTOCOL_VERSION.to_string(),
            "block": cairn_types::block::BLOCK_VERSION.to_string(),
            "app": cairn_types::block::APP_VERSION.to_string(),
        },
        "id": id,
        "listen_addr": listen,
        "network": network,
        "version": COMETBFT_VERSION,
        // CometBFT's channel list; cosmjs refuses an empty value. Cairn gossips
        // over libp2p topics instead, so this only names the dialect's usual set.
        "channels": COMETBFT_CHANNELS,
        "moniker": moniker,
        "other": {
            "tx_index": "on",
            "rpc_address": rpc,
            "cairn_version": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn node_info(st: &RpcState, s: &StatusInfo) -> Value {
    let mut v = node_info_json(
        &s.node_id.to_hex(),
        &s.p2p_listen_addr,
        &s.chain_id,
        &s.moniker,
        &format!("tcp://{}", st.local_addr),
    );
    if !s.tx_index {
        v["other"]["tx_index"] = json!("off");
    }
    v
}

fn net_info(st: &RpcState) -> Result<Value, RpcError> {
    let n = st.backend.net_info()?;
    let s = st.backend.status()?;
    let zero_monitor = json!({
        "Active": true, "Start": render::ZERO_TIME, "Duration": "0", "Idle": "0",
        "Bytes": "0", "Samples": "0", "InstRate": "0", "CurRate": "0", "AvgRate": "0",
        "PeakRate": "0", "BytesRem": "0", "TimeRem": "0", "Progress": 0,
    });
    let peers: Vec<Value> = n
        .peers
        .iter()
        .map(|p| {
            json!({
                "node_info": node_info_json(&p.node_id.to_hex(), &p.listen_addr, &s.chain_id, &p.moniker, ""),
                "is_outbound": p.is_outbound,
                "connection_status": {
                    "Duration": "0",
                    "SendMonitor": zero_monitor,
                    "RecvMonitor": zero_monitor,
                    "Channels": [],
                },
                "remote_ip": p.remote_ip,
            })
        })
        .collect();
    Ok(json!({
        "listening": n.listening,
        "listeners": n.listeners,
        "n_peers": peers.len().to_string(),
        "peers": peers,
    }))
}

fn block_result(st: &RpcState, h: u64) -> Result<Value, RpcError> {
    let b = st.block_at(h)?;
    let parts = render::block_parts_hash(&b);
    Ok(json!({
        "block_id": render::block_id(&b.id(), Some(parts)),
        "block": render::block(&b, st),
    }))
}

fn blockchain(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let s = st.backend.status()?;
    let (earliest, latest) = bounds(&s);
    let min = p.i64("minHeight", 0)?.unwrap_or(0);
    let max = p.i64("maxHeight", 1)?.unwrap_or(0);
    if min < 0 || max < 0 {
        return Err(RpcError::params(format!(
            "heights must be non-negative, got minHeight {min} and maxHeight {max}"
        )));
    }
    let mut max = if max == 0 {
        latest
    } else {
        (max as u64).min(latest)
    };
    let mut min = (min as u64).max(earliest.max(1));
    if latest == 0 {
        max = 0;
        min = 1;
    }
    min = min.max(max.saturating_add(1).saturating_sub(MAX_BLOCKCHAIN_METAS));
    if latest > 0 && min > max {
        return Err(RpcError::params(format!(
            "min height {min} can't be greater than max height {max}"
        )));
    }
    let mut metas = Vec::new();
    for h in (min..=max).rev() {
        let b = st.block_at(h)?;
        let bytes = b.to_bytes();
        metas.push(json!({
            "block_id": render::block_id(&b.id(), Some(Hash::digest(&bytes))),
            "block_size": bytes.len().to_string(),
            "header": render::header(&b.header, st),
            "num_txs": b.txs.len().to_string(),
        }));
    }
    Ok(json!({"last_height": latest.to_string(), "block_metas": metas}))
}

fn block_results(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let h = resolve_height(st, p, "height", 0)?;
    let r = st
        .backend
        .block_results(h)?
        .ok_or_else(|| RpcError::params(format!("results for height {h} are not available")))?;
    let txs: Vec<_> = r.txs.iter().map(render::exec_tx_result).collect();
    Ok(json!({
        "height": h.to_string(),
        "txs_results": (!txs.is_empty()).then_some(txs),
        "finalize_block_events": render::events(&r.finalize_block_events),
        "validator_updates": render::validator_updates(&r),
        "consensus_param_updates": r.param_updates.as_ref().map(render::consensus_params),
        "app_hash": r.app_hash.to_hex(),
    }))
}

fn commit(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let h = resolve_height(st, p, "height", 0)?;
    let b = st.block_at(h)?;
    let (c, canonical) = st
        .backend
        .commit(h)?
        .ok_or_else(|| RpcError::params(format!("commit for height {h} is not available")))?;
    let vals = st.validators_at_height(h)?;
    let parts = render::block_parts_hash(&b);
    Ok(json!({
        "signed_header": {
            "header": render::header(&b.header, st),
            "commit": render::commit(&c, Some(parts), Some(&vals)),
        },
        "canonical": canonical,
    }))
}

fn page_params(p: &Params, page_pos: usize, total: u64) -> Result<(u64, u64), RpcError> {
    let per_page = match p.i64("per_page", page_pos + 1)? {
        None => DEFAULT_PER_PAGE,
        Some(n) if n <= 0 => DEFAULT_PER_PAGE,
        Some(n) => (n as u64).min(MAX_PER_PAGE),
    };
    let pages = total.div_ceil(per_page).max(1);
    let page = match p.i64("page", page_pos)? {
        None => 1,
        Some(n) if n >= 1 && n as u64 <= pages => n as u64,
        Some(n) => {
            return Err(RpcError::params(format!(
                "page should be within [1, {pages}] range, given {n}"
            )));
        }
    };
    Ok((page, per_page))
}

fn validators(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let h = resolve_height(st, p, "height", 0)?;
    let set = st.validators_at_height(h)?;
    let total = set.len() as u64;
    let (page, per_page) = page_params(p, 1, total)?;
    let skip = ((page - 1) * per_page) as usize;
    let vals = render::validators(&set, skip, per_page as usize);
    Ok(json!({
        "block_height": h.to_string(),
        "validators": vals,
        "count": vals.len().to_string(),
        "total": total.to_string(),
    }))
}

fn tx_search(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let q = p
        .string("query", 0)?
        .ok_or_else(|| RpcError::params("query: missing"))?;
    let query = TxQuery::parse(&q).map_err(|e| RpcError::params(format!("query: {e}")))?;
    let _prove = p.bool("prove", 1)?;
    let descending = match p.string("order_by", 4)?.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(RpcError::params(format!(
                "order_by: expected \"asc\" or \"desc\", got {o:?}"
            )));
        }
    };
    // Validate paging before asking the index (page bounds need the total).
    let per_page = match p.i64("per_page", 3)? {
        None => DEFAULT_PER_PAGE,
        Some(n) if n <= 0 => DEFAULT_PER_PAGE,
        Some(n) => (n as u64).min(MAX_PER_PAGE),
    };
    let page = match p.i64("page", 2)? {
        None => 1,
        Some(n) if n >= 1 && n <= i64::from(u32::MAX) => n as u32,
        Some(n) => {
            return Err(RpcError::params(format!(
                "page should be at least 1, given {n}"
            )));
        }
    };
    let res = st
        .backend
        .tx_search(&query, page, per_page as u32, descending)?;
    let pages = res.total.div_ceil(per_page).max(1);
    if u64::from(page) > pages {
        return Err(RpcError::params(format!(
            "page should be within [1, {pages}] range, given {page}"
        )));
    }
    let txs: Vec<Value> = res.txs.iter().map(render::tx_record).collect();
    Ok(json!({"txs": txs, "total_count": res.total.to_string()}))
}

fn abci_query(st: &RpcState, p: &Params) -> Result<Value, RpcError> {
    let path = p.string("path", 0)?.unwrap_or_default();
    let data = p.hex_bytes("data", 1)?;
    let s = st.backend.status()?;
    let (earliest, latest) = bounds(&s);
    let height = match p.i64("height", 2)? {
        None | Some(0) => latest,
        Some(h) => check_height(h, earliest, latest)?,
    };
    if height == 0 {
        return Err(RpcError::params(
            "no block has been committed yet: there is no state version to query",
        ));
    }
    let prove = p.bool("prove", 3)?.unwrap_or(false);
    let r = st.backend.abci_query(&path, &data, height, prove)?;
    let proof = r.proof_ops.as_ref().map(|ops| {
        let ops: Vec<Value> = ops
            .iter()
            .map(|o| json!({"type": o.kind, "key": base64_encode(&o.key), "data": base64_encode(&o.data)}))
            .collect();
        json!({ "ops": ops })
    });
    let answered = if r.height == 0 { height } else { r.height };
    Ok(json!({"response": {
        "code": r.code,
        "log": r.log,
        "info": "",
        "index": "0",
        "key": base64_encode(&r.key),
        "value": base64_encode(&r.value),
        "proofOps": proof,
        "height": answered.to_string(),
        "codespace": "",
    }}))
}

fn broadcast_result(hash: &Hash, r: &CheckTxResult) -> Value {
    json!({
        "code": r.code,
        "data": "",
        "log": r.log,
        "codespace": r.codespace,
        "hash": hash.to_hex(),
    })
}

async fn broadcast_tx_sync(state: &Arc<RpcState>, p: &Params) -> Result<Value, RpcError> {
    let tx = p.base64_bytes("tx", 0)?;
    let hash = cairn_types::tx::tx_hash(&tx);
    let r = state.backend.broadcast_tx(tx).await?;
    Ok(broadcast_result(&hash, &r))
}

async fn broadcast_tx_async(state: &Arc<RpcState>, p: &Params) -> Result<Value, RpcError> {
    let tx = p.base64_bytes("tx", 0)?;
    let hash = cairn_types::tx::tx_hash(&tx);
    let permit = state
        .async_broadcasts
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            RpcError::Internal("too many broadcast_tx_async calls in flight; retry later".into())
        })?;
    let st = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = st.backend.broadcast_tx(tx).await {
            tracing::debug!(error = %e, "broadcast_tx_async failed");
        }
    });
    Ok(broadcast_result(&hash, &CheckTxResult::default()))
}

async fn broadcast_tx_commit(state: &Arc<RpcState>, p: &Params) -> Result<Value, RpcError> {
    let tx = p.base64_bytes("tx", 0)?;
    let hash = cairn_types::tx::tx_hash(&tx);
    let _permit = state
        .commit_waiters
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            RpcError::Internal(format!(
                "max_subscription_clients {} reached: too many broadcast_tx_commit calls waiting",
                state.config.max_subscription_clients
            ))
        })?;
    // Subscribe before admitting the tx, so the commit cannot slip by unseen.
    let mut rx = state.events.subscribe();
    let check = state.backend.broadcast_tx(tx).await?;
    let check_json = render::check_tx_result(&check);
    if check.code != 0 {
        return Ok(json!({
            "check_tx": check_json,
            "tx_result": render::exec_tx_result(&Default::default()),
            "hash": hash.to_hex(),
            "height": "0",
        }));
    }
    let deadline = tokio::time::Instant::now() + state.config.timeout_broadcast_tx_commit;
    let found: Option<Arc<TxRecord>> = loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => break None,
            Ok(Ok(ChainEvent::Tx(r))) if r.hash == hash => break Some(r),
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => {
                // Missed events: the tx may have been committed meanwhile.
                if let Some(r) = lookup_tx(state, hash).await? {
                    break Some(Arc::new(r));
                }
            }
            Ok(Err(RecvError::Closed)) => break None,
        }
    };
    let found = match found {
        Some(r) => Some(r),
        None => lookup_tx(state, hash).await?.map(Arc::new),
    };
    match found {
        Some(r) => Ok(json!({
            "check_tx": check_json,
            "tx_result": render::exec_tx_result(&r.result),
            "hash": hash.to_hex(),
            "height": r.height.to_string(),
        })),
        None => Err(RpcError::Internal(format!(
            "timed out waiting for tx {} to be included in a block (waited {} ms; it may still be committed later)",
            hash.to_hex(),
            state.config.timeout_broadcast_tx_commit.as_millis()
        ))),
    }
}

async fn lookup_tx(state: &Arc<RpcState>, hash: Hash) -> Result<Option<TxRecord>, RpcError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.backend.tx(&hash))
        .await
        .map_err(|e| RpcError::Internal(format!("request task failed: {e}")))?
        .map_err(RpcError::from)
}
