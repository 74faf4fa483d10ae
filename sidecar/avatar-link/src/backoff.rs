//! Reconnection delays for link clients: exponential from 0.5 s to 5 s, with jitter.
//!
//! The peers of an avatar output (the sidecar, VTube Studio) are local programs that are often
//! started after it or restarted during a show. Retrying quickly at first makes the avatar come
//! alive soon after they appear; the cap keeps a long outage cheap; the jitter keeps several
//! clients that lost the same server from reconnecting in lockstep.

use std::time::Duration;

use rand::Rng;

pub const MIN_DELAY: Duration = Duration::from_millis(500);
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Each delay is scaled by a random factor in `1 ± JITTER`.
const JITTER: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Self::between(MIN_DELAY, MAX_DELAY)
    }

    /// Doubling from `min` to `max` (e.g. a local database retried sooner than a server).
    pub fn between(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max: max.max(min),
        }
    }

    /// The delay before the next attempt; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let factor = rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER);
        base.mul_f64(factor)
    }

    /// A connection succeeded: the next outage starts from the short delay again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_half_a_second_to_five_with_bounded_jitter() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        let bases = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0];
        for (delay, base) in delays.iter().zip(bases) {
            let s = delay.as_secs_f64();
            assert!(
                s >= base * 0.8 - 1e-9 && s <= base * 1.2 + 1e-9,
                "{delays:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= MIN_DELAY.mul_f64(1.2));
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| Backoff::new().next_delay()).collect();
        assert!(delays.len() > 1);
    }
}
