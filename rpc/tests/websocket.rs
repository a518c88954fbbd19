//! Websocket subscriptions: NewBlock and Tx events with the subscribe id,
//! limits, bad input, and dropping slow subscribers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cairn_types::json::base64_encode;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(s: &TestServer) -> Ws {
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{}/websocket", s.addr)),
    )
    .await
    .unwrap()
    .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON text message, within 5 s.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no message within 5 s")
            .expect("stream ended")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn call(ws: &mut Ws, id: Value, method: &str, params: Value) -> Value {
    send(
        ws,
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    )
    .await;
    next(ws).await
}

#[tokio::test]
async fn new_block_and_tx_events_carry_the_subscribe_id() {
    let s = start().await;
    let mut ws = connect(&s).await;
    let r = call(
        &mut ws,
        json!(5),
        "subscribe",
        json!({"query": "tm.event='NewBlock'"}),
    )
    .await;
    assert_eq!(r, json!({"jsonrpc": "2.0", "id": 5, "result": {}}));
    let tx = transfer(0, 1, 2, 9).to_bytes();
    let hash = cairn_types::tx::tx_hash(&tx).to_hex();
    let q = format!("tm.event='Tx' AND tx.hash='{hash}'");
    let r = call(&mut ws, json!("tx-sub"), "subscribe", json!({ "query": q })).await;
    assert_eq!(r["result"], json!({}));
    let other = format!("tx.hash='{}'", "AB".repeat(32));
    let r = call(&mut ws, json!(7), "subscribe", json!([other])).await;
    assert_eq!(r["result"], json!({}));
    // Ordinary methods work over the websocket too.
    let r = call(
        &mut ws,
        json!(8),
        "broadcast_tx_sync",
        json!({"tx": base64_encode(&tx)}),
    )
    .await;
    assert_eq!(r["id"], 8);
    assert_eq!(r["result"]["code"], 0);

    let block = s.backend.commit_mempool();
    let ev = next(&mut ws).await;
    assert_eq!(ev["id"], 5, "{ev}");
    assert_eq!(ev["result"]["query"], "tm.event='NewBlock'");
    assert_eq!(ev["result"]["data"]["type"], "tendermint/event/NewBlock");
    let value = &ev["result"]["data"]["value"];
    assert_eq!(value["block"]["header"]["height"], "7");
    assert_eq!(value["block_id"]["hash"], block.id().0.to_hex());
    assert_eq!(value["result_finalize_block"]["tx_results"][0]["code"], 0);
    assert_eq!(ev["result"]["events"]["tm.event"], json!(["NewBlock"]));
    // What tendermint-rs's websocket client decodes.
    let de: tendermint_rpc::event::v0_38::DeEvent =
        serde_json::from_value(ev["result"].clone()).unwrap();
    match tendermint_rpc::event::Event::from(de).data {
        tendermint_rpc::event::EventData::NewBlock {
            block: decoded,
            block_id,
            result_finalize_block,
        } => {
            assert_eq!(decoded.unwrap().header.height.value(), 7);
            assert_eq!(block_id.hash.as_bytes(), block.id().0.0);
            assert_eq!(result_finalize_block.unwrap().tx_results.len(), 1);
        }
        other => panic!("not a NewBlock: {other:?}"),
    }

    let ev = next(&mut ws).await;
    assert_eq!(ev["id"], "tx-sub", "{ev}");
    assert_eq!(ev["result"]["query"], q);
    assert_eq!(ev["result"]["data"]["type"], "tendermint/event/Tx");
    let txr = &ev["result"]["data"]["value"]["TxResult"];
    assert_eq!(txr["height"], "7");
    assert_eq!(txr["index"], 0);
    assert_eq!(txr["tx"], base64_encode(&tx));
    assert_eq!(txr["result"]["code"], 0);
    assert_eq!(ev["result"]["events"]["tx.hash"], json!([hash]));
    let de: tendermint_rpc::event::v0_38::DeEvent =
        serde_json::from_value(ev["result"].clone()).unwrap();
    match tendermint_rpc::event::Event::from(de).data {
        tendermint_rpc::event::EventData::Tx { tx_result } => {
            assert_eq!(tx_result.height, 7);
            assert_eq!(tx_result.tx, tx);
            assert_eq!(tx_result.result.events[0].kind, "tx");
        }
        other => panic!("not a Tx: {other:?}"),
    }

    // Unsubscribe NewBlock: the next block sends nothing for it.
    let r = call(
        &mut ws,
        json!(9),
        "unsubscribe",
        json!({"query": "tm.event='NewBlock'"}),
    )
    .await;
    assert_eq!(r["result"], json!({}));
    s.backend.commit_mempool();
    let r = call(&mut ws, json!(10), "health", json!({})).await;
    assert_eq!(
        r["id"], 10,
        "no NewBlock event may arrive after unsubscribe: {r}"
    );
    let r = call(&mut ws, json!(11), "unsubscribe_all", json!({})).await;
    assert_eq!(r["result"], json!({}));
    // With no subscription left the client leaves the fanout; subscribing
    // again brings it back.
    let r = call(
        &mut ws,
        json!(12),
        "subscribe",
        json!({"query": "tm.event='NewBlock'"}),
    )
    .await;
    assert_eq!(r["result"], json!({}));
    s.backend.commit_mempool();
    let ev = next(&mut ws).await;
    assert_eq!(ev["id"], 12, "{ev}");
    assert_eq!(ev["result"]["data"]["type"], "tendermint/event/NewBlock");
    s.running.stop().await;
}

#[tokio::test]
async fn bad_input_and_subscription_limits() {
    let s = start().await;
    let mut ws = connect(&s).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(next(&mut ws).await["error"]["code"], -32700);
    let r = call(
        &mut ws,
        json!(1),
        "subscribe",
        json!({"query": "tm.event=="}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    let r = call(&mut ws, json!(1), "subscribe", json!({})).await;
    assert_eq!(r["error"]["code"], -32602);
    let r = call(
        &mut ws,
        json!(2),
        "unsubscribe",
        json!({"query": "tm.event='Tx'"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{r}"
    );
    let r = call(&mut ws, json!(3), "nope", json!({})).await;
    assert_eq!(r["error"]["code"], -32601);
    for i in 0..5 {
        let q = format!("tx.height={i}");
        let r = call(&mut ws, json!(i), "subscribe", json!({ "query": q })).await;
        assert_eq!(r["result"], json!({}), "{r}");
    }
    let r = call(
        &mut ws,
        json!(1),
        "subscribe",
        json!({"query": "tx.height=1"}),
    )
    .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already subscribed"),
        "{r}"
    );
    let r = call(
        &mut ws,
        json!(6),
        "subscribe",
        json!({"query": "tm.event='Tx'"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32603);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_subscriptions_per_client 5 reached"),
        "{r}"
    );
    // Still serving on this connection and over HTTP.
    let r = call(&mut ws, json!(7), "status", json!({})).await;
    assert_eq!(r["result"]["sync_info"]["latest_block_height"], "6");
    let v = rpc(&s.url(), "health", json!({})).await;
    assert_eq!(v["result"], json!({}));
    s.running.stop().await;
}

#[tokio::test]
async fn oversized_websocket_message_closes_only_that_connection() {
    let s = start().await;
    let mut ws = connect(&s).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{{"tx":"{}"}}}}"#,
        "A".repeat(100 * 1024)
    );
    let _ = ws.send(Message::Text(big.into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(t))) => {
                    panic!("an oversized message must not be processed: {t}")
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(closed);
    let mut other = connect(&s).await;
    let r = call(&mut other, json!(1), "health", json!({})).await;
    assert_eq!(r["result"], json!({}));
    s.running.stop().await;
}

#[tokio::test]
async fn serial_websocket_client_limit() {
    let s = start_with(cairn_rpc::RpcConfig {
        max_subscription_clients: 2,
        ..test_config()
    })
    .await;
    let a = connect(&s).await;
    let _b = connect(&s).await;
    let url = format!("ws://{}/websocket", s.addr);
    let third = tokio_tungstenite::connect_async(url.clone()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("third client must be refused, got {other:?}"),
    }
    drop(a);
    // The slot frees once the first client's task ends.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if tokio_tungstenite::connect_async(url.clone()).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "a slot must free when a client leaves");
    s.running.stop().await;
}

#[tokio::test]
async fn serial_slow_subscriber_is_dropped_and_others_keep_going() {
    let s = start_with(cairn_rpc::RpcConfig {
        ws_send_queue: 16,
        ws_write_timeout: Duration::from_millis(500),
        ..test_config()
    })
    .await;
    let mut slow = connect(&s).await;
    let r = call(
        &mut slow,
        json!("slow"),
        "subscribe",
        json!({"query": "tm.event='NewBlock'"}),
    )
    .await;
    assert_eq!(r["result"], json!({}));
    // A block of ~700 KB of txs: each event is about 1 MB of JSON.
    let mut big = s.backend.chain.lock().unwrap().blocks[5].clone();
    big.txs = (0..700u32)
        .map(|i| vec![(i % 251) as u8; 1000].into())
        .collect();
    let big = Arc::new(big);
    let results = Arc::new(cairn_rpc::BlockResults::default());
    // Publish far more than socket buffers and the event queue hold, without reading.
    for _ in 0..120 {
        s.backend.events.publish_block(big.clone(), results.clone());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Drain: the server must have closed the stream (after an error when it could send one).
    let mut received = 0;
    let mut saw_error = false;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(msg) = slow.next().await {
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v.get("error").is_some() {
                        assert!(
                            v["error"]["message"].as_str().unwrap().contains("behind"),
                            "{v}"
                        );
                        saw_error = true;
                    } else {
                        received += 1;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the slow client must be disconnected");
    assert!(
        received < 120,
        "a dropped client cannot have received every event ({received})"
    );
    eprintln!("slow client: {received} events, error message seen: {saw_error}");
    // The server still serves new subscribers and HTTP.
    let mut fresh = connect(&s).await;
    let r = call(
        &mut fresh,
        json!(1),
        "subscribe",
        json!({"query": "tm.event='NewBlock'"}),
    )
    .await;
    assert_eq!(r["result"], json!({}));
    s.backend.commit_mempool();
    let ev = next(&mut fresh).await;
    assert_eq!(
        ev["result"]["data"]["value"]["block"]["header"]["height"],
        "7"
    );
    let v = rpc(&s.url(), "health", json!({})).await;
    assert_eq!(v["result"], json!({}));
    s.running.stop().await;
}

/// Ordinary methods over the websocket get the same checks as over HTTP;
/// the subscription limit is per client and frees on unsubscribe.
#[tokio::test]
async fn websocket_params_batches_and_per_client_subscription_limit() {
    let s = start().await;
    let mut ws = connect(&s).await;
    for (height, want) in [
        (json!("abc"), "height: expected a 64-bit integer, got"),
        (json!([1]), "height: expected a 64-bit integer, got"),
        (json!(-1), "height must be greater than 0, but got -1"),
        (
            json!("99"),
            "height 99 must be less than or equal to the current blockchain height 6",
        ),
    ] {
        let r = call(&mut ws, json!(1), "block", json!({ "height": height })).await;
        assert_eq!(r["id"], 1);
        assert_eq!(r["error"]["code"], -32602, "{height}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{height}: {r}");
    }
    let r = call(&mut ws, json!(2), "broadcast_tx_sync", json!({"tx": 5})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = call(&mut ws, json!(3), "subscribe", json!({"query": 5})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "health"}))
        .collect();
    send(&mut ws, json!(too_many)).await;
    let r = next(&mut ws).await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 50"),
        "{r}"
    );

    // Fill this client's 5 subscriptions; a second client still has its own 5.
    for i in 0..5 {
        let q = format!("tx.height={i}");
        let r = call(&mut ws, json!(i), "subscribe", json!({ "query": q })).await;
        assert_eq!(r["result"], json!({}), "{r}");
    }
    let r = call(
        &mut ws,
        json!(5),
        "subscribe",
        json!({"query": "tx.height=5"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    let mut other = connect(&s).await;
    for i in 0..5 {
        let q = format!("tx.height={i}");
        let r = call(&mut other, json!(i), "subscribe", json!({ "query": q })).await;
        assert_eq!(r["result"], json!({}), "second client, {r}");
    }
    // Unsubscribing one frees one slot, no more.
    let r = call(
        &mut ws,
        json!(6),
        "unsubscribe",
        json!({"query": "tx.height=0"}),
    )
    .await;
    assert_eq!(r["result"], json!({}), "{r}");
    let r = call(
        &mut ws,
        json!(7),
        "subscribe",
        json!({"query": "tx.height=5"}),
    )
    .await;
    assert_eq!(r["result"], json!({}), "{r}");
    let r = call(
        &mut ws,
        json!(8),
        "subscribe",
        json!({"query": "tx.height=6"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    // Both connections still answer.
    for c in [&mut ws, &mut other] {
        let r = call(c, json!(9), "health", json!({})).await;
        assert_eq!(r["result"], json!({}));
    }
    s.running.stop().await;
}
