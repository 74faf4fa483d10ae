//! Freshness of signed pushes: the timestamp window and the replay memory.
//!
//! A valid signature proves the platform made a request, not that it is making it now: anyone
//! who saw one push (a logging proxy, a leaked capture) could send it again. So a push must be
//! signed for a time within ±`window` of our clock, and a `(nonce, timestamp, signature)` that
//! was already answered 200 inside that window is refused with **409 Conflict** (counted
//! `replayed`). Replays could not add money anyway (the ledger ignores message ids it has seen);
//! this keeps captured traffic from being fed back at all.
//!
//! A request is only *remembered* once it was answered 200. A push we answered 503 (the ledger
//! was slow) is one the platform must be able to resend, even byte for byte, so its key is
//! released again. While a request is in flight its key is held, so two identical requests
//! racing each other are not both processed.

use std::collections::HashMap;

/// Most keys kept at once. The platform pushes at most 100 requests per second per room and a
/// key lives at most `2 × window` (a timestamp may lie up to `window` ahead of our clock), so
/// the default 300 s window needs 60 000; beyond this the guard answers "busy" rather than grow.
pub const MAX_REMEMBERED: usize = 200_000;

/// Timestamps below this are in seconds (1e11 ms is March 1973; 1e11 s is the year 5138).
const SECONDS_BELOW: u64 = 100_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The timestamp is not a number of milliseconds within the window.
    Stale,
    /// This exact request was accepted (or is being processed) already.
    Replayed,
    /// The memory is full (only under a flood of validly signed requests).
    Full,
}

#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    /// key → the request's timestamp (ms); forgotten once that timestamp is out of the window.
    seen: HashMap<String, u64>,
    inserts_since_prune: usize,
}

impl ReplayGuard {
    pub fn new(window_secs: u64) -> Self {
        Self {
            window_ms: window_secs.saturating_mul(1000),
            seen: HashMap::new(),
            inserts_since_prune: 0,
        }
    }

    /// Parses `x-timestamp` and checks it against `now_ms`; returns it in milliseconds.
    ///
    /// The platform documents milliseconds. A 10-digit value (seconds) is read as seconds
    /// rather than refused: a unit mix-up on either side would otherwise refuse every push,
    /// and the window is the same either way.
    pub fn check_time(&self, timestamp: &str, now_ms: u64) -> Result<u64, Refusal> {
        let mut ts: u64 = timestamp.trim().parse().map_err(|_| Refusal::Stale)?;
        if ts < SECONDS_BELOW {
            ts = ts.saturating_mul(1000);
        }
        if ts.abs_diff(now_ms) > self.window_ms {
            return Err(Refusal::Stale);
        }
        Ok(ts)
    }

    /// Holds the key of a fresh request (see the module docs); refuses a known one.
    pub fn reserve(&mut self, key: &str, ts_ms: u64, now_ms: u64) -> Result<(), Refusal> {
        if self.seen.contains_key(key) {
            return Err(Refusal::Replayed);
        }
        self.inserts_since_prune += 1;
        if self.seen.len() >= MAX_REMEMBERED || self.inserts_since_prune >= 1024 {
            self.prune(now_ms);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err(Refusal::Full);
        }
        self.seen.insert(key.to_string(), ts_ms);
        Ok(())
    }

    /// Forgets a key whose request was not answered 200, so the platform may resend it.
    pub fn release(&mut self, key: &str) {
        self.seen.remove(key);
    }

    /// Drops keys whose timestamp has left the window: a replay of them is already stale.
    fn prune(&mut self, now_ms: u64) {
        let window = self.window_ms;
        self.seen
            .retain(|_, ts| ts.saturating_add(window) >= now_ms);
        self.inserts_since_prune = 0;
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The replay key of a request.
pub fn replay_key(nonce: &str, timestamp: &str, signature: &str) -> String {
    format!("{nonce}\n{timestamp}\n{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn timestamps_are_milliseconds_within_the_window_either_way() {
        let guard = ReplayGuard::new(300);
        assert_eq!(guard.check_time("1700000000000", NOW), Ok(NOW));
        assert!(guard.check_time(&(NOW - 300_000).to_string(), NOW).is_ok());
        assert!(guard.check_time(&(NOW + 300_000).to_string(), NOW).is_ok());
        assert_eq!(
            guard.check_time(&(NOW - 300_001).to_string(), NOW),
            Err(Refusal::Stale)
        );
        assert_eq!(
            guard.check_time(&(NOW + 300_001).to_string(), NOW),
            Err(Refusal::Stale)
        );
        // Seconds are read as seconds, with the same window.
        assert_eq!(guard.check_time("1700000000", NOW), Ok(NOW));
        assert!(guard.check_time("1700000300", NOW).is_ok());
        assert_eq!(guard.check_time("1700000301", NOW), Err(Refusal::Stale));
        assert_eq!(guard.check_time("0", NOW), Err(Refusal::Stale));
        assert_eq!(guard.check_time("", NOW), Err(Refusal::Stale));
        assert_eq!(guard.check_time("-5", NOW), Err(Refusal::Stale));
    }

    #[test]
    fn an_accepted_request_cannot_come_back_but_a_released_one_can() {
        let mut guard = ReplayGuard::new(300);
        let key = replay_key("n1", "1700000000000", "sig");
        guard.reserve(&key, NOW, NOW).unwrap();
        assert_eq!(guard.reserve(&key, NOW, NOW + 1), Err(Refusal::Replayed));
        // Another nonce is another request.
        guard
            .reserve(&replay_key("n2", "1700000000000", "sig"), NOW, NOW)
            .unwrap();
        guard.release(&key);
        guard.reserve(&key, NOW, NOW + 2).unwrap();
    }

    #[test]
    fn keys_are_forgotten_once_their_timestamp_left_the_window() {
        let mut guard = ReplayGuard::new(1);
        for i in 0..1500u64 {
            let now = NOW + i * 10;
            guard
                .reserve(&replay_key(&i.to_string(), "t", "s"), now, now)
                .unwrap();
        }
        // One prune ran after 1024 inserts: only keys from the last second survived it.
        assert!(guard.len() < 1500 - 800, "{}", guard.len());
        assert!(!guard.is_empty());
    }

    #[test]
    fn a_full_memory_refuses_instead_of_growing() {
        let mut guard = ReplayGuard::new(300);
        for i in 0..MAX_REMEMBERED {
            guard.reserve(&i.to_string(), NOW, NOW).unwrap();
        }
        assert_eq!(guard.reserve("one more", NOW, NOW), Err(Refusal::Full));
        // Once those timestamps are out of the window there is room again.
        guard
            .reserve("later", NOW + 301_000, NOW + 301_000)
            .unwrap();
        assert_eq!(guard.len(), 1);
    }
}
