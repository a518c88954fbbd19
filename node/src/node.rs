//! Assembling a node: the store, the pools and the consensus driver, with
//! the handles the network and RPC layers use.

use std::fs::File;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use cairn_genesis::keys::{NodeKeyFile, ValidatorKeyFile};
use cairn_mempool::{EvidencePool, Mempool, MempoolConfig};
use cairn_state::{DbTuning, Store, StoreOptions};
use cairn_types::{Block, Commit, PublicKey, SigningKey};
use tokio::sync::{broadcast, mpsc};

use crate::config::Config;
use crate::driver::{Committed, Driver, DriverStatus, NetCommand, VoteQuery};
use crate::home::Home;
use crate::persist::FileGuardStore;

/// What every task of the node shares.
pub struct Shared {
    /// Blocks, state and the application.
    pub store: Arc<Store>,
    /// Pending transactions.
    pub mempool: Mutex<Mempool>,
    /// Pending evidence.
    pub evidence: Mutex<EvidencePool>,
}

impl Shared {
    /// The decided block and commit of `height`, to serve a peer that asks.
    pub fn decided(&self, height: u64) -> Option<(Block, Commit)> {
        let block = self.store.block(height).ok().flatten()?;
        let commit = self.store.commit_at(height).ok().flatten()?;
        Some((block, commit))
    }
}

/// A node's parts before its tasks run.
pub struct Assembled {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The consensus driver, restored from the WAL.
    pub driver: Driver,
    /// Commands from the driver to the network.
    pub net_commands: mpsc::Receiver<NetCommand>,
    /// Peers' questions for the driver's votes (sender side).
    pub vote_queries: mpsc::Sender<VoteQuery>,
    /// The driver's end of `vote_queries`.
    pub vote_query_inbox: mpsc::Receiver<VoteQuery>,
    /// Committed blocks, for RPC and metrics.
    pub committed: broadcast::Sender<Committed>,
    /// Flags for metrics and RPC.
    pub status: Arc<DriverStatus>,
    /// The node key (network identity).
    pub node_key: SigningKey,
    /// The consensus public key.
    pub validator_key: PublicKey,
    /// The lock on the home; released when dropped.
    pub lock: File,
}

/// Takes the home's lock file: a second process on the same home would sign
/// with the same key and write the same database.
pub fn lock_home(home: &Home) -> Result<File> {
    std::fs::create_dir_all(home.data_dir())?;
    let path = home.data_dir().join("cairn.lock");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another cairn process is using {} (lock {} is held); refusing to start",
            home.root.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("locking the home"),
    }
}

/// Opens everything a node needs from its home, recovering from a crash.
pub fn assemble(home: &Home, config: &Config) -> Result<Assembled> {
    let lock = lock_home(home)?;
    let genesis = home.load_genesis()?;
    let node_key = NodeKeyFile::load(&home.node_key_file())?;
    let validator_key = ValidatorKeyFile::load(&home.validator_key_file())?;
    let keep_recent = match config.storage.pruning_keep_recent {
        0 => None,
        n => Some(n),
    };
    let store = Store::open(
        &home.data_dir().join("state"),
        &genesis,
        StoreOptions {
            keep_recent,
            tuning: DbTuning::default(),
        },
    )?;
    let report = store.open_report().clone();
    tracing::info!(
        height = report.height,
        app_hash = %report.app_hash,
        genesis = report.initialized_genesis,
        "store opened"
    );
    let params = store.params()?;
    let mut mp = MempoolConfig::new(genesis.chain_id.clone(), &params);
    let m = &config.mempool;
    mp.max_txs = usize::try_from(m.max_txs).unwrap_or(usize::MAX);
    mp.max_total_bytes = usize::try_from(m.max_bytes).unwrap_or(usize::MAX);
    mp.max_per_sender = usize::try_from(m.max_txs_per_sender).unwrap_or(usize::MAX);
    mp.ttl_blocks = m.ttl_blocks;
    mp.seen_cache_size = usize::try_from(m.cache_size).unwrap_or(usize::MAX);
    let latest_time = store
        .height_record(report.height)?
        .map_or(genesis.genesis_time, |r| r.time);
    let shared = Arc::new(Shared {
        mempool: Mutex::new(Mempool::new(mp, report.height)),
        evidence: Mutex::new(EvidencePool::new(
            genesis.chain_id.clone(),
            params.consensus.clone(),
            report.height,
            latest_time,
            10_000,
        )),
        store: Arc::new(store),
    });
    let (net_tx, net_commands) = mpsc::channel(4096);
    let (vote_queries, vote_query_inbox) = mpsc::channel(256);
    let (committed, _) = broadcast::channel(256);
    let status = Arc::new(DriverStatus::default());
    let validator_public = validator_key.public_key();
    let driver = Driver::recover(
        Arc::clone(&shared),
        config.consensus.clone(),
        Some(validator_key),
        home,
        net_tx,
        committed.clone(),
        Arc::clone(&status),
    )?;
    Ok(Assembled {
        shared,
        driver,
        net_commands,
        vote_queries,
        vote_query_inbox,
        committed,
        status,
        node_key,
        validator_key: validator_public,
        lock,
    })
}

/// `cairn unsafe-reset-all`: deletes blocks, state and the WAL. The signing
/// guard's state is kept unless `reset_guard` (a validator that forgets what
/// it signed can double-sign).
pub fn unsafe_reset_all(home: &Home, reset_guard: bool) -> Result<Vec<String>> {
    let _lock = lock_home(home)?;
    let data = home.data_dir();
    let mut removed = Vec::new();
    for name in ["state", "cs.wal"] {
        let p = data.join(name);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
            removed.push(p.display().to_string());
        } else if p.exists() {
            std::fs::remove_file(&p)?;
            removed.push(p.display().to_string());
        }
    }
    if reset_guard {
        FileGuardStore::new(home.validator_state_file()).reset()?;
        removed.push(format!("{} (reset)", home.validator_state_file().display()));
    }
    Ok(removed)
}
