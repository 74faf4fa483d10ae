//! One rung of the ladder: the engine's synthesis under the attempt's deadline (cancelled when
//! its breaker opens meanwhile, panics turned into a failure), the caller's audio check on the
//! blocking pool, and the outcome recorded in the statistics and breakers. Also how a failure
//! is classified for the next rung: worth the same request again, or the whole engine down.

use std::sync::Arc;

use tokio::time::Instant;

use super::health::says_engine_is_unwell;
use super::{AttemptFailure, AudioCheck, FailureKind, Rotation, Spoken, Step};
use crate::{RawAudio, SpeechError, SpeechRequest};

/// Failures worth repeating the very same request for.
pub(super) fn is_transient(error: &SpeechError) -> bool {
    match error {
        SpeechError::Timeout { .. } | SpeechError::Unreachable { .. } => true,
        SpeechError::Http { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// Failures that say the engine as a whole is down right now.
pub(super) fn engine_down(error: &SpeechError) -> bool {
    matches!(
        error,
        SpeechError::Timeout { .. } | SpeechError::Unreachable { .. }
    )
}

/// An engine's synthesis with its panics turned into a failed attempt: a bug in one engine
/// (a decoder on odd data, an unwrap in a client) costs that attempt, and the rotation moves on.
pub(super) async fn guarded(
    synthesis: futures_util::future::BoxFuture<'_, Result<RawAudio, SpeechError>>,
    engine: &str,
) -> Result<RawAudio, SpeechError> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(synthesis)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(SpeechError::Unavailable {
                engine: engine.to_string(),
                detail: "the engine panicked".into(),
            })
        })
}

impl Rotation {
    /// One synthesis + check, recorded in the statistics.
    pub(super) async fn attempt(
        &self,
        e: usize,
        v: usize,
        request: SpeechRequest,
        step: Step,
        check: &AudioCheck,
    ) -> Result<Spoken, AttemptFailure> {
        let member = &self.members[e];
        let started = Instant::now();
        let deadline = self.config.attempt_timeout();
        // Subscribed before the attempt: a breaker of this engine opening from now on (another
        // line's attempt found it dead) ends this attempt too.
        let mut generation = self.generations[e][v].subscribe();
        let (synthesized, cancelled) = tokio::select! {
            result = tokio::time::timeout(deadline, guarded(member.engine.synthesize(&request), member.engine.name())) => {
                (result.unwrap_or_else(|_| Err(SpeechError::Timeout {
                    engine: member.engine.name().to_string(),
                    secs: deadline.as_secs_f64(),
                })), false)
            }
            _ = generation.changed() => (Err(SpeechError::Unavailable {
                engine: member.engine.name().to_string(),
                detail: "its circuit breaker opened during this attempt".into(),
            }), true),
        };
        let result = match synthesized {
            Ok(audio) => {
                let check = Arc::clone(check);
                tokio::task::spawn_blocking(move || {
                    let verdict = check(&audio);
                    verdict.map(|()| audio)
                })
                .await
                .unwrap_or_else(|e| {
                    Err(SpeechError::Rejected(format!("audio check panicked: {e}")))
                })
            }
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        if !cancelled {
            let outcome = result.as_ref().map(|_| ()).map_err(FailureKind::of);
            self.records()[e][v].add(outcome, elapsed, Instant::now(), &self.config);
            match &result {
                Err(error) if !says_engine_is_unwell(error) => {}
                other => self.note_outcome(e, v, other.as_ref().err()),
            }
        }
        let voice = member.slots[v].name.clone();
        match result {
            Ok(audio) => {
                tracing::debug!(engine = member.engine.name(), %voice, ?step, ?elapsed, "tts ok");
                Ok(Spoken {
                    audio,
                    engine: member.engine.name().to_string(),
                    engine_version: member.engine.version(),
                    voice,
                    request,
                    step,
                    failures: Vec::new(),
                })
            }
            Err(error) => {
                tracing::warn!(engine = member.engine.name(), %voice, ?step, %error, "tts attempt failed");
                Err(AttemptFailure {
                    engine: member.engine.name().to_string(),
                    voice,
                    step,
                    error,
                    elapsed,
                })
            }
        }
    }
}
