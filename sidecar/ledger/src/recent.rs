//! The duplicate window: message ids admitted recently, held in memory and decided there.
//!
//! Deciding "seen before?" with a SQLite row per message id cost a B-tree insert per event, the
//! largest part of admission under a storm. Instead every admitted id is hashed ([`id_hash`],
//! 64-bit XXH3 of the id, seeded by the platform) into this window, and each admission group
//! appends one row to `seen_log` holding the hashes it added (8 bytes per id, one insert per
//! group). [`Ledger::open`](super::Ledger::open) reloads the newest [`CAPACITY`] hashes, so the
//! window survives restarts exactly as far as the ledger does: a group that was not committed
//! before a crash is not in `seen_log`, its frames were not acknowledged, and their resend is
//! admitted as new.
//!
//! A 64-bit hash can collide. For anything but a gift the window is authoritative (with a full
//! window a new id is mistaken for a duplicate with probability ~2⁻⁴⁴, about once in
//! 10¹³ events). A gift is never dropped on a hash alone: a hit is confirmed against the `gifts`
//! table's primary key, and a gift not found there goes through the combo arithmetic, which
//! is exact by itself (`admit.rs`).

pub(super) use aivs_core::recent_ids::RecentIds;

/// Ids remembered: ~1 M is minutes of the heaviest storm and hours of a busy room (resends
/// after a reconnect arrive within seconds), for ~26 MB when full.
pub(super) const CAPACITY: usize = 1 << 20;

/// The hash a message id is remembered by.
pub(super) fn id_hash(platform: &str, msg_id: &str) -> u64 {
    // The platform's own hash seeds the id's: the same id on two platforms differs, and
    // ("ab", "c") ≠ ("a", "bc"). Two one-shot calls, no buffer to assemble.
    use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};
    xxh3_64_with_seed(msg_id.as_bytes(), xxh3_64(platform.as_bytes()))
}

/// Encodes hashes for a `seen_log` row (little-endian u64s).
pub(super) fn encode(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// Decodes a `seen_log` row; a trailing partial hash (a damaged row) is ignored.
pub(super) fn decode(blob: &[u8]) -> impl Iterator<Item = u64> + '_ {
    blob.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_a_log_row_and_separate_platform_from_id() {
        let hashes = [id_hash("douyin", "1"), id_hash("bilibili", "1"), u64::MAX];
        assert_eq!(decode(&encode(&hashes)).collect::<Vec<_>>(), hashes);
        assert_ne!(id_hash("ab", "c"), id_hash("a", "bc"));
        assert_ne!(hashes[0], hashes[1]);
    }
}
