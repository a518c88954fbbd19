//! End to end, across validator-set changes: an equivocation gossiped by a
//! byzantine test peer is caught, committed, slashed and jailed, the set
//! shrinks two heights later, and a fresh full node that joins past height
//! 100 syncs across that change to the tip and follows it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_genesis::keys::{AccountKeyFile, ValidatorKeyFile};
use cairn_p2p::ConsensusMessage;
use cairn_types::{BlockId, Hash, SignedVote, SigningKey, Time, Vote, VoteKind};
use common::{Testnet, post};
use serde_json::Value;

/// Validator `i`'s record as node `at` reports it through abci_query.
fn validator_record(net: &Testnet, at: usize, i: usize) -> cairn_state::ValidatorRecord {
    let (op, _) = AccountKeyFile::load(&net.home(i).join("config/operator_key.json")).unwrap();
    let r = post(
        &net.nodes[at].rpc,
        "abci_query",
        serde_json::json!({"path": "/store/validator", "data": op.address().to_hex()}),
    )
    .unwrap();
    let value = r["result"]["response"]["value"].as_str().unwrap();
    borsh::from_slice(&cairn_types::json::base64_decode(value).unwrap()).unwrap()
}

/// Addresses in the validator set of height `h`, as node `i` serves it.
fn validator_addresses(net: &Testnet, i: usize, h: u64) -> Vec<String> {
    let r = net
        .rpc(i, &format!("validators?height={h}&per_page=100"))
        .unwrap();
    r["result"]["validators"]
        .as_array()
        .unwrap_or_else(|| panic!("validators at {h}: {r}"))
        .iter()
        .map(|v| v["address"].as_str().unwrap().to_owned())
        .collect()
}

/// The first height in `from..=to` whose block holds evidence, and its evidence.
fn find_evidence(net: &Testnet, i: usize, from: u64, to: u64) -> Option<(u64, Vec<Value>)> {
    (from..=to).find_map(|h| {
        let b = net.rpc(i, &format!("block?height={h}"))?;
        let ev = b["result"]["block"]["evidence"]["evidence"]
            .as_array()?
            .clone();
        (!ev.is_empty()).then_some((h, ev))
    })
}

fn now() -> Time {
    Time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    )
}

/// Two prevotes of `key` for height `h`, round 0, on two different blocks.
fn conflicting_prevotes(chain_id: &str, key: &SigningKey, h: u64) -> [SignedVote; 2] {
    ["a", "b"].map(|tag| {
        let vote = Vote {
            kind: VoteKind::Prevote,
            height: h,
            round: 0,
            value: Some(BlockId(Hash::digest(format!("{tag}{h}").as_bytes()))),
            timestamp: now(),
            validator: key.public_key().address(),
        };
        SignedVote::sign(vote, chain_id, key)
    })
}

#[test]
fn serial_e2e_equivocation_is_slashed_and_a_late_full_node_syncs_across_the_set_change() {
    // Node 4's node key is the byzantine peer's (allowlisted: every node lists
    // it as a persistent peer), node 5 is the full node that joins late.
    let mut net = Testnet::generate(4, 2);
    for i in 0..4 {
        net.start(i);
    }
    for i in 0..4 {
        net.wait_height(i, 3, 90);
    }
    let genesis: Value = serde_json::from_str(
        &std::fs::read_to_string(net.home(0).join("config/genesis.json")).unwrap(),
    )
    .unwrap();
    let slash_ppm = genesis["params"]["app"]["double_sign_slash_ppm"]
        .as_u64()
        .unwrap();
    let before = validator_record(&net, 1, 0);
    assert!(!before.jailed && before.slashed == 0);
    let v0_address = net.nodes[0]
        .validator_address
        .clone()
        .unwrap()
        .to_uppercase();

    // The byzantine peer: the p2p crate with node 4's key, dialing the validators.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v0_key =
        ValidatorKeyFile::load(&net.home(0).join("config/priv_validator_key.json")).unwrap();
    let config = net.p2p_peer_config("/ip4/127.0.0.1/tcp/0", &[0, 1, 2, 3]);
    let (peer, mut events) = rt.block_on(net.start_p2p_peer(4, config));
    rt.spawn(async move { while events.recv().await.is_some() {} });
    // Let gossipsub build its mesh (a few heartbeats) before publishing.
    std::thread::sleep(Duration::from_secs(3));

    // Equivocate for the height in progress until a block holds the evidence.
    let start = net.height(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (evidence_height, evidence) = loop {
        let h = net.height(1).unwrap() + 1;
        for vote in conflicting_prevotes(&net.chain_id, &v0_key, h) {
            rt.block_on(peer.publish_consensus(ConsensusMessage::Vote(vote)))
                .unwrap();
        }
        std::thread::sleep(Duration::from_secs(2));
        let top = net.height(1).unwrap();
        if let Some(found) = find_evidence(&net, 1, start, top) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no evidence committed by height {top}; node 1 log:\n{}",
            net.tail_log(1)
        );
    };
    rt.block_on(peer.shutdown()).unwrap();
    drop(rt);
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    for vote in ["vote_a", "vote_b"] {
        assert_eq!(
            evidence[0]["value"][vote]["validator_address"], v0_address,
            "evidence names validator 0"
        );
    }

    // Validator 0 saw votes with its key that its guard never signed: it
    // must have stopped signing and raised the duplicate-signer alarm.
    let metrics = common::get_text(&format!("{}/metrics", net.nodes[0].rpc)).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "cairn_consensus_duplicate_signer_alarms_total 1"),
        "duplicate-signer alarm on validator 0"
    );

    // Slashed by the configured fraction and jailed; the set shrinks at H+2.
    let e = evidence_height;
    for i in 1..4 {
        net.wait_height(i, e + 3, 60);
    }
    let after = validator_record(&net, 1, 0);
    let expected_slash = before.tokens * slash_ppm / 1_000_000;
    assert!(expected_slash > 0);
    assert_eq!(after.slashed, expected_slash, "slashed amount");
    assert_eq!(after.tokens, before.tokens - expected_slash, "tokens");
    assert!(
        after.jailed && after.tombstoned,
        "validator 0 jailed for good"
    );
    assert!(validator_addresses(&net, 1, e + 1).contains(&v0_address));
    let shrunk = validator_addresses(&net, 1, e + 2);
    assert_eq!(shrunk.len(), 3, "set at H+2: {shrunk:?}");
    assert!(!shrunk.contains(&v0_address));

    // The other three keep committing; run on past height 100.
    for i in 1..4 {
        net.wait_height(i, e.max(100) + 5, 240);
    }

    // A fresh full node joins past 100, syncs across the set change, follows.
    net.start(5);
    let tip = net.height(1).unwrap();
    net.wait_height(5, tip, 120);
    let followed = net.height(1).unwrap() + 5;
    net.wait_height(5, followed, 60);

    // Every node (validator 0 too, which lost its seat) agrees at every height.
    for i in [0, 2, 3, 5] {
        net.wait_height(i, followed, 60);
    }
    for h in 1..=followed {
        let reference = net.block_hashes(1, h).unwrap();
        for i in [0, 2, 3, 5] {
            assert_eq!(
                net.block_hashes(i, h).unwrap(),
                reference,
                "node {i} at height {h}"
            );
        }
    }
    // No evidence against anyone else.
    let top = net.height(1).unwrap();
    for h in 1..=top {
        if h != e {
            assert!(
                find_evidence(&net, 1, h, h).is_none(),
                "unexpected evidence at {h}"
            );
        }
    }
}
