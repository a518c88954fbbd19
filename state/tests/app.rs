//! The application's rules, one narrative per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_state::{Account, Signatures, StateError, StateKey, Store, StoreOptions, codes};
use cairn_types::crypto::{NodeId, PublicKey};
use cairn_types::tx::{Msg, PutCondition};
use cairn_types::{Bytes, Text};
use common::*;

const FEE: u64 = 1; // min_fee_per_byte of small_params

fn setup() -> (tempfile::TempDir, cairn_genesis::testnet::Testnet, Store) {
    let net = testnet(7, 3, 4, small_params());
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &net.genesis);
    (dir, net, store)
}

fn transfer(to: &cairn_types::crypto::SigningKey, amount: u64) -> Msg {
    Msg::Transfer {
        to: addr(to),
        amount,
    }
}

#[test]
fn transfer_moves_funds_charges_fee_to_proposer_and_uses_nonce() {
    let (_d, net, store) = setup();
    let (a, b) = (&net.accounts[0], &net.accounts[1]);
    let before_a = store.account(&addr(a)).unwrap();
    let before_b = store.account(&addr(b)).unwrap();
    let t = tx(a, 0, FEE, transfer(b, 500));
    let fee = t.len() as u64;
    let block = next_block(&store, vec![t], vec![]);
    let proposer = block.header.proposer_address;
    let operator = net
        .validators
        .iter()
        .find(|v| addr(&v.consensus) == proposer)
        .map(|v| addr(&v.operator))
        .unwrap();
    let op_before = store.account(&operator).unwrap();
    let ex = store
        .apply_block(&block, &commit_for(&block), Signatures::Verify)
        .unwrap();
    assert_eq!(ex.results[0].code, codes::OK, "{}", ex.results[0].log);
    let ev = &ex.results[0].events;
    assert!(ev.iter().any(|e| {
        e.kind == "transfer"
            && e.attributes
                .contains(&("recipient".into(), addr(b).to_hex()))
    }));
    assert_eq!(
        store.account(&addr(a)).unwrap(),
        Account {
            balance: before_a.balance - 500 - fee,
            nonce: 1
        }
    );
    assert_eq!(
        store.account(&addr(b)).unwrap().balance,
        before_b.balance + 500
    );
    assert_eq!(
        store.account(&operator).unwrap().balance,
        op_before.balance + fee
    );
    // The tx index answers with height, index, bytes and result.
    let stored = store.tx(&ex.tx_hashes[0]).unwrap().unwrap();
    assert_eq!((stored.height, stored.index), (1, 0));
    assert_eq!(stored.result, ex.results[0]);
    assert!(store.supply_audit().unwrap().holds());
}

#[test]
fn nonce_and_fee_failures_have_no_effect_at_all() {
    let (_d, net, store) = setup();
    let (a, b, poor) = (&net.accounts[0], &net.accounts[1], &net.accounts[2]);
    // Drain `poor` completely except 10 units, in block 1.
    let bal = store.account(&addr(poor)).unwrap().balance;
    let t0 = tx(poor, 0, FEE, transfer(a, 1));
    let drain = bal - t0.len() as u64 - 10;
    let t0 = tx(poor, 0, FEE, transfer(a, drain));
    let ex = apply(&store, vec![t0], vec![]);
    assert_eq!(ex.results[0].code, codes::OK);
    let a0 = store.account(&addr(a)).unwrap();
    let p0 = store.account(&addr(poor)).unwrap();
    assert_eq!(p0.balance, 10);

    let wrong_nonce = tx(a, 5, FEE, transfer(b, 1));
    let low_fee = tx_fee(a, 0, 3, transfer(b, 1));
    let cannot_pay = tx(poor, 1, FEE, transfer(b, 1));
    let ex = apply(&store, vec![wrong_nonce, low_fee, cannot_pay], vec![]);
    let got: Vec<u32> = ex.results.iter().map(|r| r.code).collect();
    assert_eq!(
        got,
        vec![codes::BAD_NONCE, codes::FEE_TOO_LOW, codes::CANNOT_PAY_FEE]
    );
    assert!(ex.results.iter().all(|r| !r.log.is_empty()));
    assert_eq!(store.account(&addr(a)).unwrap(), a0);
    assert_eq!(store.account(&addr(poor)).unwrap(), p0);
}

#[test]
fn duplicate_in_one_block_is_a_bad_nonce_and_the_index_keeps_the_first() {
    let (_d, net, store) = setup();
    let (a, b) = (&net.accounts[0], &net.accounts[1]);
    let t = tx(a, 0, FEE, transfer(b, 7));
    let ex = apply(&store, vec![t.clone(), t.clone()], vec![]);
    assert_eq!(ex.results[0].code, codes::OK);
    assert_eq!(ex.results[1].code, codes::BAD_NONCE);
    assert_eq!(store.account(&addr(a)).unwrap().nonce, 1);
    let loc = store.tx_location(&ex.tx_hashes[0]).unwrap().unwrap();
    assert_eq!((loc.index, loc.result.code), (0, codes::OK));
    // A replay in a later block fails too and does not overwrite the record.
    let ex2 = apply(&store, vec![t], vec![]);
    assert_eq!(ex2.results[0].code, codes::BAD_NONCE);
    let loc = store.tx_location(&ex.tx_hashes[0]).unwrap().unwrap();
    assert_eq!((loc.height, loc.result.code), (1, codes::OK));
}

#[test]
fn failed_message_charges_fee_uses_nonce_and_changes_nothing_else() {
    let (_d, net, store) = setup();
    let (a, b) = (&net.accounts[0], &net.accounts[1]);
    let a0 = store.account(&addr(a)).unwrap();
    let b0 = store.account(&addr(b)).unwrap();
    let t = tx(a, 0, FEE, transfer(b, a0.balance)); // fee makes this unaffordable
    let fee = t.len() as u64;
    let ex = apply(&store, vec![t], vec![]);
    assert_eq!(ex.results[0].code, codes::INSUFFICIENT_FUNDS);
    assert_eq!(
        store.account(&addr(a)).unwrap(),
        Account {
            balance: a0.balance - fee,
            nonce: 1
        }
    );
    assert_eq!(store.account(&addr(b)).unwrap(), b0);
}

#[test]
fn put_compare_and_set_and_size_caps() {
    let (_d, net, store) = setup();
    let a = &net.accounts[0];
    let put = |nonce, key: &[u8], value: &[u8], condition| {
        tx(
            a,
            nonce,
            FEE,
            Msg::Put {
                key: Bytes(key.to_vec()),
                value: Bytes(value.to_vec()),
                condition,
            },
        )
    };
    let ex = apply(
        &store,
        vec![
            put(0, b"k", b"v1", PutCondition::Absent),
            put(1, b"k", b"v2", PutCondition::Absent),
            put(2, b"k", b"v3", PutCondition::Equals(Bytes(b"v1".to_vec()))),
            put(3, b"k", b"v4", PutCondition::Equals(Bytes(b"v1".to_vec()))),
            put(4, &[7; 17], b"x", PutCondition::Always),
            put(5, b"big", &[0; 65], PutCondition::Always),
            put(6, b"", b"x", PutCondition::Always),
        ],
        vec![],
    );
    let got: Vec<u32> = ex.results.iter().map(|r| r.code).collect();
    assert_eq!(
        got,
        vec![
            codes::OK,
            codes::CONDITION_FAILED,
            codes::OK,
            codes::CONDITION_FAILED,
            codes::INVALID_MSG,
            codes::INVALID_MSG,
            codes::INVALID_MSG
        ]
    );
    assert_eq!(
        store.put_value(&addr(a), b"k").unwrap(),
        Some(b"v3".to_vec())
    );
    assert_eq!(store.account(&addr(a)).unwrap().nonce, 7);
}

#[test]
fn validator_lifecycle_permission_creation_rotation_at_h_plus_2() {
    let (_d, net, store) = setup();
    let op = &net.accounts[0];
    let outsider = &net.accounts[1];
    let cons = cairn_types::crypto::SigningKey::from_seed([42; 32]);
    let create = |nonce| {
        tx(
            op,
            nonce,
            FEE,
            Msg::CreateValidator {
                consensus_key: cons.public_key(),
                node_id: NodeId([9; 20]),
                moniker: Text::from("new"),
                self_stake: 30_000_000,
            },
        )
    };
    let ex = apply(
        &store,
        vec![
            create(0),
            tx(
                outsider,
                0,
                FEE,
                Msg::PermitValidator { operator: addr(op) },
            ),
        ],
        vec![],
    );
    assert_eq!(ex.results[0].code, codes::UNAUTHORIZED);
    assert_eq!(ex.results[1].code, codes::UNAUTHORIZED);
    let ex = apply(
        &store,
        vec![tx(
            &net.admin,
            0,
            FEE,
            Msg::PermitValidator { operator: addr(op) },
        )],
        vec![],
    );
    assert_eq!(ex.results[0].code, codes::OK);
    // A small-order consensus key is refused (the identity point).
    let mut small = [0u8; 32];
    small[0] = 1;
    let bad = tx(
        op,
        1,
        FEE,
        Msg::CreateValidator {
            consensus_key: PublicKey(small),
            node_id: NodeId([9; 20]),
            moniker: Text::from("bad"),
            self_stake: 30_000_000,
        },
    );
    let ex = apply(&store, vec![bad, create(2)], vec![]);
    assert_eq!(
        ex.results[0].code,
        codes::INVALID_MSG,
        "{}",
        ex.results[0].log
    );
    assert_eq!(ex.results[1].code, codes::OK, "{}", ex.results[1].log);
    let h = ex.height;
    let ca = cons.public_key().address();
    assert_eq!(ex.validator_updates, vec![(cons.public_key(), 30)]);
    assert!(
        store
            .validators_at(h + 1)
            .unwrap()
            .unwrap()
            .get(&ca)
            .is_none()
    );
    let set = store.validators_at(h + 2).unwrap().unwrap();
    assert_eq!(set.get(&ca).map(|v| v.power), Some(30));
    assert_eq!(ex.validators_after_next, set);
    // Revoking the permission removes it from the set two heights later.
    let ex = apply(
        &store,
        vec![tx(
            &net.admin,
            1,
            FEE,
            Msg::RevokeValidator { operator: addr(op) },
        )],
        vec![],
    );
    assert_eq!(ex.validator_updates, vec![(cons.public_key(), 0)]);
    assert!(
        store
            .validators_at(ex.height + 2)
            .unwrap()
            .unwrap()
            .get(&ca)
            .is_none()
    );
    assert!(
        store
            .validators_at(ex.height + 1)
            .unwrap()
            .unwrap()
            .get(&ca)
            .is_some()
    );
}

#[test]
fn delegation_unbonding_and_self_stake_jail() {
    let (_d, net, store) = setup();
    let del = &net.accounts[0];
    let v = &net.validators[0];
    let op = addr(&v.operator);
    let d0 = store.account(&addr(del)).unwrap().balance;
    let t1 = tx(
        del,
        0,
        FEE,
        Msg::Delegate {
            validator: op,
            amount: 5_000_000,
        },
    );
    let f1 = t1.len() as u64;
    let ex = apply(&store, vec![t1], vec![]);
    assert_eq!(ex.results[0].code, codes::OK);
    assert_eq!(store.validator(&op).unwrap().unwrap().tokens, 15_000_000);
    // Power 15 at H+2.
    let ca = addr(&v.consensus);
    assert_eq!(
        store
            .validators_at(ex.height + 2)
            .unwrap()
            .unwrap()
            .get(&ca)
            .unwrap()
            .power,
        15
    );
    let t2 = tx(
        del,
        1,
        FEE,
        Msg::Undelegate {
            validator: op,
            amount: 2_000_000,
        },
    );
    let f2 = t2.len() as u64;
    let ex = apply(&store, vec![t2], vec![]);
    assert_eq!(ex.results[0].code, codes::OK);
    let completion = ex.height + small_params().app.unbonding_blocks;
    let entries = store.unbondings_of(&addr(del)).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].completion_height, entries[0].balance),
        (completion, 2_000_000)
    );
    while store.latest_height().unwrap() < completion - 1 {
        apply(&store, vec![], vec![]);
    }
    assert_eq!(
        store.account(&addr(del)).unwrap().balance,
        d0 - 5_000_000 - f1 - f2
    );
    apply(&store, vec![], vec![]);
    assert_eq!(
        store.account(&addr(del)).unwrap().balance,
        d0 - 3_000_000 - f1 - f2
    );
    assert!(store.unbondings_of(&addr(del)).unwrap().is_empty());
    assert!(store.supply_audit().unwrap().holds());
    // The operator undelegating below min self stake is jailed, then can unjail after re-bonding.
    let t = tx(
        &v.operator,
        0,
        FEE,
        Msg::Undelegate {
            validator: op,
            amount: 9_500_000,
        },
    );
    let ex = apply(&store, vec![t], vec![]);
    assert_eq!(ex.results[0].code, codes::OK);
    assert!(store.validator(&op).unwrap().unwrap().jailed);
    assert!(
        ex.validator_updates
            .contains(&(v.consensus.public_key(), 0))
    );
    let ex = apply(&store, vec![tx(&v.operator, 1, FEE, Msg::Unjail)], vec![]);
    assert_eq!(ex.results[0].code, codes::VALIDATOR_STATE);
    let ex = apply(
        &store,
        vec![
            tx(
                &v.operator,
                2,
                FEE,
                Msg::Delegate {
                    validator: op,
                    amount: 1_000_000,
                },
            ),
            tx(&v.operator, 3, FEE, Msg::Unjail),
        ],
        vec![],
    );
    assert_eq!(ex.results[1].code, codes::OK, "{}", ex.results[1].log);
    assert!(!store.validator(&op).unwrap().unwrap().jailed);
}

#[test]
fn double_sign_slashes_pool_and_later_unbonding_then_tombstones() {
    let (_d, net, store) = setup();
    let del = &net.accounts[0];
    let v = &net.validators[1];
    let op = addr(&v.operator);
    // Block 1: delegate 10M (pool 20M). Block 2: undelegate 2M (before the infraction at 3).
    apply(
        &store,
        vec![tx(
            del,
            0,
            FEE,
            Msg::Delegate {
                validator: op,
                amount: 10_000_000,
            },
        )],
        vec![],
    );
    apply(
        &store,
        vec![tx(
            del,
            1,
            FEE,
            Msg::Undelegate {
                validator: op,
                amount: 2_000_000,
            },
        )],
        vec![],
    );
    apply(&store, vec![], vec![]); // block 3: the infraction height
    // Block 4: undelegate 4M after the infraction.
    apply(
        &store,
        vec![tx(
            del,
            2,
            FEE,
            Msg::Undelegate {
                validator: op,
                amount: 4_000_000,
            },
        )],
        vec![],
    );
    let rec = store.validator(&op).unwrap().unwrap();
    assert_eq!(rec.tokens, 14_000_000);
    let audit0 = store.supply_audit().unwrap();
    let ev = double_sign(&store, &v.consensus, 3);
    let ex = apply(&store, vec![], vec![ev.clone()]);
    assert_eq!(ex.evidence[0].log, "ok");
    // 5% of 14M pool + 5% of the 4M entry; the 2M entry from before is untouched.
    assert_eq!(ex.evidence[0].slashed, 700_000 + 200_000);
    let rec = store.validator(&op).unwrap().unwrap();
    assert_eq!(rec.tokens, 13_300_000);
    assert!(rec.jailed && rec.tombstoned);
    let mut balances: Vec<u64> = store
        .unbondings_of(&addr(del))
        .unwrap()
        .iter()
        .map(|e| e.balance)
        .collect();
    balances.sort();
    assert_eq!(balances, vec![2_000_000, 3_800_000]);
    // Delegator and operator lose the same fraction: shares unchanged, tokens down 5%.
    let d = store.delegation(&op, &addr(del)).unwrap().unwrap();
    assert_eq!(rec.tokens_for(d.shares), 3_800_000);
    let audit = store.supply_audit().unwrap();
    assert!(audit.holds());
    assert_eq!(audit.burned, audit0.burned + 900_000);
    assert_eq!(ex.validator_updates, vec![(v.consensus.public_key(), 0)]);
    // The same evidence again is refused: already punished.
    let ex = apply(&store, vec![tx(&v.operator, 0, FEE, Msg::Unjail)], vec![ev]);
    assert_eq!(ex.evidence[0].slashed, 0);
    assert!(
        ex.evidence[0].log.contains("already punished"),
        "{}",
        ex.evidence[0].log
    );
    assert_eq!(ex.results[0].code, codes::VALIDATOR_STATE);
}

#[test]
fn evidence_with_wrong_time_or_too_old_is_ignored() {
    let (_d, net, store) = setup();
    let v = &net.validators[0];
    for _ in 0..3 {
        apply(&store, vec![], vec![]);
    }
    let cairn_types::evidence::Evidence::DuplicateVote(mut dv) =
        double_sign(&store, &v.consensus, 2);
    dv.timestamp = dv.timestamp.plus_millis(1);
    let ex = apply(
        &store,
        vec![],
        vec![cairn_types::evidence::Evidence::DuplicateVote(dv)],
    );
    assert_eq!(ex.evidence[0].slashed, 0);
    assert!(!store.validator(&addr(&v.operator)).unwrap().unwrap().jailed);
    // Age: 8 blocks and 8 s; one block per second, so at height 12 evidence from 2 is too old.
    let ev = double_sign(&store, &v.consensus, 2);
    while store.latest_height().unwrap() < 11 {
        apply(&store, vec![], vec![]);
    }
    let ex = apply(&store, vec![], vec![ev]);
    assert_eq!(ex.evidence[0].slashed, 0, "{}", ex.evidence[0].log);
    assert!(
        ex.evidence[0].log.contains("too old"),
        "{}",
        ex.evidence[0].log
    );
}

#[test]
fn update_params_validates_and_takes_effect_next_height() {
    let (_d, net, store) = setup();
    let mut bad = small_params();
    bad.app.unbonding_blocks = bad.consensus.evidence_max_age_blocks;
    let mut good = small_params();
    good.app.min_fee_per_byte = 2;
    good.consensus.tx_max_bytes = 10_000;
    let ex = apply(
        &store,
        vec![
            tx(&net.admin, 0, FEE, Msg::UpdateParams { params: bad }),
            tx(
                &net.accounts[0],
                0,
                FEE,
                Msg::UpdateParams {
                    params: good.clone(),
                },
            ),
            tx(
                &net.admin,
                1,
                FEE,
                Msg::UpdateParams {
                    params: good.clone(),
                },
            ),
        ],
        vec![],
    );
    let got: Vec<u32> = ex.results.iter().map(|r| r.code).collect();
    assert_eq!(
        got,
        vec![codes::INVALID_PARAMS, codes::UNAUTHORIZED, codes::OK]
    );
    assert_eq!(store.params_at(ex.height).unwrap().unwrap(), small_params());
    assert_eq!(store.params_at(ex.height + 1).unwrap().unwrap(), good);
    // The minimum fee doubled: a tx paying 1 per byte is now refused without effect.
    // accounts[0] used nonce 0 on the refused UpdateParams (fee charged, nonce used).
    let ex = apply(
        &store,
        vec![tx(&net.accounts[0], 1, 1, transfer(&net.accounts[1], 1))],
        vec![],
    );
    assert_eq!(ex.results[0].code, codes::FEE_TOO_LOW);
    let ex = apply(
        &store,
        vec![tx(&net.accounts[0], 1, 2, transfer(&net.accounts[1], 1))],
        vec![],
    );
    assert_eq!(ex.results[0].code, codes::OK);
}

#[test]
fn undecodable_and_foreign_chain_txs_get_a_code_and_no_effect() {
    let (_d, net, store) = setup();
    let a = &net.accounts[0];
    let foreign = {
        let body = cairn_types::tx::TxBody {
            chain_id: "other".into(),
            sender: a.public_key(),
            nonce: 0,
            fee: 1_000,
            msg: transfer(&net.accounts[1], 1),
        };
        Bytes(cairn_types::Tx::sign(body, a).to_bytes())
    };
    let mut forged = tx(a, 0, FEE, transfer(&net.accounts[1], 1));
    let n = forged.0.len();
    forged.0[n - 1] ^= 1; // break the signature
    let a0 = store.account(&addr(a)).unwrap();
    let ex = apply(&store, vec![Bytes(vec![1, 2, 3]), foreign, forged], vec![]);
    let got: Vec<u32> = ex.results.iter().map(|r| r.code).collect();
    assert_eq!(
        got,
        vec![codes::DECODE, codes::DECODE, codes::BAD_SIGNATURE]
    );
    assert_eq!(store.account(&addr(a)).unwrap(), a0);
}

#[test]
fn blocks_that_do_not_extend_the_store_are_refused_and_change_nothing() {
    let (_d, net, store) = setup();
    let mut block = next_block(&store, vec![], vec![]);
    block.header.app_hash = cairn_types::Hash([9; 32]);
    let err = store
        .execute_block(&block, Signatures::Trusted)
        .unwrap_err();
    assert!(err.is_bad_block(), "{err}");
    assert!(err.to_string().contains("app_hash"), "{err}");
    let good = next_block(
        &store,
        vec![tx(&net.accounts[0], 0, FEE, transfer(&net.accounts[1], 1))],
        vec![],
    );
    let ex = store.execute_block(&good, Signatures::Trusted).unwrap();
    // A stale execution cannot be committed once the store moved on.
    let other = next_block(&store, vec![], vec![]);
    store
        .apply_block(&other, &commit_for(&other), Signatures::Trusted)
        .unwrap();
    let err = store.commit(&good, &commit_for(&good), ex).unwrap_err();
    assert!(matches!(err, StateError::StaleExecution { .. }), "{err}");
    assert!(store.block(1).unwrap().unwrap() == other);
}

#[test]
fn genesis_mismatch_is_refused_and_reopen_keeps_everything() {
    let (dir, net, store) = setup();
    let ex = apply(
        &store,
        vec![tx(&net.accounts[0], 0, FEE, transfer(&net.accounts[1], 3))],
        vec![],
    );
    let root = store.app_hash().unwrap();
    drop(store);
    let store = open(dir.path(), &net.genesis);
    assert_eq!(store.open_report().height, 1);
    assert_eq!(store.open_report().app_hash, root);
    assert!(!store.open_report().initialized_genesis);
    assert_eq!(
        store.tx(&ex.tx_hashes[0]).unwrap().unwrap().result.code,
        codes::OK
    );
    drop(store);
    let other = testnet(8, 3, 4, small_params());
    match Store::open(dir.path(), &other.genesis, StoreOptions::default()) {
        Err(StateError::GenesisMismatch { .. }) => {}
        other => panic!("expected a genesis mismatch, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn queries_by_state_key_match_typed_reads() {
    let (_d, net, store) = setup();
    let a = &net.accounts[0];
    apply(
        &store,
        vec![tx(a, 0, FEE, transfer(&net.accounts[1], 3))],
        vec![],
    );
    let q = store
        .query(&StateKey::Account(addr(a)), None, false)
        .unwrap();
    let acct: Account = borsh::from_slice(&q.value.unwrap()).unwrap();
    assert_eq!(acct, store.account(&addr(a)).unwrap());
    let q0 = store
        .query(&StateKey::Account(addr(a)), Some(0), false)
        .unwrap();
    let acct0: Account = borsh::from_slice(&q0.value.unwrap()).unwrap();
    assert_eq!(acct0.nonce, 0);
    assert_eq!(q0.root, store.block(1).unwrap().unwrap().header.app_hash);
}
