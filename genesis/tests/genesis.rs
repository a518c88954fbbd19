//! Genesis validation: one test per error class, each checking that the
//! message names the field at fault; plus JSON round trip, hash and key files.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cairn_genesis::keys::{AccountKeyFile, KeyFileError, NodeKeyFile, ValidatorKeyFile};
use cairn_genesis::testnet::{self, TestnetSpec};
use cairn_genesis::{GenesisAccount, GenesisDoc, GenesisError};
use cairn_types::Time;
use cairn_types::crypto::PublicKey;
use cairn_types::params::ChainParams;
use curve25519_dalek::constants::EIGHT_TORSION;
use rand::SeedableRng;

fn valid() -> GenesisDoc {
    let spec = TestnetSpec {
        chain_id: "cairn-test".into(),
        validators: 4,
        full_nodes: 1,
        accounts: 3,
        genesis_time: Time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        params: ChainParams::default(),
    };
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
    testnet::generate(&spec, &mut rng).unwrap().genesis
}

/// Applies `mutate` to a valid genesis and checks the error and that its message names `field`.
fn refused(mutate: impl FnOnce(&mut GenesisDoc), field: &str) -> GenesisError {
    let mut g = valid();
    mutate(&mut g);
    let e = g.validate().unwrap_err();
    assert!(e.to_string().contains(field), "{e} should name {field}");
    // The same error comes back through the JSON loader.
    assert_eq!(GenesisDoc::from_json(&g.to_json()).unwrap_err(), e);
    e
}

#[test]
fn generated_genesis_is_valid_and_round_trips_through_json() {
    let g = valid();
    g.validate().unwrap();
    let back = GenesisDoc::from_json(&g.to_json()).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.hash(), g.hash());
    assert_eq!(g.validator_set().unwrap().len(), 4);
}

#[test]
fn hash_ignores_json_formatting_and_changes_with_content() {
    let g = valid();
    let compact = serde_json::to_string(&g).unwrap();
    assert_eq!(GenesisDoc::from_json(&compact).unwrap().hash(), g.hash());
    let mut other = g.clone();
    other.accounts[0].balance += 1;
    assert_ne!(other.hash(), g.hash());
}

#[test]
fn bad_chain_id() {
    for bad in ["", "has space", &"x".repeat(51), "bad/slash"] {
        let bad = bad.to_string();
        assert!(matches!(
            refused(|g| g.chain_id = bad, "chain_id"),
            GenesisError::ChainId(_)
        ));
    }
}

#[test]
fn zero_initial_height() {
    assert_eq!(
        refused(|g| g.initial_height = 0, "initial_height"),
        GenesisError::InitialHeight
    );
}

#[test]
fn bad_params() {
    let e = refused(
        |g| g.params.app.unbonding_blocks = 1,
        "params.app.unbonding_blocks",
    );
    assert!(matches!(e, GenesisError::Params(_)));
    refused(
        |g| g.params.consensus.block_max_bytes = 0,
        "params.consensus.block_max_bytes",
    );
}

#[test]
fn empty_validator_set() {
    assert_eq!(
        refused(|g| g.validators.clear(), "validators"),
        GenesisError::NoValidators
    );
}

#[test]
fn too_many_validators() {
    let e = refused(|g| g.params.app.max_validators = 3, "max_validators");
    assert!(matches!(
        e,
        GenesisError::TooManyValidators { count: 4, max: 3 }
    ));
}

#[test]
fn duplicate_validator_key() {
    let e = refused(
        |g| g.validators[2].pub_key = g.validators[0].pub_key,
        "validators[2].pub_key",
    );
    assert!(matches!(
        e,
        GenesisError::DuplicateValidatorKey { index: 2, first: 0 }
    ));
}

#[test]
fn duplicate_node_id() {
    let e = refused(
        |g| g.validators[3].node_id = g.validators[1].node_id,
        "validators[3].node_id",
    );
    assert!(matches!(
        e,
        GenesisError::DuplicateNodeId { index: 3, first: 1 }
    ));
}

#[test]
fn duplicate_operator() {
    let e = refused(
        |g| g.validators[1].operator = g.validators[0].operator,
        "validators[1].operator",
    );
    assert!(matches!(
        e,
        GenesisError::DuplicateOperator {
            index: 1,
            first: 0,
            ..
        }
    ));
}

#[test]
fn small_order_validator_key() {
    let e = refused(
        |g| g.validators[1].pub_key = PublicKey(EIGHT_TORSION[3].compress().0),
        "validators[1].pub_key",
    );
    assert!(matches!(e, GenesisError::BadValidatorKey { index: 1, .. }));
}

#[test]
fn zero_stake() {
    assert_eq!(
        refused(
            |g| g.validators[0].self_stake = 0,
            "validators[0].self_stake"
        ),
        GenesisError::ZeroStake { index: 0 }
    );
}

#[test]
fn stake_below_minimum() {
    let e = refused(
        |g| g.validators[0].self_stake = g.params.app.min_self_stake - 1,
        "validators[0].self_stake",
    );
    assert!(matches!(
        e,
        GenesisError::StakeBelowMinimum { index: 0, .. }
    ));
}

#[test]
fn stake_above_balance() {
    let e = refused(
        |g| {
            let op = g.validators[1].operator;
            let acct = g.accounts.iter_mut().find(|a| a.address == op).unwrap();
            acct.balance = g.validators[1].self_stake - 1;
        },
        "validators[1].self_stake",
    );
    assert!(matches!(
        e,
        GenesisError::StakeAboveBalance { index: 1, .. }
    ));
}

#[test]
fn operator_without_account() {
    let e = refused(
        |g| {
            let op = g.validators[2].operator;
            g.accounts.retain(|a| a.address != op);
        },
        "validators[2].operator",
    );
    assert!(matches!(
        e,
        GenesisError::OperatorWithoutAccount { index: 2, .. }
    ));
}

#[test]
fn duplicate_account() {
    let e = refused(|g| g.accounts.push(g.accounts[0].clone()), "accounts[");
    assert!(matches!(e, GenesisError::DuplicateAccount { .. }));
}

#[test]
fn supply_overflow() {
    let e = refused(
        |g| {
            g.accounts.push(GenesisAccount {
                address: cairn_types::Address([9; 20]),
                balance: u64::MAX,
            });
        },
        "accounts",
    );
    assert_eq!(e, GenesisError::SupplyOverflow);
}

#[test]
fn unknown_and_duplicate_admin() {
    let e = refused(
        |g| g.admins.push(cairn_types::Address([7; 20])),
        "admins[1]",
    );
    assert!(matches!(e, GenesisError::UnknownAdmin { index: 1, .. }));
    let e = refused(|g| g.admins.push(g.admins[0]), "admins[1]");
    assert!(matches!(e, GenesisError::DuplicateAdmin { index: 1, .. }));
}

#[test]
fn malformed_json_and_unknown_fields() {
    assert!(matches!(
        GenesisDoc::from_json("{"),
        Err(GenesisError::Json(_))
    ));
    let g = valid();
    let mut v: serde_json::Value = serde_json::from_str(&g.to_json()).unwrap();
    v["surprise"] = serde_json::json!(1);
    let e = GenesisDoc::from_json(&v.to_string()).unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
}

#[test]
fn key_files_round_trip_with_mode_0600_and_refuse_loose_modes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = cairn_types::SigningKey::from_seed([5; 32]);

    let pv = dir.path().join("priv_validator_key.json");
    ValidatorKeyFile::new(&key).write(&pv).unwrap();
    assert_eq!(
        std::fs::metadata(&pv).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        ValidatorKeyFile::load(&pv).unwrap().public_key(),
        key.public_key()
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pv).unwrap()).unwrap();
    assert_eq!(json["pub_key"]["type"], "tendermint/PubKeyEd25519");
    assert_eq!(json["priv_key"]["type"], "tendermint/PrivKeyEd25519");
    assert_eq!(json["address"], key.public_key().address().to_hex());

    let nk = dir.path().join("node_key.json");
    NodeKeyFile::new(&key).write(&nk).unwrap();
    assert_eq!(
        NodeKeyFile::load(&nk).unwrap().public_key(),
        key.public_key()
    );

    let ak = dir.path().join("alice.json");
    AccountKeyFile::new("alice", &key).write(&ak).unwrap();
    let (file, loaded) = AccountKeyFile::load(&ak).unwrap();
    assert_eq!(
        (file.name.as_str(), loaded.public_key()),
        ("alice", key.public_key())
    );

    std::fs::set_permissions(&pv, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        ValidatorKeyFile::load(&pv),
        Err(KeyFileError::Permissions { .. })
    ));
}

#[test]
fn tampered_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = cairn_types::SigningKey::from_seed([6; 32]);
    let other = cairn_types::SigningKey::from_seed([8; 32]);
    let pv = dir.path().join("priv_validator_key.json");
    ValidatorKeyFile::new(&key).write(&pv).unwrap();
    let text = std::fs::read_to_string(&pv).unwrap();
    let forged = text.replace(
        &key.public_key().address().to_hex(),
        &other.public_key().address().to_hex(),
    );
    cairn_genesis::keys::write_secret(&pv, &forged).unwrap();
    assert!(matches!(
        ValidatorKeyFile::load(&pv),
        Err(KeyFileError::Format { .. })
    ));
}
