//! Silero VAD (v5/v6 ONNX model, MIT) through ONNX Runtime: the second opinion. A neural
//! detector trained on real speech and noise, so it tells broadband noise, music-like hum and
//! mangled audio from speech where the GMM and the energy detector can be fooled.
//!
//! Model contract (silero-vad 6.2.3, `silero_vad.onnx`, opset 16), 16 kHz:
//! * inputs: `input` f32 [1, 576] = the last 64 samples of the previous window (zeros at the
//!   start) followed by 512 new samples (32 ms); `state` f32 [2, 1, 128] (zeros at the start,
//!   then the previous `stateN`); `sr` i64 scalar = 16000;
//! * outputs: `output` f32 [1, 1] = speech probability of the window; `stateN` f32 [2, 1, 128].
//!
//! Speech ratio = fraction of 32 ms windows whose probability exceeds the threshold (0.5).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use ort::session::Session;
use ort::value::TensorRef;

use super::{DetectorRun, ANALYSIS_RATE};
use crate::onnx::{self, OnnxError};

/// New samples per window at 16 kHz.
pub const WINDOW: usize = 512;
/// Samples of the previous window the model sees again (its receptive-field context).
pub const CONTEXT: usize = 64;
const STATE_LEN: usize = 2 * 128;

/// One loaded Silero model. Sessions run with `&mut`, so concurrent checks take turns; one
/// second of audio costs a few ms, far below what would justify a pool of sessions.
pub struct Silero {
    session: Mutex<Session>,
    path: PathBuf,
}

impl Silero {
    /// Loads the model (relative paths are searched from the workspace, see
    /// [`onnx::locate`]). One intra-op thread: the windows are tiny and sequential.
    pub fn load(model: &Path) -> Result<Self, OnnxError> {
        let session = onnx::session_with_threads(model, 1)?;
        let path = onnx::locate_model(model)?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if inputs != ["input", "state", "sr"] {
            return Err(OnnxError::Session {
                path,
                detail: format!(
                    "not a Silero VAD v5+ model: inputs {inputs:?}, expected [input, state, sr]"
                ),
            });
        }
        Ok(Self {
            session: Mutex::new(session),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Speech probability of every 32 ms window of 16 kHz audio. A trailing partial window is
    /// zero-padded when it holds at least half a window, dropped otherwise.
    pub fn probabilities(&self, samples_16k: &[f32]) -> Result<Vec<f32>, OnnxError> {
        let fail = |e: ort::Error| OnnxError::Inference {
            model: "silero-vad".into(),
            detail: e.to_string(),
        };
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut state = vec![0f32; STATE_LEN];
        let mut input = vec![0f32; CONTEXT + WINDOW];
        let sr = [i64::from(ANALYSIS_RATE)];
        let mut probs = Vec::with_capacity(samples_16k.len() / WINDOW + 1);
        for chunk in samples_16k.chunks(WINDOW) {
            if chunk.len() < WINDOW / 2 {
                break;
            }
            // Slide: the last CONTEXT samples of the previous window become the context.
            input.copy_within(WINDOW.., 0);
            input[CONTEXT..CONTEXT + chunk.len()].copy_from_slice(chunk);
            input[CONTEXT + chunk.len()..].fill(0.0);
            let outputs = session
                .run(ort::inputs![
                    "input" => TensorRef::from_array_view(([1usize, CONTEXT + WINDOW], input.as_slice())).map_err(fail)?,
                    "state" => TensorRef::from_array_view(([2usize, 1, 128], state.as_slice())).map_err(fail)?,
                    "sr" => TensorRef::from_array_view(((), sr.as_slice())).map_err(fail)?,
                ])
                .map_err(fail)?;
            let (_, p) = outputs["output"]
                .try_extract_tensor::<f32>()
                .map_err(fail)?;
            let (_, next) = outputs["stateN"]
                .try_extract_tensor::<f32>()
                .map_err(fail)?;
            probs.push(p.first().copied().unwrap_or(0.0));
            state.copy_from_slice(next);
        }
        Ok(probs)
    }

    /// Fraction of windows above `threshold`.
    pub fn voiced_ratio(&self, samples_16k: &[f32], threshold: f32) -> DetectorRun {
        let start = Instant::now();
        match self.probabilities(samples_16k) {
            Ok(probs) if probs.is_empty() => DetectorRun::Unavailable(format!(
                "Silero VAD needs at least 16 ms of audio, got {} samples",
                samples_16k.len()
            )),
            Ok(probs) => DetectorRun::Ran {
                voiced_ratio: probs.iter().filter(|&&p| p > threshold).count() as f32
                    / probs.len() as f32,
                frames: probs.len(),
                elapsed: start.elapsed(),
            },
            Err(e) => DetectorRun::Unavailable(e.to_string()),
        }
    }
}
