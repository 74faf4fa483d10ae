//! `[voice]`: the engines in order of preference and each one's section, the rotation, text
//! normalisation, the audio checks and the cache. Each engine owns its own section type.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Local TTS program (espeak-ng).
    pub espeak_program: String,
    /// espeak-ng voice; `cmn-latn-pinyin` reads Chinese characters correctly.
    pub espeak_voice: String,
    /// Speaking rate in words per minute.
    pub rate_wpm: u32,
    /// Loudness target (RMS dBFS, seed 000).
    pub loudness_dbfs: f32,
    /// TTS engines in order of preference; the rotation falls back along this list.
    pub engines: Vec<EngineKind>,
    pub gpt_sovits: crate::gpt_sovits::GptSovitsConfig,
    pub edge_tts: crate::edge_tts::EdgeTtsConfig,
    pub piper: crate::piper::PiperConfig,
    pub rotation: crate::rotation::RotationConfig,
    /// How lines are cut into TTS requests.
    pub textnorm: crate::textnorm::TextNormConfig,
    /// The checks every clip passes before it may air.
    pub vad: crate::vad::VadConfig,
    pub cache: crate::cache::CacheConfig,
}

/// A TTS engine of `[voice] engines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// espeak-ng, local, zero setup (`espeak_program`, `espeak_voice`).
    Espeak,
    /// A GPT-SoVITS api_v2 server (`[voice.gpt_sovits]`).
    GptSovits,
    /// Microsoft Edge's read-aloud voices (`[voice.edge_tts]`; needs the internet).
    EdgeTts,
    /// A Piper ONNX voice (`[voice.piper] model`).
    Piper,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            espeak_program: "espeak-ng".into(),
            espeak_voice: "cmn-latn-pinyin".into(),
            rate_wpm: 190,
            loudness_dbfs: -20.0,
            engines: vec![EngineKind::Espeak],
            gpt_sovits: Default::default(),
            edge_tts: Default::default(),
            piper: Default::default(),
            rotation: Default::default(),
            textnorm: Default::default(),
            vad: Default::default(),
            cache: Default::default(),
        }
    }
}

impl VoiceConfig {
    /// espeak-ng's settings; the child process is killed at the rotation's attempt deadline.
    pub fn espeak_options(&self) -> crate::espeak::EspeakOptions {
        crate::espeak::EspeakOptions {
            program: self.espeak_program.clone(),
            voice: self.espeak_voice.clone(),
            rate_wpm: self.rate_wpm,
            deadline: std::time::Duration::try_from_secs_f64(self.rotation.attempt_timeout_secs)
                .ok(),
        }
    }
}
