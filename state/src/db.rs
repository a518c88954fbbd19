//! RocksDB: column families, tuning within the node's memory budget, and
//! small typed helpers.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `default` (meta) | name | latest height, app hash, genesis hash, oldest retained version, ... |
//! | `blocks` | height (BE) | encoded [`Block`](cairn_types::Block) |
//! | `commits` | height (BE) | encoded [`Commit`](cairn_types::Commit) |
//! | `block_hash` | block id | height (BE) |
//! | `tx_index` | tx hash | [`TxLocation`](crate::store::TxLocation): height, index, result |
//! | `heights` | height (BE) | [`HeightRecord`](crate::store::HeightRecord): block id, time, app hash, results hash |
//! | `valsets` | height (BE) | [`ValidatorSet`](cairn_types::ValidatorSet) for that height, priorities included |
//! | `params` | height (BE) | [`ChainParams`](cairn_types::ChainParams) in force from that height on |
//! | `state` | state key | version (BE) ‖ 1 ‖ value, or version (BE) ‖ 0 for a deleted key: latest state |
//! | `jmt_nodes` | borsh(NodeKey) | borsh(Node) |
//! | `jmt_values` | key hash ‖ version (BE) | borsh(`Option<value>`) |
//! | `preimages` | key hash | state key |
//! | `jmt_stale` | stale-since version (BE) ‖ borsh(NodeKey) | empty: node prunable once that version is the oldest kept |
//! | `stale_values` | stale-since version (BE) ‖ key hash ‖ old version (BE) | empty: the same for values |

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
};

use crate::error::StateError;

pub(crate) const CF_META: &str = "default";
pub(crate) const CF_BLOCKS: &str = "blocks";
pub(crate) const CF_COMMITS: &str = "commits";
pub(crate) const CF_BLOCK_HASH: &str = "block_hash";
pub(crate) const CF_TX_INDEX: &str = "tx_index";
pub(crate) const CF_HEIGHTS: &str = "heights";
pub(crate) const CF_VALSETS: &str = "valsets";
pub(crate) const CF_PARAMS: &str = "params";
pub(crate) const CF_STATE: &str = "state";
pub(crate) const CF_JMT_NODES: &str = "jmt_nodes";
pub(crate) const CF_JMT_VALUES: &str = "jmt_values";
pub(crate) const CF_PREIMAGES: &str = "preimages";
pub(crate) const CF_JMT_STALE: &str = "jmt_stale";
pub(crate) const CF_STALE_VALUES: &str = "stale_values";

const ALL_CFS: [&str; 14] = [
    CF_META,
    CF_BLOCKS,
    CF_COMMITS,
    CF_BLOCK_HASH,
    CF_TX_INDEX,
    CF_HEIGHTS,
    CF_VALSETS,
    CF_PARAMS,
    CF_STATE,
    CF_JMT_NODES,
    CF_JMT_VALUES,
    CF_PREIMAGES,
    CF_JMT_STALE,
    CF_STALE_VALUES,
];

/// Column families read by point lookups get a bloom filter.
const POINT_LOOKUP: [&str; 6] = [
    CF_TX_INDEX,
    CF_BLOCK_HASH,
    CF_STATE,
    CF_JMT_NODES,
    CF_PREIMAGES,
    CF_HEIGHTS,
];

/// A raw (key, value) pair.
pub(crate) type Kv = (Vec<u8>, Vec<u8>);

/// Memory and durability settings of the database.
#[derive(Debug, Clone)]
pub struct DbTuning {
    /// Shared LRU block cache for all column families, in bytes.
    pub block_cache_bytes: usize,
    /// Cap on all memtables together, in bytes.
    pub write_buffer_bytes: usize,
    /// Most open SST files.
    pub max_open_files: i32,
    /// Budget of the in-memory caches of flat-state entries and tree nodes
    /// in front of the database on the execution path, in bytes (half
    /// each).
    pub exec_cache_bytes: usize,
}

impl Default for DbTuning {
    fn default() -> Self {
        DbTuning {
            block_cache_bytes: 128 << 20,
            write_buffer_bytes: 64 << 20,
            max_open_files: 512,
            exec_cache_bytes: 32 << 20,
        }
    }
}

/// The open database.
pub(crate) struct Db {
    pub(crate) db: DB,
    pub(crate) dir: String,
}

impl Db {
    pub(crate) fn open(dir: &Path, tuning: &DbTuning) -> Result<Db, StateError> {
        let cache = Cache::new_lru_cache(tuning.block_cache_bytes);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(tuning.max_open_files);
        opts.set_max_background_jobs(2);
        opts.set_db_write_buffer_size(tuning.write_buffer_bytes);
        opts.set_keep_log_file_num(4);
        opts.set_max_total_wal_size(tuning.write_buffer_bytes as u64 * 2);
        let per_cf_buffer = (tuning.write_buffer_bytes / 4).max(1 << 20);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut cf = Options::default();
            cf.set_compression_type(DBCompressionType::Lz4);
            cf.set_bottommost_compression_type(DBCompressionType::Zstd);
            cf.set_write_buffer_size(per_cf_buffer);
            cf.set_max_write_buffer_number(2);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            if POINT_LOOKUP.contains(name) {
                table.set_bloom_filter(10.0, false);
            }
            cf.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, dir, cfs)?;
        Ok(Db {
            db,
            dir: dir.display().to_string(),
        })
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StateError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StateError::Inconsistent {
                dir: self.dir.clone(),
                what: format!("column family {name:?} is missing"),
            })
    }

    pub(crate) fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// Reads and decodes a borsh record.
    pub(crate) fn get_t<T: borsh::BorshDeserialize>(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StateError> {
        match self.db.get_pinned_cf(self.cf(cf)?, key)? {
            None => Ok(None),
            Some(b) => T::try_from_slice(&b)
                .map(Some)
                .map_err(|e| StateError::corrupt(cf, key, e)),
        }
    }

    /// The last (key, value) of a column family.
    pub(crate) fn last(&self, cf: &'static str) -> Result<Option<Kv>, StateError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_last();
        let out = match (it.key(), it.value()) {
            (Some(k), Some(v)) => Some((k.to_vec(), v.to_vec())),
            _ => None,
        };
        it.status()?;
        Ok(out)
    }

    /// The entry with the greatest key `<= key`.
    pub(crate) fn at_or_before(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<Kv>, StateError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_for_prev(key);
        let out = match (it.key(), it.value()) {
            (Some(k), Some(v)) => Some((k.to_vec(), v.to_vec())),
            _ => None,
        };
        it.status()?;
        Ok(out)
    }

    /// All (key, value) with `prefix`, in key order.
    pub(crate) fn scan_prefix(
        &self,
        cf: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<Kv>, StateError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek(prefix);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Keys below `end` (exclusive), from the start, at most `limit` of them.
    pub(crate) fn keys_below(
        &self,
        cf: &'static str,
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            if k >= end || out.len() >= limit {
                break;
            }
            out.push(k.to_vec());
            it.next();
        }
        it.status()?;
        Ok(out)
    }
}

/// Height as a big-endian key.
pub(crate) fn hkey(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}
