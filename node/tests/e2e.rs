//! End to end: real `cairn` processes on 127.0.0.1, talking libp2p and JSON-RPC.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Testnet, account, account_address, post, transfer};

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn no_evidence_upto(net: &Testnet, i: usize, top: u64) {
    for h in 1..=top {
        let b = net.rpc(i, &format!("block?height={h}")).unwrap();
        let ev = &b["result"]["block"]["evidence"]["evidence"];
        assert!(
            ev.as_array().is_none_or(|a| a.is_empty()),
            "evidence at height {h}: {ev}"
        );
    }
}

#[test]
fn serial_e2e_validators_agree_execute_transfers_and_survive_kill_9() {
    let mut net = Testnet::generate(4, 0);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 2, 90);
    }

    // Transfers submitted to different nodes are committed; balances agree.
    let to = account_address(&net, "account3");
    let (before, _) = account(&net, 0, to).unwrap();
    let mut hashes = Vec::new();
    for (i, from) in ["account0", "account1", "account2"].iter().enumerate() {
        let tx = transfer(&net, from, to, 7, 0);
        let r = post(
            &net.nodes[i].rpc,
            "broadcast_tx_sync",
            serde_json::json!({"tx": cairn_types::json::base64_encode(&tx)}),
        )
        .unwrap();
        assert_eq!(r["result"]["code"], 0, "{r}");
        hashes.push(r["result"]["hash"].as_str().unwrap().to_owned());
    }
    for h in &hashes {
        let mut found = false;
        for _ in 0..120 {
            if let Some(r) = net.rpc(3, &format!("tx?hash=0x{h}"))
                && r["result"]["tx_result"]["code"] == 0
            {
                found = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(found, "tx {h} committed and visible on node 3");
    }
    let top = net.wait_height(0, net.height(0).unwrap() + 1, 30);
    for i in 0..4 {
        net.wait_height(i, top, 30);
        assert_eq!(
            account(&net, i, to).unwrap().0,
            before + 21,
            "balance on node {i}"
        );
    }

    // 20 blocks, identical block and app hashes everywhere.
    for i in 0..4 {
        net.wait_height(i, 20, 120);
    }
    for h in 1..=20 {
        let first = net.block_hashes(0, h).unwrap();
        for i in 1..4 {
            assert_eq!(
                net.block_hashes(i, h).unwrap(),
                first,
                "block {h} on node {i}"
            );
        }
    }

    // kill -9 one validator: the others keep committing.
    net.kill(3);
    let at_kill = net.height(0).unwrap();
    net.wait_height(0, at_kill + 3, 60);
    // Restarted 5 s later, it catches up and signs again.
    sleep(5);
    let restart = std::time::Instant::now();
    net.start(3);
    let target = net.height(0).unwrap();
    net.wait_height(3, target, 60);
    let caught_up = restart.elapsed();
    let guard_path = net.home(3).join("data/priv_validator_state.json");
    let signed_at = |p: &std::path::Path| -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["height"].as_str().unwrap().parse().unwrap()
    };
    let mut signed_again = false;
    for _ in 0..120 {
        if signed_at(&guard_path) > target {
            signed_again = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        signed_again,
        "the restarted validator signs again after catching up"
    );
    eprintln!("rejoin: caught up {target} in {caught_up:?}");
    let top = net.height(0).unwrap();
    for i in 0..4 {
        net.wait_height(i, top, 30);
    }
    for h in 1..=top {
        let first = net.block_hashes(0, h).unwrap();
        assert_eq!(
            net.block_hashes(3, h).unwrap(),
            first,
            "block {h} after restart"
        );
    }
    no_evidence_upto(&net, 0, top);
}

#[test]
fn serial_e2e_two_of_four_down_halts_then_one_back_resumes() {
    let mut net = Testnet::generate(4, 0);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 3, 90);
    }
    net.kill(2);
    net.kill(3);
    // Let a block that was already being committed finish.
    sleep(3);
    let stalled = net.height(0).unwrap();
    sleep(8);
    assert_eq!(
        net.height(0).unwrap(),
        stalled,
        "no block without 2/3 of the power"
    );
    assert_eq!(net.height(1).unwrap(), stalled);
    net.start(2);
    net.wait_height(0, stalled + 2, 90);
    net.wait_height(2, stalled + 2, 90);
}
