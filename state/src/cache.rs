//! Bounded in-memory maps in front of RocksDB on the execution path: the
//! flat-state entries and the tree nodes that recent blocks read or wrote.
//! A RocksDB read that misses the block cache searches every memtable's
//! skip list first; under load that was a fifth of a block's execution.
//!
//! Each map forgets everything once its entries outweigh its budget, so a
//! flood of fresh keys costs misses, never memory. Coherence:
//! - a tree node never changes under its key (the key carries the version
//!   that wrote it), so a cached node is never stale;
//! - a flat-state entry changes at each commit that writes its key: the
//!   commit writes every change through once its batch is on disk, and only
//!   the writer (holder of the store's writer lock) fills the map on a miss,
//!   so no reader can put back a value a commit just replaced. Readers
//!   outside the lock only look.
//!
//! A poisoned lock reads as an empty map and takes no writes, so an entry
//! that a panicking writer may have left half-updated is never used.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use jmt::storage::{Node, NodeKey};

use crate::overlay::Committed;

/// Bytes charged per entry on top of what its types hold (hash-map control
/// bytes, allocator rounding).
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// A map of at most `budget` bytes of entries (as charged by the caller).
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    entries: HashMap<K, (V, usize)>,
    weight: usize,
    budget: usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    pub(crate) fn new(budget: usize) -> Self {
        Bounded {
            entries: HashMap::new(),
            weight: 0,
            budget,
        }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|(v, _)| v.clone())
    }

    /// Keeps `value` under `key`, charged `weight` bytes; starts over when
    /// the budget would be exceeded.
    pub(crate) fn insert(&mut self, key: K, value: V, weight: usize) {
        if weight > self.budget {
            return;
        }
        if self.weight + weight > self.budget {
            self.entries.clear();
            self.weight = 0;
        }
        if let Some((_, old)) = self.entries.insert(key, (value, weight)) {
            self.weight -= old;
        }
        self.weight += weight;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The caches of one store. Half the budget each.
#[derive(Debug)]
pub(crate) struct ExecCache {
    /// Flat-state key to its committed entry (`None`: the key is absent).
    pub(crate) flat: Mutex<Bounded<Vec<u8>, Option<Committed>>>,
    /// Tree nodes by key.
    pub(crate) nodes: Mutex<Bounded<NodeKey, Node>>,
}

impl ExecCache {
    pub(crate) fn new(budget: usize) -> ExecCache {
        ExecCache {
            flat: Mutex::new(Bounded::new(budget / 2)),
            nodes: Mutex::new(Bounded::new(budget / 2)),
        }
    }
}

/// The map behind `m`, or `None` if a writer panicked while holding it.
pub(crate) fn usable<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    m.lock().ok()
}

/// The memory a flat-state entry holds: its key, its value and the map slot.
pub(crate) fn flat_weight(key: &[u8], entry: &Option<Committed>) -> usize {
    let value = entry
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .map_or(0, Vec::len);
    ENTRY_OVERHEAD + std::mem::size_of::<(Vec<u8>, Option<Committed>)>() + key.len() + value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_starts_over_rather_than_outgrow_its_budget() {
        let mut m: Bounded<u32, u32> = Bounded::new(100);
        for k in 0..10 {
            m.insert(k, k, 10);
        }
        assert_eq!(m.len(), 10);
        assert_eq!(m.get(&3), Some(3));
        m.insert(10, 10, 10);
        assert_eq!(m.len(), 1, "the eleventh entry starts the map over");
        assert_eq!(m.get(&3), None);
        m.insert(11, 11, 101);
        assert_eq!(m.get(&11), None, "an entry above the budget is never kept");
    }

    #[test]
    fn replacing_an_entry_charges_only_its_new_weight() {
        let mut m: Bounded<u32, u32> = Bounded::new(100);
        for v in 0..50 {
            m.insert(1, v, 30);
        }
        m.insert(2, 2, 30);
        m.insert(3, 3, 30);
        assert_eq!((m.get(&1), m.len()), (Some(49), 3));
    }
}
