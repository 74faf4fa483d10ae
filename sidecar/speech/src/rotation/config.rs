//! `[voice.rotation]`: how far the ladder climbs, how quickly an engine is demoted, the
//! per-attempt deadline and the circuit breakers' thresholds.

use std::time::Duration;

use serde::Deserialize;

/// `[voice.rotation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RotationConfig {
    /// Extra tries of the same engine and voice after a transient failure.
    pub same_voice_retries: u32,
    /// How many other voices of an engine are tried before the next engine.
    pub other_voices_per_engine: usize,
    /// Attempts remembered per engine/voice for the recent success rate.
    pub recent_window: usize,
    /// Attempts older than this (seconds) no longer count as recent.
    pub recent_secs: u64,
    /// Recent attempts needed before an engine/voice can be demoted.
    pub min_recent: usize,
    /// Recent success rate under which an engine/voice is tried after the others.
    pub demote_below: f64,
    /// Longest simplified text, in characters.
    pub simplified_max_chars: usize,
    /// Upper bound on synthesis attempts for one line, all rungs together.
    pub max_attempts: usize,
    /// Deadline of one synthesis attempt, any engine, in seconds.
    pub attempt_timeout_secs: f64,
    /// Consecutive failures of one voice that open its circuit breaker (a timeout or a refused
    /// connection opens the whole engine's at once).
    pub breaker_failures: u32,
    /// How long an open breaker skips its engine/voice before probing it, in seconds (doubling
    /// after each failed probe, up to five minutes).
    pub breaker_cooldown_secs: f64,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            same_voice_retries: 1,
            other_voices_per_engine: 2,
            recent_window: 20,
            recent_secs: 600,
            min_recent: 3,
            demote_below: 0.5,
            simplified_max_chars: 40,
            max_attempts: 8,
            attempt_timeout_secs: 6.0,
            breaker_failures: 3,
            breaker_cooldown_secs: 30.0,
        }
    }
}

impl RotationConfig {
    pub(super) fn attempt_timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.attempt_timeout_secs)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(6))
    }

    pub(super) fn cooldown(&self) -> Duration {
        Duration::try_from_secs_f64(self.breaker_cooldown_secs)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(30))
    }
}
