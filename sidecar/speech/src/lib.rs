//! Text → on-air audio. [`Voice`] (`voice.rs`) is the whole pipeline the show uses:
//!
//! * [`textnorm`]: what a Chinese TTS should read (numbers, prices, units, dates spelled out;
//!   emoji, markup and URLs gone), segmentation;
//! * engines behind one async trait ([`engine::TtsEngine`]): [`espeak`] (the embedded default,
//!   zero setup), [`gpt_sovits`] (api_v2 HTTP), [`edge_tts`] (Edge's read-aloud WebSocket),
//!   [`piper`] (ONNX voices through ONNX Runtime);
//! * [`rotation`]: seed 000's progressive retries (same engine → other voice → other engine →
//!   simplified text) with success statistics per engine and voice;
//! * [`vad`]: the checks a clip must pass before it airs (format sanity, webrtc-vad voiced
//!   ratio ≥ 10 %, energy fallback, Silero VAD second opinion);
//! * [`audio`]: trim, loudness to −20 dBFS RMS, resampling to the link's 48 kHz;
//! * [`cache`]: content-addressed clips on disk with an LRU byte cap, expiry and a hot tier.
//!
//! [`VoiceConfig`] is `[voice]`; each engine owns its own section type. [`onnx`] finds and loads
//! ONNX Runtime for Silero VAD and Piper.
//!
//! Network engines are async; local engines, checks and DSP run on tokio's blocking pool, so the
//! scheduler never waits on synthesis.

pub mod audio;
pub mod cache;
mod config;
pub mod edge_tts;
pub mod engine;
pub mod espeak;
pub mod gpt_sovits;
pub mod onnx;
pub mod piper;
pub mod rotation;
pub mod textnorm;
pub mod vad;
pub mod voice;

pub use audio::Clip;
pub use config::{EngineKind, VoiceConfig};
pub use engine::{Prosody, RawAudio, SpeechRequest, TtsEngine};
pub use voice::Voice;

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
