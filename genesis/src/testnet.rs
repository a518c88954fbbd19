//! Keys and genesis for a local test network.
//!
//! Key generation takes the random number generator as an argument, so the
//! binary passes the system's and tests pass a seeded one.

use cairn_types::Time;
use cairn_types::crypto::SigningKey;
use cairn_types::params::ChainParams;

use crate::doc::{GenesisAccount, GenesisDoc, GenesisError, GenesisValidator};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TestnetSpec {
    /// Chain id.
    pub chain_id: String,
    /// Number of validators.
    pub validators: usize,
    /// Number of non-validator nodes.
    pub full_nodes: usize,
    /// Number of funded test accounts.
    pub accounts: usize,
    /// Genesis time.
    pub genesis_time: Time,
    /// Chain parameters.
    pub params: ChainParams,
}

/// Stake each test validator bonds, in power units.
pub const VALIDATOR_POWER: u64 = 10;
/// Balance of each test account and admin, in base units.
pub const ACCOUNT_BALANCE: u64 = 1_000_000_000_000;

/// The keys of one validator.
#[derive(Debug, Clone)]
pub struct ValidatorKeys {
    /// Its name (`validator0`, ...).
    pub moniker: String,
    /// Signs votes and proposals.
    pub consensus: SigningKey,
    /// Identifies the node on the network.
    pub node: SigningKey,
    /// Owns the stake (account key).
    pub operator: SigningKey,
}

/// Everything a test network needs besides the per-node configuration.
#[derive(Debug, Clone)]
pub struct Testnet {
    /// The shared genesis.
    pub genesis: GenesisDoc,
    /// Validators, in the order of `genesis.validators`.
    pub validators: Vec<ValidatorKeys>,
    /// Node keys of the full nodes.
    pub full_nodes: Vec<SigningKey>,
    /// Funded test accounts.
    pub accounts: Vec<SigningKey>,
    /// The admin account.
    pub admin: SigningKey,
}

/// Generates keys and a validated genesis for `spec`.
pub fn generate<R: rand_core::CryptoRng + ?Sized>(
    spec: &TestnetSpec,
    rng: &mut R,
) -> Result<Testnet, GenesisError> {
    let stake = VALIDATOR_POWER * spec.params.app.power_unit;
    let validators: Vec<ValidatorKeys> = (0..spec.validators)
        .map(|i| ValidatorKeys {
            moniker: format!("validator{i}"),
            consensus: SigningKey::generate(rng),
            node: SigningKey::generate(rng),
            operator: SigningKey::generate(rng),
        })
        .collect();
    let full_nodes = (0..spec.full_nodes)
        .map(|_| SigningKey::generate(rng))
        .collect();
    let accounts: Vec<SigningKey> = (0..spec.accounts)
        .map(|_| SigningKey::generate(rng))
        .collect();
    let admin = SigningKey::generate(rng);

    let mut genesis_accounts: Vec<GenesisAccount> = validators
        .iter()
        .map(|v| GenesisAccount {
            address: v.operator.public_key().address(),
            balance: stake + ACCOUNT_BALANCE,
        })
        .collect();
    genesis_accounts.extend(accounts.iter().chain(std::iter::once(&admin)).map(|k| {
        GenesisAccount {
            address: k.public_key().address(),
            balance: ACCOUNT_BALANCE,
        }
    }));
    let genesis = GenesisDoc {
        genesis_time: spec.genesis_time,
        chain_id: spec.chain_id.clone(),
        initial_height: 1,
        params: spec.params.clone(),
        validators: validators
            .iter()
            .map(|v| GenesisValidator {
                name: v.moniker.clone(),
                pub_key: v.consensus.public_key(),
                node_id: v.node.public_key().node_id(),
                operator: v.operator.public_key().address(),
                self_stake: stake,
            })
            .collect(),
        accounts: genesis_accounts,
        admins: vec![admin.public_key().address()],
    };
    genesis.validate()?;
    Ok(Testnet {
        genesis,
        validators,
        full_nodes,
        accounts,
        admin,
    })
}
