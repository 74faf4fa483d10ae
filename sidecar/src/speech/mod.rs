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
pub mod espeak;

pub use audio::Clip;

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
}
