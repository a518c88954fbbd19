//! JSON-RPC over HTTP against the in-process fixture chain: CometBFT shapes,
//! error codes, bad input and limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use cairn_types::json::base64_encode;
use common::*;
use serde_json::{Value, json};

fn err_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

fn err_msg(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn is_upper_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
}

#[tokio::test]
async fn status_has_cometbft_shape() {
    let s = start().await;
    let v = rpc(&s.url(), "status", json!({})).await;
    let r = &v["result"];
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    let ni = &r["node_info"];
    assert_eq!(ni["version"], "0.38.17");
    assert_eq!(ni["network"], CHAIN_ID);
    let id = ni["id"].as_str().unwrap();
    assert_eq!(id, node_key().public_key().node_id().to_hex());
    assert!(
        id.len() == 40
            && id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(ni["other"]["cairn_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ni["protocol_version"]["block"], "11");
    let si = &r["sync_info"];
    assert_eq!(si["latest_block_height"], "6");
    assert_eq!(si["earliest_block_height"], "1");
    let tip = s.backend.chain.lock().unwrap().blocks[5].clone();
    assert_eq!(si["latest_block_hash"], tip.id().0.to_hex());
    assert_eq!(si["latest_app_hash"], tip.header.app_hash.to_hex());
    assert!(is_upper_hex(si["latest_app_hash"].as_str().unwrap(), 64));
    assert_eq!(si["latest_block_time"], tip.header.time.to_rfc3339());
    assert_eq!(si["catching_up"], false);
    let vi = &r["validator_info"];
    assert_eq!(vi["pub_key"]["type"], "tendermint/PubKeyEd25519");
    assert_eq!(vi["address"], val_key(0).public_key().address().to_hex());
    assert_eq!(vi["voting_power"], "10");
    s.running.stop().await;
}

#[tokio::test]
async fn block_has_cometbft_shape_with_named_signers() {
    let s = start().await;
    let (b1, b2, vals) = {
        let c = s.backend.chain.lock().unwrap();
        (c.blocks[0].clone(), c.blocks[1].clone(), c.vals.clone())
    };
    let v = rpc(&s.url(), "block", json!({"height": "2"})).await;
    let r = &v["result"];
    assert_eq!(r["block_id"]["hash"], b2.id().0.to_hex());
    assert_eq!(r["block_id"]["parts"]["total"], 1);
    assert_eq!(
        r["block_id"]["parts"]["hash"],
        cairn_types::Hash::digest(&b2.to_bytes()).to_hex()
    );
    let h = &r["block"]["header"];
    assert_eq!(h["version"], json!({"block": "11", "app": "1"}));
    assert_eq!(h["height"], "2");
    assert_eq!(h["chain_id"], CHAIN_ID);
    assert_eq!(h["time"], b2.header.time.to_rfc3339());
    assert_eq!(h["last_block_id"]["hash"], b1.id().0.to_hex());
    assert_eq!(h["last_block_id"]["parts"]["total"], 1);
    assert_eq!(
        h["last_block_id"]["parts"]["hash"],
        cairn_types::Hash::digest(&b1.to_bytes()).to_hex()
    );
    assert_eq!(h["proposer_address"], b2.header.proposer_address.to_hex());
    for f in [
        "last_commit_hash",
        "data_hash",
        "validators_hash",
        "next_validators_hash",
        "consensus_hash",
        "app_hash",
        "last_results_hash",
        "evidence_hash",
    ] {
        assert!(is_upper_hex(h[f].as_str().unwrap(), 64), "{f}: {}", h[f]);
    }
    let txs: Vec<String> = b2.txs.iter().map(|t| base64_encode(t)).collect();
    assert_eq!(r["block"]["data"]["txs"], json!(txs));
    assert_eq!(r["block"]["evidence"]["evidence"], json!([]));
    // Last commit = commit of block 1 (odd height: the third validator voted nil).
    let lc = &r["block"]["last_commit"];
    assert_eq!(lc["height"], "1");
    assert_eq!(lc["round"], 0);
    assert_eq!(lc["block_id"]["hash"], b1.id().0.to_hex());
    let sigs = lc["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 4);
    let flags: Vec<i64> = sigs
        .iter()
        .map(|s| s["block_id_flag"].as_i64().unwrap())
        .collect();
    assert_eq!(flags, vec![2, 2, 3, 2]);
    for (s, v) in sigs.iter().zip(vals.validators()) {
        assert_eq!(s["validator_address"], v.address.to_hex());
        assert_eq!(
            cairn_types::json::base64_decode(s["signature"].as_str().unwrap())
                .unwrap()
                .len(),
            64
        );
    }

    // The first block uses CometBFT's empty forms.
    let v = rpc(&s.url(), "block", json!({"height": 1})).await;
    let r = &v["result"]["block"];
    assert_eq!(
        r["header"]["last_block_id"],
        json!({"hash": "", "parts": {"total": 0, "hash": ""}})
    );
    assert_eq!(r["last_commit"]["height"], "0");
    assert_eq!(r["last_commit"]["signatures"], json!([]));

    // Height 3's last commit (block 2, even) has an absent entry in CometBFT's form.
    let v = rpc(&s.url(), "block", json!(["3"])).await;
    let absent = &v["result"]["block"]["last_commit"]["signatures"][3];
    assert_eq!(
        *absent,
        json!({"block_id_flag": 1, "validator_address": "", "timestamp": "0001-01-01T00:00:00Z", "signature": null})
    );
    s.running.stop().await;
}

#[tokio::test]
async fn uri_style_matches_post_and_uses_id_minus_one() {
    let s = start().await;
    let (st, got) = get_json(&format!("{}/block?height=2", s.url())).await;
    assert_eq!(st, 200);
    assert_eq!(got["id"], -1);
    let posted = rpc(&s.url(), "block", json!({"height": "2"})).await;
    assert_eq!(got["result"], posted["result"]);
    let (_, quoted) = get_json(&format!("{}/block?height=%222%22", s.url())).await;
    assert_eq!(quoted["result"], posted["result"]);
    let (_, bad) = get_json(&format!("{}/block?height=abc", s.url())).await;
    assert_eq!(err_code(&bad), -32602);
    let (_, h) = get_json(&format!("{}/health", s.url())).await;
    assert_eq!(h["result"], json!({}));
    let hash = s.backend.tx_hashes_at(2)[0];
    let (_, t) = get_json(&format!("{}/tx?hash=0x{}", s.url(), hash.to_hex())).await;
    assert_eq!(t["result"]["hash"], hash.to_hex());
    s.running.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_right_error_and_the_server_keeps_serving() {
    let s = start().await;
    let url = s.url();
    // Malformed JSON.
    let (st, v) = post(&url, "{\"jsonrpc\": \"2.0\", ").await;
    assert_eq!(st, 200);
    assert_eq!(err_code(&v), -32700);
    assert_eq!(v["id"], Value::Null);
    // Not a request object / wrong version / missing method.
    assert_eq!(err_code(&post(&url, "42").await.1), -32600);
    let (_, v) = post(&url, r#"{"jsonrpc":"1.0","id":3,"method":"status"}"#).await;
    assert_eq!(err_code(&v), -32600);
    assert_eq!(v["id"], 3);
    assert_eq!(
        err_code(&post(&url, r#"{"jsonrpc":"2.0","id":3}"#).await.1),
        -32600
    );
    assert_eq!(
        err_code(
            &post(
                &url,
                r#"{"jsonrpc":"2.0","id":3,"method":"status","params":7}"#
            )
            .await
            .1
        ),
        -32600
    );
    // Unknown method.
    let v = rpc(&url, "no_such_method", json!({})).await;
    assert_eq!(err_code(&v), -32601);
    assert!(err_msg(&v).contains("no_such_method"), "{v}");
    // subscribe is websocket-only.
    assert_eq!(
        err_code(&rpc(&url, "subscribe", json!({"query": "tm.event='Tx'"})).await),
        -32601
    );
    // Wrong parameter types.
    for params in [
        json!({"height": [1]}),
        json!({"height": "abc"}),
        json!({"height": true}),
        json!({"height": 1.5}),
    ] {
        let v = rpc(&url, "block", params.clone()).await;
        assert_eq!(err_code(&v), -32602, "{params}: {v}");
        assert!(err_msg(&v).contains("height"), "{v}");
    }
    // Negative, zero, too high and beyond 64 bits.
    let v = rpc(&url, "block", json!({"height": "-1"})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(
        err_msg(&v).contains("height must be greater than 0, but got -1"),
        "{v}"
    );
    let v = rpc(&url, "commit", json!({"height": 0})).await;
    assert_eq!(err_code(&v), -32602);
    let v = rpc(&url, "block", json!({"height": "99"})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(
        err_msg(&v)
            .contains("height 99 must be less than or equal to the current blockchain height 6"),
        "{v}"
    );
    assert_eq!(
        v["error"]["data"],
        "height 99 must be less than or equal to the current blockchain height 6"
    );
    let v = post(&url, r#"{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":123456789012345678901234567890}}"#).await.1;
    assert_eq!(err_code(&v), -32602);
    let v = rpc(
        &url,
        "validators",
        json!({"height": "18446744073709551616"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    // Invalid tx encodings: not base64 is a params error...
    let v = rpc(&url, "broadcast_tx_sync", json!({"tx": "not base64!"})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(err_msg(&v).contains("tx: not valid base64"), "{v}");
    assert_eq!(
        err_code(&rpc(&url, "broadcast_tx_sync", json!({})).await),
        -32602
    );
    // ...while base64 of bytes that are no tx is a CheckTx rejection, as CometBFT reports it.
    let v = rpc(
        &url,
        "broadcast_tx_sync",
        json!({"tx": base64_encode(b"garbage")}),
    )
    .await;
    assert_eq!(v["result"]["code"], 1, "{v}");
    assert!(
        v["result"]["log"].as_str().unwrap().contains("decode"),
        "{v}"
    );
    let v = rpc(&url, "check_tx", json!({"tx": base64_encode(&[0u8; 10])})).await;
    assert_eq!(v["result"]["code"], 1, "{v}");
    // Bad hashes.
    let v = rpc(&url, "tx", json!({"hash": "XYZ"})).await;
    assert_eq!(err_code(&v), -32602);
    let v = rpc(&url, "tx", json!({"hash": "00".repeat(32)})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(err_msg(&v).contains("not found"), "{v}");
    // Oversized body: HTTP 413 before parsing.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{{"tx":"{}"}}}}"#,
        "A".repeat(1024 * 1024)
    );
    let (st, _) = post(&url, big).await;
    assert_eq!(st, 413);
    // Batches: empty, too large, mixed.
    assert_eq!(err_code(&post(&url, "[]").await.1), -32600);
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "health"}))
        .collect();
    let v = post(&url, serde_json::to_string(&too_many).unwrap())
        .await
        .1;
    assert_eq!(err_code(&v), -32600);
    assert!(err_msg(&v).contains("exceeds the limit of 50"), "{v}");
    let mixed = json!([
        {"jsonrpc": "2.0", "id": "a", "method": "health"},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        {"jsonrpc": "2.0", "method": "health"},
        17,
        {"jsonrpc": "2.0", "id": "c", "method": "block", "params": {"height": "-5"}},
    ]);
    let v = post(&url, mixed.to_string()).await.1;
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 4, "the notification gets no response: {v}");
    assert_eq!(arr[0]["id"], "a");
    assert_eq!(arr[0]["result"], json!({}));
    assert_eq!(arr[1]["id"], "b");
    assert_eq!(err_code(&arr[1]), -32601);
    assert_eq!(err_code(&arr[2]), -32600);
    assert_eq!(arr[3]["id"], "c");
    assert_eq!(err_code(&arr[3]), -32602);
    // A lone notification gets an empty 200.
    let resp = http()
        .post(&url)
        .body(r#"{"jsonrpc":"2.0","method":"health"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().is_empty());
    // Still serving.
    let v = rpc(&url, "status", json!({})).await;
    assert_eq!(v["result"]["sync_info"]["latest_block_height"], "6");
    s.running.stop().await;
}

#[tokio::test]
async fn results_commit_validators_and_blockchain() {
    let s = start().await;
    let url = s.url();
    let v = rpc(&url, "block_results", json!({"height": "5"})).await;
    let r = &v["result"];
    assert_eq!(r["height"], "5");
    let codes: Vec<i64> = r["txs_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![0, 5]);
    let ev = &r["txs_results"][0]["events"][0];
    assert_eq!(ev["type"], "tx");
    assert_eq!(ev["attributes"][0]["key"], "sender");
    assert_eq!(ev["attributes"][0]["index"], true);
    assert_eq!(r["finalize_block_events"][0]["type"], "rewards");
    assert!(is_upper_hex(r["app_hash"].as_str().unwrap(), 64));
    assert_eq!(r["validator_updates"], json!([]));
    // Latest block's commit is the seen commit, earlier ones canonical.
    let v = rpc(&url, "commit", json!({})).await;
    assert_eq!(v["result"]["canonical"], false);
    assert_eq!(v["result"]["signed_header"]["header"]["height"], "6");
    let v = rpc(&url, "commit", json!({"height": "5"})).await;
    assert_eq!(v["result"]["canonical"], true);
    let b5 = s.backend.chain.lock().unwrap().blocks[4].clone();
    assert_eq!(
        v["result"]["signed_header"]["commit"]["block_id"]["hash"],
        b5.id().0.to_hex()
    );
    assert_eq!(
        v["result"]["signed_header"]["commit"]["block_id"]["parts"]["hash"],
        cairn_types::Hash::digest(&b5.to_bytes()).to_hex()
    );
    // Validators, paged.
    let v = rpc(
        &url,
        "validators",
        json!({"height": "3", "page": "2", "per_page": "3"}),
    )
    .await;
    assert_eq!(v["result"]["block_height"], "3");
    assert_eq!(v["result"]["count"], "1");
    assert_eq!(v["result"]["total"], "4");
    let all = rpc(&url, "validators", json!({})).await;
    let powers: Vec<&str> = all["result"]["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["voting_power"].as_str().unwrap())
        .collect();
    assert_eq!(powers, vec!["50", "30", "10", "10"]);
    let v = rpc(&url, "validators", json!({"page": 3, "per_page": 2})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(
        err_msg(&v).contains("page should be within [1, 2] range, given 3"),
        "{v}"
    );
    // Blockchain metas: newest first.
    let v = rpc(
        &url,
        "blockchain",
        json!({"minHeight": "2", "maxHeight": "4"}),
    )
    .await;
    let hs: Vec<&str> = v["result"]["block_metas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["header"]["height"].as_str().unwrap())
        .collect();
    assert_eq!(hs, vec!["4", "3", "2"]);
    assert_eq!(v["result"]["last_height"], "6");
    assert_eq!(v["result"]["block_metas"][2]["num_txs"], "2");
    let v = rpc(
        &url,
        "blockchain",
        json!({"minHeight": "5", "maxHeight": "3"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    // Evidence in CometBFT's shape.
    let v = rpc(&url, "block", json!({"height": EVIDENCE_HEIGHT})).await;
    let e = &v["result"]["block"]["evidence"]["evidence"][0];
    assert_eq!(e["type"], "tendermint/DuplicateVoteEvidence");
    assert_eq!(e["value"]["ValidatorPower"], "10");
    assert_eq!(e["value"]["TotalVotingPower"], "100");
    assert_eq!(e["value"]["vote_a"]["type"], 1);
    assert_eq!(e["value"]["vote_a"]["height"], "2");
    // Other methods answer in shape.
    let v = rpc(&url, "consensus_params", json!({})).await;
    assert_eq!(
        v["result"]["consensus_params"]["validator"]["pub_key_types"],
        json!(["ed25519"])
    );
    let v = rpc(&url, "abci_info", json!({})).await;
    assert_eq!(v["result"]["response"]["last_block_height"], "6");
    assert_ne!(v["result"]["response"]["last_block_app_hash"], "");
    let v = rpc(&url, "net_info", json!({})).await;
    assert_eq!(v["result"]["n_peers"], "1");
    let v = rpc(&url, "genesis", json!({})).await;
    assert_eq!(v["result"]["genesis"]["chain_id"], CHAIN_ID);
    let v = rpc(&url, "header", json!({"height": 2})).await;
    assert_eq!(v["result"]["header"]["height"], "2");
    s.running.stop().await;
}

#[tokio::test]
async fn tx_search_and_abci_query() {
    let s = start().await;
    let url = s.url();
    let hashes = s.backend.tx_hashes_at(2);
    let v = rpc(&url, "tx", json!({"hash": base64_encode(&hashes[1].0)})).await;
    let r = &v["result"];
    assert_eq!(r["hash"], hashes[1].to_hex());
    assert_eq!(r["height"], "2");
    assert_eq!(r["index"], 1);
    assert_eq!(r["tx_result"]["code"], 0);
    let v = rpc(&url, "tx_search", json!({"query": "tx.height=2"})).await;
    assert_eq!(v["result"]["total_count"], "2");
    let sender = user_key(0).public_key().address().to_hex();
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": format!("tx.sender='{sender}'"), "order_by": "desc"}),
    )
    .await;
    assert_eq!(v["result"]["total_count"], "2");
    assert_eq!(v["result"]["txs"][0]["height"], "3");
    let recipient = user_key(0).public_key().address().to_hex();
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": format!("transfer.recipient='{recipient}'")}),
    )
    .await;
    assert_eq!(
        v["result"]["total_count"], "1",
        "the failed overdraft emits no transfer: {v}"
    );
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": format!("tx.hash='{}'", hashes[0].to_hex())}),
    )
    .await;
    assert_eq!(v["result"]["txs"][0]["hash"], hashes[0].to_hex());
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": "tx.height=2", "per_page": 1, "page": 2}),
    )
    .await;
    assert_eq!(v["result"]["txs"][0]["index"], 1);
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": "tx.height=2", "per_page": 1, "page": 3}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    let v = rpc(&url, "tx_search", json!({"query": "tx.height=="})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(err_msg(&v).contains("query"), "{v}");
    let v = rpc(
        &url,
        "tx_search",
        json!({"query": "tx.height=2", "order_by": "sideways"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);

    let addr = user_key(1).public_key().address();
    let data = hex::encode(addr.0);
    let v = rpc(
        &url,
        "abci_query",
        json!({"path": "/account", "data": data, "prove": true}),
    )
    .await;
    let r = &v["result"]["response"];
    assert_eq!(r["height"], "6", "latest state, never 0: {v}");
    assert_eq!(r["code"], 0);
    let value = cairn_types::json::base64_decode(r["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(value).unwrap(),
        format!("{}:1", START_BALANCE + 1000 - 2500)
    );
    assert_eq!(r["proofOps"]["ops"][0]["type"], "fixture:sha256");
    assert_eq!(r["key"], base64_encode(&addr.0));
    let v = rpc(
        &url,
        "abci_query",
        json!({"path": "/account", "data": data, "height": "3"}),
    )
    .await;
    assert_eq!(v["result"]["response"]["height"], "3");
    assert_eq!(v["result"]["response"]["proofOps"], Value::Null);
    let v = rpc(
        &url,
        "abci_query",
        json!({"path": "/account", "data": data, "height": "7"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    let v = rpc(&url, "abci_query", json!({"path": "/nope", "data": ""})).await;
    assert_eq!(err_code(&v), -32602);
    assert!(err_msg(&v).contains("unknown query path"), "{v}");
    let v = rpc(
        &url,
        "abci_query",
        json!({"path": "/account", "data": "zz"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    s.running.stop().await;
}

#[tokio::test]
async fn broadcast_and_mempool() {
    let s = start().await;
    let url = s.url();
    let tx = transfer(2, 1, 1, 77).to_bytes();
    let v = rpc(&url, "broadcast_tx_sync", json!({"tx": base64_encode(&tx)})).await;
    assert_eq!(v["result"]["code"], 0, "{v}");
    assert_eq!(v["result"]["hash"], cairn_types::tx::tx_hash(&tx).to_hex());
    let v = rpc(&url, "num_unconfirmed_txs", json!({})).await;
    assert_eq!(v["result"]["n_txs"], "1");
    assert_eq!(v["result"]["total_bytes"], tx.len().to_string());
    let v = rpc(&url, "unconfirmed_txs", json!({"limit": "10"})).await;
    assert_eq!(v["result"]["txs"], json!([base64_encode(&tx)]));
    let tx2 = transfer(2, 0, 2, 5).to_bytes();
    let v = rpc(
        &url,
        "broadcast_tx_async",
        json!({"tx": base64_encode(&tx2)}),
    )
    .await;
    assert_eq!(v["result"]["hash"], cairn_types::tx::tx_hash(&tx2).to_hex());
    s.running.stop().await;
}

#[tokio::test]
async fn serial_broadcast_tx_commit_waits_for_the_block() {
    let s = start().await;
    let url = s.url();
    let backend = s.backend.clone();
    // A "proposer" that commits the mempool once something is in it.
    let producer = tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !backend.chain.lock().unwrap().mempool.is_empty() {
                backend.commit_mempool();
                return true;
            }
        }
        false
    });
    let tx = transfer(0, 1, 2, 123).to_bytes();
    let v = rpc(
        &url,
        "broadcast_tx_commit",
        json!({"tx": base64_encode(&tx)}),
    )
    .await;
    assert!(producer.await.unwrap());
    let r = &v["result"];
    assert_eq!(r["check_tx"]["code"], 0, "{v}");
    assert_eq!(r["tx_result"]["code"], 0, "{v}");
    assert_eq!(r["height"], "7");
    assert_eq!(r["hash"], cairn_types::tx::tx_hash(&tx).to_hex());
    // A tx refused by CheckTx returns at once with height 0.
    let v = rpc(
        &url,
        "broadcast_tx_commit",
        json!({"tx": base64_encode(b"junk")}),
    )
    .await;
    assert_eq!(v["result"]["check_tx"]["code"], 1);
    assert_eq!(v["result"]["height"], "0");
    // Nobody commits: the wait ends with an error after the configured timeout (3 s).
    let started = std::time::Instant::now();
    let tx = transfer(0, 1, 3, 1).to_bytes();
    let v = rpc(
        &url,
        "broadcast_tx_commit",
        json!({"tx": base64_encode(&tx)}),
    )
    .await;
    assert_eq!(err_code(&v), -32603);
    assert!(err_msg(&v).contains("timed out waiting for tx"), "{v}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    s.running.stop().await;
}

#[tokio::test]
async fn serial_slow_or_failing_node_gives_internal_errors_and_serving_goes_on() {
    let s = start_with(cairn_rpc::RpcConfig {
        timeout: Duration::from_millis(500),
        ..test_config()
    })
    .await;
    let url = s.url();
    s.backend
        .slow_status_ms
        .store(1500, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let v = rpc(&url, "status", json!({})).await;
    assert_eq!(err_code(&v), -32603);
    assert!(err_msg(&v).contains("status timed out after 500 ms"), "{v}");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    // Other calls are not held up meanwhile.
    assert_eq!(rpc(&url, "health", json!({})).await["result"], json!({}));
    s.backend
        .slow_status_ms
        .store(0, std::sync::atomic::Ordering::Relaxed);
    s.backend
        .fail_status
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let v = rpc(&url, "block", json!({"height": 1})).await;
    assert_eq!(err_code(&v), -32603);
    assert!(err_msg(&v).contains("store read failed"), "{v}");
    s.backend
        .fail_status
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let v = rpc(&url, "status", json!({})).await;
    assert_eq!(v["result"]["sync_info"]["latest_block_height"], "6");
    s.running.stop().await;
}

#[tokio::test]
async fn serial_idle_and_slowloris_connections_are_closed_and_free_their_slots() {
    let s = start_with(cairn_rpc::RpcConfig {
        max_connections: 2,
        header_read_timeout: Duration::from_millis(600),
        ..test_config()
    })
    .await;
    // Both slots taken: one idle, one trickling a request line.
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    for b in b"GET /status HTTP/1.1\r\n" {
        use tokio::io::AsyncWriteExt;
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both were closed by the server (read returns EOF or an error)...
    for conn in [&mut idle, &mut slow] {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_)))
                || matches!(read, Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 408")),
            "the server must close a connection that sends no full header in time: {read:?}"
        );
    }
    // ...so a well-formed client is served.
    let v = rpc(&s.url(), "health", json!({})).await;
    assert_eq!(v["result"], json!({}));
    s.running.stop().await;
}

#[tokio::test]
async fn serial_connection_limit_queues_extra_clients() {
    let s = start_with(cairn_rpc::RpcConfig {
        max_connections: 1,
        ..test_config()
    })
    .await;
    let url = s.url();
    // Hold the only connection slot with an idle TCP connection.
    let idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let r = quick
        .post(&url)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"health"}"#)
        .send()
        .await;
    assert!(
        r.is_err(),
        "a second connection must wait while the limit is reached"
    );
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = rpc(&url, "health", json!({})).await;
    assert_eq!(v["result"], json!({}));
    s.running.stop().await;
}

#[tokio::test]
async fn root_redirects_browsers_and_metrics_are_served() {
    let s = start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(s.url()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/explorer");
    let _ = rpc(&s.url(), "status", json!({})).await;
    let _ = rpc(&s.url(), "bogus", json!({})).await;
    let text = http()
        .get(format!("{}/metrics", s.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("cairn_consensus_height 6"), "{text}");
    assert!(
        text.contains("cairn_rpc_requests_total{method=\"status\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cairn_rpc_requests_total{method=\"unknown\"} 1"),
        "{text}"
    );
    s.running.stop().await;
}

/// The height-taking methods, each over POST (height as a string and as a
/// JSON number) and GET: a bad height is -32602 whose message says what was
/// wrong, and the server goes on serving.
#[tokio::test]
async fn bad_heights_are_refused_by_every_method_with_what_was_wrong() {
    let s = start().await;
    let url = s.url();
    let addr = hex::encode(user_key(0).public_key().address().0);
    // (method, other params as JSON, the same as a query string)
    let methods = [
        ("block", json!({}), String::new()),
        ("block_results", json!({}), String::new()),
        ("commit", json!({}), String::new()),
        ("header", json!({}), String::new()),
        ("validators", json!({}), String::new()),
        ("consensus_params", json!({}), String::new()),
        (
            "abci_query",
            json!({"path": "/account", "data": addr}),
            format!("path=%22/account%22&data=0x{addr}&"),
        ),
    ];
    let too_high = "must be less than or equal to the current blockchain height 6";
    let cases = [
        ("-1", "height must be greater than 0, but got -1".to_owned()),
        ("0", "height must be greater than 0, but got 0".to_owned()),
        (
            "-9223372036854775808",
            "height must be greater than 0, but got -9223372036854775808".to_owned(),
        ),
        ("7", format!("height 7 {too_high}")),
        (
            "9223372036854775807",
            format!("height 9223372036854775807 {too_high}"),
        ),
        (
            "18446744073709551616",
            "height: expected a 64-bit integer, got".to_owned(),
        ),
        ("1e3", "height: expected a 64-bit integer, got".to_owned()),
    ];
    for (method, base, query) in &methods {
        for (h, want) in &cases {
            // abci_query reads height 0 as "the latest".
            if *method == "abci_query" && *h == "0" {
                continue;
            }
            let as_number: Value = serde_json::from_str(h).unwrap();
            for height in [json!(h), as_number] {
                let mut params = base.clone();
                params["height"] = height.clone();
                let v = rpc(&url, method, params).await;
                assert_eq!(err_code(&v), -32602, "{method} height {height}: {v}");
                assert!(
                    err_msg(&v).contains(want.as_str()),
                    "{method} height {height}: want {want:?}, got {v}"
                );
            }
            let (st, v) = get_json(&format!("{url}/{method}?{query}height={h}")).await;
            assert_eq!(st, 200);
            assert_eq!(v["id"], -1);
            assert_eq!(err_code(&v), -32602, "GET {method} height {h}: {v}");
            assert!(err_msg(&v).contains(want.as_str()), "GET {method}: {v}");
        }
    }
    let v = rpc(
        &url,
        "blockchain",
        json!({"minHeight": "-3", "maxHeight": "4"}),
    )
    .await;
    assert_eq!(err_code(&v), -32602);
    assert!(
        err_msg(&v).contains("heights must be non-negative, got minHeight -3"),
        "{v}"
    );
    // Still serving, and the good heights still work.
    let v = rpc(&url, "block", json!({"height": "6"})).await;
    assert_eq!(v["result"]["block"]["header"]["height"], "6", "{v}");
    s.running.stop().await;
}

/// The GET style and the broadcast methods get the same checks as `POST /`.
#[tokio::test]
async fn bad_input_over_get_and_to_every_broadcast_method() {
    let s = start().await;
    let url = s.url();
    // Unknown method: the name comes back; the GET answer uses id -1.
    let (st, v) = get_json(&format!("{url}/no_such_method?height=1")).await;
    assert_eq!(st, 200);
    assert_eq!(v["id"], -1);
    assert_eq!(err_code(&v), -32601);
    assert!(err_msg(&v).contains("no_such_method"), "{v}");
    // Wrong types in the query string.
    for (path, field) in [
        ("block?height=[1]", "height"),
        ("block?height=true", "height"),
        ("validators?page=abc", "page"),
        ("tx?hash=XYZ", "hash"),
        ("tx?hash=0x1234", "hash"),
        ("broadcast_tx_sync?tx=0xZZ", "tx"),
        ("abci_query?path=%22/account%22&data=0xnothex", "data"),
        ("unconfirmed_txs?limit=-1", "limit"),
    ] {
        let (_, v) = get_json(&format!("{url}/{path}")).await;
        assert_eq!(err_code(&v), -32602, "{path}: {v}");
        assert!(err_msg(&v).contains(field), "{path}: {v}");
    }
    // Not base64 / not a string: every tx-taking method refuses it as params.
    for method in [
        "broadcast_tx_sync",
        "broadcast_tx_async",
        "broadcast_tx_commit",
        "check_tx",
    ] {
        for tx in [
            json!("not base64!"),
            json!(12),
            json!(["AAAA"]),
            json!(null),
        ] {
            let v = rpc(&url, method, json!({ "tx": tx })).await;
            assert_eq!(err_code(&v), -32602, "{method} tx {tx}: {v}");
            assert!(err_msg(&v).starts_with("Invalid params: tx"), "{v}");
        }
    }
    // Base64 of bytes that are no tx: sync and commit report CheckTx's refusal;
    // async answers at once (CometBFT's contract) but nothing enters the mempool.
    let junk = json!({"tx": base64_encode(b"\x01\x02 not a tx")});
    let v = rpc(&url, "broadcast_tx_commit", junk.clone()).await;
    assert_eq!(v["result"]["check_tx"]["code"], 1, "{v}");
    let v = rpc(&url, "broadcast_tx_async", junk).await;
    assert_eq!(v["result"]["code"], 0, "{v}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = rpc(&url, "num_unconfirmed_txs", json!({})).await;
    assert_eq!(v["result"]["n_txs"], "0", "no junk in the mempool: {v}");
    // A batch of exactly the limit is served in full.
    let full: Vec<Value> = (0..50)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "health"}))
        .collect();
    let v = post(&url, serde_json::to_string(&full).unwrap()).await.1;
    assert_eq!(v.as_array().map(Vec::len), Some(50), "{v}");
    // A body over the limit is 413, then the next request is served.
    let (st, _) = post(&url, vec![b' '; 1024 * 1024 + 1]).await;
    assert_eq!(st, 413);
    let v = rpc(&url, "status", json!({})).await;
    assert_eq!(v["result"]["sync_info"]["latest_block_height"], "6");
    s.running.stop().await;
}
