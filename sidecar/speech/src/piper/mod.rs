//! Piper voices (VITS models exported to ONNX) through ONNX Runtime: natural-sounding local
//! speech with no service to run, used when `[voice.piper] model` names a voice.
//!
//! A voice is `<name>.onnx` plus `<name>.onnx.json` (phoneme id map, sample rate, inference
//! scales, espeak voice). Text becomes ids the way Piper's own phonemizer does it:
//! * the text is cut into clauses at `. ? ! , : ;` (Chinese full-width marks count too);
//! * each clause is phonemized by `espeak-ng -q --ipa -v <espeak voice>`, which prints the same
//!   IPA string as the `espeak_TextToPhonemes(…, IPA)` call Piper makes (no phoneme separator;
//!   stress marks kept), one line per clause; language-switch flags such as `(fr)` are dropped;
//! * the string is split into Unicode scalar values after canonical decomposition (`ç` →
//!   `c` + U+0327), each one a phoneme; the clause's punctuation is appended (`, : ;` followed
//!   by a space), and a sentence ends at `. ? !`;
//! * a sentence is `^`, then every phoneme's ids each followed by the pad `_`, then `$` (BOS
//!   and pad first: `^ _ p₁ _ p₂ _ … pₙ _ $`). Phonemes missing from the map are dropped.
//!
//! Every sentence is one model run (inputs `input` i64 [1, N], `input_lengths` i64 [1],
//! `scales` f32 [3] = noise_scale, length_scale, noise_w; `sid` i64 [1] for multi-speaker
//! voices); the sentences are joined with a short pause.
//!
//! This file holds the engine (config, loading, inference); `voice_file` the `<voice>.onnx.json`
//! format and the phoneme id map; `phonemizer` text → clauses → espeak-ng IPA → phonemes.

mod phonemizer;
#[cfg(test)]
mod tests;
mod voice_file;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use phonemizer::{clauses, phonemize, Clause};
pub use voice_file::{AudioConfig, EspeakConfig, InferenceConfig, PhonemeIds, VoiceFile};

use super::engine::{RawAudio, SpeechRequest, TtsEngine};
use super::espeak;
use super::SpeechError;
use crate::onnx;

const ENGINE: &str = "piper";

/// `[voice.piper]`: the Piper engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiperConfig {
    /// Voice model (`<voice>.onnx`, with `<voice>.onnx.json` beside it), relative to the
    /// workspace or absolute. Unset: the engine is not configured. `scripts/install-models.sh`
    /// installs `models/piper/en_US-joe-medium.onnx` (English).
    pub model: Option<PathBuf>,
    /// espeak-ng program used as the phonemizer.
    pub espeak_program: String,
    /// Intra-op threads for the model (0 = ONNX Runtime's default, one per core).
    pub intra_threads: usize,
    /// Pause between sentences of one request.
    pub sentence_silence_ms: u32,
}

impl Default for PiperConfig {
    fn default() -> Self {
        Self {
            model: None,
            espeak_program: "espeak-ng".into(),
            intra_threads: 0,
            sentence_silence_ms: 200,
        }
    }
}

/// Model-file fingerprint for the cache key: name, size, and SHA-256 over the voice json and
/// the model's first and last MiB. Hashing all 60 MB on every start only to name cache entries
/// would cost seconds in debug builds; any re-export or retrained voice changes the graph
/// header and the final weights, which these cover.
fn fingerprint(model: &Path, json: &[u8]) -> std::io::Result<String> {
    const PART: u64 = 1 << 20;
    let mut file = std::fs::File::open(model)?;
    let size = file.metadata()?.len();
    let mut hasher = Sha256::new();
    hasher.update(json);
    let mut buf = Vec::with_capacity(PART as usize);
    (&mut file).take(PART).read_to_end(&mut buf)?;
    hasher.update(&buf);
    if size > PART {
        buf.clear();
        file.seek(SeekFrom::Start(size.saturating_sub(PART).max(PART)))?;
        file.read_to_end(&mut buf)?;
        hasher.update(&buf);
    }
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!(
        "{name}:{size}:{}",
        &hex::encode(hasher.finalize())[..16]
    ))
}

struct Inner {
    session: Mutex<Session>,
    voice: VoiceFile,
    ids: PhonemeIds,
    espeak_program: String,
    sentence_silence_ms: u32,
    version: String,
    speakers: Vec<String>,
}

/// The Piper engine: one loaded voice.
#[derive(Clone)]
pub struct Piper {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Piper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Piper")
            .field("version", &self.inner.version)
            .field("espeak_voice", &self.inner.voice.espeak.voice)
            .finish()
    }
}

fn unavailable(detail: impl Into<String>) -> SpeechError {
    SpeechError::Unavailable {
        engine: ENGINE.into(),
        detail: detail.into(),
    }
}

impl Piper {
    /// `Ok(None)` when no model is configured. Loading reads the json, fingerprints the model
    /// and opens the ONNX session (~0.5 s for a medium voice): call it at start-up or on the
    /// blocking pool.
    pub fn from_config(config: &PiperConfig) -> Result<Option<Self>, SpeechError> {
        match &config.model {
            None => Ok(None),
            Some(model) => Self::load(model, config).map(Some),
        }
    }

    pub fn load(model: &Path, config: &PiperConfig) -> Result<Self, SpeechError> {
        let model = onnx::locate_model(model).map_err(|e| unavailable(e.to_string()))?;
        let json_path = PathBuf::from(format!("{}.json", model.display()));
        let json = std::fs::read(&json_path).map_err(|e| {
            unavailable(format!(
                "cannot read the voice config {}: {e}",
                json_path.display()
            ))
        })?;
        let voice: VoiceFile = serde_json::from_slice(&json)
            .map_err(|e| unavailable(format!("{}: {e}", json_path.display())))?;
        if voice.phoneme_type != "espeak" {
            return Err(unavailable(format!(
                "{}: phoneme_type {:?} is not supported (only espeak voices)",
                json_path.display(),
                voice.phoneme_type
            )));
        }
        let ids = PhonemeIds::new(&voice)
            .map_err(|e| unavailable(format!("{}: {e}", json_path.display())))?;
        let version = fingerprint(&model, &json)
            .map_err(|e| unavailable(format!("{}: {e}", model.display())))?;
        let session = onnx::session_with_threads(&model, config.intra_threads)
            .map_err(|e| unavailable(e.to_string()))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for required in ["input", "input_lengths", "scales"] {
            if !inputs.contains(&required) {
                return Err(unavailable(format!(
                    "{} is not a Piper voice: inputs {inputs:?} lack {required:?}",
                    model.display()
                )));
            }
        }
        let mut speakers: Vec<(&String, &i64)> = voice.speaker_id_map.iter().collect();
        speakers.sort_by_key(|(_, id)| **id);
        let speakers = if voice.num_speakers > 1 {
            speakers.into_iter().map(|(name, _)| name.clone()).collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                session: Mutex::new(session),
                ids,
                espeak_program: config.espeak_program.clone(),
                sentence_silence_ms: config.sentence_silence_ms,
                version,
                speakers,
                voice,
            }),
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.inner.voice.audio.sample_rate
    }

    /// Synthesises on the calling thread (blocking: espeak-ng processes and the model run).
    pub fn synthesize_blocking(&self, request: &SpeechRequest) -> Result<RawAudio, SpeechError> {
        let inner = &*self.inner;
        let text = espeak::clean_text(&request.text);
        if text.is_empty() {
            return Err(SpeechError::EmptyText);
        }
        let sid = match (&request.voice, inner.voice.num_speakers > 1) {
            (Some(name), true) => Some(
                *inner
                    .voice
                    .speaker_id_map
                    .get(name)
                    .ok_or_else(|| unavailable(format!("the voice has no speaker {name:?}")))?,
            ),
            (_, true) => Some(0),
            (_, false) => None,
        };
        let sentences = phonemize(&inner.espeak_program, &inner.voice.espeak.voice, &text)?;
        if sentences.is_empty() {
            return Err(SpeechError::EmptyText);
        }
        let defaults = inner.voice.inference;
        // Faster speech = shorter phoneme durations. Clamped: beyond 2× either way VITS output
        // stops sounding like speech.
        let rate = if request.prosody.rate.is_finite() {
            request.prosody.rate.clamp(0.5, 2.0)
        } else {
            1.0
        };
        let scales = [
            defaults.noise_scale,
            defaults.length_scale / rate,
            defaults.noise_w,
        ];
        let silence = (inner.voice.audio.sample_rate as u64 * inner.sentence_silence_ms as u64
            / 1000) as usize;
        let mut samples = Vec::new();
        for (i, phonemes) in sentences.iter().enumerate() {
            let (ids, missing) = inner.ids.ids(phonemes);
            if missing > 0 {
                tracing::debug!(missing, "piper: phonemes missing from the voice's map");
            }
            if i > 0 {
                samples.resize(samples.len() + silence, 0.0);
            }
            samples.extend(self.infer(&ids, scales, sid)?);
        }
        // VITS output can overshoot ±1 slightly; scale down (never up: loudness is the
        // middleware's job) so the samples honour RawAudio's range.
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak > 1.0 {
            let gain = 0.99 / peak;
            samples.iter_mut().for_each(|s| *s *= gain);
        }
        Ok(RawAudio {
            samples,
            rate: inner.voice.audio.sample_rate,
        })
    }

    fn infer(
        &self,
        ids: &[i64],
        scales: [f32; 3],
        sid: Option<i64>,
    ) -> Result<Vec<f32>, SpeechError> {
        let fail = |e: ort::Error| unavailable(format!("inference failed: {e}"));
        let lengths = [ids.len() as i64];
        let sid = [sid.unwrap_or(0)];
        let mut session = self
            .inner
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let input = TensorRef::from_array_view(([1usize, ids.len()], ids)).map_err(fail)?;
        let lengths = TensorRef::from_array_view(([1usize], &lengths[..])).map_err(fail)?;
        let scales = TensorRef::from_array_view(([3usize], &scales[..])).map_err(fail)?;
        let outputs = if self.inner.voice.num_speakers > 1 {
            let sid = TensorRef::from_array_view(([1usize], &sid[..])).map_err(fail)?;
            session.run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
                "sid" => sid,
            ])
        } else {
            session.run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
        }
        .map_err(fail)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
        if audio.iter().any(|s| !s.is_finite()) {
            return Err(SpeechError::BadAudio(
                "piper produced NaN or infinite samples".into(),
            ));
        }
        Ok(audio.to_vec())
    }
}

impl TtsEngine for Piper {
    fn name(&self) -> &str {
        ENGINE
    }

    fn voices(&self) -> Vec<String> {
        self.inner.speakers.clone()
    }

    fn version(&self) -> String {
        self.inner.version.clone()
    }

    fn synthesize<'a>(
        &'a self,
        request: &'a SpeechRequest,
    ) -> BoxFuture<'a, Result<RawAudio, SpeechError>> {
        let engine = self.clone();
        let request = request.clone();
        super::engine::on_blocking_pool(ENGINE, move || engine.synthesize_blocking(&request))
    }
}
