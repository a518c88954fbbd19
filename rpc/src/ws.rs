//! `GET /websocket`: JSON-RPC over a websocket, with `subscribe`,
//! `unsubscribe` and `unsubscribe_all` for `tm.event='NewBlock'`,
//! `tm.event='Tx'`, `tx.hash='…'` and any other query of [`crate::query`].
//!
//! One task per client owns the socket. It reads requests, answers
//! subscription calls itself, runs other methods on spawned tasks (their
//! answers come back through a bounded queue), and forwards events: one
//! bounded event queue per client ([`EventFanout`]), each event matched
//! against the client's subscriptions and sent with each matching
//! subscription's request id and query. Events arrive already rendered
//! (`render_events` serialises each block once per server) and are shared
//! by `Arc`: an event is freed once every client has written it.
//!
//! Bounds: [`RpcConfig::max_subscription_clients`] clients (more are refused
//! with HTTP 503), [`RpcConfig::max_subscriptions_per_client`] queries each,
//! [`RpcConfig::ws_max_message_bytes`] per incoming message, 8 method calls
//! in flight, and a slow client is disconnected with an error when it falls
//! [`EVENT_QUEUE_DEPTH`] events behind or a write takes longer than
//! [`RpcConfig::ws_write_timeout`]: its memory never grows.
//!
//! [`RpcConfig::max_subscription_clients`]: crate::RpcConfig::max_subscription_clients
//! [`RpcConfig::max_subscriptions_per_client`]: crate::RpcConfig::max_subscriptions_per_client
//! [`RpcConfig::ws_max_message_bytes`]: crate::RpcConfig::ws_max_message_bytes
//! [`RpcConfig::ws_write_timeout`]: crate::RpcConfig::ws_write_timeout

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_types::json::base64_encode;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::error::RpcError;
use crate::events::ChainEvent;
use crate::jsonrpc::{error_response, handle_body, parse_request, result_response};
use crate::query::{Tags, TxQuery, tx_tags};
use crate::render;
use crate::server::RpcState;

/// Most method calls one client may have running at once.
const MAX_INFLIGHT_CALLS: usize = 8;
/// How often the server pings each websocket client.
const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// An event rendered once for all clients.
#[derive(Debug)]
pub struct RenderedEvent {
    /// Tags the queries are matched against.
    pub tags: Tags,
    /// `{"type": …, "value": …}` as JSON text.
    pub data: String,
    /// The tags as a JSON object text (`events` of the message).
    pub events: String,
}

fn render_one(state: &RpcState, ev: &ChainEvent) -> RenderedEvent {
    match ev {
        ChainEvent::NewBlock { block, results } => {
            let mut tags = Tags::new();
            tags.insert("tm.event".into(), vec!["NewBlock".into()]);
            tags.insert("block.height".into(), vec![block.header.height.to_string()]);
            for e in &results.finalize_block_events {
                for (k, v) in &e.attributes {
                    tags.entry(format!("{}.{}", e.kind, k))
                        .or_default()
                        .push(v.clone());
                }
            }
            let txs: Vec<Value> = results.txs.iter().map(render::exec_tx_result).collect();
            let data = json!({
                "type": "tendermint/event/NewBlock",
                "value": {
                    "block": render::block(block, state),
                    "block_id": render::block_id(&block.id(), Some(render::block_parts_hash(block))),
                    "result_finalize_block": {
                        "events": render::events(&results.finalize_block_events),
                        "tx_results": txs,
                        "validator_updates": render::validator_updates(results),
                        "consensus_param_updates": results.param_updates.as_ref().map(render::consensus_params),
                        "app_hash": base64_encode(&results.app_hash.0),
                    },
                },
            });
            finish(tags, data)
        }
        ChainEvent::Tx(r) => {
            let mut tags = tx_tags(r);
            tags.insert("tm.event".into(), vec!["Tx".into()]);
            let data = json!({
                "type": "tendermint/event/Tx",
                "value": {"TxResult": {
                    "height": r.height.to_string(),
                    "index": r.index,
                    "tx": base64_encode(&r.tx),
                    "result": render::exec_tx_result(&r.result),
                }},
            });
            finish(tags, data)
        }
    }
}

fn finish(tags: Tags, data: Value) -> RenderedEvent {
    let events = serde_json::to_string(&tags).unwrap_or_else(|_| "{}".into());
    RenderedEvent {
        tags,
        data: data.to_string(),
        events,
    }
}

/// Rendered events a websocket client may have unwritten before it is
/// dropped as too slow. As deep as the event channel: a block's events
/// arrive at once, and a client reading at full speed must not count as
/// lagging on them.
pub(crate) const EVENT_QUEUE_DEPTH: usize = crate::events::DEFAULT_EVENT_CAPACITY;

/// The websocket clients' event queues, fed by [`render_events`].
///
/// A queue per client rather than one broadcast ring: a ring keeps its last
/// `capacity` events alive after every reader has passed them (at 5,000-tx
/// blocks, tens of MiB of rendered JSON held for nobody), while a queue
/// holds only what its client has not written yet.
#[derive(Debug, Default)]
pub(crate) struct EventFanout {
    clients: Mutex<Vec<mpsc::Sender<Arc<RenderedEvent>>>>,
}

impl EventFanout {
    /// A new client's queue. It ends (`recv` gives `None`) when the client
    /// falls [`EVENT_QUEUE_DEPTH`] events behind.
    fn subscribe(&self) -> mpsc::Receiver<Arc<RenderedEvent>> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE_DEPTH);
        self.lock().push(tx);
        rx
    }

    fn has_clients(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Queues `events` for every client; forgets a client whose queue is full
    /// (it then reads what is queued, and the end) or whose queue is gone.
    fn publish(&self, events: Vec<RenderedEvent>) {
        let mut clients = self.lock();
        for ev in events {
            let ev = Arc::new(ev);
            clients.retain(|c| match c.try_send(ev.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<Arc<RenderedEvent>>>> {
        // A panic while holding the lock leaves a valid Vec.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Most events rendered in one blocking task. A block publishes one event
/// per tx: rendered one task each, a 25,000-tx block outran the renderer.
const RENDER_BATCH: usize = 4096;

/// Renders every published event once and fans it out to websocket clients,
/// in batches of what has queued up. Skips the work while no client listens.
pub(crate) async fn render_events(state: Arc<RpcState>) {
    let mut rx = state.events.subscribe();
    let lagged = |missed: u64| {
        tracing::warn!(
            missed,
            "rpc event renderer fell behind; events lost for websocket clients"
        );
    };
    let is_block = |ev: &ChainEvent| matches!(ev, ChainEvent::NewBlock { .. });
    let mut next_block = None;
    loop {
        let first = match next_block.take() {
            Some(ev) => ev,
            None => match rx.recv().await {
                Ok(ev) => ev,
                Err(RecvError::Lagged(n)) => {
                    lagged(n);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        // A NewBlock is rendered on its own, so that block followers do not
        // wait for the thousands of Tx events published after it.
        let mut batch = vec![first];
        while batch.len() < RENDER_BATCH && !is_block(&batch[0]) {
            match rx.try_recv() {
                Ok(ev) if is_block(&ev) => {
                    next_block = Some(ev);
                    break;
                }
                Ok(ev) => batch.push(ev),
                Err(TryRecvError::Lagged(n)) => lagged(n),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if !state.rendered.has_clients() {
            continue;
        }
        // Queueing a batch for 100 clients is up to 400,000 sends: off the
        // async workers, with the rendering.
        let st = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            let events = batch.iter().map(|ev| render_one(&st, ev)).collect();
            st.rendered.publish(events);
        });
        if let Err(e) = done.await {
            tracing::warn!(error = %e, "rendering events failed");
        }
    }
}

/// `GET /websocket`.
pub(crate) async fn ws_handler(
    State(state): State<Arc<RpcState>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = state.ws_clients.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "max_subscription_clients {} reached",
                state.config.max_subscription_clients
            ),
        )
            .into_response();
    };
    let limit = state.config.ws_max_message_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| client(state, socket, permit))
}

struct Subscription {
    id: Value,
    query: TxQuery,
}

fn event_message(sub: &Subscription, ev: &RenderedEvent) -> String {
    let id = sub.id.to_string();
    let query = Value::String(sub.query.as_str().to_owned()).to_string();
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"query":{query},"data":{},"events":{}}}}}"#,
        ev.data, ev.events
    )
}

/// The client's next event; `None` once the fanout dropped it for lagging.
async fn next_event(
    rx: &mut Option<mpsc::Receiver<Arc<RenderedEvent>>>,
) -> Option<Arc<RenderedEvent>> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

enum Outcome {
    Reply(Value),
    Spawned,
}

async fn client(state: Arc<RpcState>, socket: WebSocket, _permit: OwnedSemaphorePermit) {
    if let Some(m) = &state.metrics {
        m.ws_clients.inc();
    }
    run_client(&state, socket).await;
    if let Some(m) = &state.metrics {
        m.ws_clients.dec();
    }
}

async fn run_client(state: &Arc<RpcState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Value>(state.config.ws_send_queue.max(1));
    let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT_CALLS));
    let mut subs: Vec<Subscription> = Vec::new();
    let mut events: Option<mpsc::Receiver<Arc<RenderedEvent>>> = None;
    let write_timeout = state.config.ws_write_timeout;
    // Pings keep proxies from closing quiet connections and find dead peers:
    // a ping that cannot be written within the write timeout ends the client.
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);

    macro_rules! send_or_quit {
        ($text:expr) => {
            match tokio::time::timeout(write_timeout, sink.send(Message::Text($text.into()))).await
            {
                Ok(Ok(())) => {}
                _ => {
                    tracing::debug!("websocket client too slow or gone; closing");
                    return;
                }
            }
        };
    }

    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t,
                        Err(_) => {
                            let e = RpcError::Parse("binary message is not UTF-8 JSON".into());
                            send_or_quit!(error_response(&Value::Null, &e).to_string());
                            continue;
                        }
                    },
                    Some(Ok(_)) => continue,
                };
                let outcome = handle_text(state, &text, &mut subs, &mut events, &out_tx, &inflight);
                if let Outcome::Reply(v) = outcome {
                    send_or_quit!(v.to_string());
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(write_timeout, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            Some(out) = out_rx.recv() => {
                send_or_quit!(out.to_string());
            }
            ev = next_event(&mut events) => match ev {
                Some(ev) => {
                    for sub in subs.iter().filter(|s| s.query.matches(&ev.tags)) {
                        send_or_quit!(event_message(sub, &ev));
                    }
                }
                None => {
                    let e = RpcError::Internal(format!(
                        "subscription dropped: this client fell {EVENT_QUEUE_DEPTH} events behind (it reads too slowly); reconnect and subscribe again"
                    ));
                    for sub in &subs {
                        let _ = tokio::time::timeout(write_timeout, sink.send(Message::Text(error_response(&sub.id, &e).to_string().into()))).await;
                    }
                    let _ = tokio::time::timeout(write_timeout, sink.send(Message::Close(None))).await;
                    return;
                }
            },
        }
    }
}

fn handle_text(
    state: &Arc<RpcState>,
    text: &str,
    subs: &mut Vec<Subscription>,
    events: &mut Option<mpsc::Receiver<Arc<RenderedEvent>>>,
    out_tx: &mpsc::Sender<Value>,
    inflight: &Arc<Semaphore>,
) -> Outcome {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Outcome::Reply(error_response(
                &Value::Null,
                &RpcError::Parse(format!("message is not valid JSON: {e}")),
            ));
        }
    };
    let is_subscription_call = v
        .get("method")
        .and_then(Value::as_str)
        .is_some_and(|m| crate::methods::WS_ONLY.contains(&m));
    if is_subscription_call {
        let req = match parse_request(v) {
            Ok(r) => r,
            Err((id, e)) => return Outcome::Reply(error_response(&id, &e)),
        };
        let out = subscription_call(state, &req.method, &req.params, &req.id, subs, events);
        return Outcome::Reply(match out {
            Ok(r) => result_response(&req.id, r),
            Err(e) => error_response(&req.id, &e),
        });
    }
    let Ok(permit) = inflight.clone().try_acquire_owned() else {
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        return Outcome::Reply(error_response(
            &id,
            &RpcError::Internal(format!(
                "too many calls in flight on this connection (limit {MAX_INFLIGHT_CALLS})"
            )),
        ));
    };
    let st = state.clone();
    let tx = out_tx.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let Some(out) = handle_body(&st, v).await {
            let _ = tx.send(out).await;
        }
    });
    Outcome::Spawned
}

fn subscription_call(
    state: &Arc<RpcState>,
    method: &str,
    params: &crate::params::Params,
    id: &Value,
    subs: &mut Vec<Subscription>,
    events: &mut Option<mpsc::Receiver<Arc<RenderedEvent>>>,
) -> Result<Value, RpcError> {
    match method {
        "subscribe" => {
            let q = params
                .string("query", 0)?
                .ok_or_else(|| RpcError::params("query: missing"))?;
            let query = TxQuery::parse(&q).map_err(|e| RpcError::params(format!("query: {e}")))?;
            if subs.iter().any(|s| s.query.as_str() == query.as_str()) {
                return Err(RpcError::params(format!("already subscribed to {q:?}")));
            }
            let max = state.config.max_subscriptions_per_client;
            if subs.len() >= max {
                return Err(RpcError::Internal(format!(
                    "max_subscriptions_per_client {max} reached"
                )));
            }
            if events.is_none() {
                *events = Some(state.rendered.subscribe());
            }
            subs.push(Subscription {
                id: id.clone(),
                query,
            });
            Ok(json!({}))
        }
        "unsubscribe" => {
            let q = params
                .string("query", 0)?
                .ok_or_else(|| RpcError::params("query: missing"))?;
            let before = subs.len();
            subs.retain(|s| s.query.as_str() != q);
            if subs.len() == before {
                return Err(RpcError::params(format!("subscription {q:?} not found")));
            }
            if subs.is_empty() {
                *events = None;
            }
            Ok(json!({}))
        }
        _ => {
            subs.clear();
            *events = None;
            Ok(json!({}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> RenderedEvent {
        RenderedEvent {
            tags: Tags::new(),
            data: n.to_string(),
            events: "{}".into(),
        }
    }

    #[test]
    fn a_written_event_is_held_by_nobody_else() {
        let fanout = EventFanout::default();
        let mut a = fanout.subscribe();
        let mut b = fanout.subscribe();
        fanout.publish(vec![event(1)]);
        let from_a = a.try_recv().unwrap();
        assert_eq!(Arc::strong_count(&from_a), 2, "the fanout kept a copy");
        drop(b.try_recv().unwrap());
        assert_eq!(Arc::strong_count(&from_a), 1);
    }

    #[test]
    fn a_client_that_falls_a_queue_behind_is_dropped_and_others_are_not() {
        let fanout = EventFanout::default();
        let mut slow = fanout.subscribe();
        let mut reader = fanout.subscribe();
        for n in 0..=EVENT_QUEUE_DEPTH {
            fanout.publish(vec![event(n)]);
            assert_eq!(reader.try_recv().unwrap().data, n.to_string());
        }
        for n in 0..EVENT_QUEUE_DEPTH {
            assert_eq!(slow.try_recv().unwrap().data, n.to_string());
        }
        assert_eq!(
            slow.try_recv().unwrap_err(),
            mpsc::error::TryRecvError::Disconnected
        );
        fanout.publish(vec![event(0)]);
        assert!(reader.try_recv().is_ok());
    }

    #[test]
    fn a_client_that_unsubscribed_is_forgotten() {
        let fanout = EventFanout::default();
        drop(fanout.subscribe());
        assert!(fanout.has_clients());
        fanout.publish(vec![event(0)]);
        assert!(!fanout.has_clients());
    }
}
