//! The store: open-time check, genesis, execute, commit in one batch, queries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, RwLock};

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_genesis::GenesisDoc;
use cairn_types::block::results_hash;
use cairn_types::crypto::{Address, PublicKey};
use cairn_types::params::{AppParams, ChainParams};
use cairn_types::tx::tx_hash;
use cairn_types::validator::ValidatorSet;
use cairn_types::{Block, BlockId, Commit, Hash, Time};
use jmt::storage::{TreeReader, TreeUpdateBatch};
use rocksdb::{WriteBatch, WriteOptions};

use crate::app::{App, BlockContext, consensus_hash};
use crate::cache::{ExecCache, flat_weight, usable};
use crate::db::*;
use crate::error::StateError;
use crate::keys;
use crate::merkle::{
    MerkleProof, Tree, TreeView, key_hash, node_key_bytes, node_weight, value_key,
};
use crate::model::{
    Account, ActiveMember, Delegation, EvidenceOutcome, SupplyLedger, TxResult, UnbondingEntry,
    ValidatorRecord, codes,
};
use crate::overlay::{Change, Committed, Overlay, read_committed};

const META_GENESIS_HASH: &[u8] = b"genesis_hash";
const META_GENESIS_APP_HASH: &[u8] = b"genesis_app_hash";
const META_HEIGHT: &[u8] = b"height";
const META_APP_HASH: &[u8] = b"app_hash";
const META_OLDEST: &[u8] = b"oldest_version";
const META_VALSET_FLOOR: &[u8] = b"valset_floor";

/// Most stale entries removed by one commit's pruning (the rest wait for the next).
const PRUNE_LIMIT: usize = 2_000_000;

/// How the store is opened.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Keep the Merkle state of the last `n` heights (`n >= 1`); `None` keeps
    /// every version. Blocks, commits, results and the tx index are always
    /// kept; validator sets are kept for at least the evidence max age.
    pub keep_recent: Option<u64>,
    /// RocksDB memory settings.
    pub tuning: DbTuning,
}

/// Whether execution verifies transaction signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Verify each tx's signature (code 2 when it fails).
    Verify,
    /// The caller already verified them (the node validates every block it
    /// executes, and caches verification results from mempool admission).
    Trusted,
}

/// Per-height bookkeeping, kept for every committed block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct HeightRecord {
    /// The block's id.
    pub block_id: BlockId,
    /// The block's time.
    pub time: Time,
    /// The state root after executing the block (header `height + 1`'s app hash).
    pub app_hash: Hash,
    /// `results_hash` of the block's tx codes (header `height + 1`'s last_results_hash).
    pub results_hash: Hash,
    /// Number of transactions.
    pub num_txs: u32,
}

/// Where a transaction was committed, and its result.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The result.
    pub result: TxResult,
}

/// A committed transaction with its bytes and result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The signed tx bytes.
    pub tx: Vec<u8>,
    /// The result.
    pub result: TxResult,
}

/// What the open-time check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Latest committed height (`initial_height - 1` before the first block).
    pub height: u64,
    /// State root after that height.
    pub app_hash: Hash,
    /// The latest block's id, if any.
    pub block_id: Option<BlockId>,
    /// Whether this open wrote the genesis state.
    pub initialized_genesis: bool,
}

/// Everything the state dictates about the next block's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextBlock {
    /// Chain id.
    pub chain_id: String,
    /// Its height.
    pub height: u64,
    /// The previous block, `None` for the first block.
    pub last_block_id: Option<BlockId>,
    /// The state root after the previous block.
    pub app_hash: Hash,
    /// `hash(set(height))`.
    pub validators_hash: Hash,
    /// `hash(set(height + 1))`.
    pub next_validators_hash: Hash,
    /// SHA-256 of the encoded consensus parameters in force at `height`.
    pub consensus_hash: Hash,
    /// `results_hash` of the previous block's codes.
    pub last_results_hash: Hash,
    /// The previous block's time (genesis time before the first block).
    pub last_time: Time,
    /// The set that signs the block, with its proposer priorities.
    pub validators: ValidatorSet,
    /// Parameters in force at `height`.
    pub params: ChainParams,
}

/// The result of executing a block, not yet written. Pass it to [`Store::commit`].
pub struct Executed {
    /// The block's height.
    pub height: u64,
    /// The block's id.
    pub block_id: BlockId,
    /// The new state root (the next header's app hash).
    pub app_hash: Hash,
    /// One result per tx, in block order.
    pub results: Vec<TxResult>,
    /// Tx hashes, in block order.
    pub tx_hashes: Vec<Hash>,
    /// What happened to each piece of evidence.
    pub evidence: Vec<EvidenceOutcome>,
    /// Validator power changes computed at the end of the block (effective at `height + 2`).
    pub validator_updates: Vec<(PublicKey, u64)>,
    /// `set(height + 2)`.
    pub validators_after_next: ValidatorSet,
    /// New chain parameters (in force from `height + 1`), if the block changed them.
    pub new_params: Option<ChainParams>,
    /// The accounts the block changed, in key order (the mempool rechecks
    /// only their senders' pending txs).
    pub changed_accounts: Vec<Address>,
    base_app_hash: Hash,
    time: Time,
    state: StateWrites,
}

impl std::fmt::Debug for Executed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("height", &self.height)
            .field("app_hash", &self.app_hash)
            .field("txs", &self.results.len())
            .field("changes", &self.state.changes.len())
            .finish()
    }
}

impl Executed {
    /// `results_hash` of this block's codes (the next header's last_results_hash).
    pub fn results_hash(&self) -> Hash {
        let codes: Vec<u32> = self.results.iter().map(|r| r.code).collect();
        results_hash(&codes)
    }
}

/// A state value with an optional proof against the root of its version.
#[derive(Debug, Clone)]
pub struct Proven<T> {
    /// The state version (height) read.
    pub height: u64,
    /// The value, if the key is set.
    pub value: Option<T>,
    /// Root of that version (the app hash in header `height + 1`).
    pub root: Hash,
    /// Inclusion or exclusion proof, when asked for.
    pub proof: Option<MerkleProof>,
}

/// A key of the state that clients may query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey {
    /// An account.
    Account(Address),
    /// A validator, by operator.
    Validator(Address),
    /// A delegation.
    Delegation {
        /// Validator operator.
        validator: Address,
        /// Delegator.
        delegator: Address,
    },
    /// A Put value.
    Put {
        /// Owner (the sender that wrote it).
        owner: Address,
        /// Key in the owner's namespace.
        key: Vec<u8>,
    },
    /// The chain parameters.
    Params,
}

impl StateKey {
    /// The raw state key (what proofs are about).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StateKey::Account(a) => keys::account(a),
            StateKey::Validator(a) => keys::validator(a),
            StateKey::Delegation {
                validator,
                delegator,
            } => keys::delegation(validator, delegator),
            StateKey::Put { owner, key } => keys::put(owner, key),
            StateKey::Params => keys::PARAMS.to_vec(),
        }
    }
}

/// The supply broken down, for the conservation invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SupplyAudit {
    /// Sum of account balances.
    pub balances: u128,
    /// Sum of validator pools.
    pub bonded: u128,
    /// Sum of unbonding entries.
    pub unbonding: u128,
    /// Genesis supply.
    pub genesis_supply: u64,
    /// Burned by slashing (and fees without a proposer).
    pub burned: u64,
}

impl SupplyAudit {
    /// `balances + bonded + unbonding == genesis_supply - burned`.
    pub fn holds(&self) -> bool {
        self.balances + self.bonded + self.unbonding
            == u128::from(self.genesis_supply) - u128::from(self.burned)
    }
}

/// Read-only view of the latest committed accounts and parameters (for the mempool).
pub trait AccountView: Send + Sync {
    /// The account's balance and next nonce (zero for an unknown account).
    fn account(&self, addr: &Address) -> Result<Account, StateError>;
    /// Application parameters in force for the next block.
    fn app_params(&self) -> Result<AppParams, StateError>;
    /// The chain id.
    fn chain_id(&self) -> &str;
}

/// Size of the last block's write batch (for metrics and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Height committed.
    pub height: u64,
    /// Bytes in the write batch (keys, values and framing).
    pub batch_bytes: usize,
    /// Entries (puts and deletes) in the batch.
    pub batch_entries: usize,
    /// Net state changes (keys written or deleted).
    pub state_changes: usize,
}

/// Tree writes of one version, plus the flat-state changes behind them.
#[derive(Default)]
struct StateWrites {
    version: u64,
    changes: Vec<Change>,
    tree: TreeUpdateBatch,
}

#[derive(Clone)]
struct Head {
    height: u64,
    app_hash: Hash,
    last_block_id: Option<BlockId>,
    last_results_hash: Hash,
    last_time: Time,
    params: ChainParams,
    set_next: ValidatorSet,
    set_after: ValidatorSet,
    oldest_version: u64,
    valset_floor: u64,
}

/// The block store, Merkle state and application. Thread-safe: reads may
/// run beside execution and commit; execution and commit serialise.
pub struct Store {
    db: Db,
    genesis: GenesisDoc,
    genesis_hash: Hash,
    options: StoreOptions,
    head: RwLock<Head>,
    writer: Mutex<()>,
    cache: ExecCache,
    report: OpenReport,
    last_commit: RwLock<CommitStats>,
}

fn meta_u64(db: &Db, key: &[u8]) -> Result<Option<u64>, StateError> {
    match db.get(CF_META, key)? {
        None => Ok(None),
        Some(b) => keys::be_u64(&b, 0)
            .map(Some)
            .ok_or_else(|| StateError::corrupt(CF_META, key, "not a u64")),
    }
}

fn meta_hash(db: &Db, key: &[u8]) -> Result<Option<Hash>, StateError> {
    match db.get(CF_META, key)? {
        None => Ok(None),
        Some(b) => <[u8; 32]>::try_from(b.as_slice())
            .map(|h| Some(Hash(h)))
            .map_err(|_| StateError::corrupt(CF_META, key, "not a hash")),
    }
}

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    cairn_types::codec::encode(v)
}

/// Computes the tree update for `changes` at `version`.
///
/// A set without deletions goes through jmt's batch insert, which reads and
/// hashes each touched node once; the per-key insert walks and re-hashes the
/// top of the tree again for every key (a third of a block's execution).
/// Both build the same tree: a JMT's shape follows from its key set alone.
/// The batch insert cannot delete, so a set with deletions takes the other.
fn compute_state<R: TreeReader>(
    view: &R,
    changes: Vec<Change>,
    version: u64,
) -> Result<(Hash, StateWrites), StateError> {
    let tree = Tree::new(view);
    let inserts: Option<Vec<_>> = changes
        .iter()
        .map(|c| c.value.clone().map(|v| (key_hash(&c.key), v)))
        .collect();
    let (root, batch) = match inserts {
        Some(set) if !set.is_empty() => tree
            .batch_put_value_sets(vec![set], None, version)
            .map(|(roots, batch)| (roots[0], batch)),
        _ => tree.put_value_set(
            changes.iter().map(|c| (key_hash(&c.key), c.value.clone())),
            version,
        ),
    }
    .map_err(StateError::merkle)?;
    Ok((
        Hash(root.0),
        StateWrites {
            version,
            changes,
            tree: batch,
        },
    ))
}

fn write_state(db: &Db, batch: &mut WriteBatch, w: &StateWrites) -> Result<(), StateError> {
    let (state, pre, stale_v) = (
        db.cf(CF_STATE)?,
        db.cf(CF_PREIMAGES)?,
        db.cf(CF_STALE_VALUES)?,
    );
    let (nodes, values, stale_n) = (
        db.cf(CF_JMT_NODES)?,
        db.cf(CF_JMT_VALUES)?,
        db.cf(CF_JMT_STALE)?,
    );
    for c in &w.changes {
        batch.put_cf(
            state,
            &c.key,
            Committed::encode(w.version, c.value.as_deref()),
        );
        let kh = key_hash(&c.key);
        match &c.before {
            None => batch.put_cf(pre, kh.0, &c.key),
            Some(b) => {
                let mut k = Vec::with_capacity(48);
                k.extend_from_slice(&w.version.to_be_bytes());
                k.extend_from_slice(&kh.0);
                k.extend_from_slice(&b.version.to_be_bytes());
                batch.put_cf(stale_v, k, []);
            }
        }
    }
    // In the order of the encoded keys: a memtable inserts a run of
    // ascending keys next to each other instead of searching from the top.
    let mut encoded = Vec::with_capacity(w.tree.node_batch.nodes().len());
    for (nk, node) in w.tree.node_batch.nodes() {
        let bytes = borsh::to_vec(node).map_err(StateError::merkle)?;
        encoded.push((node_key_bytes(nk), bytes));
    }
    encoded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, bytes) in encoded {
        batch.put_cf(nodes, key, bytes);
    }
    for ((v, kh), val) in w.tree.node_batch.values() {
        let bytes = borsh::to_vec(val).map_err(StateError::merkle)?;
        batch.put_cf(values, value_key(kh, *v), bytes);
    }
    for s in &w.tree.stale_node_index_batch {
        let mut k = s.stale_since_version.to_be_bytes().to_vec();
        k.extend_from_slice(&node_key_bytes(&s.node_key));
        batch.put_cf(stale_n, k, []);
    }
    Ok(())
}

fn bad_block(
    height: u64,
    field: &'static str,
    expected: impl std::fmt::Debug,
    got: impl std::fmt::Debug,
) -> StateError {
    StateError::BadBlock {
        height,
        field,
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir` for the chain of `genesis`.
    ///
    /// An empty database is initialised with the genesis state. Otherwise the
    /// stored genesis hash must match, and the open-time check must pass: the
    /// stored height, the latest block, the per-height record and the Merkle
    /// root all agree. Any disagreement is an [`StateError::Inconsistent`]
    /// naming what disagrees; the store refuses to run on it.
    pub fn open(
        dir: &Path,
        genesis: &GenesisDoc,
        options: StoreOptions,
    ) -> Result<Store, StateError> {
        genesis.validate()?;
        let db = Db::open(dir, &options.tuning)?;
        let genesis_hash = genesis.hash();
        let initialized_genesis = match meta_hash(&db, META_GENESIS_HASH)? {
            Some(stored) if stored != genesis_hash => {
                return Err(StateError::GenesisMismatch {
                    stored,
                    given: genesis_hash,
                });
            }
            Some(_) => false,
            None => {
                init_genesis(&db, genesis)?;
                true
            }
        };
        let head = load_and_check(&db, genesis)?;
        let report = OpenReport {
            height: head.height,
            app_hash: head.app_hash,
            block_id: head.last_block_id,
            initialized_genesis,
        };
        let cache = ExecCache::new(options.tuning.exec_cache_bytes);
        Ok(Store {
            db,
            genesis: genesis.clone(),
            genesis_hash,
            options,
            head: RwLock::new(head),
            writer: Mutex::new(()),
            cache,
            report,
            last_commit: RwLock::new(CommitStats::default()),
        })
    }

    /// Size of the last commit's write batch.
    pub fn last_commit_stats(&self) -> CommitStats {
        self.last_commit.read().map(|c| *c).unwrap_or_default()
    }

    /// What the open-time check found.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    fn head(&self) -> Result<Head, StateError> {
        self.head
            .read()
            .map(|h| h.clone())
            .map_err(|_| StateError::Poisoned)
    }

    /// The genesis document.
    pub fn genesis(&self) -> &GenesisDoc {
        &self.genesis
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// Latest committed height (`initial_height - 1` before the first block).
    pub fn latest_height(&self) -> Result<u64, StateError> {
        Ok(self.head.read().map_err(|_| StateError::Poisoned)?.height)
    }

    /// State root after the latest committed height.
    pub fn app_hash(&self) -> Result<Hash, StateError> {
        Ok(self.head.read().map_err(|_| StateError::Poisoned)?.app_hash)
    }

    /// Oldest height whose Merkle state is retained.
    pub fn oldest_state_height(&self) -> Result<u64, StateError> {
        Ok(self
            .head
            .read()
            .map_err(|_| StateError::Poisoned)?
            .oldest_version)
    }

    /// What the state dictates about the next block's header.
    pub fn next_block(&self) -> Result<NextBlock, StateError> {
        let h = self.head()?;
        Ok(NextBlock {
            chain_id: self.genesis.chain_id.clone(),
            height: h.height + 1,
            last_block_id: h.last_block_id,
            app_hash: h.app_hash,
            validators_hash: h.set_next.hash(),
            next_validators_hash: h.set_after.hash(),
            consensus_hash: consensus_hash(&h.params.consensus),
            last_results_hash: h.last_results_hash,
            last_time: h.last_time,
            validators: h.set_next,
            params: h.params,
        })
    }

    /// Executes `block` on the latest committed state without writing anything.
    ///
    /// The header must extend the store: height, chain id, last block id,
    /// app hash, validators hashes, consensus hash and last results hash are
    /// checked ([`StateError::BadBlock`] otherwise). Signatures, commits and
    /// BFT time are the caller's to validate. With [`Signatures::Trusted`]
    /// tx signatures are not re-checked.
    pub fn execute_block(&self, block: &Block, sigs: Signatures) -> Result<Executed, StateError> {
        let _w = self.writer.lock().map_err(|_| StateError::Poisoned)?;
        self.execute_locked(block, sigs)
    }

    fn execute_locked(&self, block: &Block, sigs: Signatures) -> Result<Executed, StateError> {
        let head = self.head()?;
        let hd = &block.header;
        let height = head.height + 1;
        if hd.height != height {
            return Err(bad_block(hd.height, "height", height, hd.height));
        }
        if *hd.chain_id != *self.genesis.chain_id {
            return Err(bad_block(
                height,
                "chain_id",
                &self.genesis.chain_id,
                &hd.chain_id.0,
            ));
        }
        if hd.last_block_id != head.last_block_id {
            return Err(bad_block(
                height,
                "last_block_id",
                head.last_block_id,
                hd.last_block_id,
            ));
        }
        if hd.app_hash != head.app_hash {
            return Err(bad_block(height, "app_hash", head.app_hash, hd.app_hash));
        }
        if hd.validators_hash != head.set_next.hash() {
            return Err(bad_block(
                height,
                "validators_hash",
                head.set_next.hash(),
                hd.validators_hash,
            ));
        }
        if hd.next_validators_hash != head.set_after.hash() {
            return Err(bad_block(
                height,
                "next_validators_hash",
                head.set_after.hash(),
                hd.next_validators_hash,
            ));
        }
        let ch = consensus_hash(&head.params.consensus);
        if hd.consensus_hash != ch {
            return Err(bad_block(height, "consensus_hash", ch, hd.consensus_hash));
        }
        if hd.last_results_hash != head.last_results_hash {
            return Err(bad_block(
                height,
                "last_results_hash",
                head.last_results_hash,
                hd.last_results_hash,
            ));
        }
        let ctx = BlockContext {
            chain_id: &self.genesis.chain_id,
            height,
            time: hd.time,
            proposer: hd.proposer_address,
            params: &head.params,
            verify_signatures: sigs == Signatures::Verify,
        };
        let mut app = App::new(Overlay::new(&self.db, &self.cache), ctx);
        let mut evidence = Vec::with_capacity(block.evidence.len());
        for ev in &block.evidence {
            evidence.push(app.apply_evidence(ev)?);
        }
        let mut results = Vec::with_capacity(block.txs.len());
        let mut tx_hashes = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            results.push(app.deliver_tx(tx)?);
            tx_hashes.push(tx_hash(tx));
        }
        let (validator_updates, validators_after_next) = app.end_block(&head.set_after)?;
        let new_params = app.new_params.take();
        let changes = app.ov.into_changes();
        let changed_accounts = changes
            .iter()
            .filter_map(|c| keys::account_of(&c.key))
            .collect();
        let (app_hash, state) = compute_state(
            &TreeView::cached(&self.db, &self.cache.nodes),
            changes,
            height,
        )?;
        Ok(Executed {
            height,
            block_id: block.id(),
            app_hash,
            results,
            tx_hashes,
            evidence,
            validator_updates,
            validators_after_next,
            new_params,
            changed_accounts,
            base_app_hash: head.app_hash,
            time: hd.time,
            state,
        })
    }

    /// Writes `block`, its `commit` and the execution result in ONE synced
    /// RocksDB write batch: block, commit, block-hash index, tx index, height
    /// record, `set(H+2)`, parameters, state delta, tree nodes, new app hash
    /// and height, and this height's pruning. A crash leaves all of it or none.
    ///
    /// An error here is fatal for the node (the store's memory is unchanged,
    /// but the disk may be failing).
    ///
    /// Gives back the execution's results (its state writes emptied).
    pub fn commit(
        &self,
        block: &Block,
        commit: &Commit,
        executed: Executed,
    ) -> Result<Executed, StateError> {
        let _w = self.writer.lock().map_err(|_| StateError::Poisoned)?;
        self.commit_locked(block, commit, executed)
    }

    /// [`Store::execute_block`] then [`Store::commit`], under one lock.
    pub fn apply_block(
        &self,
        block: &Block,
        commit: &Commit,
        sigs: Signatures,
    ) -> Result<Executed, StateError> {
        let _w = self.writer.lock().map_err(|_| StateError::Poisoned)?;
        let executed = self.execute_locked(block, sigs)?;
        self.commit_locked(block, commit, executed)
    }

    fn commit_locked(
        &self,
        block: &Block,
        commit: &Commit,
        mut ex: Executed,
    ) -> Result<Executed, StateError> {
        let head = self.head()?;
        let h = ex.height;
        if h != head.height + 1 || ex.base_app_hash != head.app_hash {
            return Err(StateError::StaleExecution {
                computed_on: h.saturating_sub(1),
                current: head.height,
            });
        }
        let id = block.id();
        if id != ex.block_id {
            return Err(bad_block(
                h,
                "block (not the one executed)",
                ex.block_id,
                id,
            ));
        }
        if commit.height != h {
            return Err(bad_block(h, "commit.height", h, commit.height));
        }
        if commit.block_id != id {
            return Err(bad_block(h, "commit.block_id", id, commit.block_id));
        }
        let db = &self.db;
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_BLOCKS)?, hkey(h), block.to_bytes());
        batch.put_cf(db.cf(CF_COMMITS)?, hkey(h), enc(commit));
        batch.put_cf(db.cf(CF_BLOCK_HASH)?, id.0.0, hkey(h));
        let txi = db.cf(CF_TX_INDEX)?;
        let mut seen = BTreeSet::new();
        for (i, (hash, result)) in ex.tx_hashes.iter().zip(&ex.results).enumerate() {
            if !seen.insert(*hash) {
                continue; // a duplicate in the same block: the first occurrence is the record
            }
            if codes::has_no_effect(result.code) && db.get(CF_TX_INDEX, &hash.0)?.is_some() {
                continue; // a replay of a committed tx must not hide the original
            }
            // A TxLocation's encoding, without copying the result into one.
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            batch.put_cf(txi, hash.0, enc(&(h, index, result)));
        }
        let record = HeightRecord {
            block_id: id,
            time: ex.time,
            app_hash: ex.app_hash,
            results_hash: ex.results_hash(),
            num_txs: u32::try_from(block.txs.len()).unwrap_or(u32::MAX),
        };
        batch.put_cf(db.cf(CF_HEIGHTS)?, hkey(h), enc(&record));
        batch.put_cf(
            db.cf(CF_VALSETS)?,
            hkey(h + 2),
            enc(&ex.validators_after_next),
        );
        if let Some(p) = &ex.new_params {
            batch.put_cf(db.cf(CF_PARAMS)?, hkey(h + 1), enc(p));
        }
        write_state(db, &mut batch, &ex.state)?;
        let meta = db.cf(CF_META)?;
        batch.put_cf(meta, META_HEIGHT, h.to_be_bytes());
        batch.put_cf(meta, META_APP_HASH, ex.app_hash.0);
        let params = ex.new_params.clone().unwrap_or_else(|| head.params.clone());
        let (oldest, floor) = self.prune(&mut batch, &head, h, ex.time)?;
        let stats = CommitStats {
            height: h,
            batch_bytes: batch.size_in_bytes(),
            batch_entries: batch.len(),
            state_changes: ex.state.changes.len(),
        };
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        db.db.write_opt(batch, &opts)?;
        self.write_through(std::mem::take(&mut ex.state));
        if let Ok(mut c) = self.last_commit.write() {
            *c = stats;
        }

        let mut hw = self.head.write().map_err(|_| StateError::Poisoned)?;
        *hw = Head {
            height: h,
            app_hash: ex.app_hash,
            last_block_id: Some(id),
            last_results_hash: record.results_hash,
            last_time: ex.time,
            params,
            set_next: head.set_after,
            set_after: ex.validators_after_next.clone(),
            oldest_version: oldest,
            valset_floor: floor,
        };
        Ok(ex)
    }

    /// Puts a committed version's entries and nodes into the caches (after
    /// its batch is on disk, under the writer lock: see [`crate::cache`]).
    /// Takes the writes: their keys and values move into the flat map.
    fn write_through(&self, w: StateWrites) {
        if let Some(mut flat) = usable(&self.cache.flat) {
            for c in w.changes {
                let entry = Some(Committed {
                    version: w.version,
                    value: c.value,
                });
                let weight = flat_weight(&c.key, &entry);
                flat.insert(c.key, entry, weight);
            }
        }
        if let Some(mut nodes) = usable(&self.cache.nodes) {
            for (key, node) in w.tree.node_batch.nodes() {
                nodes.insert(key.clone(), node.clone(), node_weight(node));
            }
        }
    }

    /// Adds this height's pruning to `batch`; returns the new oldest state
    /// version and validator-set floor.
    fn prune(
        &self,
        batch: &mut WriteBatch,
        head: &Head,
        h: u64,
        time: Time,
    ) -> Result<(u64, u64), StateError> {
        let Some(keep) = self.options.keep_recent else {
            return Ok((head.oldest_version, head.valset_floor));
        };
        let db = &self.db;
        let meta = db.cf(CF_META)?;
        let oldest = head.oldest_version.max((h + 1).saturating_sub(keep.max(1)));
        if oldest > head.oldest_version {
            // Nodes and values that became stale at or before `oldest` belong only to older versions.
            let end = hkey(oldest + 1);
            let (nodes, stale_n) = (db.cf(CF_JMT_NODES)?, db.cf(CF_JMT_STALE)?);
            for k in db.keys_below(CF_JMT_STALE, &end, PRUNE_LIMIT)? {
                batch.delete_cf(nodes, &k[8..]);
                batch.delete_cf(stale_n, &k);
            }
            let (values, stale_v) = (db.cf(CF_JMT_VALUES)?, db.cf(CF_STALE_VALUES)?);
            for k in db.keys_below(CF_STALE_VALUES, &end, PRUNE_LIMIT)? {
                if k.len() == 48 {
                    batch.delete_cf(values, &k[8..]);
                }
                batch.delete_cf(stale_v, &k);
            }
            batch.put_cf(meta, META_OLDEST, oldest.to_be_bytes());
        }
        // Validator sets: kept while evidence from their height could still be valid
        // (too old only when older in blocks AND in time), and while their state is kept.
        let c = &head.params.consensus;
        let mut floor = head.valset_floor;
        for _ in 0..64 {
            if floor >= oldest || h.saturating_sub(floor) <= c.evidence_max_age_blocks + 1 {
                break;
            }
            let Some(rec) = db.get_t::<HeightRecord>(CF_HEIGHTS, &hkey(floor))? else {
                break;
            };
            let age_ms = time.0.saturating_sub(rec.time.0) / cairn_types::time::MILLISECOND;
            if age_ms <= c.evidence_max_age_ms + 1 {
                break;
            }
            batch.delete_cf(db.cf(CF_VALSETS)?, hkey(floor));
            floor += 1;
        }
        if floor != head.valset_floor {
            batch.put_cf(meta, META_VALSET_FLOOR, floor.to_be_bytes());
        }
        Ok((oldest, floor))
    }

    // ---- block store reads -------------------------------------------------------

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StateError> {
        self.db.get_t(CF_BLOCKS, &hkey(height))
    }

    /// Height of the block with `id`.
    pub fn height_of(&self, id: &BlockId) -> Result<Option<u64>, StateError> {
        Ok(self
            .db
            .get(CF_BLOCK_HASH, &id.0.0)?
            .and_then(|b| keys::be_u64(&b, 0)))
    }

    /// The block with `id`.
    pub fn block_by_hash(&self, id: &BlockId) -> Result<Option<Block>, StateError> {
        match self.height_of(id)? {
            Some(h) => self.block(h),
            None => Ok(None),
        }
    }

    /// The commit stored with the block at `height`.
    pub fn commit_at(&self, height: u64) -> Result<Option<Commit>, StateError> {
        self.db.get_t(CF_COMMITS, &hkey(height))
    }

    /// Bookkeeping of `height` (block id, time, app hash after it, results hash).
    pub fn height_record(&self, height: u64) -> Result<Option<HeightRecord>, StateError> {
        self.db.get_t(CF_HEIGHTS, &hkey(height))
    }

    /// A committed transaction by hash, with its bytes and result.
    pub fn tx(&self, hash: &Hash) -> Result<Option<StoredTx>, StateError> {
        let Some(loc) = self.db.get_t::<TxLocation>(CF_TX_INDEX, &hash.0)? else {
            return Ok(None);
        };
        let Some(block) = self.block(loc.height)? else {
            return Err(StateError::corrupt(
                CF_TX_INDEX,
                &hash.0,
                "block of indexed tx is missing",
            ));
        };
        let Some(tx) = block.txs.get(loc.index as usize) else {
            return Err(StateError::corrupt(
                CF_TX_INDEX,
                &hash.0,
                "index beyond the block's txs",
            ));
        };
        Ok(Some(StoredTx {
            height: loc.height,
            index: loc.index,
            tx: tx.0.clone(),
            result: loc.result,
        }))
    }

    /// The index entry (height, index, result) of a tx hash.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StateError> {
        self.db.get_t(CF_TX_INDEX, &hash.0)
    }

    /// Results of every tx of the block at `height`, in block order. A
    /// duplicate of an earlier tx gets the result recorded at execution only
    /// through [`Executed::results`]; here it shows the indexed (first) one.
    pub fn block_results(&self, height: u64) -> Result<Option<Vec<TxResult>>, StateError> {
        let Some(block) = self.block(height)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            let hash = tx_hash(tx);
            match self.tx_location(&hash)? {
                Some(loc) => out.push(loc.result),
                None => {
                    return Err(StateError::corrupt(
                        CF_TX_INDEX,
                        &hash.0,
                        "tx of a stored block is not indexed",
                    ));
                }
            }
        }
        Ok(Some(out))
    }

    /// The validator set of `height` (with priorities), for any retained
    /// height up to `latest + 2`.
    pub fn validators_at(&self, height: u64) -> Result<Option<ValidatorSet>, StateError> {
        self.db.get_t(CF_VALSETS, &hkey(height))
    }

    /// Chain parameters in force at `height` (up to `latest + 1`).
    pub fn params_at(&self, height: u64) -> Result<Option<ChainParams>, StateError> {
        let head = self.head()?;
        if height > head.height + 1 || height < self.genesis.initial_height {
            return Ok(None);
        }
        match self.db.at_or_before(CF_PARAMS, &hkey(height))? {
            None => Ok(None),
            Some((k, v)) => ChainParams::try_from_slice(&v)
                .map(Some)
                .map_err(|e| StateError::corrupt(CF_PARAMS, &k, e)),
        }
    }

    // ---- state reads ---------------------------------------------------------------

    /// Looks in the flat-state cache but never fills it (only the writer may).
    fn latest_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let entry = match usable(&self.cache.flat).and_then(|m| m.get(key)) {
            Some(cached) => cached,
            None => read_committed(&self.db, key)?,
        };
        Ok(entry.and_then(|c| c.value))
    }

    fn latest_t<T: BorshDeserialize>(&self, key: &[u8]) -> Result<Option<T>, StateError> {
        match self.latest_raw(key)? {
            None => Ok(None),
            Some(b) => T::try_from_slice(&b)
                .map(Some)
                .map_err(|e| StateError::corrupt(CF_STATE, key, e)),
        }
    }

    /// An account at the latest height (zero balance and nonce when unknown).
    pub fn account(&self, addr: &Address) -> Result<Account, StateError> {
        Ok(self.latest_t(&keys::account(addr))?.unwrap_or_default())
    }

    /// A validator by operator, at the latest height.
    pub fn validator(&self, operator: &Address) -> Result<Option<ValidatorRecord>, StateError> {
        self.latest_t(&keys::validator(operator))
    }

    /// Every validator record (active or not), in operator order.
    pub fn all_validators(&self) -> Result<Vec<ValidatorRecord>, StateError> {
        let mut out = Vec::new();
        for (k, v) in self.db.scan_prefix(CF_STATE, keys::VALIDATOR)? {
            let c = Committed::decode(&v)
                .ok_or_else(|| StateError::corrupt(CF_STATE, &k, "bad entry"))?;
            if let Some(val) = c.value {
                out.push(
                    ValidatorRecord::try_from_slice(&val)
                        .map_err(|e| StateError::corrupt(CF_STATE, &k, e))?,
                );
            }
        }
        Ok(out)
    }

    /// Unbonding entries of a delegator (any validator), in completion order.
    pub fn unbondings_of(&self, delegator: &Address) -> Result<Vec<UnbondingEntry>, StateError> {
        let mut out = Vec::new();
        for (k, v) in self.db.scan_prefix(CF_STATE, keys::UNBONDING)? {
            let c = Committed::decode(&v)
                .ok_or_else(|| StateError::corrupt(CF_STATE, &k, "bad entry"))?;
            if let Some(val) = c.value {
                let e = UnbondingEntry::try_from_slice(&val)
                    .map_err(|e| StateError::corrupt(CF_STATE, &k, e))?;
                if e.delegator == *delegator {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// A delegation at the latest height.
    pub fn delegation(
        &self,
        validator: &Address,
        delegator: &Address,
    ) -> Result<Option<Delegation>, StateError> {
        self.latest_t(&keys::delegation(validator, delegator))
    }

    /// A Put value at the latest height.
    pub fn put_value(&self, owner: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.latest_raw(&keys::put(owner, key))
    }

    /// Whether `operator` may create a validator.
    pub fn is_permitted(&self, operator: &Address) -> Result<bool, StateError> {
        Ok(self.latest_raw(&keys::permit(operator))?.is_some())
    }

    /// The chain parameters at the latest state (those in force for the next block).
    pub fn params(&self) -> Result<ChainParams, StateError> {
        Ok(self.head()?.params)
    }

    /// The supply ledger (genesis supply, burned).
    pub fn supply(&self) -> Result<SupplyLedger, StateError> {
        Ok(self.latest_t(keys::SUPPLY)?.unwrap_or_default())
    }

    /// The active membership the application last computed (that of `set(latest + 2)`).
    pub fn active_members(&self) -> Result<Vec<ActiveMember>, StateError> {
        Ok(self.latest_t(keys::ACTIVE)?.unwrap_or_default())
    }

    /// Reads `key` at `height` (latest when `None`), with a proof when `prove`.
    pub fn query(
        &self,
        key: &StateKey,
        height: Option<u64>,
        prove: bool,
    ) -> Result<Proven<Vec<u8>>, StateError> {
        self.query_raw(&key.to_bytes(), height, prove)
    }

    /// [`Store::query`] over a raw state key.
    pub fn query_raw(
        &self,
        key: &[u8],
        height: Option<u64>,
        prove: bool,
    ) -> Result<Proven<Vec<u8>>, StateError> {
        let head = self.head()?;
        let version = height.unwrap_or(head.height);
        if version > head.height || version < head.oldest_version {
            return Err(StateError::NotRetained {
                height: version,
                oldest: head.oldest_version,
                latest: head.height,
            });
        }
        let view = TreeView::new(&self.db);
        let tree = Tree::new(&view);
        let root = tree.get_root_hash(version).map_err(StateError::merkle)?;
        let kh = key_hash(key);
        if prove {
            let (value, proof) = tree
                .get_with_proof(kh, version)
                .map_err(StateError::merkle)?;
            Ok(Proven {
                height: version,
                value,
                root: Hash(root.0),
                proof: Some(MerkleProof::new(version, proof)),
            })
        } else {
            let value = tree.get(kh, version).map_err(StateError::merkle)?;
            Ok(Proven {
                height: version,
                value,
                root: Hash(root.0),
                proof: None,
            })
        }
    }

    /// Sums balances, pools and unbonding entries at the latest height
    /// (a full scan: for tests, audits and tools, not for the hot path).
    pub fn supply_audit(&self) -> Result<SupplyAudit, StateError> {
        let mut audit = SupplyAudit::default();
        let ledger = self.supply()?;
        audit.genesis_supply = ledger.genesis_supply;
        audit.burned = ledger.burned;
        let decode = |k: &[u8], v: &[u8]| -> Result<Option<Vec<u8>>, StateError> {
            Ok(Committed::decode(v)
                .ok_or_else(|| StateError::corrupt(CF_STATE, k, "bad entry"))?
                .value)
        };
        for (k, v) in self.db.scan_prefix(CF_STATE, keys::ACCOUNT)? {
            if let Some(val) = decode(&k, &v)? {
                let a = Account::try_from_slice(&val)
                    .map_err(|e| StateError::corrupt(CF_STATE, &k, e))?;
                audit.balances += u128::from(a.balance);
            }
        }
        for rec in self.all_validators()? {
            audit.bonded += u128::from(rec.tokens);
        }
        for (k, v) in self.db.scan_prefix(CF_STATE, keys::UNBONDING)? {
            if let Some(val) = decode(&k, &v)? {
                let e = UnbondingEntry::try_from_slice(&val)
                    .map_err(|e| StateError::corrupt(CF_STATE, &k, e))?;
                audit.unbonding += u128::from(e.balance);
            }
        }
        Ok(audit)
    }
}

impl AccountView for Store {
    fn account(&self, addr: &Address) -> Result<Account, StateError> {
        Store::account(self, addr)
    }
    fn app_params(&self) -> Result<AppParams, StateError> {
        Ok(self.params()?.app)
    }
    fn chain_id(&self) -> &str {
        Store::chain_id(self)
    }
}

/// Writes the genesis state (version `initial_height - 1`) in one batch.
fn init_genesis(db: &Db, doc: &GenesisDoc) -> Result<(), StateError> {
    if meta_u64(db, META_HEIGHT)?.is_some() || db.last(CF_BLOCKS)?.is_some() {
        return Err(StateError::Inconsistent {
            dir: db.dir.clone(),
            what: "database holds a chain but no genesis hash".into(),
        });
    }
    let no_cache = ExecCache::new(0);
    let mut ov = Overlay::new(db, &no_cache);
    let mut balances: BTreeMap<Address, u64> = doc
        .accounts
        .iter()
        .map(|a| (a.address, a.balance))
        .collect();
    for v in &doc.validators {
        if let Some(b) = balances.get_mut(&v.operator) {
            *b -= v.self_stake.min(*b);
        }
    }
    for (a, b) in &balances {
        ov.put_t(
            keys::account(a),
            &Account {
                balance: *b,
                nonce: 0,
            },
        )?;
    }
    for a in &doc.admins {
        ov.set(keys::admin(a), Some(Vec::new()))?;
    }
    let mut active = Vec::new();
    for v in &doc.validators {
        let rec = ValidatorRecord {
            operator: v.operator,
            consensus_key: v.pub_key,
            node_id: v.node_id,
            moniker: v.name.clone(),
            tokens: v.self_stake,
            shares: u128::from(v.self_stake),
            jailed: false,
            tombstoned: false,
            slashed: 0,
        };
        ov.put_t(keys::validator(&v.operator), &rec)?;
        ov.set(
            keys::consensus(&v.pub_key.address()),
            Some(v.operator.0.to_vec()),
        )?;
        ov.put_t(
            keys::delegation(&v.operator, &v.operator),
            &Delegation {
                shares: u128::from(v.self_stake),
            },
        )?;
        ov.set(keys::permit(&v.operator), Some(Vec::new()))?;
        active.push(ActiveMember {
            key: v.pub_key,
            power: doc.power_of(v),
        });
    }
    active.sort_by_key(|m| m.key.address());
    ov.put_t(keys::ACTIVE.to_vec(), &active)?;
    ov.put_t(keys::PARAMS.to_vec(), &doc.params)?;
    ov.put_t(
        keys::SUPPLY.to_vec(),
        &SupplyLedger {
            genesis_supply: doc.total_supply()?,
            burned: 0,
        },
    )?;
    ov.put_t(keys::UNBONDING_SEQ.to_vec(), &0u64)?;
    let version = doc.initial_height - 1;
    let view = if version == 0 {
        TreeView::new(db)
    } else {
        TreeView::with_empty_root(db, version - 1)
    };
    let (root, writes) = compute_state(&view, ov.into_changes(), version)?;
    let set1 = doc.validator_set()?;
    let set2 = set1.advanced();
    let mut batch = WriteBatch::default();
    write_state(db, &mut batch, &writes)?;
    let valsets = db.cf(CF_VALSETS)?;
    batch.put_cf(valsets, hkey(doc.initial_height), enc(&set1));
    batch.put_cf(valsets, hkey(doc.initial_height + 1), enc(&set2));
    batch.put_cf(
        db.cf(CF_PARAMS)?,
        hkey(doc.initial_height),
        enc(&doc.params),
    );
    let meta = db.cf(CF_META)?;
    batch.put_cf(meta, META_GENESIS_HASH, doc.hash().0);
    batch.put_cf(meta, META_GENESIS_APP_HASH, root.0);
    batch.put_cf(meta, META_HEIGHT, version.to_be_bytes());
    batch.put_cf(meta, META_APP_HASH, root.0);
    batch.put_cf(meta, META_OLDEST, version.to_be_bytes());
    batch.put_cf(meta, META_VALSET_FLOOR, doc.initial_height.to_be_bytes());
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.db.write_opt(batch, &opts)?;
    Ok(())
}

/// Loads the head and runs the open-time check.
fn load_and_check(db: &Db, doc: &GenesisDoc) -> Result<Head, StateError> {
    let bad = |what: String| StateError::Inconsistent {
        dir: db.dir.clone(),
        what,
    };
    let height =
        meta_u64(db, META_HEIGHT)?.ok_or_else(|| bad("stored height is missing".into()))?;
    let app_hash =
        meta_hash(db, META_APP_HASH)?.ok_or_else(|| bad("stored app hash is missing".into()))?;
    let genesis_app_hash = meta_hash(db, META_GENESIS_APP_HASH)?
        .ok_or_else(|| bad("genesis app hash is missing".into()))?;
    let oldest =
        meta_u64(db, META_OLDEST)?.ok_or_else(|| bad("oldest version is missing".into()))?;
    let floor = meta_u64(db, META_VALSET_FLOOR)?
        .ok_or_else(|| bad("validator-set floor is missing".into()))?;
    let genesis_version = doc.initial_height - 1;
    if height < genesis_version {
        return Err(bad(format!(
            "stored height {height} is below the genesis version {genesis_version}"
        )));
    }
    // The Merkle root of the stored height must be the stored app hash.
    let view = TreeView::new(db);
    let root = Tree::new(&view)
        .get_root_hash_option(height)
        .map_err(StateError::merkle)?
        .ok_or_else(|| bad(format!("no Merkle root stored for height {height}")))?;
    if Hash(root.0) != app_hash {
        return Err(bad(format!(
            "stored app hash {app_hash} differs from the Merkle root {} at height {height}",
            Hash(root.0)
        )));
    }
    // The latest block must be the block of the stored height.
    let last_block = db.last(CF_BLOCKS)?.map(|(k, _)| keys::be_u64(&k, 0));
    let (last_block_id, last_results_hash, last_time) = if height == genesis_version {
        if let Some(h) = last_block {
            return Err(bad(format!(
                "stored height is the genesis ({height}) but block {} is stored",
                h.unwrap_or(0)
            )));
        }
        if app_hash != genesis_app_hash {
            return Err(bad(format!(
                "app hash {app_hash} is not the genesis app hash {genesis_app_hash}"
            )));
        }
        (None, results_hash(&[]), doc.genesis_time)
    } else {
        if last_block != Some(Some(height)) {
            return Err(bad(format!(
                "stored height is {height} but the latest stored block is {}",
                last_block
                    .flatten()
                    .map_or("none".into(), |h| h.to_string())
            )));
        }
        let rec: HeightRecord = db
            .get_t(CF_HEIGHTS, &hkey(height))?
            .ok_or_else(|| bad(format!("no height record for {height}")))?;
        if rec.app_hash != app_hash {
            return Err(bad(format!(
                "height record {height} has app hash {} but the stored app hash is {app_hash}",
                rec.app_hash
            )));
        }
        let block: Block = db
            .get_t(CF_BLOCKS, &hkey(height))?
            .ok_or_else(|| bad(format!("block {height} is missing")))?;
        if block.id() != rec.block_id {
            return Err(bad(format!(
                "block {height} hashes to {:?} but its height record names {:?}",
                block.id(),
                rec.block_id
            )));
        }
        if db.get(CF_BLOCK_HASH, &rec.block_id.0.0)? != Some(hkey(height).to_vec()) {
            return Err(bad(format!(
                "block-hash index does not map block {height}'s id to it"
            )));
        }
        if db.get(CF_COMMITS, &hkey(height))?.is_none() {
            return Err(bad(format!("commit of block {height} is missing")));
        }
        let prev_app = if height - 1 == genesis_version {
            genesis_app_hash
        } else {
            db.get_t::<HeightRecord>(CF_HEIGHTS, &hkey(height - 1))?
                .ok_or_else(|| bad(format!("no height record for {}", height - 1)))?
                .app_hash
        };
        if block.header.app_hash != prev_app {
            return Err(bad(format!(
                "block {height} carries app hash {} but the state after {} was {prev_app}",
                block.header.app_hash,
                height - 1
            )));
        }
        (Some(rec.block_id), rec.results_hash, rec.time)
    };
    let set_next: ValidatorSet = db.get_t(CF_VALSETS, &hkey(height + 1))?.ok_or_else(|| {
        bad(format!(
            "validator set for height {} is missing",
            height + 1
        ))
    })?;
    let set_after: ValidatorSet = db.get_t(CF_VALSETS, &hkey(height + 2))?.ok_or_else(|| {
        bad(format!(
            "validator set for height {} is missing",
            height + 2
        ))
    })?;
    let params: ChainParams = match db.at_or_before(CF_PARAMS, &hkey(height + 1))? {
        Some((_, v)) => {
            ChainParams::try_from_slice(&v).map_err(|e| StateError::corrupt(CF_PARAMS, b"", e))?
        }
        None => return Err(bad("no chain parameters stored".into())),
    };
    let state_params: Option<ChainParams> = read_committed(db, keys::PARAMS)?
        .and_then(|c| c.value)
        .map(|v| ChainParams::try_from_slice(&v))
        .transpose()
        .map_err(|e| StateError::corrupt(CF_STATE, keys::PARAMS, e))?;
    if state_params.as_ref() != Some(&params) {
        return Err(bad(
            "chain parameters in the state differ from those recorded by height".into(),
        ));
    }
    Ok(Head {
        height,
        app_hash,
        last_block_id,
        last_results_hash,
        last_time,
        params,
        set_next,
        set_after,
        oldest_version: oldest,
        valset_floor: floor,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
    use jmt::{KeyHash, OwnedValue, Version};
    use proptest::prelude::*;

    use super::*;

    /// A tree kept in memory: nodes by key (values are not read on insert).
    #[test]
    fn a_tx_location_encodes_as_its_fields_in_order() {
        let result = TxResult {
            code: 3,
            log: "no".into(),
            events: vec![crate::Event::new("tx", vec![("a", "b".into())])],
        };
        let loc = TxLocation {
            height: 9,
            index: 2,
            result: result.clone(),
        };
        assert_eq!(enc(&loc), enc(&(9u64, 2u32, &result)));
    }

    #[derive(Default)]
    struct MemTree(HashMap<NodeKey, Node>);

    impl TreeReader for MemTree {
        fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
            Ok(self.0.get(key).cloned())
        }
        fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
            anyhow::bail!("insertion never reads values")
        }
        fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
            anyhow::bail!("only a restore reads the rightmost leaf")
        }
    }

    impl MemTree {
        fn apply(&mut self, batch: &TreeUpdateBatch) {
            for (k, n) in batch.node_batch.nodes() {
                self.0.insert(k.clone(), n.clone());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The batch insert and jmt's per-key insert build the same tree:
        /// the same root, new nodes, values and stale nodes at every version, over new
        /// keys, updated keys and leaves split by a neighbour.
        #[test]
        fn the_batch_insert_builds_the_tree_the_per_key_insert_builds(
            versions in prop::collection::vec(
                prop::collection::btree_map(0u16..300, any::<u8>(), 1..40), 1..6)
        ) {
            let (mut batched, mut per_key) = (MemTree::default(), MemTree::default());
            for (version, set) in versions.into_iter().enumerate() {
                let version = version as u64;
                let changes: Vec<Change> = set
                    .iter()
                    .map(|(k, v)| Change {
                        key: k.to_be_bytes().to_vec(),
                        value: Some(vec![*v]),
                        before: None,
                    })
                    .collect();
                let (root, writes) = compute_state(&batched, changes, version).unwrap();
                let (expected_root, expected) = Tree::new(&per_key)
                    .put_value_set(
                        set.iter().map(|(k, v)| (key_hash(&k.to_be_bytes()), Some(vec![*v]))),
                        version,
                    )
                    .unwrap();
                prop_assert_eq!(root.0, expected_root.0);
                prop_assert_eq!(&writes.tree.node_batch, &expected.node_batch);
                prop_assert_eq!(
                    &writes.tree.stale_node_index_batch,
                    &expected.stale_node_index_batch
                );
                batched.apply(&writes.tree);
                per_key.apply(&expected);
            }
        }
    }
}
