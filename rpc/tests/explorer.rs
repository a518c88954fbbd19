//! The explorer's REST API and the embedded page, over the fixture chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn page_and_assets_are_served_from_the_binary() {
    let s = start().await;
    for (path, ctype, needle) in [
        ("/explorer", "text/html", "data-testid=\"latest-height\""),
        (
            "/explorer/app.js",
            "text/javascript",
            "fetch(\"/api\" + path",
        ),
        ("/explorer/style.css", "text/css", "--accent"),
    ] {
        let r = http()
            .get(format!("{}{path}", s.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ctype),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains(needle), "{path}");
        for remote in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "fetch(\"http",
            "//cdn",
        ] {
            assert!(
                !body.contains(remote),
                "{path} must not load anything from elsewhere ({remote})"
            );
        }
    }
    s.running.stop().await;
}

#[tokio::test]
async fn status_blocks_and_block_detail() {
    let s = start().await;
    let url = s.url();
    let (st, v) = get_json(&format!("{url}/api/status")).await;
    assert_eq!(st, 200);
    assert_eq!(v["latest_height"], "6");
    assert_eq!(v["chain_id"], CHAIN_ID);
    assert_eq!(v["peers"], 1);

    let (_, v) = get_json(&format!("{url}/api/blocks?limit=3")).await;
    let hs: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_str().unwrap())
        .collect();
    assert_eq!(hs, vec!["6", "5", "4"]);
    let (_, v) = get_json(&format!("{url}/api/blocks?before=3")).await;
    let hs: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_str().unwrap())
        .collect();
    assert_eq!(hs, vec!["2", "1"]);
    assert_eq!(v["blocks"][0]["num_txs"], 2);
    let (st, v) = get_json(&format!("{url}/api/blocks?limit=x")).await;
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("limit"));

    let b5 = s.backend.chain.lock().unwrap().blocks[4].clone();
    for id in ["5".to_owned(), b5.id().0.to_hex()] {
        let (st, v) = get_json(&format!("{url}/api/blocks/{id}")).await;
        assert_eq!(st, 200, "{id}");
        assert_eq!(v["height"], "5");
        assert_eq!(v["hash"], b5.id().0.to_hex());
        let txs = v["txs"].as_array().unwrap();
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0]["kind"], "transfer");
        assert_eq!(txs[0]["code"], 0);
        assert_eq!(txs[1]["code"], 5);
        assert_eq!(
            txs[0]["sender"],
            user_key(2).public_key().address().to_hex()
        );
        assert_eq!(txs[0]["msg"]["amount"], "10");
        // Block 5's commit (odd height): one validator voted nil.
        let flags: Vec<&str> = v["signers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["flag"].as_str().unwrap())
            .collect();
        assert_eq!(flags, vec!["commit", "commit", "nil", "commit"]);
        assert_eq!(v["signers"][0]["moniker"], "validator-0");
    }
    let (_, v) = get_json(&format!("{url}/api/blocks/{EVIDENCE_HEIGHT}")).await;
    assert_eq!(v["evidence"][0]["type"], "duplicate_vote");
    assert_eq!(v["evidence"][0]["height"], "2");
    let (st, _) = get_json(&format!("{url}/api/blocks/99")).await;
    assert_eq!(st, 404);
    let (st, _) = get_json(&format!("{url}/api/blocks/zz")).await;
    assert_eq!(st, 400);
    s.running.stop().await;
}

#[tokio::test]
async fn tx_account_validators_evidence_and_search() {
    let s = start().await;
    let url = s.url();
    let hash = s.backend.tx_hashes_at(5)[1];
    let (st, v) = get_json(&format!("{url}/api/txs/{}", hash.to_hex())).await;
    assert_eq!(st, 200);
    assert_eq!(v["height"], "5");
    assert_eq!(v["code"], 5);
    assert_eq!(v["log"], "insufficient funds or bad nonce");
    assert_eq!(v["kind"], "transfer");
    assert_eq!(v["msg"]["to"], user_key(0).public_key().address().to_hex());
    assert_eq!(v["events"][0]["type"], "tx");
    let (st, _) = get_json(&format!("{url}/api/txs/{}", "00".repeat(32))).await;
    assert_eq!(st, 404);

    let addr = user_key(0).public_key().address().to_hex();
    let (st, v) = get_json(&format!("{url}/api/accounts/{addr}")).await;
    assert_eq!(st, 200);
    assert_eq!(v["nonce"], "2");
    assert_eq!(v["balance"], (START_BALANCE - 4000 - 1000 + 10).to_string());
    let heights: Vec<&str> = v["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["height"].as_str().unwrap())
        .collect();
    assert_eq!(
        heights,
        vec!["5", "3", "2"],
        "sent and received, newest first"
    );
    let (st, _) = get_json(&format!("{url}/api/accounts/nothex")).await;
    assert_eq!(st, 400);
    let (st, _) = get_json(&format!("{url}/api/accounts/{}", "11".repeat(20))).await;
    assert_eq!(st, 404);

    let (_, v) = get_json(&format!("{url}/api/validators")).await;
    let vals = v["validators"].as_array().unwrap();
    assert_eq!(vals.len(), 4);
    assert_eq!(vals[0]["power"], "50");
    assert_eq!(vals[0]["power_share_percent"], 50.0);
    assert!(
        vals.iter()
            .any(|x| x["jailed"] == true && x["tombstoned"] == true && x["active"] == false)
    );
    assert_eq!(v["total_power"], "100");

    let (_, v) = get_json(&format!("{url}/api/evidence")).await;
    assert_eq!(
        v["evidence"][0]["included_height"],
        EVIDENCE_HEIGHT.to_string()
    );

    let b3 = s.backend.chain.lock().unwrap().blocks[2].id().0.to_hex();
    for (q, want) in [
        ("4".to_owned(), json!({"kind": "block", "id": "4"})),
        (b3.clone(), json!({"kind": "block", "id": "3"})),
        (b3.to_lowercase(), json!({"kind": "block", "id": "3"})),
        (hash.to_hex(), json!({"kind": "tx", "id": hash.to_hex()})),
        (addr.to_lowercase(), json!({"kind": "account", "id": addr})),
    ] {
        let (st, v) = get_json(&format!("{url}/api/search?q={q}")).await;
        assert_eq!(st, 200, "{q}");
        assert_eq!(v, want, "{q}");
    }
    for (q, code) in [
        ("", 400),
        ("hello", 400),
        ("77", 404),
        (&"AB".repeat(32)[..], 404),
    ] {
        let (st, v) = get_json(&format!("{url}/api/search?q={q}")).await;
        assert_eq!(st, code, "{q}: {v}");
        assert!(v["error"].is_string());
    }
    s.running.stop().await;
}
