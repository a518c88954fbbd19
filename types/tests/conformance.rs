//! Wire-format conformance: a fixture of every encoded type, hashed. If any
//! digest changes, the encoding changed, and every node, store and signature
//! that depends on it breaks: change the pinned digest only together with a
//! deliberate, versioned format change.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cairn_types::block::{BlockId, Commit, CommitSig, Header, Version, results_hash};
use cairn_types::codec::{Bytes, encode};
use cairn_types::crypto::{Address, Hash, NodeId, SigningKey};
use cairn_types::evidence::{DuplicateVoteEvidence, Evidence};
use cairn_types::params::ChainParams;
use cairn_types::tx::{Msg, PutCondition, Tx, TxBody};
use cairn_types::validator::{Validator, ValidatorSet};
use cairn_types::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteKind};
use cairn_types::{Block, Time};

const CHAIN: &str = "cairn-conformance";

fn key(i: u8) -> SigningKey {
    SigningKey::from_seed([i; 32])
}

fn body(msg: Msg) -> TxBody {
    TxBody {
        chain_id: CHAIN.into(),
        sender: key(1).public_key(),
        nonce: 7,
        fee: 1_000,
        msg,
    }
}

fn all_messages() -> Vec<Msg> {
    vec![
        Msg::Transfer {
            to: Address([2; 20]),
            amount: 5,
        },
        Msg::Put {
            key: b"k".as_slice().into(),
            value: b"v".as_slice().into(),
            condition: PutCondition::Always,
        },
        Msg::Put {
            key: b"k".as_slice().into(),
            value: b"w".as_slice().into(),
            condition: PutCondition::Absent,
        },
        Msg::Put {
            key: b"k".as_slice().into(),
            value: b"x".as_slice().into(),
            condition: PutCondition::Equals(b"w".as_slice().into()),
        },
        Msg::Delegate {
            validator: Address([3; 20]),
            amount: 10,
        },
        Msg::Undelegate {
            validator: Address([3; 20]),
            amount: 4,
        },
        Msg::CreateValidator {
            consensus_key: key(4).public_key(),
            node_id: NodeId([5; 20]),
            moniker: "v".into(),
            self_stake: 1_000_000,
        },
        Msg::EditValidator {
            moniker: Some("w".into()),
            node_id: None,
        },
        Msg::Unjail,
        Msg::PermitValidator {
            operator: Address([6; 20]),
        },
        Msg::RevokeValidator {
            operator: Address([6; 20]),
        },
        Msg::UpdateParams {
            params: ChainParams::default(),
        },
    ]
}

fn vote(kind: VoteKind, value: Option<BlockId>) -> SignedVote {
    let v = Vote {
        kind,
        height: 9,
        round: 2,
        value,
        timestamp: Time(1_700_000_000_000_000_000),
        validator: key(1).public_key().address(),
    };
    SignedVote::sign(v, CHAIN, &key(1))
}

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let block_id = BlockId(Hash::digest(b"block"));
    let txs: Vec<Tx> = all_messages()
        .into_iter()
        .map(|m| Tx::sign(body(m), &key(1)))
        .collect();
    let set = ValidatorSet::new(vec![
        Validator::new(key(1).public_key(), 10),
        Validator::new(key(2).public_key(), 20),
    ])
    .unwrap();
    let commit = Commit {
        height: 9,
        round: 2,
        block_id,
        signatures: vec![
            CommitSig::ForBlock {
                timestamp: Time(1),
                signature: key(1).sign(b"a"),
            },
            CommitSig::Absent,
            CommitSig::ForNil {
                timestamp: Time(2),
                signature: key(2).sign(b"b"),
            },
        ],
    };
    let evidence = Evidence::DuplicateVote(
        DuplicateVoteEvidence::new(
            vote(VoteKind::Prevote, Some(block_id)),
            vote(VoteKind::Prevote, None),
            10,
            30,
            Time(3),
        )
        .unwrap(),
    );
    let header = Header {
        version: Version { block: 11, app: 1 },
        chain_id: CHAIN.into(),
        height: 10,
        time: Time(1_700_000_001_000_000_000),
        last_block_id: Some(block_id),
        last_commit_hash: commit.hash(),
        data_hash: Hash([1; 32]),
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
        consensus_hash: Hash([2; 32]),
        app_hash: Hash([3; 32]),
        last_results_hash: results_hash(&[0, 1]),
        evidence_hash: Hash([4; 32]),
        proposer_address: key(2).public_key().address(),
    };
    let block = Block {
        header: header.clone(),
        txs: txs.iter().map(|t| Bytes(t.to_bytes())).collect(),
        evidence: vec![evidence.clone()],
        last_commit: Some(commit.clone()),
    };
    let proposal = SignedProposal::sign(
        Proposal {
            height: 10,
            round: 0,
            pol_round: Some(1),
            block_id: header.id(),
            timestamp: Time(5),
            proposer: key(2).public_key().address(),
        },
        CHAIN,
        &key(2),
    );
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let names = [
        "tx.transfer",
        "tx.put.always",
        "tx.put.absent",
        "tx.put.equals",
        "tx.delegate",
        "tx.undelegate",
        "tx.create_validator",
        "tx.edit_validator",
        "tx.unjail",
        "tx.permit_validator",
        "tx.revoke_validator",
        "tx.update_params",
    ];
    for (name, tx) in names.into_iter().zip(&txs) {
        out.push((name, tx.to_bytes()));
    }
    out.push(("tx.sign_bytes", txs[0].body.sign_bytes()));
    out.push((
        "vote.prevote",
        encode(&vote(VoteKind::Prevote, Some(block_id))),
    ));
    out.push((
        "vote.precommit_nil",
        encode(&vote(VoteKind::Precommit, None)),
    ));
    out.push((
        "vote.sign_bytes",
        vote(VoteKind::Prevote, None).vote.sign_bytes(CHAIN),
    ));
    out.push(("proposal", encode(&proposal)));
    out.push(("proposal.sign_bytes", proposal.proposal.sign_bytes(CHAIN)));
    out.push(("commit", encode(&commit)));
    out.push(("evidence", encode(&evidence)));
    out.push(("validator_set", encode(&set)));
    out.push(("params", encode(&ChainParams::default())));
    out.push(("header", encode(&header)));
    out.push(("block", encode(&block)));
    out.push(("block_id", header.id().0.0.to_vec()));
    out
}

/// (fixture, SHA-256 of its bytes).
const PINNED: &[(&str, &str)] = &[
    (
        "tx.transfer",
        "591E85645F6945D9DD15E82366636F0E45E6939536077D06DC43261DF9DBB403",
    ),
    (
        "tx.put.always",
        "6D7B4CE613D7D879E254EDC11CEC573BCEA17543BA50BE8319E89ACEA46BB297",
    ),
    (
        "tx.put.absent",
        "9297753BC6C0C137220732E0090793C1111090EA564FB0F7639E2CF7229FD399",
    ),
    (
        "tx.put.equals",
        "5618407FEE2BAE8A4D97D3DC89B0C962FA928C064551B8697A7A1DE63E2A32C0",
    ),
    (
        "tx.delegate",
        "E85DEC709AF9A570BC673801CD50524C92716A1E809FC33663E68F1B89CE91B2",
    ),
    (
        "tx.undelegate",
        "BE31507EAF2ED3AAD2A52A34F6E1242E876367CCB22354A5A20211781BE8593F",
    ),
    (
        "tx.create_validator",
        "EFED03C16AADA8D32359BA9BD5307CA4E755FAF6150827C4E75FD66A891B3885",
    ),
    (
        "tx.edit_validator",
        "5AB3205C53009688B9BF45C0C9540329E9EA0E739076CB0A02DF86BE8DAA0D88",
    ),
    (
        "tx.unjail",
        "788D6B9CDE5D58F26743F7265BAB25395493CC3031EF96DC7D800BCE7A64FAF3",
    ),
    (
        "tx.permit_validator",
        "C3F5688DC4370B3E89607395E408BBF4FDEB22B1CA1B2801D97CA07FB93DF1CD",
    ),
    (
        "tx.revoke_validator",
        "8D16512D87E812EE634E987981ED0F14E28AB0487DC3D92BB8E4467CF2D8AA06",
    ),
    (
        "tx.update_params",
        "2DFE102BAAD9E9B4B5BEF9CF3788BC0D5D8B0D7A79EF05844183894006F7D105",
    ),
    (
        "tx.sign_bytes",
        "BF5FEAC1D0DE8A109E457365E45C3663647F8BF83D579806BA2874FA4DB45AFF",
    ),
    (
        "vote.prevote",
        "E5A0D29CC69903C13FA22B9BB2D65E8307B58E385EBA247D0F7AEDE5B2613781",
    ),
    (
        "vote.precommit_nil",
        "6E1DB2F436BB359BFED2933A4A88EC32A8900C7F86C52308F5AAD2B29E6B5570",
    ),
    (
        "vote.sign_bytes",
        "43B4F4BF6FBF67D44CE69B7EDE5B212FD710A42A19615391C82C6A542E1065E2",
    ),
    (
        "proposal",
        "91F5F9506D25F4BE0750E4D7762659B907D51B2242180E31B8C614C6B25DA9AE",
    ),
    (
        "proposal.sign_bytes",
        "EE9FE55A5BA44BE41EBEBFF8DDBFCE38C137C5770363CD11245E21D9A5993112",
    ),
    (
        "commit",
        "680DEB6AD38AC1E108C65EE4605325277B7A70E9C40C496CA192153506956759",
    ),
    (
        "evidence",
        "7871A6A84A7BCDBCB6C89D280B0A19244508F1F735593C0653EF3E29AE12B7FF",
    ),
    (
        "validator_set",
        "74B878EBFF571A56F99E239C141C3C164DE3F575CC86653861ABEC3034E04A3D",
    ),
    (
        "params",
        "CBC066B2219F3818FE70B4ABD3E4039A7B9BB81575772EB03475B61B24E33F07",
    ),
    (
        "header",
        "63784651E4AA515641E3F11D2D0BEF62F4B1840497277D4A3B5935CD10BBDAD9",
    ),
    (
        "block",
        "F42D39DC15C790803B515E26ACDCC2EE55B6FDF44FF1A99D97D828A2F396A5EC",
    ),
    (
        "block_id",
        "5B19A8D610B865587FC79241BA072E142DFC995CE55D3BE57B4DFA14D3102D85",
    ),
];

#[test]
fn encodings_match_pinned_digests() {
    let actual: Vec<(&str, String)> = fixtures()
        .into_iter()
        .map(|(n, b)| (n, Hash::digest(&b).to_hex()))
        .collect();
    let listing: String = actual
        .iter()
        .map(|(n, h)| format!("    (\"{n}\", \"{h}\"),\n"))
        .collect();
    assert_eq!(
        actual.len(),
        PINNED.len(),
        "fixture list changed; current digests:\n{listing}"
    );
    for ((name, got), (pname, want)) in actual.iter().zip(PINNED) {
        assert_eq!(
            name, pname,
            "fixture order changed; current digests:\n{listing}"
        );
        assert_eq!(
            got, want,
            "encoding of {name} changed; current digests:\n{listing}"
        );
    }
}

#[test]
fn fixtures_decode_canonically() {
    for (name, b) in fixtures() {
        if name.starts_with("tx.") && !name.ends_with("sign_bytes") {
            let tx = Tx::decode(&b, 1 << 16, CHAIN).unwrap();
            tx.verify_signature().unwrap();
            assert_eq!(tx.to_bytes(), b, "{name}");
        }
    }
}
