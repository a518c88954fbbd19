//! Proptest strategies for every encoded type.
#![allow(dead_code, unreachable_pub)]

use cairn_types::block::{BlockId, Commit, CommitSig, Header, Version};
use cairn_types::codec::{Bytes, Text};
use cairn_types::crypto::{Address, Hash, NodeId, PublicKey, Signature};
use cairn_types::evidence::{DuplicateVoteEvidence, Evidence};
use cairn_types::params::{AppParams, ChainParams, ConsensusParams};
use cairn_types::tx::{Msg, PutCondition, Tx, TxBody};
use cairn_types::validator::{Validator, ValidatorSet};
use cairn_types::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteKind};
use cairn_types::{Block, Time};
use proptest::prelude::*;

pub fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}
pub fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}
pub fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}
pub fn pub_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}
pub fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}
pub fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes)
}
pub fn text() -> impl Strategy<Value = Text> {
    "[a-z0-9ü-]{0,12}".prop_map(Text)
}
pub fn time() -> impl Strategy<Value = Time> {
    any::<u64>().prop_map(Time)
}
pub fn params() -> impl Strategy<Value = ChainParams> {
    (any::<[u64; 5]>(), any::<[u64; 4]>(), any::<[u32; 4]>()).prop_map(|(c, a, b)| ChainParams {
        consensus: ConsensusParams {
            block_max_bytes: c[0],
            tx_max_bytes: c[1],
            evidence_max_age_blocks: c[2],
            evidence_max_age_ms: c[3],
            evidence_max_bytes: c[4],
        },
        app: AppParams {
            min_fee_per_byte: a[0],
            unbonding_blocks: a[1],
            double_sign_slash_ppm: b[0],
            max_validators: b[1],
            min_self_stake: a[2],
            power_unit: a[3],
            put_max_key_bytes: b[2],
            put_max_value_bytes: b[3],
        },
    })
}
pub fn msg() -> impl Strategy<Value = Msg> {
    let cond = prop_oneof![
        Just(PutCondition::Always),
        Just(PutCondition::Absent),
        bytes(16).prop_map(PutCondition::Equals),
    ];
    prop_oneof![
        (address(), any::<u64>()).prop_map(|(to, amount)| Msg::Transfer { to, amount }),
        (bytes(32), bytes(64), cond).prop_map(|(key, value, condition)| Msg::Put {
            key,
            value,
            condition
        }),
        (address(), any::<u64>())
            .prop_map(|(validator, amount)| Msg::Delegate { validator, amount }),
        (address(), any::<u64>())
            .prop_map(|(validator, amount)| Msg::Undelegate { validator, amount }),
        (pub_key(), node_id(), text(), any::<u64>()).prop_map(
            |(consensus_key, node_id, moniker, self_stake)| {
                Msg::CreateValidator {
                    consensus_key,
                    node_id,
                    moniker,
                    self_stake,
                }
            }
        ),
        (
            proptest::option::of(text()),
            proptest::option::of(node_id())
        )
            .prop_map(|(moniker, node_id)| Msg::EditValidator { moniker, node_id }),
        Just(Msg::Unjail),
        address().prop_map(|operator| Msg::PermitValidator { operator }),
        address().prop_map(|operator| Msg::RevokeValidator { operator }),
        params().prop_map(|params| Msg::UpdateParams { params }),
    ]
}
pub fn tx() -> impl Strategy<Value = Tx> {
    (
        text(),
        pub_key(),
        any::<u64>(),
        any::<u64>(),
        msg(),
        signature(),
    )
        .prop_map(|(chain_id, sender, nonce, fee, msg, signature)| Tx {
            body: TxBody {
                chain_id,
                sender,
                nonce,
                fee,
                msg,
            },
            signature,
        })
}
pub fn block_id() -> impl Strategy<Value = BlockId> {
    hash().prop_map(BlockId)
}
pub fn vote() -> impl Strategy<Value = Vote> {
    (
        any::<bool>(),
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(block_id()),
        time(),
        address(),
    )
        .prop_map(|(pre, height, round, value, timestamp, validator)| Vote {
            kind: if pre {
                VoteKind::Prevote
            } else {
                VoteKind::Precommit
            },
            height,
            round,
            value,
            timestamp,
            validator,
        })
}
pub fn signed_vote() -> impl Strategy<Value = SignedVote> {
    (vote(), signature()).prop_map(|(vote, signature)| SignedVote { vote, signature })
}
pub fn signed_proposal() -> impl Strategy<Value = SignedProposal> {
    (
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        block_id(),
        time(),
        address(),
        signature(),
    )
        .prop_map(
            |(height, round, pol_round, block_id, timestamp, proposer, signature)| SignedProposal {
                proposal: Proposal {
                    height,
                    round,
                    pol_round,
                    block_id,
                    timestamp,
                    proposer,
                },
                signature,
            },
        )
}
pub fn commit_sig() -> impl Strategy<Value = CommitSig> {
    prop_oneof![
        Just(CommitSig::Absent),
        (time(), signature()).prop_map(|(timestamp, signature)| CommitSig::ForBlock {
            timestamp,
            signature
        }),
        (time(), signature()).prop_map(|(timestamp, signature)| CommitSig::ForNil {
            timestamp,
            signature
        }),
    ]
}
pub fn commit() -> impl Strategy<Value = Commit> {
    (
        any::<u64>(),
        any::<u32>(),
        block_id(),
        prop::collection::vec(commit_sig(), 0..6),
    )
        .prop_map(|(height, round, block_id, signatures)| Commit {
            height,
            round,
            block_id,
            signatures,
        })
}
pub fn evidence() -> impl Strategy<Value = Evidence> {
    (
        signed_vote(),
        signed_vote(),
        any::<u64>(),
        any::<u64>(),
        time(),
    )
        .prop_map(
            |(vote_a, vote_b, validator_power, total_power, timestamp)| {
                Evidence::DuplicateVote(DuplicateVoteEvidence {
                    vote_a,
                    vote_b,
                    validator_power,
                    total_power,
                    timestamp,
                })
            },
        )
}
pub fn header() -> impl Strategy<Value = Header> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            text(),
            any::<u64>(),
            time(),
            proptest::option::of(block_id()),
        ),
        prop::array::uniform9(hash()),
        address(),
    )
        .prop_map(
            |((block, app, chain_id, height, time, last_block_id), h, proposer_address)| Header {
                version: Version { block, app },
                chain_id,
                height,
                time,
                last_block_id,
                last_commit_hash: h[0],
                data_hash: h[1],
                validators_hash: h[2],
                next_validators_hash: h[3],
                consensus_hash: h[4],
                app_hash: h[5],
                last_results_hash: h[6],
                evidence_hash: h[7],
                proposer_address,
            },
        )
}
pub fn block() -> impl Strategy<Value = Block> {
    (
        header(),
        prop::collection::vec(bytes(40), 0..4),
        prop::collection::vec(evidence(), 0..2),
        proptest::option::of(commit()),
    )
        .prop_map(|(header, txs, evidence, last_commit)| Block {
            header,
            txs,
            evidence,
            last_commit,
        })
}
pub fn validator_set() -> impl Strategy<Value = ValidatorSet> {
    prop::collection::btree_map(any::<[u8; 32]>(), 1u64..1000, 1..6).prop_map(|m| {
        ValidatorSet::new(
            m.into_iter()
                .map(|(k, p)| Validator::new(PublicKey(k), p))
                .collect(),
        )
        .unwrap()
    })
}
