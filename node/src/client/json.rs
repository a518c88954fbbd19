//! CometBFT-shaped JSON (as `cairn_rpc::render` writes it) read back into
//! Cairn's types, so that a client can hash headers and check commit
//! signatures itself instead of believing the node's hashes.
//!
//! Every decoder is strict: a missing or malformed field is an error naming
//! the field, never a default.

use cairn_rpc::{ProofOp, QueryResult};
use cairn_types::json::base64_decode;
use cairn_types::{
    Address, BlockId, Commit, CommitSig, Hash, Header, PublicKey, Signature, Time, Validator,
    ValidatorSet, Version,
};
use serde_json::Value;

/// A field that is missing or does not have the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {reason}")]
pub struct JsonError {
    /// Path of the field, e.g. `header.app_hash`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(field: &str, reason: impl ToString) -> JsonError {
    JsonError {
        field: field.to_owned(),
        reason: reason.to_string(),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, JsonError> {
    v.get(name).ok_or_else(|| bad(name, "missing"))
}

fn string<'a>(v: &'a Value, name: &str) -> Result<&'a str, JsonError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| bad(name, "expected a string"))
}

/// A 64-bit integer written as a string (CometBFT's convention) or a number.
fn int(v: &Value, name: &str) -> Result<u64, JsonError> {
    match field(v, name)? {
        Value::String(s) => s.parse().map_err(|e| bad(name, e)),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(name, "expected an unsigned integer")),
        _ => Err(bad(name, "expected an integer")),
    }
}

fn hash(v: &Value, name: &str) -> Result<Hash, JsonError> {
    Hash::from_hex(string(v, name)?).map_err(|e| bad(name, e))
}

fn time(v: &Value, name: &str) -> Result<Time, JsonError> {
    Time::parse_rfc3339(string(v, name)?).map_err(|e| bad(name, e))
}

fn base64(v: &Value, name: &str) -> Result<Vec<u8>, JsonError> {
    match field(v, name)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => base64_decode(s).map_err(|e| bad(name, e)),
        _ => Err(bad(name, "expected base64")),
    }
}

/// A block id's hash; the empty form (`""`) is `None` (the first block's `last_block_id`).
fn block_id(v: &Value, name: &str) -> Result<Option<BlockId>, JsonError> {
    let id = field(v, name)?;
    match string(id, "hash")? {
        "" => Ok(None),
        h => Hash::from_hex(h)
            .map(|h| Some(BlockId(h)))
            .map_err(|e| bad(name, e)),
    }
}

/// A header, as in `block`, `commit` and `blockchain` results.
pub fn header(v: &Value) -> Result<Header, JsonError> {
    let version = field(v, "version")?;
    Ok(Header {
        version: Version {
            block: int(version, "block")?,
            app: int(version, "app")?,
        },
        chain_id: string(v, "chain_id")?.into(),
        height: int(v, "height")?,
        time: time(v, "time")?,
        last_block_id: block_id(v, "last_block_id")?,
        last_commit_hash: hash(v, "last_commit_hash")?,
        data_hash: hash(v, "data_hash")?,
        validators_hash: hash(v, "validators_hash")?,
        next_validators_hash: hash(v, "next_validators_hash")?,
        consensus_hash: hash(v, "consensus_hash")?,
        app_hash: hash(v, "app_hash")?,
        last_results_hash: hash(v, "last_results_hash")?,
        evidence_hash: hash(v, "evidence_hash")?,
        proposer_address: Address::from_hex(string(v, "proposer_address")?)
            .map_err(|e| bad("proposer_address", e))?,
    })
}

/// A commit; entries keep their order (the validator set's).
pub fn commit(v: &Value) -> Result<Commit, JsonError> {
    let sigs = field(v, "signatures")?
        .as_array()
        .ok_or_else(|| bad("signatures", "expected an array"))?;
    let signatures = sigs
        .iter()
        .map(|s| {
            let flag = int(s, "block_id_flag")?;
            if flag == 1 {
                return Ok(CommitSig::Absent);
            }
            let timestamp = time(s, "timestamp")?;
            let signature = Signature(
                base64(s, "signature")?
                    .try_into()
                    .map_err(|_| bad("signature", "expected 64 bytes"))?,
            );
            match flag {
                2 => Ok(CommitSig::ForBlock {
                    timestamp,
                    signature,
                }),
                3 => Ok(CommitSig::ForNil {
                    timestamp,
                    signature,
                }),
                f => Err(bad("block_id_flag", format!("unknown flag {f}"))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Commit {
        height: int(v, "height")?,
        round: u32::try_from(int(v, "round")?).map_err(|e| bad("round", e))?,
        block_id: block_id(v, "block_id")?.ok_or_else(|| bad("block_id", "empty"))?,
        signatures,
    })
}

/// The members of one `validators` page: (public key, power).
pub fn validators_page(v: &Value) -> Result<Vec<(PublicKey, u64)>, JsonError> {
    field(v, "validators")?
        .as_array()
        .ok_or_else(|| bad("validators", "expected an array"))?
        .iter()
        .map(|m| {
            let key: PublicKey = serde_json::from_value(field(m, "pub_key")?.clone())
                .map_err(|e| bad("pub_key", e))?;
            Ok((key, int(m, "voting_power")?))
        })
        .collect()
}

/// A validator set from its members. The set's own order (power, then
/// address) is restored, so its hash does not depend on the order served.
pub fn validator_set(members: Vec<(PublicKey, u64)>) -> Result<ValidatorSet, JsonError> {
    ValidatorSet::new(
        members
            .into_iter()
            .map(|(k, p)| Validator::new(k, p))
            .collect(),
    )
    .map_err(|e| bad("validators", e))
}

/// An `abci_query` result's `response`.
pub fn query_result(v: &Value) -> Result<QueryResult, JsonError> {
    let r = field(v, "response")?;
    let proof_ops = match field(r, "proofOps")? {
        Value::Null => None,
        p => Some(
            field(p, "ops")?
                .as_array()
                .ok_or_else(|| bad("proofOps.ops", "expected an array"))?
                .iter()
                .map(|o| {
                    Ok(ProofOp {
                        kind: string(o, "type")?.to_owned(),
                        key: base64(o, "key")?,
                        data: base64(o, "data")?,
                    })
                })
                .collect::<Result<Vec<_>, JsonError>>()?,
        ),
    };
    Ok(QueryResult {
        code: u32::try_from(int(r, "code")?).map_err(|e| bad("code", e))?,
        log: string(r, "log")?.to_owned(),
        key: base64(r, "key")?,
        value: base64(r, "value")?,
        height: int(r, "height")?,
        proof_ops,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use cairn_rpc::render::{self, Lookup};
    use cairn_types::{SigningKey, Text};

    use super::*;

    struct NoLookup;
    impl Lookup for NoLookup {
        fn parts_hash(&self, _: u64, _: &BlockId) -> Option<Hash> {
            None
        }
        fn validators_at(&self, _: u64) -> Option<Arc<ValidatorSet>> {
            None
        }
    }

    fn sample_header(last: Option<BlockId>) -> Header {
        Header {
            version: Version { block: 11, app: 1 },
            chain_id: Text("c".into()),
            height: 7,
            time: Time(1_700_000_000_123_456_789),
            last_block_id: last,
            last_commit_hash: Hash([1; 32]),
            data_hash: Hash([2; 32]),
            validators_hash: Hash([3; 32]),
            next_validators_hash: Hash([4; 32]),
            consensus_hash: Hash([5; 32]),
            app_hash: Hash([6; 32]),
            last_results_hash: Hash([7; 32]),
            evidence_hash: Hash([8; 32]),
            proposer_address: Address([9; 20]),
        }
    }

    #[test]
    fn rendered_headers_read_back_to_the_same_id() {
        for last in [None, Some(BlockId(Hash([0xab; 32])))] {
            let h = sample_header(last);
            let back = header(&render::header(&h, &NoLookup)).unwrap();
            assert_eq!(back, h);
            assert_eq!(back.id(), h.id());
        }
    }

    #[test]
    fn rendered_commits_and_sets_read_back() {
        let c = Commit {
            height: 7,
            round: 2,
            block_id: BlockId(Hash([3; 32])),
            signatures: vec![
                CommitSig::Absent,
                CommitSig::ForBlock {
                    timestamp: Time(5),
                    signature: Signature([1; 64]),
                },
                CommitSig::ForNil {
                    timestamp: Time(6_000_000_001),
                    signature: Signature([2; 64]),
                },
            ],
        };
        assert_eq!(commit(&render::commit(&c, None, None)).unwrap(), c);

        let set = validator_set(
            (1..=3u8)
                .map(|i| (SigningKey::from_seed([i; 32]).public_key(), u64::from(i)))
                .collect(),
        )
        .unwrap();
        let page = serde_json::json!({"validators": render::validators(&set, 0, 10)});
        // Served in reverse order, the set is still the same set.
        let mut members = validators_page(&page).unwrap();
        members.reverse();
        assert_eq!(validator_set(members).unwrap().hash(), set.hash());
    }

    #[test]
    fn malformed_fields_are_named() {
        let mut v = render::header(&sample_header(None), &NoLookup);
        v["app_hash"] = Value::String("zz".into());
        assert_eq!(header(&v).unwrap_err().field, "app_hash");
        v.as_object_mut().unwrap().remove("height");
        assert_eq!(header(&v).unwrap_err().field, "height");
    }
}
