//! Combo progress (`combos.counted`) cached in memory, so a combo tap costs no SQLite lookup.
//!
//! SQLite stays authoritative: every change is written to `combos` in the admission
//! transaction, a miss reads the row, and when a transaction fails the whole cache is dropped
//! (it may hold values that were rolled back) and refills from the table. Entries are looked up
//! by a hash but matched on the exact platform and key, because a wrong hit would miscount
//! money. Bounded: when full it starts over, which costs only lookups.

use std::collections::HashMap;

use aivs_core::recent_ids::BuildIdHasher;

/// Combos remembered; a busy room has a few thousand running at once.
const CAPACITY: usize = 65_536;

struct Entry {
    platform: String,
    key: String,
    counted: u64,
}

#[derive(Default)]
pub(super) struct ComboCache {
    entries: HashMap<u64, Entry, BuildIdHasher>,
}

impl ComboCache {
    /// The cached progress of this combo, if it is cached.
    pub(super) fn get(&self, platform: &str, key: &str) -> Option<u64> {
        self.entries
            .get(&super::recent::id_hash(platform, key))
            .filter(|e| e.platform == platform && e.key == key)
            .map(|e| e.counted)
    }

    pub(super) fn set(&mut self, platform: &str, key: &str, counted: u64) {
        if self.entries.len() >= CAPACITY {
            self.entries.clear();
        }
        // A colliding combo simply takes the slot: the other one is read from SQLite again.
        self.entries.insert(
            super::recent::id_hash(platform, key),
            Entry {
                platform: platform.to_string(),
                key: key.to_string(),
                counted,
            },
        );
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_exact_and_the_cache_stays_bounded() {
        let mut cache = ComboCache::default();
        assert_eq!(cache.get("douyin", "k"), None);
        cache.set("douyin", "k", 3);
        assert_eq!(cache.get("douyin", "k"), Some(3));
        assert_eq!(cache.get("bilibili", "k"), None);
        for i in 0..CAPACITY + 1 {
            cache.set("douyin", &i.to_string(), 1);
        }
        assert!(cache.entries.len() <= CAPACITY);
    }
}
