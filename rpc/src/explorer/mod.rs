//! The block explorer: a REST API under `/api/` and a self-contained page at
//! `/explorer` (HTML, CSS and JS embedded with `include_str!`; no CDN, no
//! build step). A browser opening `/` is redirected to `/explorer`.
//!
//! API (JSON; amounts and heights as strings where they may exceed 2^53):
//! - `GET /api/status`: chain, tip, sync state, mempool and peer counts;
//! - `GET /api/blocks?before=H&limit=N`: newest blocks first (limit ≤ 100);
//! - `GET /api/blocks/{height or hash}`: header, decoded txs with results,
//!   evidence, and the signers of this block's commit;
//! - `GET /api/txs/{hash}`: decoded tx, result code, log and events;
//! - `GET /api/accounts/{address}`: balance, nonce, stake and recent txs;
//! - `GET /api/validators`: every staking validator with stake, power,
//!   jailed and tombstoned flags;
//! - `GET /api/evidence`: recently committed evidence;
//! - `GET /api/search?q=`: where a height, hash or address leads.
//!
//! Errors are `{"error": "..."}` with 400 (bad input), 404 (not found) or 500.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use cairn_types::json::base64_encode;
use cairn_types::{Address, CommitSig, Evidence, Hash, Msg, PutCondition, Tx};
use serde_json::{Value, json};

use crate::backend::{BackendError, TxRecord};
use crate::error::RpcError;
use crate::params::parse_hash;
use crate::query::TxQuery;
use crate::server::RpcState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Largest page of blocks.
pub const MAX_BLOCKS_PAGE: u64 = 100;
/// Recent txs listed for an account.
pub const ACCOUNT_TXS: u32 = 25;
/// Largest tx decoded for display.
const MAX_TX_DECODE: usize = 1 << 20;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The input is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// The node failed (500).
    #[error("{0}")]
    Internal(String),
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable { .. } => ApiError::NotFound(e.to_string()),
            BackendError::Rejected { .. } => ApiError::BadRequest(e.to_string()),
            BackendError::Internal { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Internal(m) => ApiError::Internal(m),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, axum::Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// Explorer routes (page and API).
pub(crate) fn routes() -> Router<Arc<RpcState>> {
    Router::new()
        .route(
            "/explorer",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/explorer/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/explorer/app.js",
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/explorer/style.css",
            get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/api/status", get(api_status))
        .route("/api/blocks", get(api_blocks))
        .route("/api/blocks/{id}", get(api_block))
        .route("/api/txs/{hash}", get(api_tx))
        .route("/api/accounts/{address}", get(api_account))
        .route("/api/validators", get(api_validators))
        .route("/api/evidence", get(api_evidence))
        .route("/api/search", get(api_search))
}

fn page(body: &'static str, ctype: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: browsers go to the explorer (JSON-RPC uses `POST /`).
pub(crate) async fn redirect_root() -> Redirect {
    Redirect::to("/explorer")
}

async fn run<F>(state: Arc<RpcState>, f: F) -> Response
where
    F: FnOnce(&RpcState) -> Result<Value, ApiError> + Send + 'static,
{
    let timeout = state.config.timeout;
    let task = tokio::task::spawn_blocking(move || f(&state));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Ok(v))) => axum::Json(v).into_response(),
        Ok(Ok(Err(e))) => e.into_response(),
        Ok(Err(e)) => ApiError::Internal(format!("request task failed: {e}")).into_response(),
        Err(_) => ApiError::Internal("request timed out".into()).into_response(),
    }
}

async fn api_status(State(st): State<Arc<RpcState>>) -> Response {
    run(st, |st| {
        let s = st.backend.status()?;
        let mempool = st.backend.mempool_stats()?;
        let peers = st.backend.net_info()?.peers.len();
        let latest = s.latest.as_ref();
        Ok(json!({
            "chain_id": s.chain_id,
            "moniker": s.moniker,
            "node_id": s.node_id.to_hex(),
            "latest_height": latest.map_or(0, |l| l.height).to_string(),
            "latest_hash": latest.map(|l| l.block_id.0.to_hex()),
            "latest_time": latest.map_or(s.genesis_time, |l| l.time).to_rfc3339(),
            "earliest_height": s.earliest.as_ref().map_or(0, |e| e.height).to_string(),
            "app_hash": s.state_root.to_hex(),
            "catching_up": s.catching_up,
            "mempool_txs": mempool.n_txs.to_string(),
            "mempool_bytes": mempool.total_bytes.to_string(),
            "peers": peers,
            "version": env!("CARGO_PKG_VERSION"),
        }))
    })
    .await
}

fn latest_height(st: &RpcState) -> Result<u64, ApiError> {
    Ok(st.backend.status()?.latest.map_or(0, |l| l.height))
}

fn parse_u64(name: &str, s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "{name}: expected a non-negative integer, got {s:?}"
        ))
    })
}

async fn api_blocks(
    State(st): State<Arc<RpcState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run(st, move |st| {
        let limit = match q.get("limit") {
            Some(l) => parse_u64("limit", l)?.clamp(1, MAX_BLOCKS_PAGE),
            None => 20,
        };
        let latest = latest_height(st)?;
        let top = match q.get("before") {
            Some(b) => parse_u64("before", b)?.saturating_sub(1).min(latest),
            None => latest,
        };
        let earliest = st.backend.status()?.earliest.map_or(1, |e| e.height).max(1);
        let mut blocks = Vec::new();
        let mut h = top;
        while h >= earliest && h > 0 && (blocks.len() as u64) < limit {
            if let Some(b) = st.backend.block(h)? {
                blocks.push(block_summary(st, &b));
            }
            h -= 1;
        }
        Ok(json!({"latest_height": latest.to_string(), "blocks": blocks}))
    })
    .await
}

fn moniker_map(st: &RpcState) -> HashMap<Address, String> {
    st.backend
        .validator_infos()
        .map(|vs| {
            vs.into_iter()
                .map(|v| (v.consensus_address, v.moniker))
                .collect()
        })
        .unwrap_or_default()
}

fn block_summary(st: &RpcState, b: &cairn_types::Block) -> Value {
    let _ = st;
    json!({
        "height": b.header.height.to_string(),
        "hash": b.id().0.to_hex(),
        "time": b.header.time.to_rfc3339(),
        "proposer": b.header.proposer_address.to_hex(),
        "num_txs": b.txs.len(),
        "num_evidence": b.evidence.len(),
        "size": b.encoded_len(),
    })
}

fn resolve_block_id(st: &RpcState, id: &str) -> Result<u64, ApiError> {
    if !id.is_empty() && id.len() < 21 && id.bytes().all(|c| c.is_ascii_digit()) {
        return parse_u64("height", id);
    }
    let hash = parse_hash(id).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "expected a block height or a 64-hex-digit hash, got {id:?}"
        ))
    })?;
    st.backend
        .block_height_by_hash(&hash)?
        .ok_or_else(|| ApiError::NotFound(format!("no block with hash {}", hash.to_hex())))
}

async fn api_block(State(st): State<Arc<RpcState>>, Path(id): Path<String>) -> Response {
    run(st, move |st| {
        let h = resolve_block_id(st, &id)?;
        let b = st
            .backend
            .block(h)?
            .ok_or_else(|| ApiError::NotFound(format!("no block at height {h}")))?;
        let results = st.backend.block_results(h)?;
        let monikers = moniker_map(st);
        let txs: Vec<Value> = b
            .txs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let r = results.as_ref().and_then(|r| r.txs.get(i));
                let mut v = decoded_tx(t);
                v["hash"] = json!(cairn_types::tx::tx_hash(t).to_hex());
                v["code"] = json!(r.map(|r| r.code));
                v["log"] = json!(r.map(|r| r.log.clone()));
                v
            })
            .collect();
        let signers = match st.backend.commit(h)? {
            Some((c, _)) => {
                let vals = st.backend.validators(h)?;
                commit_signers(&c, vals.as_ref(), &monikers)
            }
            None => Vec::new(),
        };
        let evidence: Vec<Value> = b.evidence.iter().map(|e| evidence_json(e, h)).collect();
        Ok(json!({
            "height": h.to_string(),
            "hash": b.id().0.to_hex(),
            "time": b.header.time.to_rfc3339(),
            "proposer": b.header.proposer_address.to_hex(),
            "proposer_moniker": monikers.get(&b.header.proposer_address),
            "size": b.encoded_len(),
            "header": crate::render::header(&b.header, st),
            "txs": txs,
            "evidence": evidence,
            "signers": signers,
            "app_hash_after": results.map(|r| r.app_hash.to_hex()),
        }))
    })
    .await
}

fn commit_signers(
    c: &cairn_types::Commit,
    vals: Option<&cairn_types::ValidatorSet>,
    monikers: &HashMap<Address, String>,
) -> Vec<Value> {
    c.signatures
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = vals.and_then(|v| v.validators().get(i));
            let (flag, time) = match s {
                CommitSig::Absent => ("absent", None),
                CommitSig::ForBlock { timestamp, .. } => ("commit", Some(timestamp.to_rfc3339())),
                CommitSig::ForNil { timestamp, .. } => ("nil", Some(timestamp.to_rfc3339())),
            };
            json!({
                "address": v.map(|v| v.address.to_hex()),
                "moniker": v.and_then(|v| monikers.get(&v.address)),
                "power": v.map(|v| v.power.to_string()),
                "flag": flag,
                "timestamp": time,
            })
        })
        .collect()
}

fn evidence_json(e: &Evidence, included: u64) -> Value {
    match e {
        Evidence::DuplicateVote(d) => json!({
            "type": "duplicate_vote",
            "hash": e.hash().to_hex(),
            "included_height": included.to_string(),
            "height": d.vote_a.vote.height.to_string(),
            "round": d.vote_a.vote.round,
            "validator": d.vote_a.vote.validator.to_hex(),
            "validator_power": d.validator_power.to_string(),
            "total_power": d.total_power.to_string(),
            "time": d.timestamp.to_rfc3339(),
            "vote_a": d.vote_a.vote.value.map(|v| v.0.to_hex()),
            "vote_b": d.vote_b.vote.value.map(|v| v.0.to_hex()),
        }),
    }
}

fn bytes_text(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => json!({"text": s}),
        _ => json!({"base64": base64_encode(b)}),
    }
}

/// A message as JSON for people (amounts as strings).
pub fn msg_json(m: &Msg) -> Value {
    match m {
        Msg::Transfer { to, amount } => json!({"to": to.to_hex(), "amount": amount.to_string()}),
        Msg::Put {
            key,
            value,
            condition,
        } => json!({
            "key": bytes_text(key),
            "value": bytes_text(value),
            "condition": match condition {
                PutCondition::Always => json!("always"),
                PutCondition::Absent => json!("absent"),
                PutCondition::Equals(v) => json!({"equals": bytes_text(v)}),
            },
        }),
        Msg::Delegate { validator, amount } | Msg::Undelegate { validator, amount } => {
            json!({"validator": validator.to_hex(), "amount": amount.to_string()})
        }
        Msg::CreateValidator {
            consensus_key,
            node_id,
            moniker,
            self_stake,
        } => json!({
            "consensus_key": base64_encode(&consensus_key.0),
            "consensus_address": consensus_key.address().to_hex(),
            "node_id": node_id.to_hex(),
            "moniker": moniker.0,
            "self_stake": self_stake.to_string(),
        }),
        Msg::EditValidator { moniker, node_id } => json!({
            "moniker": moniker.as_ref().map(|m| m.0.clone()),
            "node_id": node_id.map(|n| n.to_hex()),
        }),
        Msg::Unjail => json!({}),
        Msg::PermitValidator { operator } | Msg::RevokeValidator { operator } => {
            json!({"operator": operator.to_hex()})
        }
        Msg::UpdateParams { params } => json!({"params": params}),
    }
}

/// A tx's bytes decoded for display; undecodable bytes are shown as such.
fn decoded_tx(bytes: &[u8]) -> Value {
    match cairn_types::codec::decode::<Tx>(bytes, MAX_TX_DECODE) {
        Ok(tx) => json!({
            "sender": tx.sender().to_hex(),
            "nonce": tx.body.nonce.to_string(),
            "fee": tx.body.fee.to_string(),
            "chain_id": tx.body.chain_id.0,
            "kind": tx.body.msg.kind(),
            "msg": msg_json(&tx.body.msg),
            "size": bytes.len(),
        }),
        Err(e) => json!({"kind": "undecodable", "error": e.to_string(), "size": bytes.len()}),
    }
}

fn tx_json(st: &RpcState, r: &TxRecord) -> Value {
    let mut v = decoded_tx(&r.tx);
    v["hash"] = json!(r.hash.to_hex());
    v["height"] = json!(r.height.to_string());
    v["index"] = json!(r.index);
    v["code"] = json!(r.result.code);
    v["log"] = json!(r.result.log);
    v["codespace"] = json!(r.result.codespace);
    v["events"] = json!(crate::render::events(&r.result.events));
    v["time"] = json!(
        st.backend
            .block(r.height)
            .ok()
            .flatten()
            .map(|b| b.header.time.to_rfc3339())
    );
    v
}

async fn api_tx(State(st): State<Arc<RpcState>>, Path(hash): Path<String>) -> Response {
    run(st, move |st| {
        let h = parse_hash(&hash).ok_or_else(|| {
            ApiError::BadRequest(format!("expected a 64-hex-digit tx hash, got {hash:?}"))
        })?;
        let r = st.backend.tx(&h)?.ok_or_else(|| {
            ApiError::NotFound(format!("no committed tx with hash {}", h.to_hex()))
        })?;
        Ok(tx_json(st, &r))
    })
    .await
}

fn account_txs(st: &RpcState, addr: &Address) -> Result<Vec<TxRecord>, ApiError> {
    let mut all: Vec<TxRecord> = Vec::new();
    for q in [
        format!("tx.sender='{}'", addr.to_hex()),
        format!("transfer.recipient='{}'", addr.to_hex()),
    ] {
        let query = TxQuery::parse(&q).map_err(|e| ApiError::Internal(e.to_string()))?;
        let page = st.backend.tx_search(&query, 1, ACCOUNT_TXS, true)?;
        all.extend(page.txs);
    }
    all.sort_by_key(|r| std::cmp::Reverse((r.height, r.index)));
    all.dedup_by_key(|r| r.hash);
    all.truncate(ACCOUNT_TXS as usize);
    Ok(all)
}

async fn api_account(State(st): State<Arc<RpcState>>, Path(address): Path<String>) -> Response {
    run(st, move |st| {
        let addr = Address::from_hex(address.strip_prefix("0x").unwrap_or(&address))
            .map_err(|e| ApiError::BadRequest(format!("address: {e}")))?;
        let acct = st.backend.account(&addr)?;
        let txs = account_txs(st, &addr)?;
        if acct.is_none() && txs.is_empty() {
            return Err(ApiError::NotFound(format!("no account {}", addr.to_hex())));
        }
        let txs: Vec<Value> = txs.iter().map(|r| tx_json(st, r)).collect();
        let validator = st
            .backend
            .validator_infos()?
            .into_iter()
            .find(|v| v.operator == addr)
            .map(|v| v.moniker);
        Ok(json!({
            "address": addr.to_hex(),
            "balance": acct.as_ref().map_or(0, |a| a.balance).to_string(),
            "nonce": acct.as_ref().map_or(0, |a| a.nonce).to_string(),
            "delegated": acct.as_ref().map_or(0, |a| a.delegated).to_string(),
            "unbonding": acct.as_ref().map_or(0, |a| a.unbonding).to_string(),
            "validator_moniker": validator,
            "txs": txs,
        }))
    })
    .await
}

async fn api_validators(State(st): State<Arc<RpcState>>) -> Response {
    run(st, |st| {
        let mut vs = st.backend.validator_infos()?;
        vs.sort_by(|a, b| b.power.cmp(&a.power).then(b.stake.cmp(&a.stake)));
        let total: u128 = vs.iter().map(|v| u128::from(v.power)).sum();
        let list: Vec<Value> = vs
            .iter()
            .map(|v| {
                let share = (u128::from(v.power) * 10_000)
                    .checked_div(total)
                    .map_or(0.0, |bp| bp as f64 / 100.0);
                json!({
                    "operator": v.operator.to_hex(),
                    "consensus_address": v.consensus_address.to_hex(),
                    "pub_key": base64_encode(&v.pub_key.0),
                    "moniker": v.moniker,
                    "stake": v.stake.to_string(),
                    "power": v.power.to_string(),
                    "power_share_percent": share,
                    "jailed": v.jailed,
                    "tombstoned": v.tombstoned,
                    "active": v.power > 0 && !v.jailed,
                })
            })
            .collect();
        Ok(json!({"total_power": total.to_string(), "validators": list}))
    })
    .await
}

async fn api_evidence(State(st): State<Arc<RpcState>>) -> Response {
    run(st, |st| {
        let ev = st.backend.recent_evidence(50)?;
        let list: Vec<Value> = ev
            .iter()
            .map(|r| evidence_json(&r.evidence, r.included_height))
            .collect();
        Ok(json!({"evidence": list}))
    })
    .await
}

async fn api_search(
    State(st): State<Arc<RpcState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run(st, move |st| {
        let text = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
        if text.is_empty() {
            return Err(ApiError::BadRequest(
                "q: give a height, a hash or an address".into(),
            ));
        }
        let t = text.strip_prefix("0x").unwrap_or(&text);
        if t.bytes().all(|c| c.is_ascii_digit()) && t.len() < 21 {
            let h = parse_u64("q", t)?;
            if st.backend.block(h)?.is_some() {
                return Ok(json!({"kind": "block", "id": h.to_string()}));
            }
            return Err(ApiError::NotFound(format!("no block at height {h}")));
        }
        if t.len() == 64 {
            let hash: Hash = parse_hash(t)
                .ok_or_else(|| ApiError::BadRequest(format!("not a hash: {text:?}")))?;
            if let Some(h) = st.backend.block_height_by_hash(&hash)? {
                return Ok(json!({"kind": "block", "id": h.to_string()}));
            }
            if st.backend.tx(&hash)?.is_some() {
                return Ok(json!({"kind": "tx", "id": hash.to_hex()}));
            }
            return Err(ApiError::NotFound(format!(
                "no block or tx with hash {}",
                hash.to_hex()
            )));
        }
        if t.len() == 40 {
            let addr = Address::from_hex(t).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            return Ok(json!({"kind": "account", "id": addr.to_hex()}));
        }
        Err(ApiError::BadRequest(format!(
            "{text:?} is not a height, a 64-hex-digit hash or a 40-hex-digit address"
        )))
    })
    .await
}
