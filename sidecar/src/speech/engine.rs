//! The engine side of speech: what an engine is asked ([`SpeechRequest`]) and what it gives back
//! ([`RawAudio`]), before the audio middleware (`audio.rs`, `vad/`) decides whether it may air.
//!
//! Engines are asynchronous because most of them are network services (GPT-SoVITS over HTTP,
//! Edge TTS over a WebSocket); local engines (espeak-ng, Piper) do their blocking work on
//! tokio's blocking pool inside `synthesize`, so no engine ever stalls the runtime.

use futures_util::future::BoxFuture;

use super::SpeechError;

/// How to say it. Derived from the reply's emotion (seed 002: excited is faster and higher,
/// shy softer and slower); engines map it onto their own controls (SSML prosody, speed_factor,
/// espeak's words per minute) and ignore what they cannot express.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prosody {
    /// Speaking rate relative to the voice's normal rate (1.0 = normal, 1.2 = 20 % faster).
    pub rate: f32,
    /// Pitch shift in semitones (0 = normal).
    pub pitch_semitones: f32,
}

impl Default for Prosody {
    fn default() -> Self {
        Self {
            rate: 1.0,
            pitch_semitones: 0.0,
        }
    }
}

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
