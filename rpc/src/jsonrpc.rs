//! JSON-RPC 2.0 envelopes: `POST /` (one request or a bounded batch) and
//! `GET /<method>?name=value` (CometBFT's URI style, answered with id -1).
//!
//! Every failure is an HTTP 200 with a JSON-RPC error object, except a body
//! over the limit, which the body-limit layer answers with HTTP 413 before
//! any parsing. A request without an `id` is a notification: it runs, and
//! gets no response, as JSON-RPC 2.0 says.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::RpcError;
use crate::methods;
use crate::params::Params;
use crate::server::RpcState;

/// A request that passed envelope validation.
#[derive(Debug)]
pub struct Request {
    /// The id to answer with (null for a notification).
    pub id: Value,
    /// The method name, not yet checked against the served methods.
    pub method: String,
    /// The parameters, read per method with [`Params`]' accessors.
    pub params: Params,
    /// No `id` member: the call runs but gets no response.
    pub notification: bool,
}

/// `{"jsonrpc":"2.0","id":…,"result":…}`.
pub(crate) fn result_response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// `{"jsonrpc":"2.0","id":…,"error":{code,message,data}}`.
pub(crate) fn error_response(id: &Value, err: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": err.to_json()})
}

/// Validates one request object (an element of a `POST /` body or a
/// websocket message). On failure returns the id to answer with (null if
/// unknown). Public for the fuzz targets.
pub fn parse_request(v: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut obj) = v else {
        return Err((
            Value::Null,
            RpcError::InvalidRequest("a request must be a JSON object".into()),
        ));
    };
    let (id, notification) = match obj.remove("id") {
        None => (Value::Null, true),
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => (id, false),
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::InvalidRequest("id must be a string, a number or null".into()),
            ));
        }
    };
    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        other => {
            let got = other.map_or("nothing".to_owned(), Value::to_string);
            return Err((
                id,
                RpcError::InvalidRequest(format!("jsonrpc must be \"2.0\", got {got}")),
            ));
        }
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(other) => {
            return Err((
                id,
                RpcError::InvalidRequest(format!(
                    "method must be a string, got {}",
                    other.to_string().chars().take(64).collect::<String>()
                )),
            ));
        }
        None => return Err((id, RpcError::InvalidRequest("method is missing".into()))),
    };
    let params = Params::from_json(obj.remove("params")).map_err(|e| (id.clone(), e))?;
    Ok(Request {
        id,
        method,
        params,
        notification,
    })
}

/// Runs one request value; `None` for a notification.
pub(crate) async fn handle_one(state: &Arc<RpcState>, v: Value) -> Option<Value> {
    match parse_request(v) {
        Err((id, e)) => Some(error_response(&id, &e)),
        Ok(req) => {
            let out = methods::call(state, &req.method, req.params).await;
            if req.notification {
                return None;
            }
            Some(match out {
                Ok(r) => result_response(&req.id, r),
                Err(e) => error_response(&req.id, &e),
            })
        }
    }
}

fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Runs a parsed body: one request or a batch. `None` when nothing is to be answered.
pub(crate) async fn handle_body(state: &Arc<RpcState>, v: Value) -> Option<Value> {
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Some(error_response(
                    &Value::Null,
                    &RpcError::InvalidRequest("empty batch".into()),
                ));
            }
            let max = state.config.max_batch_size;
            if items.len() > max {
                return Some(error_response(
                    &Value::Null,
                    &RpcError::InvalidRequest(format!(
                        "batch of {} requests exceeds the limit of {max}",
                        items.len()
                    )),
                ));
            }
            let outs =
                futures_util::future::join_all(items.into_iter().map(|i| handle_one(state, i)))
                    .await;
            let outs: Vec<Value> = outs.into_iter().flatten().collect();
            (!outs.is_empty()).then_some(Value::Array(outs))
        }
        single => handle_one(state, single).await,
    }
}

/// `POST /`.
pub(crate) async fn post_handler(State(state): State<Arc<RpcState>>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(&error_response(
                &Value::Null,
                &RpcError::Parse(format!("request body is not valid JSON: {e}")),
            ));
        }
    };
    match handle_body(&state, v).await {
        Some(out) => json_response(&out),
        None => StatusCode::OK.into_response(),
    }
}

/// `GET /<method>?…`.
pub(crate) async fn uri_handler(
    State(state): State<Arc<RpcState>>,
    Path(method): Path<String>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = json!(-1);
    let args = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return json_response(&error_response(
                &id,
                &RpcError::params(format!("cannot read the query string: {e}")),
            ));
        }
    };
    let out = methods::call(&state, &method, Params::Uri(args)).await;
    json_response(&match out {
        Ok(r) => result_response(&id, r),
        Err(e) => error_response(&id, &e),
    })
}
