//! The node's home directory, laid out like CometBFT's:
//!
//! ```text
//! <home>/config/config.toml              local settings (documented defaults)
//! <home>/config/genesis.json             the chain's genesis
//! <home>/config/node_key.json            network identity (0600)
//! <home>/config/priv_validator_key.json  consensus key (0600)
//! <home>/config/operator_key.json        the validator operator's account key (0600), if any
//! <home>/data/priv_validator_state.json  the signing guard's last signed step
//! <home>/data/                           RocksDB and the consensus WAL
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_genesis::keys::{AccountKeyFile, NodeKeyFile, ValidatorKeyFile};
use cairn_genesis::testnet::{self, TestnetSpec};
use cairn_genesis::{GenesisAccount, GenesisDoc, GenesisValidator, validate_chain_id};
use cairn_types::crypto::SigningKey;
use cairn_types::{ChainParams, Time};
use serde::Serialize;

use crate::config::Config;
use crate::persist::FileGuardStore;

/// Paths inside a home directory.
#[derive(Debug, Clone)]
pub struct Home {
    /// The home directory itself.
    pub root: PathBuf,
}

impl Home {
    /// A home rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// `config/`.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// `data/`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `config/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    /// `config/genesis.json`.
    pub fn genesis_file(&self) -> PathBuf {
        self.config_dir().join("genesis.json")
    }

    /// `config/node_key.json`.
    pub fn node_key_file(&self) -> PathBuf {
        self.config_dir().join("node_key.json")
    }

    /// `config/priv_validator_key.json`.
    pub fn validator_key_file(&self) -> PathBuf {
        self.config_dir().join("priv_validator_key.json")
    }

    /// `config/operator_key.json`.
    pub fn operator_key_file(&self) -> PathBuf {
        self.config_dir().join("operator_key.json")
    }

    /// `data/priv_validator_state.json`.
    pub fn validator_state_file(&self) -> PathBuf {
        self.data_dir().join("priv_validator_state.json")
    }

    /// `keys/`: account keys made by `cairn keys new`.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// Loads and validates the genesis file.
    pub fn load_genesis(&self) -> Result<GenesisDoc> {
        let path = self.genesis_file();
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        GenesisDoc::from_json(&text).with_context(|| format!("{}", path.display()))
    }

    /// Refuses to touch a home that already holds files.
    fn ensure_fresh(&self) -> Result<()> {
        if let Ok(mut entries) = fs::read_dir(&self.root)
            && entries.next().is_some()
        {
            bail!(
                "{} already exists and is not empty; refusing to overwrite it (pass --overwrite to replace it, or choose another --home)",
                self.root.display()
            );
        }
        Ok(())
    }

    /// Writes every file of a node home; nothing is written if the home is not empty.
    fn write(&self, files: &HomeFiles<'_>) -> Result<()> {
        fs::create_dir_all(self.config_dir())?;
        fs::create_dir_all(self.data_dir())?;
        fs::write(self.config_file(), files.config.to_documented_toml())?;
        fs::write(self.genesis_file(), files.genesis.to_json())?;
        NodeKeyFile::new(files.node_key).write(&self.node_key_file())?;
        ValidatorKeyFile::new(files.validator_key).write(&self.validator_key_file())?;
        if let Some(op) = files.operator_key {
            AccountKeyFile::new("operator", op).write(&self.operator_key_file())?;
        }
        FileGuardStore::new(self.validator_state_file()).reset()?;
        Ok(())
    }
}

/// What one home holds.
struct HomeFiles<'a> {
    config: &'a Config,
    genesis: &'a GenesisDoc,
    node_key: &'a SigningKey,
    validator_key: &'a SigningKey,
    operator_key: Option<&'a SigningKey>,
}

/// Removes `dir` when `overwrite` is set, otherwise refuses a non-empty `dir`.
fn prepare(home: &Home, overwrite: bool) -> Result<()> {
    if overwrite && home.root.exists() {
        fs::remove_dir_all(&home.root)
            .with_context(|| format!("removing {}", home.root.display()))?;
    }
    home.ensure_fresh()
}

/// Current time as genesis time (whole milliseconds).
pub fn now() -> Time {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Time(0).plus_millis(ms)
}

/// `cairn init`: a single-validator home with its own genesis.
pub fn init(home: &Home, moniker: &str, chain_id: &str, overwrite: bool) -> Result<()> {
    validate_chain_id(chain_id)?;
    prepare(home, overwrite)?;
    let mut rng = rand::rng();
    let node_key = SigningKey::generate(&mut rng);
    let validator_key = SigningKey::generate(&mut rng);
    let operator = SigningKey::generate(&mut rng);
    let params = ChainParams::default();
    let stake = testnet::VALIDATOR_POWER * params.app.power_unit;
    let genesis = GenesisDoc {
        genesis_time: now(),
        chain_id: chain_id.to_owned(),
        initial_height: 1,
        params,
        validators: vec![GenesisValidator {
            name: moniker.to_owned(),
            pub_key: validator_key.public_key(),
            node_id: node_key.public_key().node_id(),
            operator: operator.public_key().address(),
            self_stake: stake,
        }],
        accounts: vec![GenesisAccount {
            address: operator.public_key().address(),
            balance: stake + testnet::ACCOUNT_BALANCE,
        }],
        admins: vec![operator.public_key().address()],
    };
    genesis.validate()?;
    let config = Config {
        moniker: moniker.to_owned(),
        ..Config::default()
    };
    home.write(&HomeFiles {
        config: &config,
        genesis: &genesis,
        node_key: &node_key,
        validator_key: &validator_key,
        operator_key: Some(&operator),
    })
}

/// Options of `cairn testnet`.
#[derive(Debug, Clone)]
pub struct TestnetOptions {
    /// Output directory.
    pub output: PathBuf,
    /// Validators.
    pub validators: usize,
    /// Non-validator nodes.
    pub full_nodes: usize,
    /// Funded test accounts.
    pub accounts: usize,
    /// Chain id.
    pub chain_id: String,
    /// Port of node 0's p2p listener; node i uses P+10i (p2p) and P+10i+1 (RPC).
    pub starting_port: u16,
    /// Replace an existing output directory.
    pub overwrite: bool,
}

/// One line of `nodes.json`.
#[derive(Debug, Serialize)]
pub struct NodeEntry {
    /// The node's name.
    pub moniker: String,
    /// Absolute path of its home.
    pub home: String,
    /// 40 lowercase hex.
    pub node_id: String,
    /// Uppercase hex, or null for a full node.
    pub validator_address: Option<String>,
    /// `node_id@127.0.0.1:port`.
    pub p2p_address: String,
    /// `http://127.0.0.1:port`.
    pub rpc_url: String,
}

/// `DIR/nodes.json`: what scripts and tests read instead of guessing ports.
#[derive(Debug, Serialize)]
pub struct NodesFile {
    /// The chain id.
    pub chain_id: String,
    /// Validators first, then full nodes.
    pub nodes: Vec<NodeEntry>,
}

/// `cairn testnet`: N validator homes and F full-node homes that list each
/// other as persistent peers on 127.0.0.1, K funded accounts and nodes.json.
pub fn testnet(opts: &TestnetOptions) -> Result<NodesFile> {
    validate_chain_id(&opts.chain_id)?;
    if opts.validators == 0 {
        bail!("--validators must be at least 1");
    }
    let total = opts.validators + opts.full_nodes;
    let last_port = u32::from(opts.starting_port) + 10 * (total as u32 - 1) + 1;
    if last_port > u32::from(u16::MAX) {
        bail!(
            "--starting-port {} leaves no room for {total} nodes (node i uses P+10i and P+10i+1)",
            opts.starting_port
        );
    }
    let out = Home::new(&opts.output);
    prepare(&out, opts.overwrite)?;
    fs::create_dir_all(&opts.output)?;
    let output = fs::canonicalize(&opts.output)?;

    let spec = TestnetSpec {
        chain_id: opts.chain_id.clone(),
        validators: opts.validators,
        full_nodes: opts.full_nodes,
        accounts: opts.accounts,
        genesis_time: now(),
        params: ChainParams::default(),
    };
    let net = testnet::generate(&spec, &mut rand::rng())?;

    let node_keys: Vec<&SigningKey> = net
        .validators
        .iter()
        .map(|v| &v.node)
        .chain(net.full_nodes.iter())
        .collect();
    let port = |i: usize, offset: u16| opts.starting_port + 10 * i as u16 + offset;
    let p2p_addresses: Vec<String> = node_keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{}@127.0.0.1:{}", k.public_key().node_id(), port(i, 0)))
        .collect();

    let mut nodes = Vec::new();
    let mut rng = rand::rng();
    for (i, node_key) in node_keys.iter().enumerate() {
        let validator = net.validators.get(i);
        let moniker = validator.map_or_else(
            || format!("fullnode{}", i - opts.validators),
            |v| v.moniker.clone(),
        );
        let home = Home::new(output.join(format!("node{i}")));
        let mut config = Config {
            moniker: moniker.clone(),
            ..Config::default()
        };
        config.p2p.listen_address = format!("127.0.0.1:{}", port(i, 0));
        config.rpc.listen_address = format!("127.0.0.1:{}", port(i, 1));
        config.p2p.persistent_peers = p2p_addresses
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.clone())
            .collect();
        // A full node gets a consensus key of its own that no validator set holds.
        let spare;
        let validator_key = match validator {
            Some(v) => &v.consensus,
            None => {
                spare = SigningKey::generate(&mut rng);
                &spare
            }
        };
        home.write(&HomeFiles {
            config: &config,
            genesis: &net.genesis,
            node_key,
            validator_key,
            operator_key: validator.map(|v| &v.operator),
        })?;
        nodes.push(NodeEntry {
            moniker,
            home: home.root.display().to_string(),
            node_id: node_key.public_key().node_id().to_hex(),
            validator_address: validator.map(|v| v.consensus.public_key().address().to_hex()),
            p2p_address: p2p_addresses[i].clone(),
            rpc_url: format!("http://127.0.0.1:{}", port(i, 1)),
        });
    }

    let accounts_dir = output.join("accounts");
    fs::create_dir_all(&accounts_dir)?;
    for (i, k) in net.accounts.iter().enumerate() {
        let name = format!("account{i}");
        AccountKeyFile::new(&name, k).write(&accounts_dir.join(format!("{name}.json")))?;
    }
    AccountKeyFile::new("admin", &net.admin).write(&accounts_dir.join("admin.json"))?;
    for (i, v) in net.validators.iter().enumerate() {
        let name = format!("operator{i}");
        AccountKeyFile::new(&name, &v.operator)
            .write(&accounts_dir.join(format!("{name}.json")))?;
    }

    let file = NodesFile {
        chain_id: opts.chain_id.clone(),
        nodes,
    };
    fs::write(
        output.join("nodes.json"),
        serde_json::to_string_pretty(&file)?,
    )?;
    Ok(file)
}

/// `cairn keys new NAME`: a new account key under `<home>/keys/NAME.json`.
pub fn keys_new(home: &Home, name: &str) -> Result<AccountKeyFile> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("key name {name:?} must be non-empty and use only [A-Za-z0-9_-]");
    }
    let path = key_path(home, name);
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key",
            path.display()
        );
    }
    fs::create_dir_all(home.keys_dir())?;
    let key = SigningKey::generate(&mut rand::rng());
    let file = AccountKeyFile::new(name, &key);
    file.write(&path)?;
    Ok(file)
}

/// Path of the account key named `name`.
pub fn key_path(home: &Home, name: &str) -> PathBuf {
    home.keys_dir().join(format!("{name}.json"))
}

/// The names of the account keys in `<home>/keys`, sorted.
pub fn keys_list(home: &Home) -> Result<Vec<String>> {
    let dir = home.keys_dir();
    let mut names = Vec::new();
    if !dir.exists() {
        return Ok(names);
    }
    for entry in fs::read_dir(&dir)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "json")
            && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Loads an account key given as a path or as a name under `<home>/keys`.
pub fn load_account_key(home: &Home, name_or_path: &Path) -> Result<(AccountKeyFile, SigningKey)> {
    let path = if name_or_path.exists() {
        name_or_path.to_owned()
    } else {
        key_path(home, &name_or_path.display().to_string())
    };
    Ok(AccountKeyFile::load(&path)?)
}
