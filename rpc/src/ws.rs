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
use serde::Serialize;
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

/// The tags queries are matched against, computed before any JSON so that
/// an event no subscription matches is never rendered.
fn event_tags(ev: &ChainEvent) -> Tags {
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
            tags
        }
        ChainEvent::Tx(r) => {
            let mut tags = tx_tags(r);
            tags.insert("tm.event".into(), vec!["Tx".into()]);
            tags
        }
    }
}

fn render_one(state: &RpcState, ev: &ChainEvent, tags: Tags) -> RenderedEvent {
    match ev {
        ChainEvent::NewBlock { block, results } => finish(
            tags,
            &EnvelopeJson {
                kind: "tendermint/event/NewBlock",
                value: NewBlockJson {
                    block: render::block(block, state),
                    block_id: render::block_id(&block.id(), Some(render::block_parts_hash(block))),
                    result_finalize_block: FinalizeBlockJson {
                        app_hash: base64_encode(&results.app_hash.0),
                        consensus_param_updates: results
                            .param_updates
                            .as_ref()
                            .map(render::consensus_params),
                        events: render::events(&results.finalize_block_events),
                        tx_results: results.txs.iter().map(render::exec_tx_result).collect(),
                        validator_updates: render::validator_updates(results),
                    },
                },
            },
        ),
        ChainEvent::Tx(r) => finish(
            tags,
            &json!({
                "type": "tendermint/event/Tx",
                "value": {"TxResult": {
                    "height": r.height.to_string(),
                    "index": r.index,
                    "tx": base64_encode(&r.tx),
                    "result": render::exec_tx_result(&r.result),
                }},
            }),
        ),
    }
}

/// `{"type": …, "value": …}` of an event (fields in [`render`]'s order).
#[derive(Serialize)]
struct EnvelopeJson<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: T,
}

#[derive(Serialize)]
struct NewBlockJson<'a> {
    block: render::BlockJson,
    block_id: Value,
    result_finalize_block: FinalizeBlockJson<'a>,
}

#[derive(Serialize)]
struct FinalizeBlockJson<'a> {
    app_hash: String,
    consensus_param_updates: Option<Value>,
    events: Vec<render::EventJson<'a>>,
    tx_results: Vec<render::ExecTxResultJson<'a>>,
    validator_updates: Value,
}

fn finish(tags: Tags, data: &impl Serialize) -> RenderedEvent {
    let events = serde_json::to_string(&tags).unwrap_or_else(|_| "{}".into());
    RenderedEvent {
        tags,
        data: serde_json::to_string(data).unwrap_or_else(|_| "null".into()),
        events,
    }
}

/// Rendered events a websocket client may have unwritten before it is
/// dropped as too slow. As deep as the event channel: a block's events
/// arrive at once, and a client reading at full speed must not count as
/// lagging on them.
pub(crate) const EVENT_QUEUE_DEPTH: usize = crate::events::DEFAULT_EVENT_CAPACITY;

/// A client's subscriptions, shared by its task (which changes them and
/// names the matching ones in each message) and the fanout (which queues
/// an event only for clients with a match).
type Subscriptions = Arc<Mutex<Vec<Subscription>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here leaves its value valid if it panics.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct FanoutClient {
    queue: mpsc::Sender<Arc<RenderedEvent>>,
    subs: Subscriptions,
}

/// The websocket clients' event queues, fed by [`render_events`].
///
/// A queue per client rather than one broadcast ring: a ring keeps its last
/// `capacity` events alive after every reader has passed them (at 5,000-tx
/// blocks, tens of MiB of rendered JSON held for nobody), while a queue
/// holds only what its client has not written yet. An event is rendered
/// only when some client's subscription matches its tags: a block follower
/// does not make the server render every Tx event.
#[derive(Default)]
pub(crate) struct EventFanout {
    clients: Mutex<Vec<FanoutClient>>,
}

impl EventFanout {
    /// A new client's queue, fed the events its `subs` match. It ends
    /// (`recv` gives `None`) when the client falls [`EVENT_QUEUE_DEPTH`]
    /// events behind.
    fn subscribe(&self, subs: Subscriptions) -> mpsc::Receiver<Arc<RenderedEvent>> {
        let (queue, rx) = mpsc::channel(EVENT_QUEUE_DEPTH);
        lock(&self.clients).push(FanoutClient { queue, subs });
        rx
    }

    fn has_clients(&self) -> bool {
        !lock(&self.clients).is_empty()
    }

    /// Renders each event some client wants, once, and queues it for those
    /// clients; forgets a client whose queue is full (it then reads what is
    /// queued, and the end) or gone.
    fn publish<E>(
        &self,
        batch: &[E],
        tags_of: impl Fn(&E) -> Tags,
        render: impl Fn(&E, Tags) -> RenderedEvent,
    ) {
        // Held while rendering: a client subscribing meanwhile waits for at
        // most one batch, and no event is rendered for a client it misses.
        let mut clients = lock(&self.clients);
        clients.retain(|c| !c.queue.is_closed());
        if clients.is_empty() {
            return;
        }
        for ev in batch {
            let mut tags = tags_of(ev);
            let mut rendered: Option<Arc<RenderedEvent>> = None;
            clients.retain(|c| {
                let t = rendered.as_ref().map_or(&tags, |r| &r.tags);
                if !lock(&c.subs).iter().any(|s| s.query.matches(t)) {
                    return true;
                }
                let r =
                    rendered.get_or_insert_with(|| Arc::new(render(ev, std::mem::take(&mut tags))));
                match c.queue.try_send(Arc::clone(r)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
                }
            });
        }
    }
}

/// Most events rendered in one blocking task. A block publishes one event
/// per tx: rendered one task each, a 25,000-tx block outran the renderer.
const RENDER_BATCH: usize = 4096;

/// Renders each published event that some websocket subscription matches,
/// once, and fans it out, in batches of what has queued up. Skips the work
/// while no client listens.
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
        if !state.fanout.has_clients() {
            continue;
        }
        // Queueing a batch for 100 clients is up to 400,000 sends: off the
        // async workers, with the rendering.
        let st = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            st.fanout
                .publish(&batch, event_tags, |ev, tags| render_one(&st, ev, tags));
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
    let subs: Subscriptions = Arc::default();
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
                let outcome = handle_text(state, &text, &subs, &mut events, &out_tx, &inflight);
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
                    let messages: Vec<String> = lock(&subs)
                        .iter()
                        .filter(|s| s.query.matches(&ev.tags))
                        .map(|s| event_message(s, &ev))
                        .collect();
                    for m in messages {
                        send_or_quit!(m);
                    }
                }
                None => {
                    let e = RpcError::Internal(format!(
                        "subscription dropped: this client fell {EVENT_QUEUE_DEPTH} events behind (it reads too slowly); reconnect and subscribe again"
                    ));
                    let ids: Vec<Value> = lock(&subs).iter().map(|s| s.id.clone()).collect();
                    for id in ids {
                        let _ = tokio::time::timeout(write_timeout, sink.send(Message::Text(error_response(&id, &e).to_string().into()))).await;
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
    subs: &Subscriptions,
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
    subs: &Subscriptions,
    events: &mut Option<mpsc::Receiver<Arc<RenderedEvent>>>,
) -> Result<Value, RpcError> {
    match method {
        "subscribe" => {
            let q = params
                .string("query", 0)?
                .ok_or_else(|| RpcError::params("query: missing"))?;
            let query = TxQuery::parse(&q).map_err(|e| RpcError::params(format!("query: {e}")))?;
            {
                let mut list = lock(subs);
                if list.iter().any(|s| s.query.as_str() == query.as_str()) {
                    return Err(RpcError::params(format!("already subscribed to {q:?}")));
                }
                let max = state.config.max_subscriptions_per_client;
                if list.len() >= max {
                    return Err(RpcError::Internal(format!(
                        "max_subscriptions_per_client {max} reached"
                    )));
                }
                list.push(Subscription {
                    id: id.clone(),
                    query,
                });
            }
            // Outside the subscriptions' lock: the fanout takes its own lock
            // first, then each client's.
            if events.is_none() {
                *events = Some(state.fanout.subscribe(Arc::clone(subs)));
            }
            Ok(json!({}))
        }
        "unsubscribe" => {
            let q = params
                .string("query", 0)?
                .ok_or_else(|| RpcError::params("query: missing"))?;
            let mut list = lock(subs);
            let before = list.len();
            list.retain(|s| s.query.as_str() != q);
            if list.len() == before {
                return Err(RpcError::params(format!("subscription {q:?} not found")));
            }
            if list.is_empty() {
                // Leaves the fanout, which then skips the tags of every event
                // while no client is left (subscribing again rejoins).
                *events = None;
            }
            Ok(json!({}))
        }
        _ => {
            lock(subs).clear();
            *events = None;
            Ok(json!({}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test events are numbers: even ones are Tx events, odd ones NewBlocks.
    fn tags(n: &usize) -> Tags {
        let kind = if n.is_multiple_of(2) {
            "Tx"
        } else {
            "NewBlock"
        };
        Tags::from([("tm.event".to_owned(), vec![kind.to_owned()])])
    }

    fn render(n: &usize, tags: Tags) -> RenderedEvent {
        RenderedEvent {
            tags,
            data: n.to_string(),
            events: "{}".into(),
        }
    }

    fn client(fanout: &EventFanout, query: &str) -> mpsc::Receiver<Arc<RenderedEvent>> {
        let subs = Subscriptions::default();
        lock(&subs).push(Subscription {
            id: Value::from(1),
            query: TxQuery::parse(query).unwrap(),
        });
        fanout.subscribe(subs)
    }

    fn publish(fanout: &EventFanout, events: &[usize]) {
        fanout.publish(events, tags, render);
    }

    #[test]
    fn a_written_event_is_held_by_nobody_else() {
        let fanout = EventFanout::default();
        let mut a = client(&fanout, "tm.event='Tx'");
        let mut b = client(&fanout, "tm.event='Tx'");
        publish(&fanout, &[0]);
        let from_a = a.try_recv().unwrap();
        assert_eq!(Arc::strong_count(&from_a), 2, "the fanout kept a copy");
        drop(b.try_recv().unwrap());
        assert_eq!(Arc::strong_count(&from_a), 1);
    }

    #[test]
    fn an_event_is_rendered_once_and_only_for_clients_it_matches() {
        let fanout = EventFanout::default();
        let mut txs = client(&fanout, "tm.event='Tx'");
        let mut blocks = client(&fanout, "tm.event='NewBlock'");
        let renders = std::cell::Cell::new(0);
        let counted = |n: &usize, t| {
            renders.set(renders.get() + 1);
            render(n, t)
        };
        fanout.publish(&[0, 1, 2], tags, counted);
        assert_eq!(renders.get(), 3);
        assert_eq!(txs.try_recv().unwrap().data, "0");
        assert_eq!(txs.try_recv().unwrap().data, "2");
        assert!(txs.try_recv().is_err());
        assert_eq!(blocks.try_recv().unwrap().data, "1");
        assert!(blocks.try_recv().is_err());
        drop(txs);
        fanout.publish(&[4, 6], tags, counted);
        assert_eq!(renders.get(), 3, "Tx events rendered with no Tx subscriber");
    }

    #[test]
    fn a_client_that_falls_a_queue_behind_is_dropped_and_others_are_not() {
        let fanout = EventFanout::default();
        let mut slow = client(&fanout, "tm.event='Tx'");
        let mut reader = client(&fanout, "tm.event='Tx'");
        for n in (0..=2 * EVENT_QUEUE_DEPTH).step_by(2) {
            publish(&fanout, &[n]);
            assert_eq!(reader.try_recv().unwrap().data, n.to_string());
        }
        for n in (0..2 * EVENT_QUEUE_DEPTH).step_by(2) {
            assert_eq!(slow.try_recv().unwrap().data, n.to_string());
        }
        assert_eq!(
            slow.try_recv().unwrap_err(),
            mpsc::error::TryRecvError::Disconnected
        );
        publish(&fanout, &[0]);
        assert!(reader.try_recv().is_ok());
    }

    #[test]
    fn a_client_that_left_is_forgotten() {
        let fanout = EventFanout::default();
        drop(client(&fanout, "tm.event='Tx'"));
        assert!(fanout.has_clients());
        publish(&fanout, &[1]);
        assert!(!fanout.has_clients());
    }
}
