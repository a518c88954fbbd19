//! Cairn's types in CometBFT v0.38's JSON shapes.
//!
//! Conventions (what cosmjs and tendermint-rs decode): 64-bit integers as
//! strings, 32-bit ones (`round`, `index`, `block_id_flag`, `code`, part
//! totals) as numbers; hashes and addresses uppercase hex; byte strings
//! base64; times RFC 3339 with nanoseconds; public keys `{type, value}`.
//!
//! A block id is `{hash: header hash, parts: {total: 1, hash: SHA-256 of the
//! encoded block}}` (DESIGN.md §3). What CometBFT leaves empty for the first
//! block (`last_block_id`, `last_commit`) is written in its empty forms, which
//! decoders read as "none".
//!
//! What a block carries by the thousand (its txs, their results and events)
//! renders through borrowed [`Serialize`] structs, straight to text, never
//! as a [`Value`] tree: a NewBlock event of a full block was 40% of the
//! websocket node's extra CPU and most of its extra memory. Their fields are
//! in alphabetical order, the order in which a `Value` object prints its
//! keys, so either path writes the same text.

use cairn_types::json::base64_encode;
use cairn_types::{
    Block, BlockId, Commit, CommitSig, Evidence, Hash, Header, SignedVote, Time, ValidatorSet,
    VoteKind,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::backend::{BlockResults, CheckTxResult, Event, TxRecord, TxResultInfo};

/// CometBFT's "zero time", written for absent commit signatures.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// What rendering needs beyond the value itself: part-set hashes of other
/// blocks and the validator sets that name commit signers.
pub trait Lookup {
    /// SHA-256 of the encoded block at `height`, if its id is `id` and it is stored.
    fn parts_hash(&self, height: u64, id: &BlockId) -> Option<Hash>;
    /// The validator set that signed block `height`.
    fn validators_at(&self, height: u64) -> Option<std::sync::Arc<ValidatorSet>>;
}

/// The part-set hash of a block: SHA-256 of its canonical encoding.
pub fn block_parts_hash(block: &Block) -> Hash {
    Hash::digest(&block.to_bytes())
}

/// Time as RFC 3339.
pub fn time(t: Time) -> Value {
    Value::String(t.to_rfc3339())
}

/// `{hash: "", parts: {total: 0, hash: ""}}`.
pub fn empty_block_id() -> Value {
    json!({"hash": "", "parts": {"total": 0, "hash": ""}})
}

/// A block id with its part-set header; an unknown part hash is written as
/// the empty part set (it happens only for votes on blocks never committed).
pub fn block_id(id: &BlockId, parts: Option<Hash>) -> Value {
    match parts {
        Some(p) => json!({"hash": id.0.to_hex(), "parts": {"total": 1, "hash": p.to_hex()}}),
        None => json!({"hash": id.0.to_hex(), "parts": {"total": 0, "hash": ""}}),
    }
}

/// A header.
pub fn header(h: &Header, lookup: &dyn Lookup) -> Value {
    let last_block_id = match &h.last_block_id {
        Some(id) => block_id(
            id,
            h.height
                .checked_sub(1)
                .and_then(|prev| lookup.parts_hash(prev, id)),
        ),
        None => empty_block_id(),
    };
    json!({
        "version": {"block": h.version.block.to_string(), "app": h.version.app.to_string()},
        "chain_id": h.chain_id.0,
        "height": h.height.to_string(),
        "time": time(h.time),
        "last_block_id": last_block_id,
        "last_commit_hash": h.last_commit_hash.to_hex(),
        "data_hash": h.data_hash.to_hex(),
        "validators_hash": h.validators_hash.to_hex(),
        "next_validators_hash": h.next_validators_hash.to_hex(),
        "consensus_hash": h.consensus_hash.to_hex(),
        "app_hash": h.app_hash.to_hex(),
        "last_results_hash": h.last_results_hash.to_hex(),
        "evidence_hash": h.evidence_hash.to_hex(),
        "proposer_address": h.proposer_address.to_hex(),
    })
}

/// The empty commit CometBFT writes for the first block's `last_commit`.
pub fn empty_commit() -> Value {
    json!({"height": "0", "round": 0, "block_id": empty_block_id(), "signatures": []})
}

/// A commit. Signers are named from `vals` (the set at the commit's height);
/// an entry without a matching validator keeps an empty address.
pub fn commit(c: &Commit, parts: Option<Hash>, vals: Option<&ValidatorSet>) -> Value {
    let sigs: Vec<Value> = c
        .signatures
        .iter()
        .enumerate()
        .map(|(i, sig)| {
            let address = vals
                .and_then(|v| v.validators().get(i))
                .map(|v| v.address.to_hex())
                .unwrap_or_default();
            match sig {
                CommitSig::Absent => json!({
                    "block_id_flag": 1,
                    "validator_address": "",
                    "timestamp": ZERO_TIME,
                    "signature": null,
                }),
                CommitSig::ForBlock {
                    timestamp,
                    signature,
                } => json!({
                    "block_id_flag": 2,
                    "validator_address": address,
                    "timestamp": time(*timestamp),
                    "signature": base64_encode(&signature.0),
                }),
                CommitSig::ForNil {
                    timestamp,
                    signature,
                } => json!({
                    "block_id_flag": 3,
                    "validator_address": address,
                    "timestamp": time(*timestamp),
                    "signature": base64_encode(&signature.0),
                }),
            }
        })
        .collect();
    json!({
        "height": c.height.to_string(),
        "round": c.round,
        "block_id": block_id(&c.block_id, parts),
        "signatures": sigs,
    })
}

fn vote(v: &SignedVote, vals: Option<&ValidatorSet>, lookup: &dyn Lookup) -> Value {
    let vote = &v.vote;
    let kind = match vote.kind {
        VoteKind::Prevote => 1,
        VoteKind::Precommit => 2,
    };
    let bid = match &vote.value {
        Some(id) => block_id(id, lookup.parts_hash(vote.height, id)),
        None => empty_block_id(),
    };
    let index = vals.and_then(|s| s.index_of(&vote.validator)).unwrap_or(0);
    json!({
        "type": kind,
        "height": vote.height.to_string(),
        "round": vote.round,
        "block_id": bid,
        "timestamp": time(vote.timestamp),
        "validator_address": vote.validator.to_hex(),
        "validator_index": index,
        "signature": base64_encode(&v.signature.0),
        "extension": null,
        "extension_signature": null,
    })
}

/// One piece of evidence, as CometBFT's `tendermint/DuplicateVoteEvidence`.
pub fn evidence(e: &Evidence, lookup: &dyn Lookup) -> Value {
    match e {
        Evidence::DuplicateVote(d) => {
            let vals = lookup.validators_at(d.vote_a.vote.height);
            json!({
                "type": "tendermint/DuplicateVoteEvidence",
                "value": {
                    "vote_a": vote(&d.vote_a, vals.as_deref(), lookup),
                    "vote_b": vote(&d.vote_b, vals.as_deref(), lookup),
                    "TotalVotingPower": d.total_power.to_string(),
                    "ValidatorPower": d.validator_power.to_string(),
                    "Timestamp": time(d.timestamp),
                }
            })
        }
    }
}

/// A block as JSON (see [`block`]).
#[derive(Debug, Serialize)]
pub struct BlockJson {
    data: TxsJson,
    evidence: EvidenceJson,
    header: Value,
    last_commit: Value,
}

#[derive(Debug, Serialize)]
struct TxsJson {
    txs: Vec<String>,
}

#[derive(Debug, Serialize)]
struct EvidenceJson {
    evidence: Vec<Value>,
}

/// A block: header, base64 txs, evidence and last commit.
pub fn block(b: &Block, lookup: &dyn Lookup) -> BlockJson {
    let h = b.header.height;
    let last_commit = match (&b.last_commit, h.checked_sub(1)) {
        (Some(c), Some(prev)) => {
            let vals = lookup.validators_at(prev);
            commit(c, lookup.parts_hash(prev, &c.block_id), vals.as_deref())
        }
        _ => empty_commit(),
    };
    let txs: Vec<String> = b.txs.iter().map(|t| base64_encode(t)).collect();
    let evidence: Vec<Value> = b.evidence.iter().map(|e| evidence(e, lookup)).collect();
    BlockJson {
        data: TxsJson { txs },
        evidence: EvidenceJson { evidence },
        header: header(&b.header, lookup),
        last_commit,
    }
}

/// An event as JSON (see [`event`]).
#[derive(Debug, Serialize)]
pub struct EventJson<'a> {
    attributes: Vec<AttributeJson<'a>>,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Debug, Serialize)]
struct AttributeJson<'a> {
    index: bool,
    key: &'a str,
    value: &'a str,
}

/// An event with string attributes, all indexed.
pub fn event(e: &Event) -> EventJson<'_> {
    let attributes = e
        .attributes
        .iter()
        .map(|(key, value)| AttributeJson {
            index: true,
            key,
            value,
        })
        .collect();
    EventJson {
        attributes,
        kind: &e.kind,
    }
}

/// Events.
pub fn events(es: &[Event]) -> Vec<EventJson<'_>> {
    es.iter().map(event).collect()
}

/// A tx's execution result as JSON (see [`exec_tx_result`]).
#[derive(Debug, Serialize)]
pub struct ExecTxResultJson<'a> {
    code: u32,
    codespace: &'a str,
    data: Option<String>,
    events: Vec<EventJson<'a>>,
    gas_used: String,
    gas_wanted: String,
    info: &'static str,
    log: &'a str,
}

/// A tx's execution result (ABCI `ExecTxResult`).
pub fn exec_tx_result(r: &TxResultInfo) -> ExecTxResultJson<'_> {
    ExecTxResultJson {
        code: r.code,
        codespace: &r.codespace,
        data: (!r.data.is_empty()).then(|| base64_encode(&r.data)),
        events: events(&r.events),
        gas_used: r.gas_used.to_string(),
        gas_wanted: r.gas_used.to_string(),
        info: "",
        log: &r.log,
    }
}

/// A mempool check result (ABCI `ResponseCheckTx`).
pub fn check_tx_result(r: &CheckTxResult) -> Value {
    json!({
        "code": r.code,
        "data": null,
        "log": r.log,
        "info": "",
        "gas_wanted": "0",
        "gas_used": "0",
        "events": [],
        "codespace": r.codespace,
    })
}

/// A committed tx (the `tx` method's result).
pub fn tx_record(r: &TxRecord) -> Value {
    json!({
        "hash": r.hash.to_hex(),
        "height": r.height.to_string(),
        "index": r.index,
        "tx_result": exec_tx_result(&r.result),
        "tx": base64_encode(&r.tx),
    })
}

/// Validator updates of a block.
pub fn validator_updates(results: &BlockResults) -> Value {
    Value::Array(
        results
            .validator_updates
            .iter()
            .map(|u| json!({"pub_key": u.pub_key, "power": u.power.to_string()}))
            .collect(),
    )
}

/// Chain parameters as CometBFT's `ConsensusParams`.
pub fn consensus_params(p: &cairn_types::ChainParams) -> Value {
    json!({
        "block": {"max_bytes": p.consensus.block_max_bytes.to_string(), "max_gas": "-1"},
        "evidence": {
            "max_age_num_blocks": p.consensus.evidence_max_age_blocks.to_string(),
            "max_age_duration": (u128::from(p.consensus.evidence_max_age_ms) * 1_000_000).to_string(),
            "max_bytes": p.consensus.evidence_max_bytes.to_string(),
        },
        "validator": {"pub_key_types": ["ed25519"]},
        "version": {"app": cairn_types::block::APP_VERSION.to_string()},
        "abci": {"vote_extensions_enable_height": "0"},
    })
}

/// The validators of a set, CometBFT's shape.
pub fn validators(set: &ValidatorSet, skip: usize, take: usize) -> Vec<Value> {
    set.validators()
        .iter()
        .skip(skip)
        .take(take)
        .map(|v| {
            json!({
                "address": v.address.to_hex(),
                "pub_key": v.pub_key,
                "voting_power": v.power.to_string(),
                "proposer_priority": v.proposer_priority.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text written straight from a struct equals the text of its
    /// `Value` tree, so the two paths cannot drift apart.
    fn same_text_as_tree(v: &impl Serialize) {
        let direct = serde_json::to_string(v).unwrap_or_default();
        let tree = serde_json::to_value(v)
            .map(|t| t.to_string())
            .unwrap_or_default();
        assert_eq!(direct, tree);
    }

    #[test]
    fn a_result_and_its_events_print_as_their_tree_does() {
        let r = TxResultInfo {
            code: 5,
            data: vec![1, 2, 3],
            log: "insufficient \"funds\"".into(),
            codespace: "cairn".into(),
            gas_used: 120,
            events: vec![
                Event::new("tx", &[("sender", "AB"), ("nonce", "3")]),
                Event::new("transfer", &[("amount", "9")]),
            ],
        };
        same_text_as_tree(&exec_tx_result(&r));
        same_text_as_tree(&exec_tx_result(&TxResultInfo::default()));
        let v = serde_json::to_value(exec_tx_result(&r)).unwrap_or_default();
        assert_eq!(v["data"], base64_encode(&[1, 2, 3]));
        assert_eq!(v["gas_wanted"], "120");
        assert_eq!(v["events"][0]["attributes"][1]["key"], "nonce");
        assert_eq!(v["events"][0]["attributes"][1]["index"], true);
        assert_eq!(
            serde_json::to_value(exec_tx_result(&TxResultInfo::default())).unwrap_or_default()["data"],
            Value::Null
        );
    }
}
