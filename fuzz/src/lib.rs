//! # cairn-fuzz
//!
//! cargo-fuzz targets for every decoder that reads bytes from peers, clients
//! or disk, and for JSON-RPC request parsing. Each target in `fuzz_targets/`
//! is one line calling the function of the same name here, so the checks can
//! also run as ordinary tests over the seed corpora (`cargo test`).
//!
//! What every target asserts, beyond "does not panic, allocate without bound
//! or hang":
//! - the canonical-decoding contract (DESIGN.md §3): bytes that decode
//!   re-encode to exactly themselves, through the decoder's own encoder
//!   ([`Tx::to_bytes`], [`Block::to_bytes`], `GossipMessage::encode`,
//!   [`wal::encode_record`]);
//! - signatures: single and batch verification agree, and a signature valid
//!   on [`fixtures::CHAIN_ID`] is not valid on another chain;
//! - each decoder's own promises (evidence order is canonical, a WAL buffer is
//!   its records' frames followed by a torn tail, a parsed JSON-RPC request
//!   parses again to itself, parameters read back from their rendering).
//!
//! Dependencies: types, consensus and rpc only, never state, node or RocksDB.
//! p2p's wire module is compiled from its source file (see [`wire`]).

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_consensus::wal::{self, WalRecord};
use cairn_consensus::{Core, SignatureVerifier};
use cairn_rpc::params::Params;
use cairn_rpc::query::{MAX_CONDITIONS, MAX_QUERY_LEN, TxQuery};
use cairn_rpc::{Request, parse_request};
use cairn_types::codec;
use cairn_types::json::base64_encode;
use cairn_types::tx::TxError;
use cairn_types::{
    BatchVerifier, Block, ChainParams, Commit, ConsensusParams, Evidence, PublicKey, Signature,
    SignedProposal, SignedVote, Time, Tx,
};
use serde_json::{Map, Value, json};

pub mod fixtures;
pub mod seeds;

/// p2p's wire types and their decoder, compiled from p2p's own source: the
/// module needs only borsh, thiserror and cairn-types, while depending on
/// cairn-p2p would build libp2p into every target. If `wire.rs` ever needs
/// more of its crate, this stops compiling: then depend on cairn-p2p.
#[path = "../../p2p/src/wire.rs"]
pub mod wire;

use wire::{CatchUpRequest, CatchUpResponse, ConsensusMessage, GossipMessage, Topic};

/// Limit for values that have no limit of their own. Inputs are far
/// smaller; the limit check comes before decoding and is not what is fuzzed.
const NO_LIMIT: usize = 64 << 20;
/// Another chain, on which no fixture signature may verify.
const OTHER_CHAIN: &str = "fuzz-chain-2";
/// p2p's `Limits::from_params`: most txs in a gossiped batch, largest request.
const MAX_BATCH_TXS: usize = 1024;
const MAX_REQUEST_BYTES: usize = 1024;
/// `GossipMessage` topics and request/response types, by the first input byte.
const P2P_KINDS: u8 = 7;

fn params() -> ConsensusParams {
    ChainParams::default().consensus
}

fn limit(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The canonical-decoding contract.
fn assert_canonical(input: &[u8], reencoded: &[u8], what: &str) {
    assert!(
        input == reencoded,
        "{what}: decoded, but re-encodes to other bytes\ninput:   {}\nencoded: {}",
        hex(input),
        hex(reencoded)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes with the codec, asserting the contract on success.
fn decode<T: BorshDeserialize + BorshSerialize>(
    data: &[u8],
    limit: usize,
    what: &str,
) -> Option<T> {
    let value = codec::decode::<T>(data, limit).ok()?;
    assert_canonical(data, &codec::encode(&value), what);
    Some(value)
}

/// Single and batch verification agree (alone, and beside a valid
/// signature); returns the verdict.
fn verify_consistently(key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    let single = key.verify(msg, sig).is_ok();
    let mut alone = BatchVerifier::new();
    alone.push(*key, msg.to_vec(), *sig);
    assert_eq!(
        alone.verify_all(),
        single,
        "batch of one disagrees with single verification"
    );
    let signer = &fixtures::keys()[0];
    let mut pair = BatchVerifier::new();
    pair.push(signer.public_key(), b"ok".to_vec(), signer.sign(b"ok"));
    pair.push(*key, msg.to_vec(), *sig);
    assert_eq!(
        pair.verify_all(),
        single,
        "batch of two disagrees with single verification"
    );
    assert_eq!(
        pair.verify_each(),
        vec![true, single],
        "verify_each disagrees"
    );
    single
}

/// Checks a signature over `sign_bytes(chain)`: consistent verdicts, and
/// never valid on two chains.
fn check_signature(key: &PublicKey, sign_bytes: impl Fn(&str) -> Vec<u8>, sig: &Signature) -> bool {
    let ok = verify_consistently(key, &sign_bytes(fixtures::CHAIN_ID), sig);
    if ok {
        assert!(
            !verify_consistently(key, &sign_bytes(OTHER_CHAIN), sig),
            "a signature verifies on two chains"
        );
    }
    ok
}

/// Decodes tx bytes, asserting the contract and the chain-id check.
fn decode_tx(data: &[u8]) -> Option<Tx> {
    let max = limit(params().tx_max_bytes);
    let tx = decode::<Tx>(data, max, "tx")?;
    assert_canonical(data, &tx.to_bytes(), "Tx::to_bytes");
    let chain = &tx.body.chain_id.0;
    assert_eq!(Tx::decode(data, max, chain).as_ref(), Ok(&tx));
    assert!(matches!(
        Tx::decode(data, max, &format!("{chain}-other")),
        Err(TxError::WrongChain { .. })
    ));
    let _ = (tx.sender(), tx.body.msg.kind());
    Some(tx)
}

/// `tx`: signed transaction bytes (mempool, gossip, blocks).
pub fn tx(data: &[u8]) {
    let Some(tx) = decode_tx(data) else {
        return;
    };
    let body = &tx.body;
    let valid = tx.verify_signature().is_ok();
    let consistent = verify_consistently(&body.sender, &body.sign_bytes(), &tx.signature);
    if body.sender.check_usable().is_ok() {
        assert_eq!(valid, consistent, "Tx::verify_signature disagrees");
    } else {
        assert!(!valid, "a tx from a small-order key verified");
    }
    if valid {
        let mut moved = body.clone();
        moved.chain_id = OTHER_CHAIN.into();
        assert!(
            body.chain_id.0 == OTHER_CHAIN
                || body
                    .sender
                    .verify(&moved.sign_bytes(), &tx.signature)
                    .is_err(),
            "a tx signature verifies on two chains"
        );
    }
}

fn check_vote(v: &SignedVote) {
    let Some(key) = fixtures::key_of(&v.vote.validator) else {
        return;
    };
    let key = key.public_key();
    let ok = check_signature(&key, |c| v.vote.sign_bytes(c), &v.signature);
    assert_eq!(v.verify(fixtures::CHAIN_ID, &key).is_ok(), ok);
}

fn check_proposal(p: &SignedProposal) {
    let Some(key) = fixtures::key_of(&p.proposal.proposer) else {
        return;
    };
    let key = key.public_key();
    let ok = check_signature(&key, |c| p.proposal.sign_bytes(c), &p.signature);
    assert_eq!(p.verify(fixtures::CHAIN_ID, &key).is_ok(), ok);
}

/// `vote`: a signed prevote or precommit.
pub fn vote(data: &[u8]) {
    if let Some(v) = decode::<SignedVote>(data, NO_LIMIT, "signed vote") {
        check_vote(&v);
    }
}

/// `proposal`: a signed proposal.
pub fn proposal(data: &[u8]) {
    if let Some(p) = decode::<SignedProposal>(data, NO_LIMIT, "signed proposal") {
        check_proposal(&p);
    }
}

fn check_evidence(e: &Evidence) {
    let _ = (e.hash(), e.height(), e.validator());
    let Evidence::DuplicateVote(d) = e;
    check_vote(&d.vote_a);
    check_vote(&d.vote_b);
    if d.check_shape().is_ok() {
        // Built from its votes in either order, evidence comes out the same.
        let again = cairn_types::DuplicateVoteEvidence::new(
            d.vote_b.clone(),
            d.vote_a.clone(),
            d.validator_power,
            d.total_power,
            d.timestamp,
        );
        assert_eq!(again.as_ref(), Ok(d), "evidence order is not canonical");
    }
    let set = fixtures::validator_set();
    let p = params();
    let h = e.height();
    for (now_height, now_time) in [
        (h.saturating_add(1), d.timestamp),
        (u64::MAX, Time(u64::MAX)),
        (0, Time(0)),
    ] {
        if d.verify(fixtures::CHAIN_ID, &set, &p, now_height, now_time)
            .is_ok()
        {
            assert!(d.check_shape().is_ok() && h < now_height);
        }
    }
}

/// `evidence`: misbehaviour evidence (gossip, blocks).
pub fn evidence(data: &[u8]) {
    if let Some(e) = decode::<Evidence>(data, limit(params().evidence_max_bytes), "evidence") {
        check_evidence(&e);
    }
}

fn check_commit(c: &Commit) {
    let _ = c.hash();
    let set = fixtures::validator_set();
    let _ = set.median_time(c);
    if set
        .verify_commit(fixtures::CHAIN_ID, c.height, &c.block_id, c)
        .is_ok()
    {
        assert!(
            set.verify_commit(OTHER_CHAIN, c.height, &c.block_id, c)
                .is_err(),
            "a commit verifies on two chains"
        );
        for (i, (sig, val)) in c.signatures.iter().zip(set.validators()).enumerate() {
            if let (
                Some(vote),
                cairn_types::CommitSig::ForBlock { signature, .. }
                | cairn_types::CommitSig::ForNil { signature, .. },
            ) = (set.commit_vote(c, i), sig)
            {
                assert!(
                    verify_consistently(
                        &val.pub_key,
                        &vote.sign_bytes(fixtures::CHAIN_ID),
                        signature
                    ),
                    "a verified commit has an entry that does not verify alone"
                );
            }
        }
    }
}

/// `commit`: a commit (block sync, catch-up, blocks' `last_commit`).
pub fn commit(data: &[u8]) {
    if let Some(c) = decode::<Commit>(data, NO_LIMIT, "commit") {
        check_commit(&c);
    }
}

fn check_block(b: &Block) {
    let _ = (
        b.id(),
        b.compute_data_hash(),
        b.compute_evidence_hash(),
        b.compute_last_commit_hash(),
    );
    // Signatures of txs are the tx target's work; here, their decoding.
    for t in &b.txs {
        decode_tx(t);
    }
    b.evidence.iter().for_each(check_evidence);
    if let Some(c) = &b.last_commit {
        check_commit(c);
    }
}

/// `block`: a block (proposals, block sync, the block store).
pub fn block(data: &[u8]) {
    let Ok(b) = Block::decode(data, limit(params().block_max_bytes)) else {
        return;
    };
    assert_canonical(data, &b.to_bytes(), "Block::to_bytes");
    check_block(&b);
}

/// `p2p`: the first byte picks the message kind (a gossip topic, or a
/// request or response of block sync or catch-up), the rest is the message.
pub fn p2p(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let tx_max = limit(params().tx_max_bytes);
    match kind % P2P_KINDS {
        k @ 0..=2 => {
            let topic = Topic::ALL[usize::from(k)];
            let Ok(m) = GossipMessage::decode(topic, bytes, NO_LIMIT, MAX_BATCH_TXS, tx_max) else {
                return;
            };
            assert_canonical(bytes, &m.encode(), "GossipMessage::encode");
            assert_eq!(m.topic(), topic);
            match &m {
                GossipMessage::Txs(batch) => {
                    assert!(!batch.0.is_empty() && batch.0.len() <= MAX_BATCH_TXS);
                    assert!(batch.0.iter().all(|t| t.len() <= tx_max));
                }
                GossipMessage::Consensus(ConsensusMessage::Proposal(p, b)) => {
                    check_proposal(p);
                    check_block(b);
                }
                GossipMessage::Consensus(ConsensusMessage::Vote(v)) => check_vote(v),
                GossipMessage::Evidence(e) => check_evidence(e),
            }
        }
        3 => {
            decode::<wire::SyncRequest>(bytes, MAX_REQUEST_BYTES, "sync request");
        }
        4 => {
            if let Some(wire::SyncResponse::Blocks(blocks)) =
                decode::<wire::SyncResponse>(bytes, NO_LIMIT, "sync response")
            {
                for (b, c) in &blocks {
                    check_block(b);
                    check_commit(c);
                }
            }
        }
        5 => {
            decode::<CatchUpRequest>(bytes, MAX_REQUEST_BYTES, "catch-up request");
        }
        _ => {
            if let Some(r) = decode::<CatchUpResponse>(bytes, NO_LIMIT, "catch-up response") {
                let _ = r.answers(&CatchUpRequest::Commit { height: 1 });
                match &r {
                    CatchUpResponse::Votes(votes) => votes.iter().for_each(check_vote),
                    CatchUpResponse::Commit(Some(c)) => check_commit(c),
                    CatchUpResponse::Block(Some(b)) => check_block(b),
                    _ => {}
                }
            }
        }
    }
}

/// Lets forged votes and proposals through, so replay reaches the state
/// machine's rules instead of stopping at the first signature check.
struct AcceptAll;

impl SignatureVerifier for AcceptAll {
    fn verify(&self, _: &PublicKey, _: &[u8], _: &Signature) -> bool {
        true
    }
}

/// Replays the records of the first height started in `records` into a
/// fresh core of validator 0 of the fixture set.
fn replay(records: &[WalRecord]) {
    let Some(height) = records.iter().find_map(|r| match r {
        WalRecord::NewHeight { height, .. } => Some(*height),
        WalRecord::Input { .. } => None,
    }) else {
        return;
    };
    let set = fixtures::validator_set();
    let me = set.validators()[0].address;
    let mut params = cairn_consensus::Params::new(fixtures::CHAIN_ID, Some(me));
    params.verifier = Arc::new(AcceptAll);
    let mut core = Core::new(params, height, set, fixtures::T0);
    let _ = wal::replay(&mut core, wal::records_for_height(records, height));
}

/// `wal`: the input as a whole WAL buffer, and as one record's body.
pub fn wal(data: &[u8]) {
    if let Ok(d) = wal::decode(data) {
        // A buffer is its records' frames, then at most a torn tail.
        let end = d.torn_tail.map_or(data.len(), |t| t.offset);
        let frames: Vec<u8> = d.records.iter().flat_map(wal::encode_record).collect();
        assert_canonical(&data[..end], &frames, "WAL frames");
        if let Some(t) = d.torn_tail {
            assert_eq!(
                t.offset + t.len,
                data.len(),
                "the torn tail is not the tail"
            );
        }
        replay(&d.records);
    }
    if let Some(record) = decode::<WalRecord>(data, wal::MAX_RECORD_BYTES, "WAL record") {
        let frame = wal::encode_record(&record);
        let whole = wal::decode(&frame);
        assert_eq!(
            whole.map(|d| (d.records, d.torn_tail)),
            Ok((vec![record.clone()], None)),
            "a frame does not read back"
        );
        // Every cut of the frame is a torn tail, never corruption.
        for cut in [1, 15, 16, frame.len() - 1] {
            let got = wal::decode(&frame[..cut]);
            assert_eq!(
                got.map(|d| (d.records.len(), d.torn_tail.map(|t| (t.offset, t.len)))),
                Ok((0, Some((0, cut)))),
                "a frame cut at {cut} is not a torn tail"
            );
        }
        replay(&[record]);
    }
}

/// Every parameter name the methods read, at every position they use.
const PARAM_NAMES: [&str; 13] = [
    "height",
    "page",
    "per_page",
    "minHeight",
    "maxHeight",
    "limit",
    "prove",
    "hash",
    "tx",
    "data",
    "path",
    "query",
    "order_by",
];
const PARAM_POSITIONS: usize = 5;

fn params_json(p: &Params) -> Value {
    match p {
        Params::Named(m) => Value::Object(m.clone()),
        Params::Positional(a) => Value::Array(a.clone()),
        Params::Uri(q) => q.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
    }
}

/// Reads `v` back through the named-JSON form.
fn named(name: &str, v: Value) -> Params {
    let mut m = Map::new();
    m.insert(name.to_owned(), v);
    Params::Named(m)
}

/// Every accessor on every parameter: what parses, renders in the JSON form
/// the methods document and parses back to the same value.
fn check_params(p: &Params) {
    for name in PARAM_NAMES {
        for pos in 0..PARAM_POSITIONS {
            if let Ok(Some(n)) = p.i64(name, pos) {
                assert_eq!(named(name, json!(n)).i64(name, 0).ok(), Some(Some(n)));
                assert_eq!(
                    named(name, json!(n.to_string())).i64(name, 0).ok(),
                    Some(Some(n))
                );
            }
            if let Ok(Some(n)) = p.u64_max(name, pos, 100) {
                assert!(n <= 100);
            }
            if let Ok(Some(b)) = p.bool(name, pos) {
                assert_eq!(named(name, json!(b)).bool(name, 0).ok(), Some(Some(b)));
            }
            if let Ok(h) = p.hash(name, pos) {
                for form in [json!(h.to_hex()), json!(base64_encode(&h.0))] {
                    assert_eq!(named(name, form).hash(name, 0).ok(), Some(h));
                }
            }
            if let Ok(b) = p.base64_bytes(name, pos) {
                let again = named(name, json!(base64_encode(&b))).base64_bytes(name, 0);
                assert_eq!(again.ok().as_ref(), Some(&b));
            }
            if let Ok(b) = p.hex_bytes(name, pos) {
                let again = named(name, json!(hex(&b))).hex_bytes(name, 0);
                assert_eq!(again.ok().as_ref(), Some(&b));
            }
            if let Ok(Some(s)) = p.string(name, pos) {
                assert_eq!(
                    named(name, json!(s)).string(name, 0).ok(),
                    Some(Some(s.clone()))
                );
                if let Ok(q) = TxQuery::parse(&s) {
                    assert!(s.len() <= MAX_QUERY_LEN);
                    assert!((1..=MAX_CONDITIONS).contains(&q.conditions.len()));
                    assert_eq!(TxQuery::parse(q.as_str()).as_ref(), Ok(&q));
                }
            }
        }
    }
}

fn check_request(had_id: bool, req: &Request) {
    assert_eq!(req.notification, !had_id);
    assert!(matches!(
        req.id,
        Value::String(_) | Value::Number(_) | Value::Null
    ));
    // Rendered back into an envelope, a request parses to itself.
    let mut obj =
        json!({"jsonrpc": "2.0", "method": req.method, "params": params_json(&req.params)});
    if !req.notification {
        obj["id"] = req.id.clone();
    }
    match parse_request(obj) {
        Ok(again) => assert_eq!(
            (
                &again.id,
                &again.method,
                again.notification,
                params_json(&again.params)
            ),
            (
                &req.id,
                &req.method,
                req.notification,
                params_json(&req.params)
            ),
        ),
        Err((_, e)) => panic!("a parsed request does not parse again: {e}"),
    }
    check_params(&req.params);
}

/// `jsonrpc`: a `POST /` body (one request or a batch), or, when the input
/// starts with `/`, a `GET /<method>?<query>` URI read as the server does.
pub fn jsonrpc(data: &[u8]) {
    if data.first() == Some(&b'/') {
        return uri(data);
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    for item in items {
        let had_id = item.get("id").is_some();
        match parse_request(item) {
            Ok(req) => check_request(had_id, &req),
            Err((id, e)) => {
                assert!(matches!(
                    id,
                    Value::String(_) | Value::Number(_) | Value::Null
                ));
                let _ = e.to_json();
            }
        }
    }
}

fn uri(data: &[u8]) {
    let Ok(uri) = axum::http::Uri::try_from(data) else {
        return;
    };
    // The extractor `uri_handler` takes its arguments with.
    let Ok(axum::extract::Query(args)) = axum::extract::Query::try_from_uri(&uri) else {
        return;
    };
    check_params(&Params::Uri(args));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed passes its target's checks (and so decodes: the seeds
    /// module asserts that when it builds them).
    #[test]
    fn seeds_pass_their_targets() {
        for (target, inputs) in seeds::all() {
            let check = by_name(target);
            for input in inputs {
                check(&input);
            }
        }
    }

    fn by_name(target: &str) -> fn(&[u8]) {
        match target {
            "tx" => tx,
            "block" => block,
            "vote" => vote,
            "proposal" => proposal,
            "evidence" => evidence,
            "commit" => commit,
            "p2p" => p2p,
            "wal" => wal,
            "jsonrpc" => jsonrpc,
            other => panic!("no target {other}"),
        }
    }
}
