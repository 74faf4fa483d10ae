//! Text → on-air audio.
//!
//! * [`audio`]: the audio middleware every engine's output goes through (decode, trim, loudness
//!   to the seed's −20 dBFS RMS, resample to the link's 48 kHz, a sanity check that the clip is
//!   not silent).
//! * [`espeak`]: the embedded default engine, `espeak-ng` (zero setup, works offline).
//!
//! Engines are blocking (a child process, later an ONNX model): callers run them on tokio's
//! blocking pool so the scheduler never waits on synthesis.

pub mod audio;
pub mod cache;
pub mod edge_tts;
pub mod engine;
pub mod espeak;
pub mod gpt_sovits;
pub mod piper;
pub mod rotation;
pub mod textnorm;
pub mod vad;

pub use audio::Clip;
pub use engine::{Prosody, RawAudio, SpeechRequest, TtsEngine};

/// A speech engine.
pub trait SpeechEngine: Send + Sync {
    /// Short name for logs and statistics.
    fn name(&self) -> &str;
    /// Synthesises `text` into a finished, on-air-ready clip.
    fn synthesize(&self, text: &str) -> Result<Clip, SpeechError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("cannot run {program}: {source} (install it, e.g. `apt-get install espeak-ng`)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed with {status}: {stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("engine returned unusable audio: {0}")]
    BadAudio(String),
    #[error("nothing to say after cleaning the text")]
    EmptyText,
    /// The engine answered with an HTTP error status.
    #[error("{engine} answered HTTP {status}: {detail}")]
    Http {
        engine: String,
        status: u16,
        detail: String,
    },
    /// The engine could not be reached or the connection broke.
    #[error("cannot reach {engine}: {detail}")]
    Unreachable { engine: String, detail: String },
    #[error("{engine} took longer than {secs} s")]
    Timeout { engine: String, secs: f64 },
    /// The engine spoke its protocol wrongly (unexpected message, missing audio…).
    #[error("{engine} protocol error: {detail}")]
    Protocol { engine: String, detail: String },
    /// The audio checks (VAD, format, level) refused the clip: it must not air.
    #[error("clip rejected: {0}")]
    Rejected(String),
    #[error("{engine} is not usable: {detail}")]
    Unavailable { engine: String, detail: String },
}
