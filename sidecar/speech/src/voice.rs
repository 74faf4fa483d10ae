//! The whole way from a line of text to a clip that may air:
//!
//! ```text
//! text ─▶ textnorm (numbers, prices, dates read out; emoji/markup gone)
//!      ─▶ clauses (split after ，。！？…: synthesised concurrently, cached one by one, so the
//!         viewer-independent clauses of thank-you lines come from the pre-warmed cache)
//!      ─▶ per clause: cache lookup (content-addressed: text + engine + voice + prosody + versions)
//!      ─▶ rotation over the configured engines, each clip checked (format, webrtc-vad,
//!         energy, Silero) on the blocking pool; a rejected clip is retried, never aired
//!      ─▶ trim, loudness (−20 dBFS RMS), 48 kHz int16 (blocking pool)
//!      ─▶ cache store
//! ```
//!
//! Nothing here blocks the runtime: engines are async, checks and DSP run on the blocking pool.

use std::sync::Arc;

use super::audio::{finish_clip, Clip};
use super::cache::{AudioCache, CacheKeyParts, CLIP_PIPELINE_VERSION};
use super::edge_tts::EdgeTts;
use super::espeak::Espeak;
use super::gpt_sovits::GptSovits;
use super::piper::Piper;
use super::rotation::{AudioCheck, EngineStats, Rotation};
use super::textnorm::normalize_for_speech;
use super::vad::AudioChecks;
use super::{Prosody, SpeechError, SpeechRequest, TtsEngine};
use crate::config::{EngineKind, VoiceConfig};

/// Text in, checked and finished clip out. Cheap to share (`Arc`).
pub struct Voice {
    engines: Vec<Arc<dyn TtsEngine>>,
    rotation: Rotation,
    check: AudioCheck,
    cache: AudioCache,
    loudness_dbfs: f32,
    /// Longest TTS request, in characters (`[voice.textnorm]`).
    segment_max_chars: usize,
}

impl Voice {
    /// Builds the engines of `[voice] engines` (in that order), the checks and the cache.
    pub fn from_config(config: &VoiceConfig) -> Result<Self, SpeechError> {
        let mut engines: Vec<Arc<dyn TtsEngine>> = Vec::new();
        for kind in &config.engines {
            let engine: Arc<dyn TtsEngine> = match kind {
                EngineKind::Espeak => Arc::new(Espeak::new(config.espeak_options())),
                EngineKind::GptSovits => Arc::new(GptSovits::new(config.gpt_sovits.clone())?),
                EngineKind::EdgeTts => Arc::new(EdgeTts::new(config.edge_tts.clone())?),
                EngineKind::Piper => match Piper::from_config(&config.piper)? {
                    Some(piper) => Arc::new(piper),
                    None => {
                        return Err(SpeechError::Unavailable {
                            engine: "piper".into(),
                            detail: "listed in [voice] engines but [voice.piper] model is not set"
                                .into(),
                        })
                    }
                },
            };
            engines.push(engine);
        }
        let checks = Arc::new(AudioChecks::new(config.vad.clone()));
        let check: AudioCheck = Arc::new(move |audio| checks.check(audio).map(|_| ()));
        Ok(Self {
            rotation: Rotation::new(engines.clone(), config.rotation.clone()),
            engines,
            check,
            cache: AudioCache::open_or_disabled(config.cache.clone()),
            loudness_dbfs: config.loudness_dbfs,
            segment_max_chars: config.textnorm.segment_max_chars,
        })
    }

    /// The clip for `text`: its clauses from the cache or freshly synthesised and checked (all
    /// at once), joined with short pauses.
    pub async fn speak(&self, text: &str, prosody: Prosody) -> Result<Arc<Clip>, SpeechError> {
        self.speak_line(text, prosody).await.map(|line| line.clip)
    }

    /// Like [`Voice::speak`], and says where each clause lies in the clip: a line cut short on
    /// air can then be resumed from the clause that was playing, without saying again the ones
    /// already heard (and without another synthesis: the clip is sliced).
    pub async fn speak_line(
        &self,
        text: &str,
        prosody: Prosody,
    ) -> Result<SpokenLine, SpeechError> {
        let text = normalize_for_speech(text);
        if text.trim().is_empty() {
            return Err(SpeechError::EmptyText);
        }
        let pieces = clauses(&text, self.segment_max_chars);
        if pieces.len() <= 1 {
            let clip = self.speak_clause(text.clone(), prosody).await?;
            let end_sample = clip.samples.len();
            return Ok(SpokenLine {
                clip,
                clauses: vec![ClauseSpan { text, end_sample }],
            });
        }
        let clips = futures_util::future::join_all(
            pieces
                .iter()
                .map(|piece| self.speak_clause(piece.text.clone(), prosody)),
        )
        .await;
        let mut samples = Vec::new();
        let mut spans = Vec::with_capacity(pieces.len());
        for (piece, clip) in pieces.into_iter().zip(clips) {
            samples.extend_from_slice(&clip?.samples);
            let pause = avatar_link::SAMPLE_RATE as usize * piece.pause_ms as usize / 1000;
            samples.extend(std::iter::repeat_n(0i16, pause));
            spans.push(ClauseSpan {
                text: piece.text,
                end_sample: samples.len(),
            });
        }
        Ok(SpokenLine {
            clip: Arc::new(Clip { samples }),
            clauses: spans,
        })
    }

    /// One clause (already normalised), through cache → rotation + checks → finish → cache.
    async fn speak_clause(&self, text: String, prosody: Prosody) -> Result<Arc<Clip>, SpeechError> {
        // Looked up under the preferred engine's default voice: what the rotation tries first.
        let preferred = self
            .engines
            .first()
            .map(|engine| self.key_parts(engine.as_ref(), &text, prosody));
        if let Some(clip) = preferred
            .as_ref()
            .and_then(|parts| self.cache.get(&parts.key()))
        {
            return Ok(clip);
        }
        let request = SpeechRequest {
            text: text.clone(),
            voice: None,
            prosody,
        };
        let spoken = self
            .rotation
            .synthesize(&request, &self.check)
            .await
            .map_err(|e| SpeechError::Rejected(e.to_string()))?;
        for failure in &spoken.failures {
            tracing::warn!(engine = %failure.engine, voice = %failure.voice, step = ?failure.step, error = %failure.error, "TTS attempt failed");
        }
        let loudness = self.loudness_dbfs;
        let audio = spoken.audio;
        let clip =
            tokio::task::spawn_blocking(move || finish_clip(&audio.samples, audio.rate, loudness))
                .await
                .map_err(|e| SpeechError::BadAudio(format!("finishing task failed: {e}")))??;
        let clip = Arc::new(clip);
        // Stored under what actually produced it (a fallback engine's clip is not the preferred
        // engine's); only clips of the original text are worth keeping.
        if spoken.request.text == text {
            let parts = CacheKeyParts {
                text,
                engine: spoken.engine,
                voice: spoken.request.voice.clone().unwrap_or_default(),
                engine_version: spoken.engine_version,
                prosody,
                pipeline_version: CLIP_PIPELINE_VERSION,
                loudness_dbfs: loudness,
            };
            let cache = self.cache.clone();
            let stored = clip.clone();
            tokio::task::spawn_blocking(move || {
                // A failed write is logged by the cache and only costs a future miss.
                let _ = cache.put(&parts.key(), &stored);
            });
        }
        Ok(clip)
    }

    /// Synthesises and caches `lines` ahead of time (the thank-you lines), at most two at once.
    pub async fn prewarm(self: &Arc<Self>, lines: Vec<String>) -> super::cache::PrewarmReport {
        let parts: Vec<CacheKeyParts> = match self.engines.first() {
            Some(engine) => lines
                .iter()
                .map(|line| normalize_for_speech(line))
                .flat_map(|text| clauses(&text, self.segment_max_chars))
                .map(|clause| clause.text)
                .filter(|text| !text.trim().is_empty())
                .map(|text| self.key_parts(engine.as_ref(), &text, Prosody::default()))
                .collect(),
            None => Vec::new(),
        };
        let voice = self.clone();
        self.cache
            .prewarm(parts, 2, move |parts| {
                let voice = voice.clone();
                async move {
                    let request = SpeechRequest {
                        text: parts.text.clone(),
                        voice: None,
                        prosody: parts.prosody,
                    };
                    let spoken = voice
                        .rotation
                        .synthesize(&request, &voice.check)
                        .await
                        .map_err(|e| SpeechError::Rejected(e.to_string()))?;
                    let loudness = voice.loudness_dbfs;
                    tokio::task::spawn_blocking(move || {
                        finish_clip(&spoken.audio.samples, spoken.audio.rate, loudness)
                    })
                    .await
                    .map_err(|e| SpeechError::BadAudio(format!("finishing task failed: {e}")))?
                }
            })
            .await
    }

    /// Success statistics per engine and voice (for logs and the summary).
    pub fn stats(&self) -> Vec<EngineStats> {
        self.rotation.stats()
    }

    pub fn cache(&self) -> &AudioCache {
        &self.cache
    }

    /// Name of the preferred engine (for logs).
    pub fn primary_engine(&self) -> &str {
        self.engines.first().map_or("none", |e| e.name())
    }

    /// The key of `text` as the engine's default (first) voice would say it.
    fn key_parts(&self, engine: &dyn TtsEngine, text: &str, prosody: Prosody) -> CacheKeyParts {
        CacheKeyParts {
            text: text.to_string(),
            engine: engine.name().to_string(),
            voice: engine.voices().into_iter().next().unwrap_or_default(),
            engine_version: engine.version(),
            prosody,
            pipeline_version: CLIP_PIPELINE_VERSION,
            loudness_dbfs: self.loudness_dbfs,
        }
    }
}

/// A line's clip and where its clauses lie in it ([`Voice::speak_line`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenLine {
    pub clip: Arc<Clip>,
    /// In speaking order; they cover the clip without gaps.
    pub clauses: Vec<ClauseSpan>,
}

/// One clause of a [`SpokenLine`]: its (normalised) text and the sample of the clip just past
/// it and the pause that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClauseSpan {
    pub text: String,
    pub end_sample: usize,
}

/// A piece of a line synthesised on its own, and the pause that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub text: String,
    pub pause_ms: u32,
}

/// Pause after a comma-like mark, and after a sentence end.
const COMMA_PAUSE_MS: u32 = 120;
const SENTENCE_PAUSE_MS: u32 = 250;
/// A clause with fewer characters than this (besides punctuation) is joined with the next:
/// "哇，" on its own would be a TTS round trip for one syllable.
const MIN_CLAUSE_CHARS: usize = 2;

/// Splits a line after `，,、；;：:` (short pause) and `。！？!?…` (long pause), keeping the
/// mark with its clause; a clause longer than `max_chars` is cut further at word boundaries
/// (`textnorm::segments`) with no pause between its pieces. The last clause has no pause.
pub fn clauses(text: &str, max_chars: usize) -> Vec<Clause> {
    let mut out = Vec::new();
    for clause in punctuated_clauses(text) {
        if clause.text.chars().count() <= max_chars {
            out.push(clause);
            continue;
        }
        let pieces = super::textnorm::segments(&clause.text, max_chars);
        let last = pieces.len().saturating_sub(1);
        out.extend(pieces.into_iter().enumerate().map(|(i, text)| Clause {
            text,
            pause_ms: if i == last { clause.pause_ms } else { 0 },
        }));
    }
    out
}

fn punctuated_clauses(text: &str) -> Vec<Clause> {
    let mut out: Vec<Clause> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let pause = match c {
            '，' | ',' | '、' | '；' | ';' | '：' | ':' => COMMA_PAUSE_MS,
            '。' | '！' | '？' | '!' | '?' | '…' => SENTENCE_PAUSE_MS,
            _ => continue,
        };
        // Runs of marks ("！！", "……") stay together.
        while let Some(&next) = chars.peek() {
            if "，,、；;：:。！？!?…".contains(next) {
                current.push(next);
                chars.next();
            } else {
                break;
            }
        }
        let content = current.chars().filter(|c| c.is_alphanumeric()).count();
        if content >= MIN_CLAUSE_CHARS {
            out.push(Clause {
                text: std::mem::take(&mut current).trim().to_string(),
                pause_ms: pause,
            });
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        if rest.chars().any(char::is_alphanumeric) || out.is_empty() {
            out.push(Clause {
                text: rest.to_string(),
                pause_ms: 0,
            });
        } else if let Some(last) = out.last_mut() {
            last.text.push_str(rest);
        }
    }
    if let Some(last) = out.last_mut() {
        last.pause_ms = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_clauses_with_pauses() {
        let got = clauses("哇，谢谢小明送的三个小心心，太开心了！！爱你", 60);
        let texts: Vec<_> = got.iter().map(|c| (c.text.as_str(), c.pause_ms)).collect();
        assert_eq!(
            texts,
            [
                ("哇，谢谢小明送的三个小心心，", COMMA_PAUSE_MS),
                ("太开心了！！", SENTENCE_PAUSE_MS),
                ("爱你", 0)
            ]
        );
        assert_eq!(
            clauses("你好", 60),
            [Clause {
                text: "你好".into(),
                pause_ms: 0
            }]
        );
        assert_eq!(
            clauses("好的。", 60),
            [Clause {
                text: "好的。".into(),
                pause_ms: 0
            }]
        );
        assert!(clauses("", 60).is_empty());
    }

    #[test]
    fn a_long_clause_is_cut_into_requests_of_at_most_the_cap() {
        let long = "今天我们一起来聊聊这首歌背后的故事还有我第一次上台时候紧张到忘词的那个晚上大家有没有类似的经历呢";
        let got = clauses(&format!("{long}，好吗"), 20);
        assert!(got.len() >= 4, "{got:?}");
        assert!(got.iter().all(|c| c.text.chars().count() <= 20), "{got:?}");
        let joined: String = got.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined, format!("{long}，好吗"), "nothing lost or added");
        // The clause's pause comes after its last piece only.
        let comma = got.iter().position(|c| c.text.ends_with('，')).unwrap();
        assert_eq!(got[comma].pause_ms, COMMA_PAUSE_MS);
        assert!(got[..comma].iter().all(|c| c.pause_ms == 0));
    }

    /// Real espeak-ng, real checks, a real cache on disk: the second time is a cache hit.
    #[tokio::test]
    async fn a_line_is_spoken_checked_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = VoiceConfig::default();
        config.cache.dir = dir.path().join("cache");
        config.vad.silero = false; // the Silero path is tested in vad/
        let voice = Voice::from_config(&config).unwrap();
        let first = voice
            .speak("谢谢小明送的2个小心心，太开心了！", Prosody::default())
            .await
            .unwrap();
        assert!(first.duration_ms() > 1_000, "{} ms", first.duration_ms());
        let line = voice
            .speak_line("谢谢小明送的2个小心心，太开心了！", Prosody::default())
            .await
            .unwrap();
        assert_eq!(line.clip.samples, first.samples, "the same clip");
        let texts: Vec<&str> = line.clauses.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["谢谢小明送的两个小心心，", "太开心了！"]);
        assert!(line.clauses[0].end_sample < line.clauses[1].end_sample);
        assert_eq!(line.clauses[1].end_sample, first.samples.len());
        // Two clauses stored (the writes are asynchronous: wait for them), then both hit.
        for _ in 0..100 {
            if voice.cache().stats().puts >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let before = voice.cache().stats();
        let again = voice
            .speak("谢谢小明送的2个小心心，太开心了！", Prosody::default())
            .await
            .unwrap();
        let after = voice.cache().stats();
        assert_eq!(again.samples, first.samples);
        assert_eq!(
            (after.hits_hot + after.hits_disk) - (before.hits_hot + before.hits_disk),
            2
        );
        assert_eq!(after.misses, before.misses);
        assert!(matches!(
            voice.speak("🎉🎉", Prosody::default()).await,
            Err(SpeechError::EmptyText)
        ));
    }
}
