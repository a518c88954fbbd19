//! Small valid inputs for every target, so fuzzing starts from bytes that
//! decode. `cargo run --example seeds` writes them to `corpus/<target>/`.

use cairn_consensus::wal::{WalRecord, encode_record};
use cairn_consensus::{Input, Step};
use cairn_types::codec::encode;
use cairn_types::{
    Address, Bytes, Msg, NodeId, PublicKey, PutCondition, Signature, Tx, TxBody, VoteKind,
};

use crate::fixtures::{self, CHAIN_ID};
use crate::wire::{
    CatchUpRequest, CatchUpResponse, ConsensusMessage, GossipMessage, Refusal, SyncRequest,
    SyncResponse, TxBatch,
};

fn signed_tx(nonce: u64, msg: Msg) -> Vec<u8> {
    let key = &fixtures::keys()[0];
    let body = TxBody {
        chain_id: CHAIN_ID.into(),
        sender: key.public_key(),
        nonce,
        fee: 1000,
        msg,
    };
    Tx::sign(body, key).to_bytes()
}

fn txs() -> Vec<Vec<u8>> {
    let to = fixtures::keys()[1].public_key().address();
    let mut out = vec![
        signed_tx(0, Msg::Transfer { to, amount: 5 }),
        signed_tx(
            1,
            Msg::Put {
                key: Bytes(b"k".to_vec()),
                value: Bytes(b"value".to_vec()),
                condition: PutCondition::Equals(Bytes(b"old".to_vec())),
            },
        ),
        signed_tx(
            2,
            Msg::CreateValidator {
                consensus_key: fixtures::keys()[2].public_key(),
                node_id: NodeId([7; 20]),
                moniker: "v".into(),
                self_stake: 1_000_000,
            },
        ),
        signed_tx(
            3,
            Msg::EditValidator {
                moniker: Some("w".into()),
                node_id: None,
            },
        ),
        signed_tx(
            4,
            Msg::UpdateParams {
                params: Default::default(),
            },
        ),
        signed_tx(5, Msg::Unjail),
    ];
    // ZIP-215 accepts the identity key with the identity R and S = 0 for any
    // message: such a tx decodes but must never verify.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let tx = Tx {
        body: TxBody {
            chain_id: CHAIN_ID.into(),
            sender: PublicKey(identity),
            nonce: 0,
            fee: 1,
            msg: Msg::PermitValidator {
                operator: Address([1; 20]),
            },
        },
        signature: Signature(sig),
    };
    out.push(tx.to_bytes());
    out
}

fn wal_records() -> Vec<WalRecord> {
    let b1 = fixtures::block(1, txs()[..1].to_vec(), false);
    let id = b1.id();
    let now = fixtures::T0;
    let mut records = vec![
        WalRecord::NewHeight { height: 1, now },
        WalRecord::Input {
            now,
            input: Input::Proposal {
                proposal: fixtures::proposal(&b1, None),
                block: b1.clone(),
                valid: true,
            },
        },
    ];
    for who in 0..4 {
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            records.push(WalRecord::Input {
                now,
                input: Input::Vote(fixtures::vote(who, kind, 1, Some(id))),
            });
        }
    }
    records.push(WalRecord::Input {
        now,
        input: Input::TimeoutElapsed {
            height: 1,
            round: 0,
            step: Step::Prevote,
        },
    });
    records.push(WalRecord::Input {
        now,
        input: Input::ValueReady {
            height: 1,
            round: 1,
            block: b1.clone(),
        },
    });
    records.push(WalRecord::Input {
        now,
        input: Input::Decided {
            block: b1,
            commit: fixtures::commit(1, id, true),
        },
    });
    records
}

fn with_kind(kind: u8, bytes: Vec<u8>) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(bytes);
    out
}

/// Seed inputs per target (target names as in `Cargo.toml`).
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let txs = txs();
    let b1 = fixtures::block(1, txs[..2].to_vec(), false);
    let b2 = fixtures::block(2, txs.clone(), true);
    let id = b1.id();
    let votes = vec![
        fixtures::vote(0, VoteKind::Prevote, 1, None),
        fixtures::vote(1, VoteKind::Precommit, 1, Some(id)),
    ];
    let proposals = [
        fixtures::proposal(&b1, None),
        fixtures::proposal(&b2, Some(0)),
    ];
    let evidence = fixtures::evidence(1);
    let commits = [
        fixtures::commit(1, id, true),
        fixtures::commit(1, id, false),
    ];
    let records = wal_records();
    let log: Vec<u8> = records.iter().flat_map(encode_record).collect();
    let mut torn = log.clone();
    torn.extend_from_slice(&encode_record(&records[0])[..20]);

    let p2p = vec![
        with_kind(
            0,
            GossipMessage::Txs(TxBatch(txs.iter().cloned().map(Bytes).collect())).encode(),
        ),
        with_kind(
            1,
            GossipMessage::Consensus(ConsensusMessage::Proposal(
                proposals[0].clone(),
                Box::new(b1.clone()),
            ))
            .encode(),
        ),
        with_kind(
            1,
            GossipMessage::Consensus(ConsensusMessage::Vote(votes[1].clone())).encode(),
        ),
        with_kind(2, GossipMessage::Evidence(evidence.clone()).encode()),
        with_kind(3, encode(&SyncRequest::Status)),
        with_kind(3, encode(&SyncRequest::Blocks { from: 1, to: 9 })),
        with_kind(4, encode(&SyncResponse::Status { height: 9, base: 1 })),
        with_kind(
            4,
            encode(&SyncResponse::Blocks(vec![(
                b1.clone(),
                commits[0].clone(),
            )])),
        ),
        with_kind(
            4,
            encode(&SyncResponse::Refused(Refusal::BadRange { max: 100 })),
        ),
        with_kind(
            5,
            encode(&CatchUpRequest::Votes {
                height: 1,
                round: 0,
            }),
        ),
        with_kind(5, encode(&CatchUpRequest::Commit { height: 1 })),
        with_kind(5, encode(&CatchUpRequest::Block { id })),
        with_kind(6, encode(&CatchUpResponse::Votes(votes.clone()))),
        with_kind(
            6,
            encode(&CatchUpResponse::Commit(Some(commits[0].clone()))),
        ),
        with_kind(
            6,
            encode(&CatchUpResponse::Block(Some(Box::new(b1.clone())))),
        ),
        with_kind(6, encode(&CatchUpResponse::Refused(Refusal::RateLimited))),
    ];

    let hash = b1.id().0;
    let jsonrpc: Vec<Vec<u8>> = [
        r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"a","method":"block","params":{"height":"5"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"validators","params":["3",1,30]}"#.to_owned(),
        format!(
            r#"[{{"jsonrpc":"2.0","id":null,"method":"tx","params":{{"hash":"{}","prove":true}}}},{{"jsonrpc":"2.0","id":2,"method":"block_by_hash","params":["0x{}"]}}]"#,
            hash.to_hex(),
            hash.to_hex()
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"broadcast_tx_sync","params":{{"tx":"{}"}}}}"#,
            cairn_types::json::base64_encode(&txs[0])
        ),
        r#"{"jsonrpc":"2.0","id":4,"method":"abci_query","params":{"path":"/account","data":"0a0b","height":"0","prove":false}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":5,"method":"tx_search","params":{"query":"tx.height>=5 AND transfer.recipient='AB' AND tx.hash EXISTS","page":"1","per_page":"30","order_by":"desc"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":6,"method":"unconfirmed_txs","params":{"limit":"10"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":7,"method":"blockchain","params":{"minHeight":"1","maxHeight":"20"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":8,"method":"subscribe","params":{"query":"tm.event='NewBlock'"}}"#.to_owned(),
        "/block?height=5".to_owned(),
        format!("/tx?hash=0x{}&prove=true", hash.to_hex()),
        "/broadcast_tx_async?tx=0x0102ff".to_owned(),
        "/abci_query?path=%22/account%22&data=0xabcd".to_owned(),
        "/tx_search?query=%22tx.height%3D5%22&page=1&per_page=30".to_owned(),
        "/validators?height=%223%22&page=1&per_page=100".to_owned(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();

    vec![
        ("tx", txs),
        ("block", vec![b1.to_bytes(), b2.to_bytes()]),
        ("vote", votes.iter().map(encode).collect()),
        ("proposal", proposals.iter().map(encode).collect()),
        ("evidence", vec![encode(&evidence)]),
        ("commit", commits.iter().map(encode).collect()),
        ("p2p", p2p),
        (
            "wal",
            [
                vec![log, torn],
                records.iter().map(encode_record).collect(),
                records.iter().map(encode).collect(),
            ]
            .concat(),
        ),
        ("jsonrpc", jsonrpc),
    ]
}
