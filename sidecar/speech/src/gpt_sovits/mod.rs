//! GPT-SoVITS over its HTTP API (`api_v2.py`, `POST /tts`).
//!
//! The voice the show was designed around (seed 000): a cloned voice from a few seconds of
//! reference audio. It runs as a separate local server (usually on a GPU box), so everything
//! about it is a network failure waiting to happen, and its own failures are quiet ones:
//!
//! * on an internal error api_v2 still answers 200 with one second of zeros (its exception
//!   path yields an empty clip before re-raising) — reported here as
//!   [`SpeechError::BadAudio`];
//! * streaming mode sends a WAV header for zero frames and then bare PCM, so a strict WAV
//!   reader sees an empty file (see [`wav`]);
//! * forks differ in sample format; float32 behind an int16 header would air as noise.
//!
//! Parameter errors come back as HTTP 400 with `{"message": .., "Exception": ..}`.
//! Prosody: `rate` maps onto `speed_factor`; api_v2 has no pitch control, so pitch is ignored.

pub mod wav;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{RawAudio, SpeechError, SpeechRequest, TtsEngine};

const ENGINE: &str = "gpt-sovits";
/// Voice name of the reference configured at the top level (`ref_audio_path`).
pub const DEFAULT_SPEAKER: &str = "default";

/// What api_v2 should send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// A WAV file (or, streaming, a WAV header followed by PCM).
    Wav,
    /// Bare int16 PCM at the model's rate (`raw_sample_rate` must match the model).
    Raw,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::Wav => "wav",
            MediaType::Raw => "raw",
        }
    }
}

/// One extra reference voice the rotation may switch to (`[[voice.gpt_sovits.speakers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptSovitsSpeaker {
    /// Name used in logs, statistics and the cache key.
    pub name: String,
    /// Reference clip path *on the GPT-SoVITS server* (3-10 s of clean speech).
    pub ref_audio_path: String,
    /// Transcript of the reference clip (better prosody when given).
    #[serde(default)]
    pub prompt_text: String,
    /// Language of `prompt_text`; the top-level `prompt_lang` when absent.
    #[serde(default)]
    pub prompt_lang: Option<String>,
}

/// `[voice.gpt_sovits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GptSovitsConfig {
    /// Where api_v2 listens (`python api_v2.py -a 127.0.0.1 -p 9880`).
    pub base_url: String,
    /// Default reference clip, a path on the server. Empty: the first of `speakers` is the
    /// default; with neither, the engine is unusable.
    pub ref_audio_path: String,
    /// Transcript of the default reference clip.
    pub prompt_text: String,
    /// Language of the reference transcripts (`zh`, `en`, `ja`, `ko`, `yue`, `auto`…).
    pub prompt_lang: String,
    /// Language of the text to speak.
    pub text_lang: String,
    /// Other voices for the rotation.
    pub speakers: Vec<GptSovitsSpeaker>,
    /// Whole request, body included (seconds; default 6). Slow GPUs take ~1 s per sentence; a
    /// server that takes longer is treated as down (its breaker opens) and the next engine speaks.
    pub timeout_secs: f64,
    /// Connecting only (seconds): a dead server is noticed fast and the rotation moves on.
    pub connect_timeout_secs: f64,
    /// Ask for streaming mode (`streaming_mode: true`): the server starts answering sooner.
    pub streaming: bool,
    /// `wav` (default) or `raw`.
    pub media_type: MediaType,
    /// Sample rate of `raw` answers (32000 for v1/v2 models, 24000 v3, 48000 v4).
    pub raw_sample_rate: u32,
    /// api_v2 sampling and splitting parameters (its defaults).
    pub top_k: u32,
    pub top_p: f32,
    pub temperature: f32,
    pub text_split_method: String,
    pub batch_size: u32,
    pub repetition_penalty: f32,
    /// Fixed seed for repeatable output (-1: random).
    pub seed: i64,
    /// Free text naming the loaded GPT/SoVITS weights (e.g. `v2 xiaolu-e15`): part of the cache
    /// key, so changing models never serves clips made by the old one.
    pub model: String,
    /// Largest answer accepted (bytes); a runaway stream is cut, not buffered forever.
    pub max_audio_bytes: usize,
}

impl Default for GptSovitsConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:9880".into(),
            ref_audio_path: String::new(),
            prompt_text: String::new(),
            prompt_lang: "zh".into(),
            text_lang: "zh".into(),
            speakers: Vec::new(),
            timeout_secs: 6.0,
            connect_timeout_secs: 3.0,
            streaming: false,
            media_type: MediaType::Wav,
            raw_sample_rate: 32_000,
            top_k: 15,
            top_p: 1.0,
            temperature: 1.0,
            text_split_method: "cut5".into(),
            batch_size: 1,
            repetition_penalty: 1.35,
            seed: -1,
            model: String::new(),
            max_audio_bytes: 64 << 20,
        }
    }
}

/// A resolved reference voice.
struct Speaker<'a> {
    ref_audio_path: &'a str,
    prompt_text: &'a str,
    prompt_lang: &'a str,
}

/// The GPT-SoVITS engine.
pub struct GptSovits {
    config: GptSovitsConfig,
    http: reqwest::Client,
    url: String,
}

impl GptSovits {
    /// Checks the configuration (a reference voice is required) and prepares the client.
    pub fn new(config: GptSovitsConfig) -> Result<Self, SpeechError> {
        let unavailable = |detail: String| SpeechError::Unavailable {
            engine: ENGINE.into(),
            detail,
        };
        if config.ref_audio_path.is_empty() && config.speakers.is_empty() {
            return Err(unavailable(
                "no reference voice: set ref_audio_path or add a speaker".into(),
            ));
        }
        if !(config.timeout_secs > 0.0 && config.connect_timeout_secs > 0.0) {
            return Err(unavailable("timeouts must be positive".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(config.connect_timeout_secs))
            .build()
            .map_err(|e| unavailable(format!("HTTP client: {e}")))?;
        let url = format!("{}/tts", config.base_url.trim_end_matches('/'));
        Ok(Self { config, http, url })
    }

    fn speaker(&self, voice: Option<&str>) -> Result<Speaker<'_>, SpeechError> {
        let c = &self.config;
        let top = Speaker {
            ref_audio_path: &c.ref_audio_path,
            prompt_text: &c.prompt_text,
            prompt_lang: &c.prompt_lang,
        };
        fn from<'a>(s: &'a GptSovitsSpeaker, default_lang: &'a str) -> Speaker<'a> {
            Speaker {
                ref_audio_path: &s.ref_audio_path,
                prompt_text: &s.prompt_text,
                prompt_lang: s.prompt_lang.as_deref().unwrap_or(default_lang),
            }
        }
        match voice {
            None | Some(DEFAULT_SPEAKER) if !c.ref_audio_path.is_empty() => Ok(top),
            None => Ok(from(&c.speakers[0], &c.prompt_lang)),
            Some(name) => c
                .speakers
                .iter()
                .find(|s| s.name == name)
                .map(|s| from(s, &c.prompt_lang))
                .ok_or_else(|| SpeechError::Unavailable {
                    engine: ENGINE.into(),
                    detail: format!("no speaker named {name:?}"),
                }),
        }
    }

    /// The api_v2 request body.
    fn body(&self, request: &SpeechRequest) -> Result<Value, SpeechError> {
        let c = &self.config;
        let speaker = self.speaker(request.voice.as_deref())?;
        let speed = if request.prosody.rate.is_finite() {
            request.prosody.rate.clamp(0.5, 2.0)
        } else {
            1.0
        };
        Ok(json!({
            "text": request.text,
            "text_lang": c.text_lang,
            "ref_audio_path": speaker.ref_audio_path,
            "prompt_text": speaker.prompt_text,
            "prompt_lang": speaker.prompt_lang,
            "top_k": c.top_k,
            "top_p": c.top_p,
            "temperature": c.temperature,
            "text_split_method": c.text_split_method,
            "batch_size": c.batch_size,
            "speed_factor": speed,
            "seed": c.seed,
            "repetition_penalty": c.repetition_penalty,
            "media_type": c.media_type.as_str(),
            "streaming_mode": c.streaming,
        }))
    }

    async fn exchange(&self, body: &Value) -> Result<RawAudio, SpeechError> {
        let response = self
            .http
            .post(&self.url)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(&e, 0))?;
        let status = response.status();
        let bytes = read_body(response, self.config.max_audio_bytes).await?;
        if !status.is_success() {
            return Err(http_error(status.as_u16(), &bytes));
        }
        let audio = match self.config.media_type {
            MediaType::Wav => wav::decode_wav(&bytes)?,
            MediaType::Raw => wav::decode_raw_s16le(&bytes, self.config.raw_sample_rate)?,
        };
        if audio.samples.iter().all(|&s| s == 0.0) {
            // api_v2's failure signal: an exception inside the model yields zeros with 200.
            return Err(SpeechError::BadAudio(format!(
                "all-zero audio ({} ms): the model failed (see the GPT-SoVITS log)",
                audio.duration_ms()
            )));
        }
        Ok(audio)
    }
}

/// Reads the whole body, chunk by chunk (streaming mode sends it in pieces), with a size cap.
async fn read_body(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, SpeechError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > cap {
                    return Err(SpeechError::Protocol {
                        engine: ENGINE.into(),
                        detail: format!("answer larger than {cap} bytes"),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => return Err(transport_error(&e, bytes.len())),
        }
    }
}

fn transport_error(e: &reqwest::Error, received: usize) -> SpeechError {
    // The source chain carries the useful part ("Connection refused").
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    if received > 0 {
        detail = format!("connection broke after {received} bytes of the answer: {detail}");
    }
    SpeechError::Unreachable {
        engine: ENGINE.into(),
        detail,
    }
}

/// api_v2 errors are `{"message": "...", "Exception": "..."}`; anything else is quoted briefly.
fn http_error(status: u16, body: &[u8]) -> SpeechError {
    let detail = match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("message").is_some() => {
            let message = v["message"].as_str().unwrap_or_default().to_string();
            match v.get("Exception").and_then(Value::as_str) {
                Some(ex) => format!("{message}: {ex}"),
                None => message,
            }
        }
        _ => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string(),
    };
    SpeechError::Http {
        engine: ENGINE.into(),
        status,
        detail,
    }
}

impl TtsEngine for GptSovits {
    fn name(&self) -> &str {
        ENGINE
    }

    fn voices(&self) -> Vec<String> {
        let c = &self.config;
        if c.speakers.is_empty() {
            return Vec::new();
        }
        let default = (!c.ref_audio_path.is_empty()).then(|| DEFAULT_SPEAKER.to_string());
        default
            .into_iter()
            .chain(c.speakers.iter().map(|s| s.name.clone()))
            .collect()
    }

    fn version(&self) -> String {
        let c = &self.config;
        let model = if c.model.is_empty() {
            "unspecified"
        } else {
            &c.model
        };
        format!(
            "api_v2;model={model};ref={};prompt={};top_k={};top_p={};temperature={};split={};\
             seed={};media={}",
            c.ref_audio_path,
            c.prompt_text,
            c.top_k,
            c.top_p,
            c.temperature,
            c.text_split_method,
            c.seed,
            c.media_type.as_str()
        )
    }

    fn synthesize<'a>(
        &'a self,
        request: &'a SpeechRequest,
    ) -> BoxFuture<'a, Result<RawAudio, SpeechError>> {
        Box::pin(async move {
            if request.text.trim().is_empty() {
                return Err(SpeechError::EmptyText);
            }
            let body = self.body(request)?;
            let secs = self.config.timeout_secs;
            tokio::time::timeout(Duration::from_secs_f64(secs), self.exchange(&body))
                .await
                .unwrap_or(Err(SpeechError::Timeout {
                    engine: ENGINE.into(),
                    secs,
                }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GptSovitsConfig {
        GptSovitsConfig {
            ref_audio_path: "ref/main.wav".into(),
            prompt_text: "大家好".into(),
            speakers: vec![GptSovitsSpeaker {
                name: "sweet".into(),
                ref_audio_path: "ref/sweet.wav".into(),
                prompt_text: "你好呀".into(),
                prompt_lang: Some("ja".into()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn body_carries_api_v2_fields_and_speed() {
        let engine = GptSovits::new(config()).unwrap();
        let mut request = SpeechRequest::new("谢谢老板");
        request.prosody.rate = 1.25;
        let body = engine.body(&request).unwrap();
        assert_eq!(body["text"], "谢谢老板");
        assert_eq!(body["text_lang"], "zh");
        assert_eq!(body["ref_audio_path"], "ref/main.wav");
        assert_eq!(body["prompt_lang"], "zh");
        assert_eq!(body["media_type"], "wav");
        assert_eq!(body["streaming_mode"], false);
        assert_eq!(body["speed_factor"], 1.25);
        request.voice = Some("sweet".into());
        request.prosody.rate = 9.0;
        let body = engine.body(&request).unwrap();
        assert_eq!(body["ref_audio_path"], "ref/sweet.wav");
        assert_eq!(body["prompt_lang"], "ja");
        assert_eq!(body["speed_factor"], 2.0);
        request.voice = Some("nobody".into());
        assert!(matches!(
            engine.body(&request),
            Err(SpeechError::Unavailable { .. })
        ));
    }

    #[test]
    fn voices_and_version() {
        let engine = GptSovits::new(config()).unwrap();
        assert_eq!(engine.voices(), ["default", "sweet"]);
        let only_speakers = GptSovits::new(GptSovitsConfig {
            ref_audio_path: String::new(),
            model: "v2 xiaolu-e15".into(),
            ..config()
        })
        .unwrap();
        assert_eq!(only_speakers.voices(), ["sweet"]);
        assert!(only_speakers.version().contains("model=v2 xiaolu-e15"));
        assert!(GptSovits::new(GptSovitsConfig::default()).is_err());
    }

    #[test]
    fn error_bodies_are_summarised() {
        let e = http_error(400, br#"{"message":"tts failed","Exception":"CUDA OOM"}"#);
        assert!(
            e.to_string().contains("HTTP 400: tts failed: CUDA OOM"),
            "{e}"
        );
        let e = http_error(500, b"Internal Server Error");
        assert!(
            e.to_string().contains("HTTP 500: Internal Server Error"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn dead_server_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let engine = GptSovits::new(GptSovitsConfig {
            base_url: format!("http://127.0.0.1:{port}"),
            ..config()
        })
        .unwrap();
        let err = engine
            .synthesize(&SpeechRequest::new("你好"))
            .await
            .unwrap_err();
        assert!(matches!(err, SpeechError::Unreachable { .. }), "{err}");
    }
}
