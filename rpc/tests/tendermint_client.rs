//! The `tendermint-rpc` crate's HTTP client (what Rust CometBFT clients use)
//! against the in-process server over the fixture chain: every response must
//! decode and carry the fixture's values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tendermint_rpc::client::CompatMode;
use tendermint_rpc::query::{EventType, Query};
use tendermint_rpc::{Client, HttpClient, Order, Paging};

async fn client(url: &str) -> HttpClient {
    // Detect the dialect from /status, as clients do.
    let probe = HttpClient::new(url).unwrap();
    let status = probe.status().await.unwrap();
    let mode = CompatMode::from_version(status.node_info.version).unwrap();
    assert_eq!(mode, CompatMode::V0_38);
    HttpClient::builder(url.parse().unwrap())
        .compat_mode(mode)
        .build()
        .unwrap()
}

fn height(h: u64) -> tendermint::block::Height {
    tendermint::block::Height::try_from(h).unwrap()
}

#[tokio::test]
async fn tendermint_rpc_client_decodes_every_response() {
    let s = start().await;
    let c = client(&s.url()).await;
    let (blocks, vals, results) = {
        let ch = s.backend.chain.lock().unwrap();
        (ch.blocks.clone(), ch.vals.clone(), ch.results.clone())
    };

    // status
    let st = c.status().await.unwrap();
    assert_eq!(st.node_info.network.as_str(), CHAIN_ID);
    assert_eq!(
        st.node_info.id.to_string(),
        node_key().public_key().node_id().to_hex()
    );
    assert_eq!(st.sync_info.latest_block_height.value(), FIXTURE_HEIGHT);
    assert_eq!(
        st.sync_info.latest_block_hash.to_string(),
        blocks[5].id().0.to_hex()
    );
    assert_eq!(
        st.sync_info.latest_app_hash.as_bytes(),
        blocks[5].header.app_hash.0
    );
    assert!(!st.sync_info.catching_up);
    assert_eq!(st.validator_info.power.value(), 10);

    // block: every height, including the first (no last commit) and the one with evidence.
    for b in &blocks {
        let h = b.header.height;
        let r = c.block(height(h)).await.unwrap();
        assert_eq!(r.block_id.hash.as_bytes(), b.id().0.0, "height {h}");
        assert_eq!(r.block_id.part_set_header.total, 1);
        assert_eq!(r.block.header.height.value(), h);
        assert_eq!(r.block.header.chain_id.as_str(), CHAIN_ID);
        assert_eq!(r.block.header.version.block, 11);
        assert_eq!(
            r.block.header.proposer_address.as_bytes(),
            b.header.proposer_address.0
        );
        assert_eq!(r.block.header.app_hash.as_bytes(), b.header.app_hash.0);
        assert_eq!(
            r.block.header.time.unix_timestamp_nanos(),
            i128::from(b.header.time.0)
        );
        let txs: Vec<Vec<u8>> = b.txs.iter().map(|t| t.0.clone()).collect();
        assert_eq!(r.block.data, txs);
        assert_eq!(r.block.evidence.iter().count(), b.evidence.len());
        match (&r.block.last_commit, &b.last_commit) {
            (None, None) => assert_eq!(h, 1),
            (Some(got), Some(want)) => {
                assert_eq!(got.height.value(), want.height);
                assert_eq!(got.block_id.hash.as_bytes(), want.block_id.0.0);
                assert_eq!(got.signatures.len(), vals.len());
            }
            other => panic!("height {h}: last_commit mismatch {other:?}"),
        }
        if h > 1 {
            let last = r.block.header.last_block_id.unwrap();
            assert_eq!(last.hash.as_bytes(), blocks[h as usize - 2].id().0.0);
        } else {
            assert!(r.block.header.last_block_id.is_none());
        }
    }
    let latest = c.latest_block().await.unwrap();
    assert_eq!(latest.block.header.height.value(), FIXTURE_HEIGHT);

    // block_results
    let br = c.block_results(height(5)).await.unwrap();
    assert_eq!(br.height.value(), 5);
    let txr = br.txs_results.unwrap();
    let codes: Vec<u32> = txr.iter().map(|t| t.code.value()).collect();
    assert_eq!(codes, vec![0, 5]);
    assert_eq!(txr[0].events[0].kind, "tx");
    assert_eq!(br.finalize_block_events[0].kind, "rewards");
    assert_eq!(br.app_hash.as_bytes(), results[4].app_hash.0);

    // commit: canonical for a past block, the seen commit for the tip.
    let cm = c.commit(height(3)).await.unwrap();
    assert!(cm.canonical);
    assert_eq!(cm.signed_header.header.height.value(), 3);
    assert_eq!(
        cm.signed_header.commit.block_id.hash.as_bytes(),
        blocks[2].id().0.0
    );
    let want = blocks[3].last_commit.as_ref().unwrap();
    for (i, (sig, v)) in cm
        .signed_header
        .commit
        .signatures
        .iter()
        .zip(vals.validators())
        .enumerate()
    {
        match (sig, &want.signatures[i]) {
            (
                tendermint::block::CommitSig::BlockIdFlagCommit {
                    validator_address,
                    signature,
                    ..
                },
                cairn_types::CommitSig::ForBlock { signature: w, .. },
            ) => {
                assert_eq!(validator_address.as_bytes(), v.address.0);
                assert_eq!(signature.as_ref().unwrap().as_bytes(), w.0);
            }
            (
                tendermint::block::CommitSig::BlockIdFlagNil {
                    validator_address, ..
                },
                cairn_types::CommitSig::ForNil { .. },
            ) => assert_eq!(validator_address.as_bytes(), v.address.0),
            (got, want) => panic!("entry {i}: {got:?} vs {want:?}"),
        }
    }
    let tip = c.latest_commit().await.unwrap();
    assert!(!tip.canonical);
    // An even height's commit has an absent entry.
    let cm4 = c.commit(height(4)).await.unwrap();
    assert!(matches!(
        cm4.signed_header.commit.signatures[3],
        tendermint::block::CommitSig::BlockIdFlagAbsent
    ));

    // validators (all pages)
    let vr = c.validators(height(2), Paging::All).await.unwrap();
    assert_eq!(vr.total, 4);
    assert_eq!(vr.validators.len(), 4);
    for (got, want) in vr.validators.iter().zip(vals.validators()) {
        assert_eq!(got.address.as_bytes(), want.address.0);
        assert_eq!(got.power.value(), want.power);
        assert_eq!(got.pub_key.to_bytes(), want.pub_key.0.to_vec());
    }

    // broadcast_tx_sync
    let tx = transfer(1, 2, 1, 42).to_bytes();
    let bt = c.broadcast_tx_sync(tx.clone()).await.unwrap();
    assert!(bt.code.is_ok());
    assert_eq!(bt.hash.as_bytes(), cairn_types::tx::tx_hash(&tx).0);
    let bad = c.broadcast_tx_sync(b"not a tx".to_vec()).await.unwrap();
    assert!(bad.code.is_err());

    // tx
    let hash = s.backend.tx_hashes_at(5)[1];
    let tr = c.tx(tendermint::Hash::Sha256(hash.0), false).await.unwrap();
    assert_eq!(tr.height.value(), 5);
    assert_eq!(tr.index, 1);
    assert_eq!(tr.tx_result.code.value(), 5);
    assert_eq!(tr.tx, blocks[4].txs[1].0);
    assert_eq!(tr.hash.as_bytes(), hash.0);

    // tx_search
    let q = Query::from(EventType::Tx).and_eq("tx.height", 2_u64);
    let ts = c
        .tx_search(q, false, 1, 30, Order::Ascending)
        .await
        .unwrap();
    assert_eq!(ts.total_count, 2);
    assert_eq!(ts.txs[1].index, 1);

    // abci_query with a proof
    let addr = user_key(0).public_key().address();
    let aq = c
        .abci_query(Some("/account".to_owned()), addr.0.to_vec(), None, true)
        .await
        .unwrap();
    assert!(aq.code.is_ok());
    assert_eq!(aq.height.value(), FIXTURE_HEIGHT);
    assert_eq!(aq.key, addr.0.to_vec());
    let ops = aq.proof.unwrap().ops;
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].field_type, "fixture:sha256");
    assert_eq!(ops[0].key, addr.0.to_vec());
    let aq3 = c
        .abci_query(
            Some("/account".to_owned()),
            addr.0.to_vec(),
            Some(height(3)),
            false,
        )
        .await
        .unwrap();
    assert_eq!(aq3.height.value(), 3);
    assert!(aq3.proof.is_none());

    // The rest of the surface decodes too.
    let info = c.abci_info().await.unwrap();
    assert_eq!(info.last_block_height.value(), FIXTURE_HEIGHT);
    let bc = c.blockchain(height(1), height(6)).await.unwrap();
    assert_eq!(bc.last_height.value(), FIXTURE_HEIGHT);
    assert_eq!(bc.block_metas.len(), 6);
    assert_eq!(bc.block_metas[0].header.height.value(), 6);
    let hd = c.header(height(4)).await.unwrap();
    assert_eq!(hd.header.height.value(), 4);
    let ni = c.net_info().await.unwrap();
    assert_eq!(ni.n_peers, 1);
    let cp = c.consensus_params(height(2)).await.unwrap();
    assert_eq!(cp.block_height.value(), 2);
    assert_eq!(
        cp.consensus_params.block.max_bytes,
        cairn_types::ChainParams::default()
            .consensus
            .block_max_bytes
    );
    c.health().await.unwrap();
    let by_hash = c
        .block_by_hash(tendermint::Hash::Sha256(blocks[2].id().0.0))
        .await
        .unwrap();
    assert_eq!(by_hash.block.unwrap().header.height.value(), 3);

    // Errors come back as JSON-RPC errors with the message.
    let e = c.block(height(99)).await.unwrap_err().to_string();
    assert!(
        e.contains("height 99 must be less than or equal to the current blockchain height 6"),
        "{e}"
    );
    s.running.stop().await;
}
