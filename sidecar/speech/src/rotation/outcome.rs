//! What synthesising one line returns: the clip that passed ([`Spoken`]) with every failed
//! attempt before it ([`AttemptFailure`], each tagged with its rung, [`Step`]), or why nothing
//! could air ([`RotationError`]).

use std::time::Duration;

use crate::{RawAudio, SpeechError, SpeechRequest};

/// Which rung of the ladder an attempt was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    First,
    Retry,
    OtherVoice,
    NextEngine,
    Simplified,
}

/// One failed attempt, kept for the logs.
#[derive(Debug)]
pub struct AttemptFailure {
    pub engine: String,
    pub voice: String,
    pub step: Step,
    pub error: SpeechError,
    pub elapsed: Duration,
}

/// A clip that passed the checks, and how it was obtained.
#[derive(Debug)]
pub struct Spoken {
    pub audio: RawAudio,
    pub engine: String,
    /// The engine's version (for the cache key).
    pub engine_version: String,
    pub voice: String,
    /// The request that produced the clip (text simplified on [`Step::Simplified`]).
    pub request: SpeechRequest,
    pub step: Step,
    /// Every failure before the success, in order.
    pub failures: Vec<AttemptFailure>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("nothing to say")]
    EmptyText,
    #[error("no TTS engine configured")]
    NoEngines,
    #[error("no engine produced an acceptable clip ({} failed attempts; last: {})",
        .failures.len(), last_failure(.failures))]
    Exhausted { failures: Vec<AttemptFailure> },
}

fn last_failure(failures: &[AttemptFailure]) -> String {
    failures.last().map_or_else(
        || "none".into(),
        |f| format!("{}/{}: {}", f.engine, f.voice, f.error),
    )
}
