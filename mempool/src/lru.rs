//! A small bounded least-recently-used map (no external crate: the mempool
//! stays dependency-light and the operations it needs are few).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash as StdHash;

/// A map that holds at most `capacity` entries, dropping the least recently
/// inserted or touched one when full. All operations are `O(log n)`.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    capacity: usize,
    next_stamp: u64,
    entries: HashMap<K, (u64, V)>,
    order: BTreeMap<u64, K>,
}

impl<K: StdHash + Eq + Clone, V> Lru<K, V> {
    /// An empty map holding at most `capacity` entries (0 means it holds nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            next_stamp: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Inserts or refreshes `key`, evicting the oldest entry if over capacity.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some((old, _)) = self.entries.insert(key.clone(), (stamp, value)) {
            self.order.remove(&old);
        }
        self.order.insert(stamp, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// The value under `key`, without refreshing it.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (stamp, v) = self.entries.remove(key)?;
        self.order.remove(&stamp);
        Some(v)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_entry_is_dropped_first() {
        let mut l = Lru::new(2);
        l.insert(1, 'a');
        l.insert(2, 'b');
        l.insert(1, 'c'); // refresh 1
        l.insert(3, 'd'); // drops 2
        assert!(l.contains(&1));
        assert!(!l.contains(&2));
        assert!(l.contains(&3));
        assert_eq!(l.peek(&1), Some(&'c'));
        assert_eq!(l.len(), 2);
        assert_eq!(l.remove(&1), Some('c'));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut l = Lru::new(0);
        l.insert(1, ());
        assert!(!l.contains(&1));
    }
}
