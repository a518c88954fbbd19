//! Copy-on-write view of the state during one block's execution.
//!
//! Reads go to the block's pending writes first, then to the latest
//! committed state (the `state` column family, through the store's
//! [`ExecCache`], and kept per block). Writes stay
//! in memory until the store commits them in one batch. A journal makes each
//! transaction all-or-nothing: [`Overlay::begin_tx`] marks a point,
//! [`Overlay::rollback_tx`] undoes every write since.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::cache::{ExecCache, flat_weight, usable};
use crate::db::{CF_STATE, Db};
use crate::error::StateError;

/// A committed entry of the flat state: the version that wrote it and its
/// value (`None`: deleted at that version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) version: u64,
    pub(crate) value: Option<Vec<u8>>,
}

impl Committed {
    pub(crate) fn decode(bytes: &[u8]) -> Option<Committed> {
        let version = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        match bytes.get(8)? {
            0 if bytes.len() == 9 => Some(Committed {
                version,
                value: None,
            }),
            1 => Some(Committed {
                version,
                value: Some(bytes[9..].to_vec()),
            }),
            _ => None,
        }
    }

    pub(crate) fn encode(version: u64, value: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + value.map_or(0, <[u8]>::len));
        out.extend_from_slice(&version.to_be_bytes());
        match value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                out.extend_from_slice(v);
            }
        }
        out
    }
}

/// Reads the committed entry of `key`.
pub(crate) fn read_committed(db: &Db, key: &[u8]) -> Result<Option<Committed>, StateError> {
    match db.db.get_pinned_cf(db.cf(CF_STATE)?, key)? {
        None => Ok(None),
        Some(b) => Committed::decode(&b)
            .map(Some)
            .ok_or_else(|| StateError::corrupt(CF_STATE, key, "bad flat-state entry")),
    }
}

type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

/// The state as a block's execution sees it.
pub(crate) struct Overlay<'a> {
    db: &'a Db,
    cache: &'a ExecCache,
    committed: BTreeMap<Vec<u8>, Option<Committed>>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    journal: Vec<Undo>,
}

impl<'a> Overlay<'a> {
    /// An overlay for the writer: it fills `cache` on a miss (see
    /// [`crate::cache`] for why only the writer may).
    pub(crate) fn new(db: &'a Db, cache: &'a ExecCache) -> Overlay<'a> {
        Overlay {
            db,
            cache,
            committed: BTreeMap::new(),
            writes: BTreeMap::new(),
            journal: Vec::new(),
        }
    }

    pub(crate) fn db(&self) -> &'a Db {
        self.db
    }

    fn load(&mut self, key: &[u8]) -> Result<Option<&Committed>, StateError> {
        if !self.committed.contains_key(key) {
            let cached = usable(&self.cache.flat).and_then(|m| m.get(key));
            let c = match cached {
                Some(c) => c,
                None => {
                    let c = read_committed(self.db, key)?;
                    if let Some(mut m) = usable(&self.cache.flat) {
                        m.insert(key.to_vec(), c.clone(), flat_weight(key, &c));
                    }
                    c
                }
            };
            self.committed.insert(key.to_vec(), c);
        }
        Ok(self.committed.get(key).and_then(Option::as_ref))
    }

    /// The current value of `key`.
    pub(crate) fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        Ok(self.load(key)?.and_then(|c| c.value.clone()))
    }

    /// The current value of `key`, decoded.
    pub(crate) fn get_t<T: BorshDeserialize>(
        &mut self,
        key: &[u8],
    ) -> Result<Option<T>, StateError> {
        match self.get(key)? {
            None => Ok(None),
            Some(b) => T::try_from_slice(&b)
                .map(Some)
                .map_err(|e| StateError::corrupt(CF_STATE, key, e)),
        }
    }

    /// Sets (`Some`) or deletes (`None`) `key`.
    pub(crate) fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), StateError> {
        // The committed entry is needed at commit time (old version for pruning, preimage).
        self.load(&key)?;
        let prev = self.writes.insert(key.clone(), value);
        self.journal.push((key, prev));
        Ok(())
    }

    /// Sets `key` to the encoding of `value`.
    pub(crate) fn put_t<T: BorshSerialize>(
        &mut self,
        key: Vec<u8>,
        value: &T,
    ) -> Result<(), StateError> {
        self.set(key, Some(cairn_types::codec::encode(value)))
    }

    /// Deletes `key`.
    pub(crate) fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError> {
        self.set(key, None)
    }

    /// Every (key, value) under `prefix`, in key order, pending writes included.
    pub(crate) fn scan(&mut self, prefix: &[u8]) -> Result<Vec<crate::db::Kv>, StateError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (k, v) in self.db.scan_prefix(CF_STATE, prefix)? {
            let c = Committed::decode(&v)
                .ok_or_else(|| StateError::corrupt(CF_STATE, &k, "bad flat-state entry"))?;
            if let Some(val) = c.value {
                merged.insert(k, val);
            }
        }
        for (k, v) in self.writes.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Starts a transaction: later writes can be undone together.
    pub(crate) fn begin_tx(&mut self) {
        self.journal.clear();
    }

    /// Undoes every write since [`Overlay::begin_tx`].
    pub(crate) fn rollback_tx(&mut self) {
        while let Some((key, prev)) = self.journal.pop() {
            match prev {
                Some(p) => self.writes.insert(key, p),
                None => self.writes.remove(&key),
            };
        }
    }

    /// Keeps the writes since [`Overlay::begin_tx`].
    pub(crate) fn commit_tx(&mut self) {
        self.journal.clear();
    }

    /// The block's net changes: (key, new value, committed entry before the block),
    /// leaving out writes that change nothing.
    pub(crate) fn into_changes(self) -> Vec<Change> {
        let mut committed = self.committed;
        self.writes
            .into_iter()
            .filter_map(|(key, value)| {
                let before = committed.remove(&key).flatten();
                let old_value = before.as_ref().and_then(|c| c.value.as_ref());
                if old_value == value.as_ref() {
                    return None;
                }
                Some(Change { key, value, before })
            })
            .collect()
    }
}

/// One net change of a block.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) before: Option<Committed>,
}
