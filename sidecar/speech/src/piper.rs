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

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::engine::{RawAudio, SpeechRequest, TtsEngine};
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

/// Canonical decomposition of the precomposed letters espeak-ng's IPA output can contain
/// (Piper decomposes to NFD and its maps hold the combining marks, not the composed letters).
fn decompose(c: char, out: &mut Vec<char>) {
    const TILDE: char = '\u{303}';
    let (base, mark) = match c {
        'ç' => ('c', '\u{327}'),
        'ã' => ('a', TILDE),
        'ẽ' => ('e', TILDE),
        'ĩ' => ('i', TILDE),
        'õ' => ('o', TILDE),
        'ũ' => ('u', TILDE),
        'ỹ' => ('y', TILDE),
        'ñ' => ('n', TILDE),
        'é' => ('e', '\u{301}'),
        'è' => ('e', '\u{300}'),
        'ë' => ('e', '\u{308}'),
        _ => {
            out.push(c);
            return;
        }
    };
    out.push(base);
    out.push(mark);
}

/// Sentence-final and clause punctuation as Piper appends it after a clause's phonemes.
fn clause_punctuation(terminator: char) -> Option<(char, bool)> {
    // (mark, ends the sentence)
    match terminator {
        '.' | '。' => Some(('.', true)),
        '?' | '？' => Some(('?', true)),
        '!' | '！' => Some(('!', true)),
        ',' | '，' | '、' => Some((',', false)),
        ':' | '：' => Some((':', false)),
        ';' | '；' => Some((';', false)),
        _ => None,
    }
}

/// One clause of text and the punctuation that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub text: String,
    pub terminator: Option<char>,
}

/// Cuts text into clauses at punctuation followed by a space or the end (so `3.5` and `a,b`
/// stay whole); full-width Chinese marks need no space after them and are mapped to their
/// ASCII counterparts (the marks Piper's maps know).
pub fn clauses(text: &str) -> Vec<Clause> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ascii_boundary = c.is_ascii()
            && chars
                .peek()
                .is_none_or(|&n| n.is_whitespace() || clause_punctuation(n).is_some());
        match clause_punctuation(c) {
            Some((first, _)) if ascii_boundary || !c.is_ascii() => {
                // "Wait... what?!": marks in a row end one clause; the last one counts.
                let mut mark = first;
                while let Some((next, _)) = chars.peek().and_then(|&n| clause_punctuation(n)) {
                    mark = next;
                    chars.next();
                }
                let text = current.trim().to_string();
                current.clear();
                if !text.is_empty() {
                    out.push(Clause {
                        text,
                        terminator: Some(mark),
                    });
                } else if let Some(last) = out.last_mut() {
                    // Punctuation with no words before it upgrades the previous clause's end
                    // ("Hi, . there" — rare, but never an empty espeak call).
                    last.terminator = Some(mark);
                }
            }
            _ => current.push(c),
        }
    }
    let text = current.trim().to_string();
    if !text.is_empty() {
        out.push(Clause {
            text,
            terminator: None,
        });
    }
    out
}

/// Runs espeak-ng as the phonemizer for one clause; returns its IPA (lines joined by spaces).
fn espeak_ipa(program: &str, voice: &str, text: &str) -> Result<String, SpeechError> {
    let output = super::espeak::run_with_stdin(program, &["-q", "--ipa", "-v", voice], text)?;
    let ipa = String::from_utf8_lossy(&output);
    Ok(ipa
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" "))
}

/// Text → sentences of phonemes (each a list of single-character phonemes).
pub fn phonemize(program: &str, voice: &str, text: &str) -> Result<Vec<Vec<char>>, SpeechError> {
    let mut sentences = Vec::new();
    let mut sentence = Vec::new();
    for clause in clauses(text) {
        let ipa = espeak_ipa(program, voice, &clause.text)?;
        // Drop language-switch flags: "(fr)" surrounds words espeak read with another voice.
        let mut in_flag = false;
        for c in ipa.chars() {
            match c {
                '(' => in_flag = true,
                ')' if in_flag => in_flag = false,
                _ if in_flag => {}
                _ => decompose(c, &mut sentence),
            }
        }
        let punctuation = clause.terminator.and_then(clause_punctuation);
        if let Some((mark, ends_sentence)) = punctuation {
            sentence.push(mark);
            if !ends_sentence {
                sentence.push(' ');
            }
        }
        if punctuation.is_none_or(|(_, ends)| ends) && !sentence.is_empty() {
            sentences.push(std::mem::take(&mut sentence));
        }
    }
    if !sentence.is_empty() {
        sentences.push(sentence);
    }
    Ok(sentences)
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
        let text = super::espeak::clean_text(&request.text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Prosody;
    use crate::vad::{AudioChecks, VadConfig};

    const JOE: &str = "models/piper/en_US-joe-medium.onnx";

    /// The real joe voice (CI installs it with scripts/install-models.sh); loaded once.
    fn joe() -> Piper {
        static JOE_VOICE: std::sync::OnceLock<Piper> = std::sync::OnceLock::new();
        JOE_VOICE
            .get_or_init(|| {
                Piper::from_config(&PiperConfig {
                    model: Some(JOE.into()),
                    ..PiperConfig::default()
                })
                .unwrap_or_else(|e| panic!("{e}"))
                .expect("configured")
            })
            .clone()
    }

    #[test]
    fn clauses_split_at_punctuation_not_inside_numbers() {
        let got = clauses("Hello there, my friend. It costs 3.5 dollars?! 谢谢，再见。 no end");
        let want = [
            ("Hello there", Some(',')),
            ("my friend", Some('.')),
            ("It costs 3.5 dollars", Some('!')),
            ("谢谢", Some(',')),
            ("再见", Some('.')),
            ("no end", None),
        ];
        let got: Vec<(&str, Option<char>)> = got
            .iter()
            .map(|c| (c.text.as_str(), c.terminator))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn phonemes_follow_pipers_format() {
        // Real espeak-ng: one sentence with a comma, then a question.
        let sentences = phonemize("espeak-ng", "en-us", "Hello there, my friend. How are you?")
            .expect("espeak-ng must be installed");
        assert_eq!(sentences.len(), 2, "{sentences:?}");
        let first: String = sentences[0].iter().collect();
        let second: String = sentences[1].iter().collect();
        // espeak's IPA with stress marks, clause punctuation kept as Piper does.
        assert!(first.starts_with("həlˈoʊ"), "{first}");
        assert!(first.contains(", "), "{first}");
        assert!(first.ends_with('.'), "{first}");
        assert!(second.ends_with('?'), "{second}");
        assert!(!first.contains('\n') && !first.contains('('));
    }

    #[test]
    fn ids_are_bos_pad_interspersed_eos() {
        let voice: VoiceFile = serde_json::from_str(
            r#"{"audio":{"sample_rate":22050},"phoneme_id_map":
                {"_":[0],"^":[1],"$":[2]," ":[3],"a":[14],"b":[15],"c":[16],"̧":[140]}}"#,
        )
        .unwrap();
        let ids = PhonemeIds::new(&voice).unwrap();
        let mut phonemes = Vec::new();
        for c in "ab çx".chars() {
            decompose(c, &mut phonemes);
        }
        let (got, missing) = ids.ids(&phonemes);
        // x is unknown: dropped and counted, like Piper does.
        assert_eq!(got, [1, 0, 14, 0, 15, 0, 3, 0, 16, 0, 140, 0, 2]);
        assert_eq!(missing, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joe_speaks_english_that_passes_the_audio_checks() {
        let engine = joe();
        assert_eq!(engine.name(), "piper");
        assert!(engine.voices().is_empty(), "single-speaker voice");
        let version = engine.version();
        assert!(version.starts_with("en_US-joe-medium.onnx:"), "{version}");
        assert_eq!(version, joe().version());

        let text = "Thank you so much for the gift! Welcome to the stream, everyone.";
        let start = std::time::Instant::now();
        let audio = engine
            .synthesize(&SpeechRequest::new(text))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let took = start.elapsed();
        assert_eq!(audio.rate, 22_050);
        assert!(audio.duration_ms() > 1_000, "{} ms", audio.duration_ms());
        eprintln!(
            "piper: {} ms of audio in {} ms (real-time factor {:.3})",
            audio.duration_ms(),
            took.as_millis(),
            took.as_secs_f64() * 1000.0 / audio.duration_ms() as f64
        );
        let checks = AudioChecks::new(VadConfig {
            silero_required: true,
            ..VadConfig::default()
        });
        let report = tokio::task::spawn_blocking(move || checks.check(&audio))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.silero.voiced_ratio().unwrap() > 0.5, "{report:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faster_prosody_is_shorter() {
        let engine = joe();
        // VITS draws phoneme durations at random (noise_w) and the sentence pause does not
        // scale with the rate, so single runs vary by ~10 %: compare totals of three.
        let mut request = SpeechRequest::new("This sentence is read at two different speeds.");
        let mut total = |rate: f32| {
            request.prosody = Prosody {
                rate,
                ..Prosody::default()
            };
            let request = request.clone();
            let engine = &engine;
            async move {
                let mut samples = 0;
                for _ in 0..3 {
                    samples += engine.synthesize(&request).await.unwrap().samples.len();
                }
                samples as f32
            }
        };
        let normal = total(1.0).await;
        let fast = total(1.5).await;
        let ratio = fast / normal;
        assert!((0.5..0.85).contains(&ratio), "{ratio}");
    }

    #[tokio::test]
    async fn empty_text_and_bad_setups_are_clear_errors() {
        assert!(matches!(
            joe().synthesize(&SpeechRequest::new(" ~~ ")).await,
            Err(SpeechError::EmptyText)
        ));
        assert!(Piper::from_config(&PiperConfig::default())
            .unwrap()
            .is_none());
        let err = Piper::from_config(&PiperConfig {
            model: Some("models/piper/no-such-voice.onnx".into()),
            ..PiperConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("no-such-voice.onnx") && err.contains("install-models.sh"),
            "{err}"
        );
        let err = phonemize("/nonexistent/espeak-ng", "en-us", "hello").unwrap_err();
        assert!(matches!(err, SpeechError::Spawn { .. }), "{err}");
    }
}
