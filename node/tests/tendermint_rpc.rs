//! The `tendermint-rpc` crate's HTTP client (what Rust CometBFT clients use)
//! against a live 4-validator testnet of real `cairn` processes: every
//! response must decode, and carry the values the chain has (compared with
//! our own JSON, the genesis file, and an independent SHA-256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use cairn_genesis::GenesisDoc;
use common::{Testnet, account_address, transfer};
use tendermint::block::{CommitSig, Height};
use tendermint_rpc::client::CompatMode;
use tendermint_rpc::{Client, HttpClient, Paging};

fn height(h: u64) -> Height {
    Height::try_from(h).unwrap()
}

/// (balance, nonce) at `at` (latest when None), through tendermint-rpc's abci_query.
async fn account_at(
    c: &HttpClient,
    addr: cairn_types::Address,
    at: Option<u64>,
) -> (u64, u64, u64) {
    let q = c
        .abci_query(
            Some("/store/account".to_owned()),
            addr.0.to_vec(),
            at.map(height),
            false,
        )
        .await
        .unwrap();
    assert!(q.code.is_ok(), "account {addr:?}: {}", q.log);
    assert!(q.proof.is_none(), "prove=false must not return a proof");
    if let Some(h) = at {
        assert_eq!(q.height.value(), h);
    }
    let a: cairn_state::Account = borsh::from_slice(&q.value).unwrap();
    (a.balance, a.nonce, q.height.value())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_tendermint_rpc_client_decodes_a_live_testnet() {
    let mut net = Testnet::generate(4, 0);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 3, 90);
    }
    let genesis = GenesisDoc::from_json(
        &std::fs::read_to_string(net.home(0).join("config/genesis.json")).unwrap(),
    )
    .unwrap();
    let want_vals = genesis.validator_set().unwrap();

    // Pick the dialect from /status, as clients do.
    let url = net.nodes[0].rpc.clone();
    let probe = HttpClient::new(url.as_str()).unwrap();
    let mode = CompatMode::from_version(probe.status().await.unwrap().node_info.version).unwrap();
    assert_eq!(mode, CompatMode::V0_38);
    let c = HttpClient::builder(url.parse().unwrap())
        .compat_mode(mode)
        .build()
        .unwrap();

    // status
    let st = c.status().await.unwrap();
    let tip = st.sync_info.latest_block_height.value();
    assert!(tip >= 3, "tip {tip}");
    assert_eq!(st.node_info.network.as_str(), net.chain_id);
    assert_eq!(st.node_info.id.to_string(), net.nodes[0].node_id);
    assert!(!st.sync_info.catching_up);
    let (tip_hash, tip_app) = net.block_hashes(0, tip).unwrap();
    assert_eq!(st.sync_info.latest_block_hash.to_string(), tip_hash);
    assert_eq!(st.sync_info.latest_app_hash.to_string(), tip_app);
    assert_eq!(
        st.validator_info.address.to_string(),
        net.nodes[0].validator_address.clone().unwrap()
    );
    let own = want_vals
        .validators()
        .iter()
        .find(|v| v.address.0 == st.validator_info.address.as_bytes())
        .expect("node 0 is a genesis validator");
    assert_eq!(st.validator_info.power.value(), own.power);

    // block and commit: every height up to the tip, hashes as our JSON reports them,
    // each block linked to the one before, each commit signed by the genesis set.
    let mut prev: Option<tendermint::block::Id> = None;
    for h in 1..=tip {
        let b = c.block(height(h)).await.unwrap();
        let (hash, app) = net.block_hashes(0, h).unwrap();
        assert_eq!(b.block_id.hash.to_string(), hash, "height {h}");
        assert_eq!(b.block_id.part_set_header.total, 1);
        let hd = &b.block.header;
        assert_eq!(hd.height.value(), h);
        assert_eq!(hd.chain_id.as_str(), net.chain_id);
        assert_eq!(hd.app_hash.to_string(), app);
        assert_eq!(hd.last_block_id, prev, "height {h} links to {}", h - 1);
        match &b.block.last_commit {
            None => assert_eq!(h, 1),
            Some(lc) => {
                assert_eq!(lc.height.value(), h - 1);
                assert_eq!(Some(lc.block_id), prev);
                assert_eq!(lc.signatures.len(), 4);
            }
        }
        prev = Some(b.block_id);

        let cm = c.commit(height(h)).await.unwrap();
        assert_eq!(cm.signed_header.header.height.value(), h);
        assert_eq!(cm.signed_header.header.app_hash.to_string(), app);
        assert_eq!(cm.signed_header.commit.block_id, b.block_id);
        let sigs = &cm.signed_header.commit.signatures;
        assert_eq!(sigs.len(), 4);
        let mut signed_power = 0;
        for (s, v) in sigs.iter().zip(want_vals.validators()) {
            if let CommitSig::BlockIdFlagCommit {
                validator_address, ..
            } = s
            {
                assert_eq!(validator_address.as_bytes(), v.address.0);
                signed_power += v.power;
            }
        }
        assert!(
            3 * signed_power > 2 * want_vals.total_power(),
            "height {h}: commit holds {signed_power} of {}",
            want_vals.total_power()
        );
    }

    // validators: the genesis set, in order, with its powers.
    let vr = c.validators(height(tip), Paging::All).await.unwrap();
    assert_eq!(vr.block_height.value(), tip);
    assert_eq!(vr.total, 4);
    assert_eq!(vr.validators.len(), 4);
    for (got, want) in vr.validators.iter().zip(want_vals.validators()) {
        assert_eq!(got.address.as_bytes(), want.address.0);
        assert_eq!(got.power.value(), want.power);
        assert_eq!(got.pub_key.to_bytes(), want.pub_key.0.to_vec());
    }

    // broadcast_tx_sync: a signed transfer; the hash is SHA-256 of the bytes.
    let from = account_address(&net, "account0");
    let to = account_address(&net, "account3");
    let (from_before, nonce, before_h) = account_at(&c, from, None).await;
    let (to_before, _, _) = account_at(&c, to, None).await;
    let amount = 1234;
    let tx = transfer(&net, "account0", to, amount, nonce);
    let sha = <tendermint::crypto::default::Sha256 as tendermint::crypto::Sha256>::digest(&tx);
    let bt = c.broadcast_tx_sync(tx.clone()).await.unwrap();
    assert!(bt.code.is_ok(), "{}", bt.log);
    assert_eq!(bt.hash.as_bytes(), sha);

    // tx: poll until committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let tr = loop {
        match c.tx(tendermint::Hash::Sha256(sha), false).await {
            Ok(r) => break r,
            Err(e) if Instant::now() < deadline => {
                assert!(e.to_string().contains("not found"), "{e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("tx not committed within 60 s: {e}"),
        }
    };
    assert_eq!(tr.hash.as_bytes(), sha);
    assert_eq!(tr.tx, tx);
    assert!(tr.tx_result.code.is_ok(), "{}", tr.tx_result.log);
    assert!(tr.proof.is_none());
    let tx_h = tr.height.value();
    assert!(tx_h > before_h);
    let b = c.block(tr.height).await.unwrap();
    assert_eq!(b.block.data[tr.index as usize], tx);

    // block_results of that block: one result per tx, ours succeeded with its events;
    // app_hash is the state after the block, which the next header carries.
    let br = c.block_results(tr.height).await.unwrap();
    assert_eq!(br.height, tr.height);
    let results = br.txs_results.unwrap();
    assert_eq!(results.len(), b.block.data.len());
    let ours = &results[tr.index as usize];
    assert!(ours.code.is_ok());
    assert!(
        ours.events.iter().any(|e| e.kind == "transfer"),
        "{:?}",
        ours.events
    );
    net.wait_height(0, tx_h + 1, 30);
    let next = c.block(height(tx_h + 1)).await.unwrap();
    assert_eq!(br.app_hash, next.block.header.app_hash);

    // abci_query: the balances moved by the transfer (the fee is the harness's 10,000);
    // the old version still answers the old values.
    let (from_after, from_nonce, _) = account_at(&c, from, None).await;
    let (to_after, _, _) = account_at(&c, to, None).await;
    assert_eq!(to_after, to_before + amount);
    assert_eq!(from_after, from_before - amount - 10_000);
    assert_eq!(from_nonce, nonce + 1);
    assert_eq!(
        account_at(&c, to, Some(before_h)).await.0,
        to_before,
        "state at height {before_h}"
    );
    assert_eq!(
        common::account(&net, 0, to).unwrap().0,
        to_after,
        "tendermint-rpc and our JSON agree"
    );

    // A height past the tip is an error that says so.
    let e = c.block(height(tip + 1000)).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "height {} must be less than or equal to the current blockchain height",
            tip + 1000
        )),
        "{e}"
    );
}
