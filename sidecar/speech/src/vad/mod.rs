//! The audio checks a clip must pass before it airs (seed 000): engines fail in ways that
//! still produce "audio" (GPT-SoVITS answering with zeros or hiss, float PCM decoded as
//! integers, a one-syllable blip in seconds of silence), and peers air all of it.
//!
//! [`AudioChecks::check`] runs, on the engine's raw output:
//! 1. [`format`] sanity checks (NaN, zeros, silence, scale, DC, clipping, integer-read float
//!    garbage, broadband noise) on the samples as the engine gave them;
//! 2. after resampling to 16 kHz once: [`webrtc`] (libfvad, 30 ms frames, mode 3) — the
//!    verdict: voiced-frame ratio below [`VadConfig::min_voiced_ratio`] (10 %) rejects; the
//!    [`energy`] detector takes its place when it cannot run;
//! 3. [`silero`] (ONNX) as a second opinion that can only veto: too few speech windows rejects.
//!    Optional: without the model or runtime it reports "unavailable" (logged once) and step 2
//!    stands, unless [`VadConfig::silero_required`].
//!
//! The work is synchronous and CPU-bound (a few ms per second of audio, see
//! `benches/vad.rs`): callers run it on tokio's blocking pool.

mod checks;
pub mod energy;
pub mod format;
pub mod silero;
pub mod webrtc;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use checks::{AudioChecks, CheckReport, Verdict};
pub use format::FormatStats;

/// Every detector works on 16 kHz mono: webrtc-vad's and Silero's native rate, and plenty for
/// speech (its energy is below 8 kHz).
pub const ANALYSIS_RATE: u32 = 16_000;

/// `[voice.vad]`: thresholds of the audio checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VadConfig {
    /// Clips whose voiced-frame ratio (webrtc-vad, or the energy detector when webrtc-vad
    /// cannot run) is below this are rejected (seed 000: 0.10).
    pub min_voiced_ratio: f32,
    /// Use webrtc-vad (false: the energy detector decides).
    pub webrtc: bool,
    /// webrtc-vad aggressiveness 0–3; 3 ("very aggressive") calls the fewest frames voice,
    /// which is what a check against silent clips wants (seed 000). Values above 3 act as 3.
    pub webrtc_mode: u8,
    /// Ask Silero VAD for a second opinion when its model and ONNX Runtime are installed.
    pub silero: bool,
    /// Refuse to check clips (error `Unavailable`) when Silero cannot run, instead of letting
    /// the webrtc verdict stand.
    pub silero_required: bool,
    /// Silero model, relative to the workspace or absolute (`scripts/install-models.sh`).
    pub silero_model: PathBuf,
    /// Speech probability above which a 32 ms window counts as speech.
    pub silero_threshold: f32,
    /// Clips whose Silero speech-window ratio is below this are rejected.
    pub min_silero_ratio: f32,
    /// Shorter clips are rejected (a real line is never this short).
    pub min_duration_ms: u64,
    /// Largest fraction of samples at full scale.
    pub max_clipped_ratio: f32,
    /// Largest |mean sample|.
    pub max_dc_offset: f32,
    /// Largest fraction of non-silent frames that may look like broadband noise (zero-crossing
    /// rate above 0.35). White noise scores 1.0; speech over a −30 dBFS hiss ≈ 0.5, so the
    /// limit is high: this only catches clips that are noise through and through.
    pub max_noise_ratio: f32,
    /// Largest fraction of non-silent frames that may look like float PCM read as integers
    /// (louder than −12 dBFS with a zero-crossing rate above 0.3). Such clips score ≈ 0.95,
    /// real speech 0.
    pub max_garbage_ratio: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            min_voiced_ratio: 0.10,
            webrtc: true,
            webrtc_mode: 3,
            silero: true,
            silero_required: false,
            silero_model: PathBuf::from("models/silero_vad.onnx"),
            silero_threshold: 0.5,
            min_silero_ratio: 0.10,
            min_duration_ms: 150,
            max_clipped_ratio: 0.01,
            max_dc_offset: 0.1,
            max_noise_ratio: 0.85,
            max_garbage_ratio: 0.5,
        }
    }
}

/// The detectors, for reports and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    Webrtc,
    Energy,
    Silero,
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Detector::Webrtc => "webrtc-vad",
            Detector::Energy => "energy detector",
            Detector::Silero => "Silero VAD",
        })
    }
}

/// What one detector made of a clip.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorRun {
    /// Not asked: switched off in config, or not needed (the clip was already rejected).
    NotRun,
    /// Could not run (model missing, clip shorter than one frame…).
    Unavailable(String),
    Ran {
        /// Fraction of frames (windows) judged speech.
        voiced_ratio: f32,
        frames: usize,
        /// Wall time of the detector alone (CPU-bound, single thread).
        elapsed: Duration,
    },
}

impl DetectorRun {
    pub fn voiced_ratio(&self) -> Option<f32> {
        match self {
            DetectorRun::Ran { voiced_ratio, .. } => Some(*voiced_ratio),
            _ => None,
        }
    }

    pub fn elapsed(&self) -> Option<Duration> {
        match self {
            DetectorRun::Ran { elapsed, .. } => Some(*elapsed),
            _ => None,
        }
    }
}
