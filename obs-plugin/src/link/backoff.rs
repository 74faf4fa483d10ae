//! Reconnect delays: exponential from 0.5 s to 5 s, with jitter so several OBS instances (or
//! sources) do not hammer a restarting sidecar in lockstep.

use std::time::Duration;

use rand::Rng;

const FIRST: Duration = Duration::from_millis(500);
const MAX: Duration = Duration::from_secs(5);
/// ±20 %.
const JITTER: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// Delay before the next attempt; each call doubles the following one, up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(MAX);
        base.mul_f64(rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER))
    }

    /// Back to the shortest delay (after a successful connection).
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap_with_jitter() {
        let mut backoff = Backoff::default();
        let delays: Vec<f64> = (0..8).map(|_| backoff.next_delay().as_secs_f64()).collect();
        let expected = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0];
        for (got, want) in delays.iter().zip(expected) {
            assert!((got / want - 1.0).abs() <= JITTER + 1e-9, "{delays:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST.mul_f64(1.0 + JITTER));
    }
}
