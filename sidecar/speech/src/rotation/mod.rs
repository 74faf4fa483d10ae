//! Engine rotation with progressive retries (seed 000: 多模型轮换 + 递进式重试).
//!
//! A line must air, and a broken clip must not: when an engine fails or its clip is refused by
//! the audio checks, the rotation climbs a ladder, cheapest remedy first:
//!
//! 1. the best-ranked engine with its best-ranked voice ([`Step::First`]);
//! 2. the same engine and voice again, only after a *transient* failure — timeout, broken or
//!    refused connection, HTTP 5xx/429 ([`Step::Retry`], `same_voice_retries` times);
//! 3. the same engine with another voice ([`Step::OtherVoice`]; skipped when the engine is
//!    unreachable or timing out, since another voice on a dead server is no remedy);
//! 4. the next engine(s), each again from its best voice ([`Step::NextEngine`]);
//! 5. a simplified text (first plain sentence, see [`simplify`]) on the engine with the best
//!    recent success rate ([`Step::Simplified`]).
//!
//! Ranking of engines and voices follows [`stats`] (healthy ones in configured order, recently
//! failing ones after). Every attempt is recorded per (engine, voice); [`Rotation::stats`]
//! exposes the counts for logs and metrics, and each result carries every failure on the way.
//!
//! **Checks**: the caller passes its audio checks (VAD, level, format) as a synchronous
//! closure, [`AudioCheck`]. They are CPU work (a VAD pass over a few seconds of audio), so the
//! rotation runs them on tokio's blocking pool (`spawn_blocking`), never on the runtime's
//! worker threads. A check refuses a clip by returning an error, normally
//! [`SpeechError::Rejected`].
//!
//! **Deadlines and breakers**: every attempt has a deadline (`attempt_timeout_secs`, a few
//! seconds: engines are local or on the LAN, and a line that waits longer has lost its moment)
//! on top of the engine's own, and `max_attempts` bounds how many are made for one line. An
//! engine that keeps failing is skipped for a cool-down and probed in the background
//! ([`breaker`]); when its breaker opens, the attempts in flight on it give up at once and move
//! on. A child-process engine is killed at its deadline (see `espeak::run_with_stdin`).
//!
//! This file holds the rotation and its ladder ([`Rotation::synthesize`]); `attempt` one rung
//! (the engine call under its deadline, the check, the record); `config` its settings;
//! `outcome` what a line's synthesis returns; `health` the circuit breakers' side.

mod attempt;
pub mod breaker;
mod config;
mod health;
mod outcome;
pub mod simplify;
pub mod stats;

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;

use attempt::{engine_down, is_transient};
use breaker::Breaker;

pub use config::RotationConfig;
pub use outcome::{AttemptFailure, RotationError, Spoken, Step};
pub use simplify::simplify_text;
pub use stats::{EngineStats, FailureCounts, FailureKind};

use super::{RawAudio, SpeechError, SpeechRequest, TtsEngine};
use stats::Record;

/// The caller's audio checks: `Ok(())` lets the clip air.
pub type AudioCheck = Arc<dyn Fn(&RawAudio) -> Result<(), SpeechError> + Send + Sync>;

/// What a probe of an open breaker says.
const PROBE_TEXT: &str = "你好";

/// One voice of one engine.
struct Slot {
    /// Name in statistics and results (`default` for an engine without a voice list).
    name: String,
    /// What goes into [`SpeechRequest::voice`].
    request_voice: Option<String>,
}

struct Member {
    engine: Arc<dyn TtsEngine>,
    slots: Vec<Slot>,
}

/// The rotation over an ordered list of engines (most preferred first).
pub struct Rotation {
    members: Vec<Member>,
    config: RotationConfig,
    /// `records[engine][voice]`.
    records: Mutex<Vec<Vec<Record>>>,
    /// `breakers[engine][voice]`; shared with background probes.
    breakers: Arc<Mutex<Vec<Vec<Breaker>>>>,
    /// Per engine and voice: bumped when its breaker opens, cancelling the attempts in flight
    /// on it.
    generations: Vec<Vec<watch::Sender<u64>>>,
}

impl Rotation {
    /// Voices are read once from each engine here.
    pub fn new(engines: Vec<Arc<dyn TtsEngine>>, config: RotationConfig) -> Self {
        let members: Vec<Member> = engines
            .into_iter()
            .map(|engine| {
                let voices = engine.voices();
                let slots = if voices.is_empty() {
                    vec![Slot {
                        name: "default".into(),
                        request_voice: None,
                    }]
                } else {
                    voices
                        .into_iter()
                        .map(|v| Slot {
                            name: v.clone(),
                            request_voice: Some(v),
                        })
                        .collect()
                };
                Member { engine, slots }
            })
            .collect();
        let records = members
            .iter()
            .map(|m| m.slots.iter().map(|_| Record::default()).collect())
            .collect();
        let breakers = members
            .iter()
            .map(|m| {
                m.slots
                    .iter()
                    .map(|_| Breaker::new(config.cooldown()))
                    .collect()
            })
            .collect();
        let generations = members
            .iter()
            .map(|m| m.slots.iter().map(|_| watch::Sender::new(0)).collect())
            .collect();
        Self {
            members,
            config,
            records: Mutex::new(records),
            breakers: Arc::new(Mutex::new(breakers)),
            generations,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Record>>> {
        // Records stay consistent even if a holder panicked (each update is one push).
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Per-engine recent (successes, outcomes), voices pooled.
    fn engine_recent(&self, now: Instant) -> Vec<(usize, usize)> {
        self.records()
            .iter()
            .map(|voices| {
                voices
                    .iter()
                    .map(|r| r.recent(now, &self.config))
                    .fold((0, 0), |(s, n), (rs, rn)| (s + rs, n + rn))
            })
            .collect()
    }

    fn voice_order(&self, engine: usize, now: Instant) -> Vec<usize> {
        let recent: Vec<_> = self.records()[engine]
            .iter()
            .map(|r| r.recent(now, &self.config))
            .collect();
        stats::rank(&recent, &self.config)
    }

    /// Snapshot of every (engine, voice), in configured order.
    pub fn stats(&self) -> Vec<EngineStats> {
        let now = Instant::now();
        let records = self.records();
        let breakers = self.breakers();
        self.members
            .iter()
            .zip(records.iter().zip(breakers.iter()))
            .flat_map(|(m, (recs, brks))| {
                m.slots
                    .iter()
                    .zip(recs.iter().zip(brks))
                    .map(move |(slot, (r, b))| {
                        let mut stats = r.snapshot(m.engine.name(), &slot.name, now, &self.config);
                        stats.breaker = match b.state() {
                            breaker::State::Closed => "closed",
                            breaker::State::Open { .. } => "open",
                            breaker::State::Probing => "probing",
                        };
                        stats.breaker_trips = b.trips;
                        stats
                    })
            })
            .collect()
    }

    /// Synthesises `request.text` (its `voice` is chosen here and ignored) and returns the
    /// first clip that passes `check`.
    pub async fn synthesize(
        &self,
        request: &SpeechRequest,
        check: &AudioCheck,
    ) -> Result<Spoken, RotationError> {
        if request.text.trim().is_empty() {
            return Err(RotationError::EmptyText);
        }
        if self.members.is_empty() {
            return Err(RotationError::NoEngines);
        }
        let mut failures = Vec::new();
        let mut attempts = 0usize;
        let budget = self.config.max_attempts.max(1);
        let engine_order = stats::rank(&self.engine_recent(Instant::now()), &self.config);
        // With every breaker open there is nothing better to do than to try anyway.
        let respect_breakers = self.breakers().iter().flatten().any(Breaker::allows);
        'engines: for (rank, &e) in engine_order.iter().enumerate() {
            let voices = self.voice_order(e, Instant::now());
            let tried_voices = voices.len().min(1 + self.config.other_voices_per_engine);
            for (nth, &v) in voices[..tried_voices].iter().enumerate() {
                if respect_breakers && !self.usable(e, v, check) {
                    continue;
                }
                let mut step = match (rank, nth) {
                    (_, 1..) => Step::OtherVoice,
                    (0, 0) => Step::First,
                    (_, 0) => Step::NextEngine,
                };
                let mut retries = 0;
                loop {
                    if attempts >= budget {
                        break 'engines;
                    }
                    attempts += 1;
                    let req = SpeechRequest {
                        voice: self.members[e].slots[v].request_voice.clone(),
                        ..request.clone()
                    };
                    let failure = match self.attempt(e, v, req, step, check).await {
                        Ok(mut spoken) => {
                            spoken.failures = failures;
                            return Ok(spoken);
                        }
                        Err(f) => f,
                    };
                    let transient = is_transient(&failure.error);
                    let down = engine_down(&failure.error);
                    let empty = matches!(failure.error, SpeechError::EmptyText);
                    failures.push(failure);
                    let still_usable = self.breakers()[e][v].allows() || !respect_breakers;
                    if transient && retries < self.config.same_voice_retries && still_usable {
                        retries += 1;
                        step = Step::Retry;
                        continue;
                    }
                    if down || empty {
                        continue 'engines;
                    }
                    break;
                }
            }
        }
        let simplified = simplify_text(&request.text, self.config.simplified_max_chars);
        if attempts < budget && !simplified.is_empty() && simplified != request.text.trim() {
            // Among the engines a line may use now: a known-dead one would cost a deadline.
            let recent = self.engine_recent(Instant::now());
            let candidates: Vec<usize> = (0..self.members.len())
                .filter(|&e| !respect_breakers || self.engine_usable(e))
                .collect();
            let pick =
                stats::most_successful(&candidates.iter().map(|&e| recent[e]).collect::<Vec<_>>())
                    .map(|i| candidates[i]);
            if let Some(e) = pick {
                let voices = self.voice_order(e, Instant::now());
                let v = voices
                    .iter()
                    .copied()
                    .find(|&v| !respect_breakers || self.breakers()[e][v].allows())
                    .unwrap_or(voices[0]);
                let req = SpeechRequest {
                    text: simplified,
                    voice: self.members[e].slots[v].request_voice.clone(),
                    prosody: request.prosody,
                };
                match self.attempt(e, v, req, Step::Simplified, check).await {
                    Ok(mut spoken) => {
                        spoken.failures = failures;
                        return Ok(spoken);
                    }
                    Err(f) => failures.push(f),
                }
            }
        }
        Err(RotationError::Exhausted { failures })
    }
}

#[cfg(test)]
mod tests;
