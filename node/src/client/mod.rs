//! The client side: `cairn tx` and `cairn query`, and [`RpcClient`], an
//! async JSON-RPC client of a Cairn node that other tools (a load
//! generator, scripts' helpers) can reuse.
//!
//! - [`RpcClient`]: one HTTP connection pool, typed calls for what the
//!   commands need (status, headers, commits, validator sets, `abci_query`,
//!   broadcasts), and [`RpcClient::call`] for anything else.
//! - [`json`]: CometBFT-shaped JSON read back into Cairn's types, so that
//!   a client hashes headers and checks signatures itself.
//! - [`verify`]: light-client verification of a query's proof against a
//!   validator set the client trusts (genesis, or a header the user names),
//!   followed forward through validator-set changes.
//! - [`tx`] and [`query`]: the command lines.
//!
//! Nothing here trusts the node: values that matter for `--prove` are
//! recomputed locally (header ids, set hashes, commit signatures, Merkle
//! proofs); everything else is printed as the node served it.

pub mod json;
pub mod query;
pub mod tx;
pub mod verify;

use std::time::Duration;

use cairn_rpc::QueryResult;
use cairn_rpc::methods::{MAX_BLOCKCHAIN_METAS, MAX_PER_PAGE};
use cairn_state::Account;
use cairn_types::json::base64_encode;
use cairn_types::{Address, ChainParams, Commit, Header, ValidatorSet};
use serde_json::{Value, json};

/// The default node address (CometBFT's RPC port on loopback).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:26657";
/// Calls per JSON-RPC batch this client sends: the node's default `rpc.max_batch_size`.
pub const MAX_BATCH: usize = crate::config::DEFAULT_MAX_BATCH_SIZE as usize;
/// How long one HTTP request may take (a `broadcast_tx_commit` waits for a block).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest stored values decoded here (accounts and parameters are far smaller).
const MAX_VALUE_BYTES: usize = 1 << 20;

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request got no usable HTTP answer (connection refused, timeout,
    /// an HTTP error status, a body that is not JSON); the cause is the source.
    #[error("HTTP request to the node failed")]
    Http(#[from] reqwest::Error),
    /// The node answered with a JSON-RPC error.
    #[error("{method}: the node answered error {code}: {message}{data}")]
    Rpc {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
        /// Its `data`, prefixed with ": " when present.
        data: String,
    },
    /// The answer does not have the expected shape.
    #[error("{method}: unexpected answer: {reason}")]
    Decode {
        /// The method called.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// A height did not appear in time.
    #[error("height {height} was not reached within {secs} s")]
    Timeout {
        /// The height waited for.
        height: u64,
        /// How long.
        secs: u64,
    },
}

impl ClientError {
    fn decode(method: &str, reason: impl ToString) -> ClientError {
        ClientError::Decode {
            method: method.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// How a transaction is handed to the node (CometBFT's three broadcasts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BroadcastMode {
    /// Return at once; the tx is checked in the background.
    Async,
    /// Return after the mempool's check.
    Sync,
    /// Return after the tx is committed in a block (or the wait times out).
    Commit,
}

impl BroadcastMode {
    /// The JSON-RPC method.
    pub fn method(self) -> &'static str {
        match self {
            BroadcastMode::Async => "broadcast_tx_async",
            BroadcastMode::Sync => "broadcast_tx_sync",
            BroadcastMode::Commit => "broadcast_tx_commit",
        }
    }
}

/// A JSON-RPC 2.0 client of one node over HTTP POST. Cheap to clone (the
/// connection pool is shared).
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
}

impl RpcClient {
    /// A client of the node at `url` (e.g. `http://127.0.0.1:26657`); nothing is sent yet.
    pub fn new(url: &str) -> Result<RpcClient, ClientError> {
        let url = url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(RpcClient { http, url })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with named `params`; the `result` member of the answer.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: Value = self.post(&body).await?;
        answer_result(method, &answer)
    }

    /// POSTs a JSON body and reads the JSON answer.
    async fn post<T: serde::de::DeserializeOwned>(&self, body: &Value) -> Result<T, ClientError> {
        Ok(self
            .http
            .post(&self.url)
            .json(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Calls `method` once per entry of `params` in one JSON-RPC batch
    /// request; each call's own result or error, in order.
    pub async fn call_batch(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
        let n = params.len();
        let body: Value = params
            .into_iter()
            .enumerate()
            .map(|(id, p)| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": p}))
            .collect();
        let answers: Vec<Value> = self.post(&body).await?;
        let mut out: Vec<Result<Value, ClientError>> = (0..n)
            .map(|_| Err(ClientError::decode(method, "no answer in the batch")))
            .collect();
        for a in answers {
            if let Some(slot) = a["id"].as_u64().and_then(|id| out.get_mut(id as usize)) {
                *slot = answer_result(method, &a);
            }
        }
        Ok(out)
    }

    /// A plain HTTP GET of `path` (e.g. the explorer's `/api/evidence`), as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        Ok(self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The `status` result.
    pub async fn status(&self) -> Result<Value, ClientError> {
        self.call("status", json!({})).await
    }

    /// The node's chain id (`node_info.network`).
    pub async fn chain_id(&self) -> Result<String, ClientError> {
        let s = self.status().await?;
        s["node_info"]["network"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::decode("status", "no node_info.network"))
    }

    /// The latest committed height.
    pub async fn latest_height(&self) -> Result<u64, ClientError> {
        let s = self.status().await?;
        s["sync_info"]["latest_block_height"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| ClientError::decode("status", "no sync_info.latest_block_height"))
    }

    /// Polls `status` until the node has committed `height`.
    pub async fn wait_for_height(
        &self,
        height: u64,
        timeout: Duration,
    ) -> Result<u64, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let latest = self.latest_height().await?;
            if latest >= height {
                return Ok(latest);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    height,
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Headers `min..=max` in ascending order, as served (not verified), a
    /// page of the `blockchain` method at a time.
    pub async fn headers(&self, min: u64, max: u64) -> Result<Vec<Header>, ClientError> {
        let mut out = Vec::new();
        let mut next = min;
        while next <= max {
            // The node answers the top MAX_BLOCKCHAIN_METAS of a range, newest first.
            let hi = max.min(next + MAX_BLOCKCHAIN_METAS - 1);
            let r = self
                .call(
                    "blockchain",
                    json!({"minHeight": next.to_string(), "maxHeight": hi.to_string()}),
                )
                .await?;
            let metas = r["block_metas"]
                .as_array()
                .ok_or_else(|| ClientError::decode("blockchain", "no block_metas"))?;
            let mut page = metas
                .iter()
                .map(|m| json::header(&m["header"]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::decode("blockchain", e))?;
            page.sort_by_key(|h| h.height);
            let heights: Vec<u64> = page.iter().map(|h| h.height).collect();
            if !heights.iter().copied().eq(next..=hi) {
                return Err(ClientError::decode(
                    "blockchain",
                    format!("asked for heights {next}..={hi}, got {heights:?}"),
                ));
            }
            out.extend(page);
            next = hi + 1;
        }
        Ok(out)
    }

    /// Header `height` and a commit for it (the `commit` method), as served.
    pub async fn signed_header(&self, height: u64) -> Result<(Header, Commit), ClientError> {
        let r = self
            .call("commit", json!({"height": height.to_string()}))
            .await?;
        let sh = &r["signed_header"];
        let header = json::header(&sh["header"]).map_err(|e| ClientError::decode("commit", e))?;
        let commit = json::commit(&sh["commit"]).map_err(|e| ClientError::decode("commit", e))?;
        Ok((header, commit))
    }

    /// The validator set of `height`, every page, as served (not verified).
    pub async fn validator_set(&self, height: u64) -> Result<ValidatorSet, ClientError> {
        let mut members = Vec::new();
        let mut page = 1u64;
        loop {
            let r = self
                .call(
                    "validators",
                    json!({"height": height.to_string(), "page": page.to_string(), "per_page": MAX_PER_PAGE.to_string()}),
                )
                .await?;
            let got =
                json::validators_page(&r).map_err(|e| ClientError::decode("validators", e))?;
            let total: u64 = r["total"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| ClientError::decode("validators", "no total"))?;
            let empty = got.is_empty();
            members.extend(got);
            if members.len() as u64 >= total || empty {
                break;
            }
            page += 1;
        }
        json::validator_set(members).map_err(|e| ClientError::decode("validators", e))
    }

    /// `abci_query` of `path` with raw `data` at `height` (latest when `None`).
    pub async fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: Option<u64>,
        prove: bool,
    ) -> Result<QueryResult, ClientError> {
        let mut params = json!({"path": path, "data": hex::encode(data), "prove": prove});
        if let Some(h) = height {
            params["height"] = Value::String(h.to_string());
        }
        let r = self.call("abci_query", params).await?;
        json::query_result(&r).map_err(|e| ClientError::decode("abci_query", e))
    }

    /// An account's balance and nonce at the latest height, as served (a
    /// missing account is the empty account: nonce 0).
    pub async fn account(&self, address: &Address) -> Result<Account, ClientError> {
        let q = self
            .abci_query("/store/account", &address.0, None, false)
            .await?;
        account_of(&q)
    }

    /// Many accounts at the latest height, in JSON-RPC batches of
    /// [`MAX_BATCH`] (one round trip per batch, not per account).
    pub async fn accounts(&self, addresses: &[Address]) -> Result<Vec<Account>, ClientError> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(MAX_BATCH) {
            let params = chunk
                .iter()
                .map(|a| json!({"path": "/store/account", "data": hex::encode(a.0)}))
                .collect();
            for answer in self.call_batch("abci_query", params).await? {
                let q = json::query_result(&answer?)
                    .map_err(|e| ClientError::decode("abci_query", e))?;
                out.push(account_of(&q)?);
            }
        }
        Ok(out)
    }

    /// The chain parameters in force at the latest height, as served.
    pub async fn params(&self) -> Result<ChainParams, ClientError> {
        let what = "abci_query /store/params";
        let q = self.abci_query("/store/params", &[], None, false).await?;
        decode_value(&q, what)?.ok_or_else(|| ClientError::decode(what, "no parameters stored"))
    }

    /// Broadcasts signed tx bytes; the method's result.
    pub async fn broadcast_tx(&self, mode: BroadcastMode, tx: &[u8]) -> Result<Value, ClientError> {
        self.call(mode.method(), json!({"tx": base64_encode(tx)}))
            .await
    }
}

/// Decodes a query's value; `None` when the key has no value (code non-zero).
pub fn decode_value<T>(q: &QueryResult, what: &str) -> Result<Option<T>, ClientError>
where
    T: borsh::BorshDeserialize + borsh::BorshSerialize,
{
    if q.code != 0 {
        return Ok(None);
    }
    cairn_types::codec::decode(&q.value, MAX_VALUE_BYTES)
        .map(Some)
        .map_err(|e| ClientError::decode(what, e))
}

/// An `abci_query /store/account` answer (a missing account is the empty one).
fn account_of(q: &QueryResult) -> Result<Account, ClientError> {
    Ok(decode_value(q, "abci_query /store/account")?.unwrap_or_default())
}

/// The `result` of one JSON-RPC answer, or its `error` as a [`ClientError`].
fn answer_result(method: &str, answer: &Value) -> Result<Value, ClientError> {
    if let Some(e) = answer.get("error") {
        let data = match e.get("data") {
            Some(Value::String(d)) if !d.is_empty() => format!(": {d}"),
            _ => String::new(),
        };
        return Err(ClientError::Rpc {
            method: method.to_owned(),
            code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data,
        });
    }
    answer
        .get("result")
        .cloned()
        .ok_or_else(|| ClientError::decode(method, "no result and no error"))
}

/// Runs a command's future on a small runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}
