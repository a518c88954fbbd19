//! `cairn tx` and `cairn query` against a live 4-validator testnet of real
//! processes: a transfer committed through the binary, offline signing, a
//! rejected tx, plain queries, and `--prove` verified from genesis across a
//! validator-set change (and from a named header), while a tampered proof
//! or a wrong trusted hash fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use cairn_node::client::RpcClient;
use cairn_node::client::verify::{self, RootSpec};
use cairn_state::StateKey;
use cairn_types::json::base64_decode;
use cairn_types::{Msg, Tx};
use common::{CAIRN, Testnet, account, account_address};
use serde_json::Value;

fn cairn(args: &[&str]) -> Output {
    Command::new(CAIRN)
        .args(args)
        .env_remove("CAIRN_HOME")
        .env_remove("CAIRN_NODE")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = cairn(args);
    assert!(
        out.status.success(),
        "cairn {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = cairn(args);
    assert!(
        !out.status.success(),
        "cairn {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The JSON document at the start of `stdout` (a `verified:` line may follow it).
fn json_head(stdout: &str) -> Value {
    let mut de = serde_json::Deserializer::from_str(stdout).into_iter::<Value>();
    de.next().unwrap().unwrap()
}

#[test]
fn serial_client_tx_and_proven_queries_on_a_live_testnet() {
    let mut net = Testnet::generate(4, 0);
    net.start_all();
    net.wait_height(0, 2, 60);
    let rpc = net.nodes[0].rpc.clone();
    let keyfile = net.accounts_dir().join("account0.json");
    let from = keyfile.to_str().unwrap();
    let genesis = net.home(0).join("config/genesis.json");
    let genesis = genesis.to_str().unwrap();
    let to = account_address(&net, "account1");
    let sender = account_address(&net, "account0");
    let (before, _) = account(&net, 0, to).unwrap();

    // A transfer through the binary, waiting for its commit: nonce, fee and chain id from the node.
    let out = ok(&[
        "tx",
        "transfer",
        "--from",
        from,
        "--node",
        &rpc,
        "--to",
        &to.to_hex(),
        "--amount",
        "12345",
        "--mode",
        "commit",
    ]);
    let result = json_head(&out);
    let tx_height: u64 = result["height"].as_str().unwrap().parse().unwrap();
    assert!(tx_height > 0, "{out}");
    assert_eq!(result["tx_result"]["code"], 0, "{out}");
    let hash = result["hash"].as_str().unwrap().to_owned();
    assert_eq!(account(&net, 0, to).unwrap().0, before + 12345);

    // The committed tx, through `query tx`.
    let tx = json_head(&ok(&["query", "tx", &hash, "--node", &rpc]));
    assert_eq!(tx["height"].as_str().unwrap(), tx_height.to_string());

    // Offline signing: nothing is asked from a node (the address below has no node).
    let offline = ok(&[
        "tx",
        "transfer",
        "--from",
        from,
        "--node",
        "http://127.0.0.1:9",
        "--to",
        &to.to_hex(),
        "--amount",
        "1",
        "--generate-only",
        "--nonce",
        "7",
        "--chain-id",
        &net.chain_id,
        "--fee",
        "5000",
    ]);
    let bytes = base64_decode(offline.trim()).unwrap();
    let decoded = Tx::decode(&bytes, 1 << 16, &net.chain_id).unwrap();
    decoded.verify_signature().unwrap();
    assert_eq!((decoded.body.nonce, decoded.body.fee), (7, 5000));
    assert_eq!(decoded.sender(), sender);
    assert_eq!(decoded.body.msg, Msg::Transfer { to, amount: 1 });
    // Without --nonce the next nonce comes from the node (one tx was committed).
    let online = ok(&[
        "tx",
        "transfer",
        "--from",
        from,
        "--node",
        &rpc,
        "--to",
        &to.to_hex(),
        "--amount",
        "1",
        "--generate-only",
    ]);
    let decoded = Tx::decode(
        &base64_decode(online.trim()).unwrap(),
        1 << 16,
        &net.chain_id,
    )
    .unwrap();
    assert_eq!(decoded.body.nonce, 1);
    assert!(
        decoded.body.fee >= bytes.len() as u64,
        "minimum fee per byte"
    );

    // A tx the node refuses (nonce already used) is a failure carrying the node's code and log.
    let err = fails(&[
        "tx",
        "transfer",
        "--from",
        from,
        "--node",
        &rpc,
        "--to",
        &to.to_hex(),
        "--amount",
        "1",
        "--nonce",
        "0",
    ]);
    assert!(
        err.contains("rejected") && err.contains("code") && err.contains("nonce"),
        "{err}"
    );

    // A delegation that changes validator0's power: the set changes two blocks later.
    let operator = cairn_genesis::GenesisDoc::from_json(&std::fs::read_to_string(genesis).unwrap())
        .unwrap()
        .validators[0]
        .operator;
    let out = ok(&[
        "tx",
        "delegate",
        "--from",
        from,
        "--node",
        &rpc,
        "--validator",
        &operator.to_hex(),
        "--amount",
        "5000000",
        "--mode",
        "commit",
    ]);
    let delegated: u64 = json_head(&out)["height"].as_str().unwrap().parse().unwrap();
    net.wait_height(0, delegated + 3, 30);
    let vals = json_head(&ok(&["query", "validators", "--node", &rpc]));
    assert!(
        vals["validators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["voting_power"] == "15"),
        "{vals}"
    );

    // A proven account query, verified from genesis through the set change.
    let out = ok(&[
        "query",
        "account",
        &to.to_hex(),
        "--node",
        &rpc,
        "--prove",
        "--genesis",
        genesis,
    ]);
    assert_eq!(
        json_head(&out)["balance"],
        (before + 12345).to_string(),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("verified:"))
        .expect(&out);
    assert!(line.contains(&format!("account {}", to.to_hex())), "{line}");
    assert!(
        line.contains("trusted from genesis through 1 set change"),
        "{line}"
    );
    // So is the validator set, and the parameters.
    let out = ok(&[
        "query",
        "validators",
        "--node",
        &rpc,
        "--prove",
        "--home",
        net.home(1).to_str().unwrap(),
    ]);
    assert!(out.contains("verified: validator set of height"), "{out}");
    assert!(
        ok(&[
            "query",
            "params",
            "--node",
            &rpc,
            "--prove",
            "--genesis",
            genesis
        ])
        .contains("verified: params")
    );

    // Trusting a header instead: the right hash verifies, a wrong one fails loudly.
    let (hash1, _) = net.block_hashes(0, 1).unwrap();
    let out = ok(&[
        "query",
        "account",
        &to.to_hex(),
        "--node",
        &rpc,
        "--prove",
        "--trust-height",
        "1",
        "--trust-hash",
        &hash1,
    ]);
    assert!(out.contains("trusted from header 1"), "{out}");
    let mut wrong = hash1.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let err = fails(&[
        "query",
        "account",
        &to.to_hex(),
        "--node",
        &rpc,
        "--prove",
        "--trust-height",
        "1",
        "--trust-hash",
        std::str::from_utf8(&wrong).unwrap(),
    ]);
    assert!(err.contains("proof verification FAILED"), "{err}");

    // The library on a proof fetched from the node: it verifies, and with one byte flipped it does not.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = RpcClient::new(&rpc).unwrap();
        let q = client
            .abci_query("/store/account", &to.0, None, true)
            .await
            .unwrap();
        client
            .wait_for_height(q.height + 1, Duration::from_secs(30))
            .await
            .unwrap();
        let g = cairn_genesis::GenesisDoc::from_json(&std::fs::read_to_string(genesis).unwrap())
            .unwrap();
        let trusted = verify::trust(&client, &RootSpec::Genesis(Box::new(g)))
            .await
            .unwrap();
        let header = verify::follow(&client, trusted, q.height + 1)
            .await
            .unwrap();
        let key = StateKey::Account(to).to_bytes();
        let app_hash = header.header.app_hash;
        assert!(verify::verify_query(&q, &key, &app_hash).unwrap().is_some());
        let mut tampered = q.clone();
        let data = &mut tampered.proof_ops.as_mut().unwrap()[0].data;
        let last = data.len() - 1;
        data[last] ^= 0x01;
        let err = verify::verify_query(&tampered, &key, &app_hash).unwrap_err();
        eprintln!("tampered proof refused: {err}");
    });

    // Plain queries print JSON.
    let status = json_head(&ok(&["query", "status", "--node", &rpc]));
    assert_eq!(status["node_info"]["network"], net.chain_id.as_str());
    let block = json_head(&ok(&["query", "block", "1", "--node", &rpc]));
    assert_eq!(block["block"]["header"]["height"], "1");
    let ev = json_head(&ok(&["query", "evidence", "--node", &rpc]));
    assert!(ev["evidence"].as_array().unwrap().is_empty(), "{ev}");
    let ev = json_head(&ok(&["query", "evidence", "2", "--node", &rpc]));
    assert!(ev["evidence"].as_array().unwrap().is_empty(), "{ev}");
}
