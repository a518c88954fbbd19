//! Pinned fixtures: a fixed genesis and block sequence with their expected
//! app hashes, results hashes and tx-result encodings checked in. Any change
//! in execution or encoding fails here, loudly. After an *intended* change,
//! regenerate with `CAIRN_BLESS=1 cargo test --release -p cairn-state --test fixtures`
//! and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_genesis::testnet::{Testnet, ValidatorKeys};
use cairn_genesis::{GenesisAccount, GenesisDoc, GenesisValidator};
use cairn_state::Signatures;
use cairn_types::crypto::SigningKey;
use cairn_types::{Hash, Time};
use common::scenario::{Actors, random_block, rng};
use common::*;

const FIXTURE: &str = "tests/fixtures/app_hashes.txt";

/// A genesis built from fixed seeds only (independent of testnet generation).
fn fixed_net() -> Testnet {
    let key = |tag: u8, i: u8| SigningKey::from_seed([tag.wrapping_mul(16).wrapping_add(i); 32]);
    let validators: Vec<ValidatorKeys> = (0..3u8)
        .map(|i| ValidatorKeys {
            moniker: format!("v{i}"),
            consensus: key(1, i),
            node: key(2, i),
            operator: key(3, i),
        })
        .collect();
    let accounts: Vec<SigningKey> = (0..6u8).map(|i| key(4, i)).collect();
    let admin = key(5, 0);
    let params = small_params();
    let stake = 10 * params.app.power_unit;
    let mut gaccounts: Vec<GenesisAccount> = validators
        .iter()
        .map(|v| GenesisAccount {
            address: addr(&v.operator),
            balance: stake + 5_000_000_000,
        })
        .collect();
    gaccounts.extend(accounts.iter().chain([&admin]).map(|k| GenesisAccount {
        address: addr(k),
        balance: 1_000_000_000_000,
    }));
    let genesis = GenesisDoc {
        genesis_time: Time(1_800_000_000_000_000_000),
        chain_id: CHAIN.into(),
        initial_height: 1,
        params,
        validators: validators
            .iter()
            .map(|v| GenesisValidator {
                name: v.moniker.clone(),
                pub_key: v.consensus.public_key(),
                node_id: v.node.public_key().node_id(),
                operator: addr(&v.operator),
                self_stake: stake,
            })
            .collect(),
        accounts: gaccounts,
        admins: vec![addr(&admin)],
    };
    genesis.validate().unwrap();
    Testnet {
        genesis,
        validators,
        full_nodes: vec![],
        accounts,
        admin,
    }
}

fn compute() -> String {
    let net = fixed_net();
    let actors = Actors::new(&net);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &net.genesis);
    let mut out = format!("genesis {}\n", store.app_hash().unwrap());
    let mut r = rng(20261122);
    let mut all_results = Vec::new();
    for _ in 0..30 {
        let block = random_block(&store, &actors, &mut r, 20);
        let ex = store
            .apply_block(&block, &commit_for(&block), Signatures::Verify)
            .unwrap();
        out.push_str(&format!(
            "{} app {} results {} block {} updates {}\n",
            ex.height,
            ex.app_hash,
            ex.results_hash(),
            ex.block_id.0,
            ex.validator_updates.len()
        ));
        all_results.extend(cairn_types::codec::encode(&ex.results));
        all_results.extend(cairn_types::codec::encode(&ex.evidence));
    }
    out.push_str(&format!(
        "tx_results_encoding {}\n",
        Hash::digest(&all_results)
    ));
    out
}

#[test]
fn pinned_app_hashes_match() {
    let got = compute();
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::write(FIXTURE, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(FIXTURE)
        .unwrap_or_else(|e| panic!("{FIXTURE}: {e}; generate it with CAIRN_BLESS=1"));
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        assert_eq!(
            w,
            g,
            "fixture line {} changed: execution or encoding is no longer what was pinned \
             (if intended, regenerate with CAIRN_BLESS=1 and review)",
            i + 1
        );
    }
    assert_eq!(
        want.lines().count(),
        got.lines().count(),
        "fixture length changed"
    );
}
