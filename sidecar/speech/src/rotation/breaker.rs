//! Circuit breakers: a TTS engine (or one of its voices) that keeps failing is skipped for a
//! cool-down instead of costing every line a timeout.
//!
//! One breaker per (engine, voice). It **opens**
//!
//! * at once when the engine as a whole is down: a timeout or a refused/broken connection
//!   (another voice on a dead server is no remedy, and every line tried meanwhile would wait
//!   the whole timeout), which opens every voice of that engine;
//! * after `breaker_failures` consecutive failures of one voice otherwise (HTTP 5xx, clips the
//!   checks refuse).
//!
//! While open, the rotation skips it. After the cool-down it is **probed**: one short
//! synthesis in the background, never a real line, so no viewer waits on a dead engine to find
//! out. A good probe closes it; a failed one opens it again for twice as long (up to
//! [`MAX_COOLDOWN`]). Opening bumps the engine's *generation*, which cancels the attempts
//! already in flight on it: they move on to the next engine instead of waiting out their
//! timeouts.

use std::time::Duration;

use tokio::time::Instant;

/// Longest cool-down after repeated failed probes.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Skipped until `until`; then a probe is due.
    Open {
        until: Instant,
    },
    /// A probe is running.
    Probing,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    state: State,
    consecutive_failures: u32,
    cooldown: Duration,
    /// How often it opened (for statistics).
    pub trips: u64,
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Self {
        Self {
            state: State::Closed,
            consecutive_failures: 0,
            cooldown,
            trips: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether a real line may use it now.
    pub fn allows(&self) -> bool {
        self.state == State::Closed
    }

    /// A probe is due: the cool-down is over. Marks it as probing (one probe at a time).
    pub fn take_probe(&mut self, now: Instant) -> bool {
        match self.state {
            State::Open { until } if now >= until => {
                self.state = State::Probing;
                true
            }
            _ => false,
        }
    }

    pub fn success(&mut self, base_cooldown: Duration) {
        self.consecutive_failures = 0;
        self.cooldown = base_cooldown;
        self.state = State::Closed;
    }

    /// Records a failure; returns true when this opened the breaker.
    pub fn failure(&mut self, engine_down: bool, threshold: u32, now: Instant) -> bool {
        self.consecutive_failures += 1;
        let trip = engine_down || self.consecutive_failures >= threshold.max(1);
        match self.state {
            State::Closed if trip => {
                self.open(now);
                true
            }
            _ => false,
        }
    }

    /// Opens it now (the engine is down, seen on another voice), if it is not already.
    pub fn open_if_closed(&mut self, now: Instant) -> bool {
        if self.state == State::Closed {
            self.open(now);
            return true;
        }
        false
    }

    /// The probe failed: open again, for longer.
    pub fn probe_failed(&mut self, now: Instant) {
        self.cooldown = (self.cooldown * 2).min(MAX_COOLDOWN);
        self.state = State::Open {
            until: now + self.cooldown,
        };
    }

    fn open(&mut self, now: Instant) {
        self.trips += 1;
        self.state = State::Open {
            until: now + self.cooldown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_n_failures_or_at_once_when_the_engine_is_down() {
        let now = Instant::now();
        let mut b = Breaker::new(COOL);
        assert!(!b.failure(false, 3, now));
        assert!(!b.failure(false, 3, now));
        assert!(b.allows());
        assert!(b.failure(false, 3, now), "third consecutive failure opens");
        assert!(!b.allows());
        let mut down = Breaker::new(COOL);
        assert!(down.failure(true, 3, now), "a timeout opens at once");
    }

    #[test]
    fn a_success_resets_the_count() {
        let now = Instant::now();
        let mut b = Breaker::new(COOL);
        b.failure(false, 3, now);
        b.failure(false, 3, now);
        b.success(COOL);
        assert!(!b.failure(false, 3, now));
        assert!(b.allows());
    }

    #[test]
    fn probed_after_the_cooldown_and_backs_off_when_the_probe_fails() {
        let now = Instant::now();
        let mut b = Breaker::new(COOL);
        b.failure(true, 3, now);
        assert!(!b.take_probe(now + COOL / 2), "still cooling down");
        assert!(b.take_probe(now + COOL));
        assert_eq!(b.state(), State::Probing);
        assert!(!b.take_probe(now + COOL), "one probe at a time");
        b.probe_failed(now + COOL);
        assert_eq!(
            b.state(),
            State::Open {
                until: now + COOL + COOL * 2
            }
        );
        assert!(b.take_probe(now + COOL * 3));
        b.success(COOL);
        assert!(b.allows());
        assert_eq!(b.trips, 1);
    }

    #[test]
    fn the_cooldown_is_capped() {
        let now = Instant::now();
        let mut b = Breaker::new(COOL);
        b.failure(true, 1, now);
        for _ in 0..10 {
            b.probe_failed(now);
        }
        assert_eq!(
            b.state(),
            State::Open {
                until: now + MAX_COOLDOWN
            }
        );
    }
}
