//! Microsoft Edge's online "read aloud" voices over their WebSocket protocol.
//!
//! Good neural Mandarin voices with no account and no GPU — but an undocumented endpoint that
//! only talks to clients that look like Edge: the TrustedClientToken, a time-based
//! `Sec-MS-GEC` token ([`drm`]), Edge's headers and message framing ([`protocol`]), and only
//! MP3 output ([`mp3`]). One connection per utterance, as Edge does.
//!
//! Failures map onto [`SpeechError`] so the rotation can tell them apart:
//! * connection refused / DNS / TLS → `Unreachable` (retried);
//! * handshake 403 → clock corrected from the server's `Date` and one more try; still 403 →
//!   `Http { status: 403 }` naming token/clock skew as the likely cause;
//! * `turn.end`, or the server closing, before any audio → `Protocol` (the service does this
//!   for unknown voices and refused SSML: retrying the same request is pointless);
//! * connection lost after some audio → `Unreachable` (a truncated sentence never airs);
//! * no `turn.end` within `timeout_secs` → `Timeout`.

pub mod drm;
pub mod mp3;
pub mod protocol;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{RawAudio, SpeechError, SpeechRequest, TtsEngine};

const ENGINE: &str = "edge-tts";
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `[voice.edge_tts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeTtsConfig {
    /// The read-aloud WebSocket endpoint, without query (tests point it at a stand-in).
    pub endpoint: String,
    /// Edge's public TrustedClientToken.
    pub trusted_client_token: String,
    /// Edge version to present (`Sec-MS-GEC-Version: 1-<this>`, User-Agent). The service
    /// refuses versions it considers too old: update it when handshakes start failing.
    pub chromium_version: String,
    /// Default voice (short `zh-CN-XiaoxiaoNeural` or long form).
    pub voice: String,
    /// Other voices for the rotation, e.g. `zh-CN-XiaoyiNeural`, `zh-CN-YunxiNeural`.
    pub voices: Vec<String>,
    /// Volume change in percent (-100..=100); loudness is normalised later anyway.
    pub volume_percent: i32,
    /// Typical pitch of the voices (Hz), to turn prosody semitones into Edge's Hz offsets.
    pub pitch_base_hz: f32,
    /// Whole exchange, connect to `turn.end` (seconds; default 6, like every engine attempt).
    pub timeout_secs: f64,
    /// Connecting and the handshake only (seconds).
    pub connect_timeout_secs: f64,
    /// Largest MP3 accepted (bytes).
    pub max_audio_bytes: usize,
}

impl Default for EdgeTtsConfig {
    fn default() -> Self {
        Self {
            endpoint: "wss://speech.platform.bing.com/consumer/speech/synthesize/readaloud/edge/v1"
                .into(),
            trusted_client_token: drm::TRUSTED_CLIENT_TOKEN.into(),
            chromium_version: "143.0.3650.75".into(),
            voice: "zh-CN-XiaoxiaoNeural".into(),
            voices: Vec::new(),
            volume_percent: 0,
            pitch_base_hz: 200.0,
            timeout_secs: 6.0,
            connect_timeout_secs: 5.0,
            max_audio_bytes: 16 << 20,
        }
    }
}

/// The Edge TTS engine.
pub struct EdgeTts {
    config: EdgeTtsConfig,
    /// Server time minus local time (seconds), learnt from a 403's `Date` header. Shared by
    /// all requests: one correction fixes the clock for every later token.
    clock_skew_secs: AtomicI64,
}

fn err_unreachable(detail: impl Into<String>) -> SpeechError {
    SpeechError::Unreachable {
        engine: ENGINE.into(),
        detail: detail.into(),
    }
}

fn err_protocol(detail: impl Into<String>) -> SpeechError {
    SpeechError::Protocol {
        engine: ENGINE.into(),
        detail: detail.into(),
    }
}

/// Random hex id in UUID v4 shape without dashes (Edge's `ConnectionId` / `X-RequestId`).
fn uuid_hex() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    hex::encode(b)
}

impl EdgeTts {
    pub fn new(config: EdgeTtsConfig) -> Result<Self, SpeechError> {
        let unavailable = |detail: String| SpeechError::Unavailable {
            engine: ENGINE.into(),
            detail,
        };
        for voice in std::iter::once(&config.voice).chain(&config.voices) {
            if protocol::long_voice_name(voice).is_none() {
                return Err(unavailable(format!("invalid voice name {voice:?}")));
            }
        }
        if !(config.timeout_secs > 0.0 && config.connect_timeout_secs > 0.0) {
            return Err(unavailable("timeouts must be positive".into()));
        }
        Ok(Self {
            config,
            clock_skew_secs: AtomicI64::new(0),
        })
    }

    /// Server-corrected current time.
    fn now(&self) -> i64 {
        drm::unix_now() + self.clock_skew_secs.load(Ordering::Relaxed)
    }

    /// The SSML message for `request`, checked before any connection is made.
    fn ssml_for(&self, request: &SpeechRequest, now: i64) -> Result<String, SpeechError> {
        let c = &self.config;
        let voice = request.voice.as_deref().unwrap_or(&c.voice);
        let long = protocol::long_voice_name(voice).ok_or_else(|| SpeechError::Unavailable {
            engine: ENGINE.into(),
            detail: format!("invalid voice name {voice:?}"),
        })?;
        let volume = format!("{:+}%", c.volume_percent.clamp(-100, 100));
        let document = protocol::ssml(
            &long,
            &protocol::rate_attr(request.prosody.rate),
            &protocol::pitch_attr(request.prosody.pitch_semitones, c.pitch_base_hz),
            &volume,
            &protocol::escape_text(&request.text),
        );
        let message = protocol::ssml_message(&uuid_hex(), &drm::js_timestamp(now), &document);
        if message.len() > protocol::MAX_MESSAGE_BYTES {
            return Err(SpeechError::Unavailable {
                engine: ENGINE.into(),
                detail: format!(
                    "text too long for one request ({} bytes of SSML, limit {})",
                    message.len(),
                    protocol::MAX_MESSAGE_BYTES
                ),
            });
        }
        Ok(message)
    }

    fn handshake_request(
        &self,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, SpeechError> {
        let c = &self.config;
        let url = format!(
            "{}?TrustedClientToken={}&ConnectionId={}&Sec-MS-GEC={}&Sec-MS-GEC-Version=1-{}",
            c.endpoint,
            c.trusted_client_token,
            uuid_hex(),
            drm::sec_ms_gec(self.now(), &c.trusted_client_token),
            c.chromium_version
        );
        let mut request = url
            .into_client_request()
            .map_err(|e| SpeechError::Unavailable {
                engine: ENGINE.into(),
                detail: format!("bad endpoint {:?}: {e}", c.endpoint),
            })?;
        let major = c.chromium_version.split('.').next().unwrap_or("143");
        let user_agent = format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/{major}.0.0.0 Safari/537.36 Edg/{major}.0.0.0"
        );
        let muid = format!("muid={};", hex::encode_upper(rand::random::<[u8; 16]>()));
        let headers = request.headers_mut();
        let pairs = [
            ("Pragma", "no-cache".to_string()),
            ("Cache-Control", "no-cache".to_string()),
            (
                "Origin",
                "chrome-extension://jdiccldimpdaibmpdkjnbmckianbfold".to_string(),
            ),
            ("User-Agent", user_agent),
            ("Accept-Language", "en-US,en;q=0.9".to_string()),
            ("Cookie", muid),
        ];
        for (name, value) in pairs {
            let value = HeaderValue::from_str(&value)
                .map_err(|e| err_protocol(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        Ok(request)
    }

    /// Opens the WebSocket; on 403 corrects the clock from the server's `Date` and tries once
    /// more if that changes the token.
    async fn connect(&self) -> Result<Socket, SpeechError> {
        let connect_secs = self.config.connect_timeout_secs;
        let mut retried = false;
        loop {
            let token_before = drm::sec_ms_gec(self.now(), &self.config.trusted_client_token);
            let request = self.handshake_request()?;
            let attempt = tokio::time::timeout(
                Duration::from_secs_f64(connect_secs),
                tokio_tungstenite::connect_async_with_config(request, None, false),
            )
            .await;
            let error = match attempt {
                Err(_) => {
                    return Err(SpeechError::Timeout {
                        engine: ENGINE.into(),
                        secs: connect_secs,
                    })
                }
                Ok(Ok((socket, _))) => return Ok(socket),
                Ok(Err(e)) => e,
            };
            let response = match error {
                WsError::Http(response) => response,
                WsError::Io(e) => return Err(err_unreachable(e.to_string())),
                other => return Err(err_unreachable(other.to_string())),
            };
            let status = response.status().as_u16();
            if status != 403 {
                let body = response.body().as_deref().unwrap_or_default();
                return Err(SpeechError::Http {
                    engine: ENGINE.into(),
                    status,
                    detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                });
            }
            let server_time = response
                .headers()
                .get("date")
                .and_then(|v| v.to_str().ok())
                .and_then(drm::parse_http_date);
            if let Some(server) = server_time {
                self.clock_skew_secs
                    .store(server - drm::unix_now(), Ordering::Relaxed);
            }
            let token_after = drm::sec_ms_gec(self.now(), &self.config.trusted_client_token);
            if !retried && token_after != token_before {
                tracing::info!(
                    skew_secs = self.clock_skew_secs.load(Ordering::Relaxed),
                    "edge-tts: handshake refused, retrying with the server's clock"
                );
                retried = true;
                continue;
            }
            let skew = self.clock_skew_secs.load(Ordering::Relaxed);
            return Err(SpeechError::Http {
                engine: ENGINE.into(),
                status,
                detail: format!(
                    "handshake refused: the Sec-MS-GEC token was not accepted (local clock \
                     differs from the server's by {skew} s{}; or the TrustedClientToken / \
                     chromium_version is outdated)",
                    if server_time.is_none() {
                        ", server sent no usable Date"
                    } else {
                        ""
                    }
                ),
            });
        }
    }

    async fn exchange(&self, request: &SpeechRequest) -> Result<Vec<u8>, SpeechError> {
        let now = self.now();
        let ssml = self.ssml_for(request, now)?;
        let mut socket = self.connect().await?;
        let config = protocol::speech_config_message(&drm::js_timestamp(now));
        for message in [config, ssml] {
            socket
                .send(Message::text(message))
                .await
                .map_err(|e| err_unreachable(format!("sending the request: {e}")))?;
        }
        let mut mp3 = Vec::new();
        let outcome = loop {
            let message = match socket.next().await {
                None => break Err(closed(mp3.len(), "the connection ended")),
                Some(Err(e)) => break Err(closed(mp3.len(), &e.to_string())),
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => match protocol::text_path(&text) {
                    Some("turn.end") => break Ok(()),
                    Some("turn.start" | "response" | "audio.metadata") => {}
                    other => break Err(err_protocol(format!("unexpected message path {other:?}"))),
                },
                Message::Binary(data) => {
                    let frame = match protocol::parse_binary(&data) {
                        Ok(f) => f,
                        Err(e) => break Err(err_protocol(e)),
                    };
                    if frame.path.as_deref() != Some("audio") {
                        break Err(err_protocol(format!(
                            "binary message with path {:?}",
                            frame.path
                        )));
                    }
                    match frame.content_type.as_deref() {
                        Some("audio/mpeg") if !frame.data.is_empty() => {}
                        // The end-of-audio marker.
                        None if frame.data.is_empty() => continue,
                        other => {
                            break Err(err_protocol(format!(
                                "audio frame with content type {other:?} and {} bytes",
                                frame.data.len()
                            )))
                        }
                    }
                    if mp3.len() + frame.data.len() > self.config.max_audio_bytes {
                        break Err(err_protocol("more audio than max_audio_bytes"));
                    }
                    mp3.extend_from_slice(frame.data);
                }
                Message::Close(_) => break Err(closed(mp3.len(), "the server closed it")),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        };
        // Best effort: the answer is complete (or failed) whatever the close does.
        let _ = tokio::time::timeout(Duration::from_millis(200), socket.close(None)).await;
        outcome?;
        if mp3.is_empty() {
            return Err(err_protocol(
                "turn.end without any audio (unknown voice or refused SSML?)",
            ));
        }
        Ok(mp3)
    }
}

/// The connection ended before `turn.end`.
fn closed(audio_bytes: usize, how: &str) -> SpeechError {
    if audio_bytes == 0 {
        err_protocol(format!(
            "{how} before any audio (unknown voice, refused SSML or output format?)"
        ))
    } else {
        err_unreachable(format!(
            "{how} mid-audio after {audio_bytes} bytes, before turn.end"
        ))
    }
}

impl TtsEngine for EdgeTts {
    fn name(&self) -> &str {
        ENGINE
    }

    fn voices(&self) -> Vec<String> {
        let c = &self.config;
        if c.voices.iter().all(|v| v == &c.voice) {
            return Vec::new();
        }
        let mut voices = vec![c.voice.clone()];
        for v in &c.voices {
            if !voices.contains(v) {
                voices.push(v.clone());
            }
        }
        voices
    }

    fn version(&self) -> String {
        format!(
            "edge-readaloud;{};volume={:+}%",
            protocol::OUTPUT_FORMAT,
            self.config.volume_percent
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
            let secs = self.config.timeout_secs;
            let mp3 = tokio::time::timeout(Duration::from_secs_f64(secs), self.exchange(request))
                .await
                .unwrap_or(Err(SpeechError::Timeout {
                    engine: ENGINE.into(),
                    secs,
                }))?;
            // Decoding a sentence takes milliseconds, but it is CPU work: keep it off the
            // runtime's worker threads.
            tokio::task::spawn_blocking(move || mp3::decode_mp3(mp3))
                .await
                .map_err(|e| SpeechError::BadAudio(format!("MP3 decoder panicked: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_list_the_default_first() {
        let engine = EdgeTts::new(EdgeTtsConfig {
            voices: vec!["zh-CN-YunxiNeural".into(), "zh-CN-XiaoxiaoNeural".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            engine.voices(),
            ["zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural"]
        );
        assert!(EdgeTts::new(EdgeTtsConfig::default())
            .unwrap()
            .voices()
            .is_empty());
        assert!(EdgeTts::new(EdgeTtsConfig {
            voice: "Xiaoxiao'/>".into(),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn handshake_carries_token_and_edge_headers() {
        let engine = EdgeTts::new(EdgeTtsConfig::default()).unwrap();
        let request = engine.handshake_request().unwrap();
        let query = request.uri().query().unwrap().to_string();
        assert!(
            query.starts_with("TrustedClientToken=6A5AA1D4EAFF4E9FB37E23D68491D6F4&ConnectionId=")
        );
        let gec = query
            .split('&')
            .find_map(|p| p.strip_prefix("Sec-MS-GEC="))
            .unwrap();
        assert_eq!(
            gec,
            drm::sec_ms_gec(drm::unix_now(), drm::TRUSTED_CLIENT_TOKEN)
        );
        assert!(query.ends_with("&Sec-MS-GEC-Version=1-143.0.3650.75"));
        assert_eq!(
            request.headers()["Origin"],
            "chrome-extension://jdiccldimpdaibmpdkjnbmckianbfold"
        );
        assert!(request.headers()["User-Agent"]
            .to_str()
            .unwrap()
            .contains("Edg/143.0.0.0"));
    }

    #[test]
    fn ssml_escapes_viewer_text_and_maps_prosody() {
        let engine = EdgeTts::new(EdgeTtsConfig::default()).unwrap();
        let mut request = SpeechRequest::new("</prosody><voice name='x'>大家好");
        request.prosody.rate = 1.2;
        request.prosody.pitch_semitones = 2.0;
        let message = engine.ssml_for(&request, 1_741_083_072).unwrap();
        assert!(message.contains(
            "X-Timestamp:Tue Mar 04 2025 10:11:12 GMT+0000 (Coordinated Universal Time)Z\r\n"
        ));
        assert!(message.contains(
            "<voice name='Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)'>\
             <prosody pitch='+24Hz' rate='+20%' volume='+0%'>&lt;/prosody&gt;"
        ));
        request.text = "长".repeat(30_000);
        assert!(matches!(
            engine.ssml_for(&request, 0),
            Err(SpeechError::Unavailable { .. })
        ));
    }
}
