//! A bounded window of recently seen 64-bit ids: "have I seen this message before?" for the
//! Douyin adapter (per connection, raw message ids) and the ledger (every platform, hashed ids;
//! `ledger/recent.rs`). Memory is bounded by the capacity; the oldest id is forgotten first.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// One multiply (Fibonacci hashing) spreads sequential platform ids and costs nothing for ids
/// that are hashes already. The ids are assigned by the platform (or hashed from them), so no
/// viewer can pick colliding keys: SipHash's flooding resistance would buy nothing here.
#[derive(Default)]
pub struct MixU64(u64);

impl Hasher for MixU64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// For maps keyed by such ids (or by hashes).
pub type BuildIdHasher = BuildHasherDefault<MixU64>;

/// The newest `capacity` ids, oldest evicted first.
pub struct RecentIds {
    set: HashSet<u64, BuildIdHasher>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            set: HashSet::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.set.contains(&hash)
    }

    /// Remembers `hash`; false when it was already there.
    pub fn insert(&mut self, hash: u64) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        true
    }

    /// Takes back the newest insertions (a group whose transaction failed), newest first.
    pub fn forget_newest(&mut self, hashes: &[u64]) {
        for hash in hashes.iter().rev() {
            if self.order.back() == Some(hash) {
                self.order.pop_back();
            }
            self.set.remove(hash);
        }
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// Sizes only: a full window holds a million ids.
impl std::fmt::Debug for RecentIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentIds")
            .field("len", &self.set.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_newest_ids() {
        let mut recent = RecentIds::new(3);
        for h in 1..=4 {
            assert!(recent.insert(h));
        }
        assert!(!recent.contains(1), "the oldest was evicted");
        assert!(recent.contains(2) && recent.contains(4));
        assert!(!recent.insert(4), "a duplicate");
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn a_failed_group_is_forgotten() {
        let mut recent = RecentIds::new(10);
        recent.insert(1);
        recent.insert(2);
        recent.insert(3);
        recent.forget_newest(&[2, 3]);
        assert!(recent.contains(1));
        assert!(!recent.contains(2) && !recent.contains(3));
        assert!(recent.insert(3), "admitted again on the resend");
    }
}
