//! The voice's `<name>.onnx.json`: the parts synthesis needs (sample rate, espeak voice,
//! inference scales, speakers) and [`PhonemeIds`], the phoneme → model id map with Piper's
//! `^ _ … _ $` framing. Pure data, no I/O: loading the file is the engine's job.

use std::collections::HashMap;

use serde::Deserialize;

/// The parts of `<voice>.onnx.json` synthesis needs (the file has more: dataset, language…).
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceFile {
    pub audio: AudioConfig,
    #[serde(default)]
    pub espeak: EspeakConfig,
    #[serde(default)]
    pub inference: InferenceConfig,
    #[serde(default = "espeak_phonemes")]
    pub phoneme_type: String,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    pub num_speakers: u32,
    #[serde(default)]
    pub speaker_id_map: HashMap<String, i64>,
}

fn espeak_phonemes() -> String {
    "espeak".into()
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
pub struct AudioConfig {
    pub sample_rate: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EspeakConfig {
    pub voice: String,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        Self {
            voice: "en-us".into(),
        }
    }
}

/// Piper's inference defaults (used when the voice's json leaves them out).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct InferenceConfig {
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

/// Phoneme string → model ids, per the voice's map.
#[derive(Debug, Clone)]
pub struct PhonemeIds {
    map: HashMap<char, Vec<i64>>,
    bos: Vec<i64>,
    eos: Vec<i64>,
    pad: Vec<i64>,
}

impl PhonemeIds {
    pub fn new(voice: &VoiceFile) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (key, ids) in &voice.phoneme_id_map {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    map.insert(c, ids.clone());
                }
                _ => return Err(format!("phoneme_id_map key {key:?} is not one character")),
            }
        }
        let take = |c: char| {
            map.get(&c)
                .cloned()
                .ok_or_else(|| format!("phoneme_id_map has no {c:?}"))
        };
        Ok(Self {
            bos: take('^')?,
            eos: take('$')?,
            pad: take('_')?,
            map,
        })
    }

    /// `^ _ p₁ _ … pₙ _ $`; phonemes the voice does not know are dropped (and counted).
    pub fn ids(&self, phonemes: &[char]) -> (Vec<i64>, usize) {
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 4);
        ids.extend(&self.bos);
        ids.extend(&self.pad);
        let mut missing = 0;
        for p in phonemes {
            match self.map.get(p) {
                Some(mapped) => {
                    ids.extend(mapped);
                    ids.extend(&self.pad);
                }
                None => missing += 1,
            }
        }
        ids.extend(&self.eos);
        (ids, missing)
    }
}
