//! A stand-in for GPT-SoVITS's `api_v2.py` (FastAPI under uvicorn) on loopback, for tests of
//! the sidecar's GPT-SoVITS engine.
//!
//! It answers `GET /tts` (query string) and `POST /tts` (JSON) with api_v2's parameter checks
//! and error bodies (`400 {"message": ...}`), and with **real speech**: espeak-ng reads the
//! text at request time (`-v cmn-latn-pinyin`, rate scaled by `speed_factor`) and sox converts
//! it to the model's sample rate. Packing follows api_v2 byte for byte:
//! * non-streaming `wav`: one WAV file as soundfile writes it (16-bit PCM, 44-byte header;
//!   float mode: 32-bit float with `fact` and `PEAK` chunks), `Content-Length` framing;
//! * streaming: HTTP chunked transfer; the first chunk is the header Python's `wave` module
//!   writes for zero frames (RIFF size 36, data size 0), then bare int16 PCM pieces;
//! * `raw`: bare int16 PCM, streaming or not.
//!
//! Failure modes ([`SovitsMode`]) reproduce what a real server does when it goes wrong: an
//! empty 200, the one second of 16 kHz zeros api_v2 yields when the model throws, a noise
//! floor instead of speech, float32 PCM behind an int16 header (forks do this), uvicorn's 500,
//! api_v2's `400 {"message":"tts failed","Exception":..}`, a slow answer, and a connection
//! dropped mid-body. It shares no code with the sidecar.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

mod speech;
mod wire;

pub use speech::espeak_speech;
pub(crate) use speech::run;
use wire::{float_wav, noise_floor, uvicorn_date, wav_header_tag, write_json, write_simple};

use crate::http_stub::{write_chunk, Head, HttpConnection, Request, LAST_CHUNK};

/// How the next answers go wrong (or not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SovitsMode {
    /// Real speech, int16 (what api_v2 sends).
    Speech,
    /// Real speech as a 32-bit float WAV (non-streaming) or float header + float PCM.
    FloatWav,
    /// Float32 PCM behind a header that says 16-bit PCM.
    FloatAsInt16,
    /// 200 with an empty body.
    EmptyBody,
    /// api_v2's exception path: one second of zeros at 16 kHz, status 200.
    AllZero,
    /// 1.5 s of noise around -70 dBFS, no speech.
    NoiseFloor,
    /// uvicorn's plain-text 500.
    ServerError,
    /// api_v2's catch-all 400.
    BadRequest,
    /// Real speech after this delay.
    Slow(Duration),
    /// Part of the body, then the connection is dropped.
    DisconnectMidStream,
    /// Reads the request and never answers (a wedged GPU server), holding the connection.
    Hang,
}

/// api_v2 `tts_infer.yaml` languages (v2).
const LANGUAGES: &[&str] = &[
    "auto", "auto_yue", "en", "zh", "ja", "yue", "ko", "all_zh", "all_ja", "all_yue", "all_ko",
];
const SPLIT_METHODS: &[&str] = &["cut0", "cut1", "cut2", "cut3", "cut4", "cut5"];

#[derive(Debug)]
struct State {
    mode: SovitsMode,
    model_rate: u32,
    requests: Vec<Value>,
}

/// The running stand-in; stops when dropped.
pub struct FakeGptSovits {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeGptSovits {
    /// Listens on a free loopback port; `model_rate` is the model's output rate (32000 for
    /// v2 models).
    pub async fn start(model_rate: u32) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            mode: SovitsMode::Speech,
            model_rate,
            requests: Vec::new(),
        }));
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, serving.clone()));
            }
        });
        Ok(Self { addr, state, task })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: SovitsMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Every `/tts` request so far, as api_v2 saw its parameters.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeGptSovits {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut conn = HttpConnection::new(stream, wire::LIMITS);
    // Keep-alive, like uvicorn: serve requests until the client closes.
    while let Ok(request) = conn.read_request().await {
        match respond(conn.stream(), request, &state).await {
            Ok(true) => {}
            _ => return,
        }
    }
}

/// The parameters api_v2 would see (query strings give strings, JSON gives JSON types).
fn parameters(request: &Request) -> std::result::Result<Map<String, Value>, (u16, Value)> {
    let unprocessable = |msg: &str| (422, json!({"detail": [{"msg": msg}]}));
    if request.method == "POST" {
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(unprocessable("body is not a JSON object")),
        }
    } else {
        Ok(request
            .query()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect())
    }
}

/// api_v2's `check_params` plus its `streaming_mode` rule; `Err` is the 400 message.
fn check_params(p: &Map<String, Value>) -> std::result::Result<(), String> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if text("ref_audio_path").is_empty() {
        return Err("ref_audio_path is required".into());
    }
    if text("text").is_empty() {
        return Err("text is required".into());
    }
    for key in ["text_lang", "prompt_lang"] {
        let lang = text(key).to_lowercase();
        if lang.is_empty() {
            return Err(format!("{key} is required"));
        }
        if !LANGUAGES.contains(&lang.as_str()) {
            return Err(format!("{key}: {lang} is not supported in version v2"));
        }
    }
    let media = p.get("media_type").and_then(Value::as_str).unwrap_or("wav");
    if !["wav", "raw", "ogg", "aac"].contains(&media) {
        return Err(format!("media_type: {media} is not supported"));
    }
    let split = p
        .get("text_split_method")
        .and_then(Value::as_str)
        .unwrap_or("cut5");
    if !SPLIT_METHODS.contains(&split) {
        return Err(format!("text_split_method:{split} is not supported"));
    }
    if streaming(p).is_none() {
        return Err(
            "the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)".into(),
        );
    }
    Ok(())
}

/// `streaming_mode` as api_v2 reads it: `Some(true)` streams.
fn streaming(p: &Map<String, Value>) -> Option<bool> {
    match p.get("streaming_mode") {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Number(n)) => n.as_u64().filter(|n| *n <= 3).map(|n| n > 0),
        Some(Value::String(s)) => match s.to_lowercase().as_str() {
            "true" | "1" | "2" | "3" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn number(p: &Map<String, Value>, key: &str, default: f64) -> f64 {
    match p.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(default),
        Some(Value::String(s)) => s.parse().unwrap_or(default),
        _ => default,
    }
}

/// Answers one request; `Ok(false)` closes the connection.
async fn respond(
    stream: &mut TcpStream,
    request: Request,
    state: &Mutex<State>,
) -> std::io::Result<bool> {
    if request.path() != "/tts" || !(request.method == "GET" || request.method == "POST") {
        write_simple(
            stream,
            "404 Not Found",
            "application/json",
            br#"{"detail":"Not Found"}"#,
        )
        .await?;
        return Ok(true);
    }
    let params = match parameters(&request) {
        Ok(p) => p,
        Err((_, body)) => {
            write_json(stream, "422 Unprocessable Entity", &body).await?;
            return Ok(true);
        }
    };
    let (mode, model_rate) = {
        let mut s = state.lock().unwrap();
        s.requests.push(Value::Object(params.clone()));
        (s.mode, s.model_rate)
    };
    if let Err(message) = check_params(&params) {
        write_json(stream, "400 Bad Request", &json!({ "message": message })).await?;
        return Ok(true);
    }
    let media = params
        .get("media_type")
        .and_then(Value::as_str)
        .unwrap_or("wav")
        .to_string();
    if media == "ogg" || media == "aac" {
        // Real api_v2 encodes these; the sidecar never asks for them.
        write_json(stream, "400 Bad Request", &json!({ "message": "tts failed", "Exception": format!("{media} not implemented by the stand-in") }))
        .await?;
        return Ok(true);
    }
    let streaming = streaming(&params).unwrap_or(false);
    if let SovitsMode::Slow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    if mode == SovitsMode::Hang {
        std::future::pending::<()>().await;
    }
    let (rate, samples) = match mode {
        SovitsMode::EmptyBody => {
            write_simple(stream, "200 OK", "audio/wav", b"").await?;
            return Ok(true);
        }
        SovitsMode::ServerError => {
            write_simple(
                stream,
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                b"Internal Server Error",
            )
            .await?;
            return Ok(true);
        }
        SovitsMode::BadRequest => {
            write_json(stream, "400 Bad Request", &json!({"message": "tts failed", "Exception": "CUDA out of memory. Tried to allocate 20.00 MiB"}))
            .await?;
            return Ok(true);
        }
        SovitsMode::AllZero => (16_000, vec![0.0f32; 16_000]),
        SovitsMode::NoiseFloor => (model_rate, noise_floor(model_rate as usize * 3 / 2)),
        _ => {
            let text = params
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let speed = number(&params, "speed_factor", 1.0).clamp(0.25, 4.0);
            match espeak_speech(
                text,
                "cmn-latn-pinyin",
                (175.0 * speed) as u32,
                50,
                model_rate,
            )
            .await
            {
                Ok(s) => (model_rate, s),
                Err(e) => {
                    write_json(
                        stream,
                        "400 Bad Request",
                        &json!({"message": "tts failed", "Exception": e.to_string()}),
                    )
                    .await?;
                    return Ok(true);
                }
            }
        }
    };
    let float_data = matches!(mode, SovitsMode::FloatWav | SovitsMode::FloatAsInt16);
    let pcm: Vec<u8> = if float_data {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    } else {
        samples
            .iter()
            .flat_map(|s| ((s * 32_768.0).clamp(-32_768.0, 32_767.0) as i16).to_le_bytes())
            .collect()
    };
    let raw = media == "raw";
    let content_type = format!("audio/{media}");
    if !streaming {
        let body = if raw {
            pcm
        } else if mode == SovitsMode::FloatWav {
            float_wav(rate, &samples, &pcm)
        } else {
            let mut b = wav_header_tag(rate, 1, 16, pcm.len() as u32);
            b.extend_from_slice(&pcm);
            b
        };
        if mode == SovitsMode::DisconnectMidStream {
            let head = Head::response("200 OK")
                .header("server", "uvicorn")
                .header("content-length", body.len())
                .header("content-type", &content_type)
                .into_bytes();
            stream.write_all(&head).await?;
            stream.write_all(&body[..body.len() / 2]).await?;
            return Ok(false);
        }
        write_simple(stream, "200 OK", &content_type, &body).await?;
        return Ok(true);
    }
    // StreamingResponse: chunked, header chunk first (wav), then PCM pieces as they "arrive".
    let head = Head::response("200 OK")
        .header("date", uvicorn_date())
        .header("server", "uvicorn")
        .header("content-type", &content_type)
        .header("transfer-encoding", "chunked")
        .into_bytes();
    stream.write_all(&head).await?;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    if !raw {
        // `wave` module header for zero frames; sample width 2 whatever the data (as api_v2).
        let (tag, bits) = if mode == SovitsMode::FloatWav {
            (3, 32)
        } else {
            (1, 16)
        };
        pieces.push(wav_header_tag(rate, tag, bits, 0));
    }
    let piece_bytes = (rate as usize / 4) * if float_data { 4 } else { 2 };
    pieces.extend(pcm.chunks(piece_bytes).map(<[u8]>::to_vec));
    let cut_after = if mode == SovitsMode::DisconnectMidStream {
        pieces.len() / 2
    } else {
        usize::MAX
    };
    for (i, piece) in pieces.iter().enumerate() {
        if i == cut_after {
            stream.flush().await?;
            return Ok(false);
        }
        write_chunk(stream, piece).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stream.write_all(LAST_CHUNK).await?;
    Ok(true)
}
