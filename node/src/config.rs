//! `config/config.toml`: the node's local settings (chain-wide rules live in genesis).
//!
//! Every option has a default and a comment in the file `cairn init` writes.
//! Unknown keys are refused with the key named. Any option can be overridden
//! by an environment variable `CAIRN_<SECTION>_<KEY>` (e.g.
//! `CAIRN_RPC_LISTEN_ADDRESS`) or a `--set section.key=value` flag, which
//! wins over the environment.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Human-readable node name.
    pub moniker: String,
    /// Consensus timing.
    pub consensus: ConsensusConfig,
    /// Peer-to-peer networking.
    pub p2p: P2pConfig,
    /// JSON-RPC, explorer and metrics server.
    pub rpc: RpcConfig,
    /// Transaction pool.
    pub mempool: MempoolConfig,
    /// Storage.
    pub storage: StorageConfig,
    /// Logging.
    pub log: LogConfig,
}

/// Consensus timeouts: each grows by its delta every round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// How long to wait for a proposal in round 0, ms.
    pub timeout_propose_ms: u64,
    /// Added to the propose timeout per round, ms.
    pub timeout_propose_delta_ms: u64,
    /// How long to wait after 2/3 prevotes for anything, ms.
    pub timeout_prevote_ms: u64,
    /// Added per round, ms.
    pub timeout_prevote_delta_ms: u64,
    /// How long to wait after 2/3 precommits for anything, ms.
    pub timeout_precommit_ms: u64,
    /// Added per round, ms.
    pub timeout_precommit_delta_ms: u64,
    /// Time from a height's decision to the start of the next height, ms.
    /// As in CometBFT it counts from the decision, so executing and storing
    /// the block happen inside it, not after it.
    pub timeout_commit_ms: u64,
    /// Propose blocks even when the mempool is empty.
    pub create_empty_blocks: bool,
    /// With `create_empty_blocks`, the least time between empty blocks, ms (0: no wait).
    pub create_empty_blocks_interval_ms: u64,
    /// While a round makes no progress, re-broadcast own proposal and votes this often, ms.
    pub rebroadcast_interval_ms: u64,
}

/// Networking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Address to listen on for peers, `host:port`.
    pub listen_address: String,
    /// Peers to stay connected to, as `node_id@host:port`.
    pub persistent_peers: Vec<String>,
    /// Node ids (40 hex) allowed to connect besides validators and persistent peers.
    pub allowed_peers: Vec<String>,
    /// Most connected peers.
    pub max_peers: u32,
}

/// JSON-RPC server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// Address to serve JSON-RPC, the explorer and /metrics on, `host:port`.
    pub listen_address: String,
    /// Largest request body, bytes (larger ones get HTTP 413).
    pub max_body_bytes: u64,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Most requests in one JSON-RPC batch.
    pub max_batch_size: u32,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// How long broadcast_tx_commit waits for the tx to be committed, ms.
    pub timeout_broadcast_tx_commit_ms: u64,
    /// Most websocket clients.
    pub max_subscription_clients: u32,
    /// Most subscriptions per websocket client.
    pub max_subscriptions_per_client: u32,
}

/// Transaction pool limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Most pending transactions.
    pub max_txs: u64,
    /// Most pending bytes.
    pub max_bytes: u64,
    /// Most pending transactions of one sender.
    pub max_txs_per_sender: u64,
    /// Pending transactions older than this many blocks are dropped.
    pub ttl_blocks: u64,
    /// Size of the recently-seen tx hash cache.
    pub cache_size: u64,
}

/// Storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Keep state versions of this many recent heights (0: keep all). Blocks are always kept.
    pub pruning_keep_recent: u64,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `info,cairn_consensus=debug`.
    pub level: String,
    /// `plain` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            moniker: "cairn-node".into(),
            consensus: ConsensusConfig::default(),
            p2p: P2pConfig::default(),
            rpc: RpcConfig::default(),
            mempool: MempoolConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            timeout_propose_ms: 3000,
            timeout_propose_delta_ms: 500,
            timeout_prevote_ms: 1000,
            timeout_prevote_delta_ms: 500,
            timeout_precommit_ms: 1000,
            timeout_precommit_delta_ms: 500,
            timeout_commit_ms: 1000,
            create_empty_blocks: true,
            create_empty_blocks_interval_ms: 0,
            rebroadcast_interval_ms: 1000,
        }
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen_address: "127.0.0.1:26656".into(),
            persistent_peers: Vec::new(),
            allowed_peers: Vec::new(),
            max_peers: 50,
        }
    }
}

/// Default `rpc.max_batch_size`; Cairn's own clients batch this many calls.
pub const DEFAULT_MAX_BATCH_SIZE: u32 = 50;

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            listen_address: "127.0.0.1:26657".into(),
            max_body_bytes: 1024 * 1024,
            max_connections: 900,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            timeout_ms: 10_000,
            timeout_broadcast_tx_commit_ms: 10_000,
            max_subscription_clients: 100,
            max_subscriptions_per_client: 5,
        }
    }
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 50_000,
            max_bytes: 128 * 1024 * 1024,
            max_txs_per_sender: 1_000,
            ttl_blocks: 100,
            cache_size: 100_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "plain".into(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file (with overrides applied) is not a valid configuration.
    #[error("{origin}: {message}")]
    Invalid {
        /// Where the bad value came from.
        origin: String,
        /// What is wrong (names the key).
        message: String,
    },
}

/// One documented option: its TOML path and comment.
const DOCS: &[(&str, &str)] = &[
    ("moniker", "Human-readable name of this node."),
    (
        "consensus.timeout_propose_ms",
        "How long to wait for a proposal in round 0, in ms.",
    ),
    (
        "consensus.timeout_propose_delta_ms",
        "Added to the propose timeout every round, in ms.",
    ),
    (
        "consensus.timeout_prevote_ms",
        "How long to wait after 2/3 prevotes for anything, in ms.",
    ),
    (
        "consensus.timeout_prevote_delta_ms",
        "Added to the prevote timeout every round, in ms.",
    ),
    (
        "consensus.timeout_precommit_ms",
        "How long to wait after 2/3 precommits for anything, in ms.",
    ),
    (
        "consensus.timeout_precommit_delta_ms",
        "Added to the precommit timeout every round, in ms.",
    ),
    (
        "consensus.timeout_commit_ms",
        "From a height's decision to the start of the next height, in ms (block execution counts in it, as in CometBFT).",
    ),
    (
        "consensus.create_empty_blocks",
        "Propose blocks even when there are no transactions.",
    ),
    (
        "consensus.create_empty_blocks_interval_ms",
        "With create_empty_blocks, least time between empty blocks, in ms (0: no wait).",
    ),
    (
        "consensus.rebroadcast_interval_ms",
        "While a round makes no progress, re-send own proposal and votes this often, in ms.",
    ),
    (
        "p2p.listen_address",
        "Address to listen on for peers, host:port.",
    ),
    (
        "p2p.persistent_peers",
        "Peers to stay connected to (redialled with backoff), as \"node_id@host:port\".",
    ),
    (
        "p2p.allowed_peers",
        "Node ids (40 hex digits) allowed to connect besides validators and persistent peers.",
    ),
    ("p2p.max_peers", "Most connected peers."),
    (
        "rpc.listen_address",
        "Address for JSON-RPC, the explorer (/explorer) and metrics (/metrics), host:port.",
    ),
    (
        "rpc.max_body_bytes",
        "Largest request body in bytes; larger requests get HTTP 413.",
    ),
    ("rpc.max_connections", "Most concurrent connections."),
    ("rpc.max_batch_size", "Most requests in one JSON-RPC batch."),
    ("rpc.timeout_ms", "Per-request timeout, in ms."),
    (
        "rpc.timeout_broadcast_tx_commit_ms",
        "How long broadcast_tx_commit waits for the commit, in ms.",
    ),
    ("rpc.max_subscription_clients", "Most websocket clients."),
    (
        "rpc.max_subscriptions_per_client",
        "Most subscriptions per websocket client.",
    ),
    ("mempool.max_txs", "Most pending transactions."),
    ("mempool.max_bytes", "Most pending transaction bytes."),
    (
        "mempool.max_txs_per_sender",
        "Most pending transactions of one sender.",
    ),
    (
        "mempool.ttl_blocks",
        "Pending transactions older than this many blocks are dropped.",
    ),
    (
        "mempool.cache_size",
        "Entries in the recently-seen transaction hash cache.",
    ),
    (
        "storage.pruning_keep_recent",
        "Keep state versions of this many recent heights (0: keep all). Blocks are always kept.",
    ),
    (
        "log.level",
        "Log filter, e.g. \"info\" or \"info,cairn_consensus=debug\".",
    ),
    ("log.format", "Log format: \"plain\" or \"json\"."),
];

fn value_at<'a>(root: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    path.split('.').try_fold(root, |v, k| v.get(k))
}

impl Config {
    /// The file `cairn init` writes: every option, its value and a comment.
    pub fn to_documented_toml(&self) -> String {
        let root = toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()));
        let mut out = String::from(
            "# Cairn node configuration. Every option is listed with its value;\n\
             # any option can be overridden by CAIRN_<SECTION>_<KEY> or --set section.key=value.\n",
        );
        let mut section = "";
        for (path, doc) in DOCS {
            let (sec, key) = path.rsplit_once('.').unwrap_or(("", path));
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            if let Some(v) = value_at(&root, path) {
                out.push_str(&format!("# {doc}\n{key} = {v}\n"));
            }
        }
        out
    }

    /// Loads `path`, then applies environment overrides, then `--set` overrides.
    pub fn load(
        path: &Path,
        env: &[(String, String)],
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), env, sets)
    }

    /// Parses TOML text and applies overrides (see the module docs).
    pub fn parse(
        text: &str,
        origin: &str,
        env: &[(String, String)],
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let mut root: toml::Value =
            toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))?;
        for (name, raw) in env {
            let Some(path) = DOCS.iter().map(|(p, _)| *p).find(|p| env_name(p) == *name) else {
                if name.starts_with("CAIRN_") && is_config_like(name) {
                    return Err(invalid(name, "no such configuration option".into()));
                }
                continue;
            };
            set_path(&mut root, path, raw).map_err(|m| invalid(name, m))?;
        }
        for s in sets {
            let (path, raw) = s
                .split_once('=')
                .ok_or_else(|| invalid(s, "expected section.key=value".into()))?;
            if !DOCS.iter().any(|(p, _)| *p == path) {
                return Err(invalid(s, format!("unknown option {path:?}")));
            }
            set_path(&mut root, path, raw).map_err(|m| invalid(s, m))?;
        }
        let config: Config = root
            .try_into()
            .map_err(|e: toml::de::Error| invalid(origin, e.to_string()))?;
        config.check().map_err(|m| invalid(origin, m))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if !matches!(self.log.format.as_str(), "plain" | "json") {
            return Err(format!(
                "log.format {:?} must be \"plain\" or \"json\"",
                self.log.format
            ));
        }
        Ok(())
    }
}

/// The environment variable that overrides option `path`.
pub fn env_name(path: &str) -> String {
    format!("CAIRN_{}", path.replace('.', "_").to_uppercase())
}

/// Variables like CAIRN_P2P_X look like options; others (CAIRN_HOME...) are not ours to judge.
fn is_config_like(name: &str) -> bool {
    [
        "MONIKER",
        "CONSENSUS_",
        "P2P_",
        "RPC_",
        "MEMPOOL_",
        "STORAGE_",
        "LOG_",
    ]
    .iter()
    .any(|p| name["CAIRN_".len()..].starts_with(p))
}

/// Sets `path` to `raw`, read as a TOML value when it parses as one, else as a string.
fn set_path(root: &mut toml::Value, path: &str, raw: &str) -> Result<(), String> {
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut node = root;
    let mut keys = path.split('.').peekable();
    while let Some(k) = keys.next() {
        let table = node
            .as_table_mut()
            .ok_or_else(|| format!("{path}: parent is not a table"))?;
        if keys.peek().is_none() {
            table.insert(k.to_owned(), value);
            return Ok(());
        }
        node = table
            .entry(k.to_owned())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_file_lists_every_option_and_parses_back() {
        let c = Config {
            moniker: "n0".into(),
            ..Config::default()
        };
        let text = c.to_documented_toml();
        let written: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(written, toml::Value::try_from(&c).unwrap(), "{text}");
        assert_eq!(Config::parse(&text, "t", &[], &[]).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse("[rpc]\nlisten_adress = \"x\"\n", "t", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("listen_adress"), "{e}");
    }

    #[test]
    fn env_then_flag_override() {
        let env = vec![
            (env_name("rpc.listen_address"), "127.0.0.1:1".to_owned()),
            (env_name("consensus.timeout_commit_ms"), "5".to_owned()),
            ("CAIRN_HOME".to_owned(), "/somewhere".to_owned()),
        ];
        let sets = vec!["rpc.listen_address=127.0.0.1:2".to_owned()];
        let c = Config::parse("", "t", &env, &sets).unwrap();
        assert_eq!(c.rpc.listen_address, "127.0.0.1:2");
        assert_eq!(c.consensus.timeout_commit_ms, 5);
        let bad = vec![("CAIRN_RPC_NOPE".to_owned(), "1".to_owned())];
        assert!(Config::parse("", "t", &bad, &[]).is_err());
        let wrong_type = vec![(env_name("mempool.max_txs"), "many".to_owned())];
        let e = Config::parse("", "t", &wrong_type, &[]).unwrap_err();
        assert!(e.to_string().contains("max_txs"), "{e}");
    }
}
