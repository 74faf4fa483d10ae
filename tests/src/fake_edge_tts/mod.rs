//! A stand-in for Microsoft Edge's read-aloud TTS WebSocket
//! (`wss://speech.platform.bing.com/consumer/speech/synthesize/readaloud/edge/v1`) on loopback
//! (plain `ws://`), for tests of the sidecar's Edge TTS engine.
//!
//! Handshake: the query must carry the expected `TrustedClientToken`, a 32-hex-digit
//! `ConnectionId`, a `Sec-MS-GEC` equal to the upper-case hex SHA-256 of (Windows file-time
//! ticks of the *server's* clock rounded down to 5 minutes, then the token) — current window
//! or a neighbour — and `Sec-MS-GEC-Version: 1-<version>`; the `Origin` must be Edge's
//! extension. Anything else is refused with 403 and the server's `Date`, like the real
//! service (a client with a skewed clock can learn the time from it).
//!
//! Session: it parses `speech.config` (JSON with `outputFormat`) and the `ssml` message
//! (headers, `<speak><voice name='…'><prosody pitch rate volume>TEXT</prosody></voice>`,
//! entities unescaped), then answers `turn.start`, `response`, `audio.metadata`, binary audio
//! frames (2-byte big-endian header length, `Path:audio` headers, MP3 bytes), the empty
//! end-of-audio frame and `turn.end`. The audio is real speech: espeak-ng reads the text
//! (rate and pitch from the prosody), ffmpeg encodes it as the requested MP3 format. Unknown
//! voices, non-MP3 formats and malformed SSML get what the real service gives: a connection
//! closed without audio. SHA-256 and the date are computed here, independent of the sidecar.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

mod token;

pub use crate::http_stub::{http_date, unix_now};
pub use token::{expected_sec_ms_gec, sha256};

pub const PATH: &str = "/consumer/speech/synthesize/readaloud/edge/v1";
pub const EDGE_ORIGIN: &str = "chrome-extension://jdiccldimpdaibmpdkjnbmckianbfold";
/// Voices the stand-in knows (short name → espeak voice, espeak pitch).
const VOICES: &[(&str, &str, u32)] = &[
    ("zh-CN, XiaoxiaoNeural", "cmn-latn-pinyin", 60),
    ("zh-CN, XiaoyiNeural", "cmn-latn-pinyin", 70),
    ("zh-CN, YunxiNeural", "cmn-latn-pinyin", 35),
    ("en-US, AriaNeural", "en-us", 55),
];
const MP3_FORMATS: &[(&str, u32, u32)] = &[
    ("audio-24khz-48kbitrate-mono-mp3", 24_000, 48),
    ("audio-24khz-96kbitrate-mono-mp3", 24_000, 96),
];

/// How the next sessions go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EdgeMode {
    Speech,
    /// Every handshake refused with 403.
    Refuse403,
    /// `turn.start`, then a close frame, no audio.
    CloseWithoutAudio,
    /// Half the audio frames, then the TCP connection drops (no close frame).
    CloseMidAudio,
    /// `turn.start`, `turn.end`, no audio in between.
    TurnEndWithoutAudio,
    /// Speech after this delay.
    Slow(Duration),
}

/// One SSML request as the stand-in understood it.
#[derive(Debug, Clone, PartialEq)]
pub struct SsmlRequest {
    pub voice: String,
    pub pitch: String,
    pub rate: String,
    pub volume: String,
    /// The text with entities unescaped.
    pub text: String,
    pub output_format: String,
}

#[derive(Debug, Clone, Default)]
pub struct EdgeActivity {
    pub handshakes_accepted: usize,
    /// Why handshakes were refused.
    pub refusals: Vec<String>,
    pub requests: Vec<SsmlRequest>,
    /// Malformed client messages.
    pub protocol_errors: Vec<String>,
    /// Sessions that ended with all audio and `turn.end` sent.
    pub completed: usize,
}

struct State {
    mode: EdgeMode,
    token: String,
    clock_offset_secs: i64,
    activity: EdgeActivity,
}

/// The running stand-in; stops when dropped.
pub struct FakeEdgeTts {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeEdgeTts {
    /// `clock_offset_secs`: how far the server's clock is ahead of the machine's (to test a
    /// client with a skewed clock).
    pub async fn start(trusted_client_token: &str, clock_offset_secs: i64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            mode: EdgeMode::Speech,
            token: trusted_client_token.to_string(),
            clock_offset_secs,
            activity: EdgeActivity::default(),
        }));
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, serving.clone()));
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The endpoint to configure (`ws://…/consumer/speech/synthesize/readaloud/edge/v1`).
    pub fn endpoint(&self) -> String {
        format!("ws://{}{PATH}", self.addr)
    }

    pub fn set_mode(&self, mode: EdgeMode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn activity(&self) -> EdgeActivity {
        self.state.lock().unwrap().activity.clone()
    }
}

impl Drop for FakeEdgeTts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_hex(s: &str, len: usize, upper: bool) -> bool {
    s.len() == len
        && s.chars().all(|c| {
            c.is_ascii_digit()
                || if upper {
                    ('A'..='F').contains(&c)
                } else {
                    ('a'..='f').contains(&c)
                }
        })
}

/// The handshake rules; `Err` is why it is refused.
fn check_handshake(request: &Request, state: &State) -> std::result::Result<(), String> {
    if state.mode == EdgeMode::Refuse403 {
        return Err("refusing every handshake (mode)".into());
    }
    if request.uri().path() != PATH {
        return Err(format!("path {}", request.uri().path()));
    }
    let query = request.uri().query().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_string()
    };
    if param("TrustedClientToken") != state.token {
        return Err("wrong TrustedClientToken".into());
    }
    if !is_hex(&param("ConnectionId"), 32, false) {
        return Err(format!("ConnectionId {:?}", param("ConnectionId")));
    }
    let gec = param("Sec-MS-GEC");
    if !is_hex(&gec, 64, true) {
        return Err(format!("Sec-MS-GEC format {gec:?}"));
    }
    let now = unix_now() + state.clock_offset_secs;
    if ![-300, 0, 300]
        .iter()
        .any(|d| expected_sec_ms_gec(now + d, &state.token) == gec)
    {
        return Err("Sec-MS-GEC does not match the server clock".into());
    }
    let version = param("Sec-MS-GEC-Version");
    let dotted = version.strip_prefix("1-").unwrap_or_default();
    if dotted.split('.').count() != 4 || !dotted.split('.').all(|p| p.parse::<u32>().is_ok()) {
        return Err(format!("Sec-MS-GEC-Version {version:?}"));
    }
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok());
    if origin != Some(EDGE_ORIGIN) {
        return Err(format!("Origin {origin:?}"));
    }
    Ok(())
}

/// Headers (`Name:value` lines) and body of a text message.
fn split_text(message: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = message.split_once("\r\n\r\n").unwrap_or((message, ""));
    let headers = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Parses Edge's SSML shape; `None` for anything else (the service would refuse it).
fn parse_ssml(ssml: &str) -> Option<(String, String, String, String, String)> {
    let rest = ssml.strip_prefix(
        "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>",
    )?;
    let rest = rest.strip_prefix("<voice name='")?;
    let (voice, rest) = rest.split_once("'>")?;
    let attr = |rest: &str, name: &str| -> Option<(String, String)> {
        let rest = rest.strip_prefix(name)?.strip_prefix("='")?;
        let (value, rest) = rest.split_once('\'')?;
        Some((value.to_string(), rest.trim_start().to_string()))
    };
    let rest = rest.strip_prefix("<prosody ")?;
    let (pitch, rest) = attr(rest, "pitch")?;
    let (rate, rest) = attr(&rest, "rate")?;
    let (volume, rest) = attr(&rest, "volume")?;
    let rest = rest.strip_prefix('>')?;
    let text = rest.strip_suffix("</prosody></voice></speak>")?;
    if text.contains('<') || text.contains('>') {
        return None;
    }
    Some((voice.to_string(), pitch, rate, volume, unescape(text)))
}

type Ws = WebSocketStream<TcpStream>;

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await.context("client left")?? {
            Message::Text(t) => return Ok(t.to_string()),
            Message::Binary(_) => bail!("binary message from the client"),
            Message::Close(_) => bail!("client closed"),
            _ => {}
        }
    }
}

/// Reads `speech.config` and `ssml`, checking their framing.
async fn read_request(ws: &mut Ws) -> Result<SsmlRequest> {
    let (headers, body) = split_text(&next_text(ws).await?);
    if header(&headers, "Path") != Some("speech.config")
        || header(&headers, "Content-Type") != Some("application/json; charset=utf-8")
        || header(&headers, "X-Timestamp").is_none()
    {
        bail!("bad speech.config headers {headers:?}");
    }
    let config: Value = serde_json::from_str(body.trim()).context("speech.config JSON")?;
    let output_format = config["context"]["synthesis"]["audio"]["outputFormat"]
        .as_str()
        .context("outputFormat")?
        .to_string();
    let (headers, ssml) = split_text(&next_text(ws).await?);
    let request_id = header(&headers, "X-RequestId").unwrap_or_default();
    if header(&headers, "Path") != Some("ssml")
        || header(&headers, "Content-Type") != Some("application/ssml+xml")
        || !header(&headers, "X-Timestamp").is_some_and(|t| t.ends_with('Z'))
        || !is_hex(request_id, 32, false)
    {
        bail!("bad ssml headers {headers:?}");
    }
    let (voice, pitch, rate, volume, text) =
        parse_ssml(&ssml).with_context(|| format!("malformed SSML {ssml:?}"))?;
    Ok(SsmlRequest {
        voice,
        pitch,
        rate,
        volume,
        text,
        output_format,
    })
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    let checker = state.clone();
    // The error type is tungstenite's `ErrorResponse` (a whole HTTP response), not ours.
    #[allow(clippy::result_large_err)]
    let callback = move |request: &Request, response: Response| {
        let mut s = checker.lock().unwrap();
        match check_handshake(request, &s) {
            Ok(()) => {
                s.activity.handshakes_accepted += 1;
                Ok(response)
            }
            Err(why) => {
                s.activity.refusals.push(why);
                let date = http_date(unix_now() + s.clock_offset_secs);
                let mut refusal = ErrorResponse::new(None);
                *refusal.status_mut() = StatusCode::FORBIDDEN;
                if let Ok(v) = date.parse() {
                    refusal.headers_mut().insert("date", v);
                }
                Err(refusal)
            }
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let request = match read_request(&mut ws).await {
        Ok(r) => r,
        Err(e) => {
            state
                .lock()
                .unwrap()
                .activity
                .protocol_errors
                .push(format!("{e:#}"));
            let _ = ws.close(None).await;
            return;
        }
    };
    let mode = {
        let mut s = state.lock().unwrap();
        s.activity.requests.push(request.clone());
        s.mode
    };
    if let Ok(true) = answer(&mut ws, &request, mode).await {
        state.lock().unwrap().activity.completed += 1;
        // Edge closes from its side once it has turn.end; wait for that (bounded).
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

fn text_message(request_id: &str, path: &str, body: &str) -> Message {
    Message::text(format!(
        "X-RequestId:{request_id}\r\nContent-Type:application/json; charset=utf-8\r\nPath:{path}\r\n\r\n{body}"
    ))
}

fn audio_message(request_id: &str, stream_id: &str, data: &[u8]) -> Message {
    let headers = if data.is_empty() {
        format!("X-RequestId:{request_id}\r\nX-StreamId:{stream_id}\r\nPath:audio\r\n")
    } else {
        format!("X-RequestId:{request_id}\r\nContent-Type:audio/mpeg\r\nX-StreamId:{stream_id}\r\nPath:audio\r\n")
    };
    let mut frame = (headers.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(headers.as_bytes());
    frame.extend_from_slice(data);
    Message::binary(frame)
}

fn random_hex() -> String {
    (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Plays one turn; `Ok(true)` when it ended with `turn.end` after audio.
async fn answer(ws: &mut Ws, request: &SsmlRequest, mode: EdgeMode) -> Result<bool> {
    let known_voice = VOICES.iter().find(|(name, _, _)| {
        request.voice == format!("Microsoft Server Speech Text to Speech Voice ({name})")
    });
    let format = MP3_FORMATS
        .iter()
        .find(|(f, _, _)| *f == request.output_format);
    let (Some(&(_, espeak_voice, base_pitch)), Some(&(_, rate, kbps))) = (known_voice, format)
    else {
        // What the service does with voices and formats it will not serve.
        ws.close(None).await?;
        return Ok(false);
    };
    if let EdgeMode::Slow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    let id = random_hex();
    let stream_id = random_hex().to_uppercase();
    let tag = random_hex();
    ws.send(text_message(
        &id,
        "turn.start",
        &format!(r#"{{"context":{{"serviceTag":"{tag}"}}}}"#),
    ))
    .await?;
    match mode {
        EdgeMode::CloseWithoutAudio => {
            ws.close(None).await?;
            return Ok(false);
        }
        EdgeMode::TurnEndWithoutAudio => {
            ws.send(text_message(&id, "turn.end", "{}")).await?;
            return Ok(false);
        }
        _ => {}
    }
    ws.send(text_message(
        &id,
        "response",
        &format!(r#"{{"context":{{"serviceTag":"{tag}"}},"audio":{{"type":"inline","streamId":"{stream_id}"}}}}"#),
    ))
    .await?;
    let mp3 = speech_mp3(request, espeak_voice, base_pitch, rate, kbps).await?;
    let frames: Vec<&[u8]> = mp3.chunks(4_608).collect();
    for (i, chunk) in frames.iter().enumerate() {
        if mode == EdgeMode::CloseMidAudio && i == frames.len() / 2 {
            // End the TCP stream without a close frame.
            tokio::io::AsyncWriteExt::shutdown(ws.get_mut()).await.ok();
            return Ok(false);
        }
        if i == 1 {
            let word = request
                .text
                .chars()
                .take(2)
                .collect::<String>()
                .replace('"', "");
            let meta = format!(
                r#"{{"Metadata":[{{"Type":"WordBoundary","Data":{{"Offset":1000000,"Duration":3000000,"text":{{"Text":"{word}","Length":{},"BoundaryType":"WordBoundary"}}}}}}]}}"#,
                word.chars().count()
            );
            ws.send(text_message(&id, "audio.metadata", &meta)).await?;
        }
        ws.send(audio_message(&id, &stream_id, chunk)).await?;
    }
    ws.send(audio_message(&id, &stream_id, &[])).await?;
    ws.send(text_message(&id, "turn.end", "{}")).await?;
    Ok(true)
}

/// espeak-ng speech for the request's prosody, encoded by ffmpeg as MP3.
async fn speech_mp3(
    request: &SsmlRequest,
    espeak_voice: &str,
    base_pitch: u32,
    rate: u32,
    kbps: u32,
) -> Result<Vec<u8>> {
    let percent = |s: &str, unit: &str| -> f64 {
        s.strip_suffix(unit)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let wpm = (175.0 * (1.0 + percent(&request.rate, "%") / 100.0)).clamp(80.0, 450.0) as u32;
    let pitch = (base_pitch as f64 + percent(&request.pitch, "Hz") / 4.0).clamp(0.0, 99.0) as u32;
    let samples =
        crate::fake_gpt_sovits::espeak_speech(&request.text, espeak_voice, wpm, pitch, rate)
            .await?;
    let pcm: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    crate::fake_gpt_sovits::run(
        Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "f32le", "-ar"])
            .arg(rate.to_string())
            .args(["-ac", "1", "-i", "-", "-c:a", "libmp3lame", "-b:a"])
            .arg(format!("{kbps}k"))
            .args(["-f", "mp3", "-"]),
        pcm,
    )
    .await
    .context("ffmpeg")
}
