//! A byte-bounded LRU map: the index of clips on disk and the in-memory hot tier are both one.

use std::collections::{BTreeMap, HashMap};

use super::key::CacheKey;

pub(super) struct Slot<V> {
    pub value: V,
    pub bytes: u64,
    tick: u64,
}

/// Recency is a tick from a counter shared by the caller (strictly increasing, so no ties and
/// no clock jumps); `order` maps tick → key, so the least recently used is the first entry.
pub(super) struct Lru<V> {
    map: HashMap<CacheKey, Slot<V>>,
    order: BTreeMap<u64, CacheKey>,
    bytes: u64,
}

impl<V> Default for Lru<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            bytes: 0,
        }
    }
}

impl<V> Lru<V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn peek(&self, key: &CacheKey) -> Option<&Slot<V>> {
        self.map.get(key)
    }

    /// Marks `key` as just used.
    pub fn touch(&mut self, key: &CacheKey, tick: u64) -> Option<&Slot<V>> {
        let slot = self.map.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, *key);
        Some(slot)
    }

    /// Inserts (or replaces) as most recently used; returns the replaced value.
    pub fn insert(&mut self, key: CacheKey, value: V, bytes: u64, tick: u64) -> Option<V> {
        let old = self.remove(&key);
        self.bytes += bytes;
        self.order.insert(tick, key);
        self.map.insert(key, Slot { value, bytes, tick });
        old
    }

    pub fn remove(&mut self, key: &CacheKey) -> Option<V> {
        let slot = self.map.remove(key)?;
        self.order.remove(&slot.tick);
        self.bytes -= slot.bytes;
        Some(slot.value)
    }

    /// Removes the least recently used entry.
    pub fn pop_lru(&mut self) -> Option<(CacheKey, V)> {
        let (_, key) = self.order.pop_first()?;
        let slot = self.map.remove(&key)?;
        self.bytes -= slot.bytes;
        Some((key, slot.value))
    }

    /// Keys whose value matches `pred`.
    pub fn keys_where(&self, mut pred: impl FnMut(&V) -> bool) -> Vec<CacheKey> {
        self.map
            .iter()
            .filter(|(_, s)| pred(&s.value))
            .map(|(k, _)| *k)
            .collect()
    }
}
