//! The engine side of speech: what an engine is asked ([`SpeechRequest`]) and what it gives back
//! ([`RawAudio`]), before the audio middleware (`audio.rs`, `vad/`) decides whether it may air.
//!
//! Engines are asynchronous because most of them are network services (GPT-SoVITS over HTTP,
//! Edge TTS over a WebSocket); local engines (espeak-ng, Piper) do their blocking work on
//! tokio's blocking pool inside `synthesize`, so no engine ever stalls the runtime.

use futures_util::future::BoxFuture;

pub use aivs_core::cue::Prosody;

use super::SpeechError;

/// One synthesis request: text already normalised for reading (numbers spelled out, emoji and
/// markup stripped), the voice chosen by the rotation, and the prosody.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechRequest {
    pub text: String,
    /// Engine-specific voice / speaker id; `None` = the engine's configured default.
    pub voice: Option<String>,
    pub prosody: Prosody,
}

impl SpeechRequest {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            prosody: Prosody::default(),
        }
    }
}

/// Decoded engine output: mono samples in [-1, 1] at the engine's own rate. Every engine
/// decodes its wire format (WAV int16/float32, raw PCM, MP3) into this; format oddities (float
/// PCM labelled as int, NaN, wrong rate) are the engine's to catch and report as
/// [`SpeechError::BadAudio`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawAudio {
    pub samples: Vec<f32>,
    pub rate: u32,
}

impl RawAudio {
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.rate)
    }
}

/// A text-to-speech engine.
pub trait TtsEngine: Send + Sync {
    /// Short stable name for logs, statistics and the cache key (`espeak-ng`, `gpt-sovits`,
    /// `edge-tts`, `piper`).
    fn name(&self) -> &str;
    /// Voices the rotation may switch between, the default first. Empty = only the default.
    fn voices(&self) -> Vec<String>;
    /// Engine/model version: part of the audio cache key, so a new model never serves clips
    /// made by the old one.
    fn version(&self) -> String;
    /// Synthesises one request.
    fn synthesize<'a>(
        &'a self,
        request: &'a SpeechRequest,
    ) -> BoxFuture<'a, Result<RawAudio, SpeechError>>;
}

/// Runs a local engine's blocking synthesis on tokio's blocking pool (espeak-ng, Piper), so a
/// child process or an ONNX model never holds a runtime thread.
pub fn on_blocking_pool<'a>(
    engine: &'static str,
    job: impl FnOnce() -> Result<RawAudio, SpeechError> + Send + 'static,
) -> BoxFuture<'a, Result<RawAudio, SpeechError>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| SpeechError::Unavailable {
                engine: engine.into(),
                detail: format!("synthesis task failed: {e}"),
            })?
    })
}
