//! The rotation's side of the circuit breakers ([`super::breaker`]): which engine/voice a
//! line may use, the background probes, and what an attempt's outcome does to the breakers.

use std::sync::Arc;

use tokio::time::Instant;

use super::attempt::{engine_down, guarded};
use super::breaker::Breaker;
use super::{AudioCheck, Rotation, PROBE_TEXT};
use crate::{SpeechError, SpeechRequest};

impl Rotation {
    pub(super) fn breakers(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Breaker>>> {
        self.breakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a real line may use this engine/voice now; an open breaker whose cool-down is
    /// over gets its background probe here.
    pub(super) fn usable(&self, e: usize, v: usize, check: &AudioCheck) -> bool {
        let probe = {
            let mut breakers = self.breakers();
            if breakers[e][v].allows() {
                return true;
            }
            breakers[e][v].take_probe(Instant::now())
        };
        if probe {
            self.spawn_probe(e, v, Arc::clone(check));
        }
        false
    }

    /// Whether any voice of engine `e` may be used by a real line now.
    pub(super) fn engine_usable(&self, e: usize) -> bool {
        self.breakers()[e].iter().any(Breaker::allows)
    }

    /// One short synthesis on an open engine/voice, off the line's path, judged by the same
    /// audio checks as a real line (an engine that answers with refused clips stays open). A
    /// probe that panics counts as failed, so a breaker never stays in `Probing`.
    fn spawn_probe(&self, e: usize, v: usize, check: AudioCheck) {
        let engine = Arc::clone(&self.members[e].engine);
        let voice = self.members[e].slots[v].request_voice.clone();
        let slot = self.members[e].slots[v].name.clone();
        let breakers = Arc::clone(&self.breakers);
        let (deadline, cooldown) = (self.config.attempt_timeout(), self.config.cooldown());
        tokio::spawn(async move {
            let request = SpeechRequest {
                text: PROBE_TEXT.into(),
                voice,
                prosody: Default::default(),
            };
            let synthesis = guarded(engine.synthesize(&request), engine.name());
            let outcome = match tokio::time::timeout(deadline, synthesis).await {
                Ok(Ok(audio)) if !audio.samples.is_empty() => {
                    tokio::task::spawn_blocking(move || check(&audio))
                        .await
                        .unwrap_or_else(|e| {
                            Err(SpeechError::Rejected(format!("check panicked: {e}")))
                        })
                        .map_err(|e| e.to_string())
                }
                Ok(Ok(_)) => Err("empty audio".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {deadline:?}")),
            };
            let mut breakers = breakers.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                Ok(()) => {
                    tracing::info!(engine = engine.name(), voice = %slot, "TTS engine answers again; back in the rotation");
                    breakers[e][v].success(cooldown);
                }
                Err(error) => {
                    tracing::warn!(engine = engine.name(), voice = %slot, %error, "TTS engine still failing; skipped for longer");
                    breakers[e][v].probe_failed(Instant::now());
                }
            }
        });
    }

    /// Notes an attempt's outcome in the breakers; opening one cancels the engine's other
    /// attempts in flight.
    pub(super) fn note_outcome(&self, e: usize, v: usize, failure: Option<&SpeechError>) {
        let now = Instant::now();
        let mut breakers = self.breakers();
        let Some(error) = failure else {
            breakers[e][v].success(self.config.cooldown());
            return;
        };
        let down = engine_down(error);
        // Which voices' attempts in flight are now pointless: all of a dead engine's, or just
        // this voice's (its siblings may be fine).
        let mut opened = Vec::new();
        if breakers[e][v].failure(down, self.config.breaker_failures, now) {
            opened.push(v);
        }
        if down {
            for (other, breaker) in breakers[e].iter_mut().enumerate() {
                if breaker.open_if_closed(now) {
                    opened.push(other);
                }
            }
        }
        drop(breakers);
        if !opened.is_empty() {
            tracing::warn!(engine = self.members[e].engine.name(), voice = %self.members[e].slots[v].name, %error, cooldown = ?self.config.cooldown(), "TTS circuit breaker open: skipping it for a while");
            for voice in opened {
                self.generations[e][voice].send_modify(|g| *g += 1);
            }
        }
    }
}

/// Failures that say something about the engine or voice rather than about this one request
/// (a 4xx answer or an empty text is the request's problem): they count towards its breaker.
pub(super) fn says_engine_is_unwell(error: &SpeechError) -> bool {
    match error {
        SpeechError::EmptyText => false,
        SpeechError::Http { status, .. } => *status >= 500 || *status == 429,
        _ => true,
    }
}
