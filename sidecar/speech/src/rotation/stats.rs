//! Success statistics per (engine, voice) and the ranking rule built on them.
//!
//! **Ranking rule** (deterministic, so tests and logs can predict it):
//! * *recent outcomes* of a slot = its last `recent_window` attempts that are younger than
//!   `recent_secs`;
//! * a slot (or a whole engine, pooling its voices) with at least `min_recent` recent
//!   outcomes and a recent success rate below `demote_below` is **demoted**;
//! * healthy slots keep the configured order (the operator's preference: the cloned voice
//!   first); demoted ones follow, best recent rate first, ties in configured order;
//! * outcomes age out, so a demoted engine is tried first again once its bad streak is older
//!   than `recent_secs` — it is never starved for good because the fallback works.
//!
//! The "most successful" engine (for the simplified-text rung) has the best smoothed recent
//! rate `(successes + 1) / (outcomes + 2)`; ties go to the configured order.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::RotationConfig;
use crate::SpeechError;

/// What went wrong in one attempt, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Http,
    Unreachable,
    Timeout,
    Protocol,
    BadAudio,
    /// Refused by the caller's audio checks (VAD, level…).
    Rejected,
    Other,
}

impl FailureKind {
    pub fn of(error: &SpeechError) -> Self {
        match error {
            SpeechError::Http { .. } => FailureKind::Http,
            SpeechError::Unreachable { .. } => FailureKind::Unreachable,
            SpeechError::Timeout { .. } => FailureKind::Timeout,
            SpeechError::Protocol { .. } => FailureKind::Protocol,
            SpeechError::BadAudio(_) => FailureKind::BadAudio,
            SpeechError::Rejected(_) => FailureKind::Rejected,
            _ => FailureKind::Other,
        }
    }
}

/// Failures of one slot by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    pub http: u64,
    pub unreachable: u64,
    pub timeout: u64,
    pub protocol: u64,
    pub bad_audio: u64,
    pub rejected: u64,
    pub other: u64,
}

impl FailureCounts {
    fn add(&mut self, kind: FailureKind) {
        let counter = match kind {
            FailureKind::Http => &mut self.http,
            FailureKind::Unreachable => &mut self.unreachable,
            FailureKind::Timeout => &mut self.timeout,
            FailureKind::Protocol => &mut self.protocol,
            FailureKind::BadAudio => &mut self.bad_audio,
            FailureKind::Rejected => &mut self.rejected,
            FailureKind::Other => &mut self.other,
        };
        *counter += 1;
    }

    pub fn total(&self) -> u64 {
        self.http
            + self.unreachable
            + self.timeout
            + self.protocol
            + self.bad_audio
            + self.rejected
            + self.other
    }
}

/// A snapshot of one (engine, voice) for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStats {
    pub engine: String,
    pub voice: String,
    pub attempts: u64,
    pub successes: u64,
    pub failures: FailureCounts,
    /// Mean time of successful attempts (synthesis + checks), milliseconds; 0 without any.
    pub mean_latency_ms: f64,
    /// Success rate over the recent outcomes; `None` below `min_recent` of them.
    pub recent_success_rate: Option<f64>,
    /// Tried after the healthy slots (see the module docs).
    pub demoted: bool,
    /// The circuit breaker's state (`closed`, `open`, `probing`) and how often it opened.
    pub breaker: &'static str,
    pub breaker_trips: u64,
}

/// Running record of one slot.
#[derive(Debug, Default)]
pub(super) struct Record {
    attempts: u64,
    successes: u64,
    failures: FailureCounts,
    success_ms_total: f64,
    /// (when, succeeded), newest last, at most `recent_window` long.
    recent: VecDeque<(Instant, bool)>,
}

impl Record {
    pub(super) fn add(
        &mut self,
        outcome: Result<(), FailureKind>,
        elapsed: Duration,
        now: Instant,
        config: &RotationConfig,
    ) {
        self.attempts += 1;
        match outcome {
            Ok(()) => {
                self.successes += 1;
                self.success_ms_total += elapsed.as_secs_f64() * 1_000.0;
            }
            Err(kind) => self.failures.add(kind),
        }
        self.recent.push_back((now, outcome.is_ok()));
        while self.recent.len() > config.recent_window.max(1) {
            self.recent.pop_front();
        }
    }

    /// (successes, outcomes) among the recent outcomes.
    pub(super) fn recent(&self, now: Instant, config: &RotationConfig) -> (usize, usize) {
        let horizon = Duration::from_secs(config.recent_secs);
        self.recent
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= horizon)
            .fold((0, 0), |(s, n), (_, ok)| (s + usize::from(*ok), n + 1))
    }

    pub(super) fn snapshot(
        &self,
        engine: &str,
        voice: &str,
        now: Instant,
        config: &RotationConfig,
    ) -> EngineStats {
        let (s, n) = self.recent(now, config);
        let rate = rate(s, n, config);
        EngineStats {
            engine: engine.to_string(),
            voice: voice.to_string(),
            attempts: self.attempts,
            successes: self.successes,
            failures: self.failures,
            mean_latency_ms: if self.successes == 0 {
                0.0
            } else {
                self.success_ms_total / self.successes as f64
            },
            recent_success_rate: rate,
            demoted: rate.is_some_and(|r| r < config.demote_below),
            breaker: "closed",
            breaker_trips: 0,
        }
    }
}

fn rate(successes: usize, outcomes: usize, config: &RotationConfig) -> Option<f64> {
    (outcomes >= config.min_recent.max(1)).then(|| successes as f64 / outcomes as f64)
}

/// Orders items (given in configured order with their recent (successes, outcomes)) by the
/// ranking rule; returns their indices.
pub(super) fn rank(recent: &[(usize, usize)], config: &RotationConfig) -> Vec<usize> {
    let demoted_rate = |i: usize| {
        let (s, n) = recent[i];
        rate(s, n, config).filter(|r| *r < config.demote_below)
    };
    let mut healthy: Vec<usize> = (0..recent.len())
        .filter(|&i| demoted_rate(i).is_none())
        .collect();
    let mut demoted: Vec<(usize, f64)> = (0..recent.len())
        .filter_map(|i| demoted_rate(i).map(|r| (i, r)))
        .collect();
    // Stable sort: equal rates keep the configured order.
    demoted.sort_by(|a, b| b.1.total_cmp(&a.1));
    healthy.extend(demoted.into_iter().map(|(i, _)| i));
    healthy
}

/// Index of the item with the best smoothed recent rate; ties to the first.
pub(super) fn most_successful(recent: &[(usize, usize)]) -> Option<usize> {
    let smoothed = |(s, n): (usize, usize)| (s as f64 + 1.0) / (n as f64 + 2.0);
    let mut best: Option<(usize, f64)> = None;
    for (i, &r) in recent.iter().enumerate() {
        let score = smoothed(r);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RotationConfig {
        RotationConfig {
            min_recent: 3,
            demote_below: 0.5,
            ..Default::default()
        }
    }

    #[test]
    fn healthy_keep_their_order_demoted_follow_by_rate() {
        let c = config();
        // 0: 1/4 demoted; 1: no data; 2: 2/2 (too few to judge); 3: 0/5 demoted.
        assert_eq!(rank(&[(1, 4), (0, 0), (2, 2), (0, 5)], &c), [1, 2, 0, 3]);
        assert_eq!(rank(&[(3, 3), (9, 10)], &c), [0, 1]);
        assert_eq!(most_successful(&[(0, 3), (1, 1), (1, 1)]), Some(1));
        assert_eq!(most_successful(&[]), None);
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_age_out() {
        let c = RotationConfig {
            recent_secs: 60,
            recent_window: 4,
            ..config()
        };
        let mut record = Record::default();
        for _ in 0..6 {
            record.add(
                Err(FailureKind::Timeout),
                Duration::ZERO,
                Instant::now(),
                &c,
            );
        }
        assert_eq!(record.recent(Instant::now(), &c), (0, 4));
        let snap = record.snapshot("e", "v", Instant::now(), &c);
        assert!(snap.demoted);
        assert_eq!((snap.attempts, snap.failures.timeout), (6, 6));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(record.recent(Instant::now(), &c), (0, 0));
        record.add(Ok(()), Duration::from_millis(40), Instant::now(), &c);
        let snap = record.snapshot("e", "v", Instant::now(), &c);
        assert!(!snap.demoted);
        assert_eq!(snap.mean_latency_ms, 40.0);
    }
}
