//! A stand-in for an OpenAI-compatible chat-completions server (OpenAI, DeepSeek, Ark, Ollama's
//! `/v1`), for tests of the sidecar's streaming LLM client and reply pipeline.
//!
//! Public API:
//!
//! - [`FakeOpenAi::start`] listens on `127.0.0.1:<random port>` with a [`FakeConfig`] (the key it
//!   demands, default time to first token and token interval, the default reply);
//!   [`FakeOpenAi::base_url`] is the `…/v1` to configure as `llm.base_url`.
//! - [`FakeOpenAi::push`] queues a [`Script`] for the next request (FIFO; with the queue empty
//!   the default reply is streamed): a reply streamed token by token, an HTTP error with the
//!   providers' error JSON (500, 429 with `Retry-After`), a slow server that never sends a
//!   token, a disconnect in the middle of the stream, an empty stream, a non-streamed JSON
//!   answer.
//! - [`FakeOpenAi::requests`] returns every request received (headers, parsed JSON body, time);
//!   [`FakeOpenAi::max_concurrent`] the most requests it was serving at once.
//! - [`tokens`] cuts a text into token-sized pieces the way a tokenizer roughly would.
//!
//! Wire format, as the real servers send it: `POST /v1/chat/completions` with
//! `Authorization: Bearer <key>` (a wrong or missing key → 401 `invalid_api_key`), answered with
//! `Content-Type: text/event-stream` in HTTP/1.1 chunked encoding, one event per chunk: first
//! `data: {"object":"chat.completion.chunk", …, "delta":{"role":"assistant","content":""}}`,
//! then one chunk per token (`"delta":{"content":"…"}`), then `"delta":{}` with
//! `"finish_reason":"stop"`, then `data: [DONE]`. A `: keep-alive` comment precedes the first
//! event (OpenRouter-style proxies send those; clients must skip them).
//!
//! HTTP/1.1 is written and parsed by hand ([`crate::http_stub`]) on purpose: the tests must
//! control exactly what goes over the wire (a disconnect in the middle of a chunk, a chunk per
//! token) and must not share an HTTP stack or any code with the sidecar.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::http_stub::{self, write_chunk, Head, HttpConnection, Limits, LAST_CHUNK};

/// Largest request read: a 64 KiB head, a 4 MiB body.
const LIMITS: Limits = Limits::new(64 * 1024, 4 << 20);
/// How long a [`Script::Slow`] response holds the connection before giving up on the client.
const SLOW_HOLD: Duration = Duration::from_secs(60);

/// Server-wide settings.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The key demanded in `Authorization: Bearer`; `None` accepts any or no key (Ollama).
    pub api_key: Option<String>,
    /// Delay between receiving a request and sending its first token.
    pub ttft: Duration,
    /// Delay between tokens.
    pub token_interval: Duration,
    /// Tokens streamed when no script is queued.
    pub default_reply: Vec<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            ttft: Duration::from_millis(50),
            token_interval: Duration::from_millis(10),
            default_reply: tokens("[happy]你好呀，欢迎来到直播间！"),
        }
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Script {
    /// Streams `tokens` with the server's timing.
    Reply(Vec<String>),
    /// Streams `tokens` with its own timing.
    ReplyTimed {
        tokens: Vec<String>,
        ttft: Duration,
        token_interval: Duration,
    },
    /// Answers `status` with the providers' error JSON (`{"error":{"message","type","code"}}`),
    /// and a `Retry-After` header (seconds) when given.
    Error {
        status: u16,
        message: String,
        retry_after: Option<u32>,
    },
    /// Sends the headers and the role chunk, then nothing until the client goes away.
    Slow,
    /// Streams the first `after` of `tokens`, then drops the connection without ending the
    /// chunked body (a crash or network cut mid-reply).
    DisconnectAfter { tokens: Vec<String>, after: usize },
    /// The role chunk, a `finish_reason: stop` chunk and `[DONE]`: no text at all.
    Empty,
    /// Ignores `stream: true` and answers one `chat.completion` JSON with `text`.
    NonStream(String),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
    /// Since the server started.
    pub at: Duration,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        http_stub::header(&self.headers, name)
    }

    /// `messages[i].content` of the request.
    pub fn message_content(&self, i: usize) -> Option<&str> {
        self.body
            .pointer(&format!("/messages/{i}/content"))?
            .as_str()
    }
}

struct State {
    config: FakeConfig,
    scripts: Mutex<VecDeque<Script>>,
    requests: Mutex<Vec<RecordedRequest>>,
    active: AtomicUsize,
    max_active: AtomicUsize,
    started: Instant,
    next_id: AtomicUsize,
}

/// The running fake server. Dropping it stops accepting connections.
pub struct FakeOpenAi {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOpenAi {
    pub async fn start(config: FakeConfig) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fake OpenAI server")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config,
            scripts: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            started: Instant::now(),
            next_id: AtomicUsize::new(1),
        });
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    // Errors here are the client going away, which several scripts provoke.
                    let _ = serve(socket, state).await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:<port>/v1`, the value for `llm.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a script for the next request.
    pub fn push(&self, script: Script) {
        self.state.scripts.lock().unwrap().push_back(script);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Most requests being answered at the same time so far.
    pub fn max_concurrent(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }

    /// Requests being answered right now.
    pub fn active(&self) -> usize {
        self.state.active.load(Ordering::SeqCst)
    }
}

/// Cuts `text` into tokens: each CJK character alone, Latin words with their leading space,
/// punctuation alone, `[tag]` openings in three pieces (models do split them).
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c == ' ' {
            word.push(c);
        } else {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Counts a request as active for as long as it lives.
struct ActiveGuard(Arc<State>);

impl ActiveGuard {
    fn new(state: Arc<State>) -> Self {
        let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_active.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(socket: TcpStream, state: Arc<State>) -> Result<()> {
    let mut conn = HttpConnection::new(socket, LIMITS);
    let request = conn.read_request().await?;
    let request = RecordedRequest {
        method: request.method,
        path: request.target,
        headers: (request.headers.into_iter())
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        at: state.started.elapsed(),
    };
    // One request a connection (every answer closes it).
    let (mut socket, _) = conn.into_parts();
    let _active = ActiveGuard::new(state.clone());
    state.requests.lock().unwrap().push(request.clone());

    if request.method != "POST" || request.path != "/v1/chat/completions" {
        return respond_json(
            &mut socket,
            404,
            &error_body(
                "Unknown request URL",
                "invalid_request_error",
                "unknown_url",
            ),
            None,
        )
        .await;
    }
    if let Some(key) = &state.config.api_key {
        let expected = format!("Bearer {key}");
        if request.header("authorization") != Some(expected.as_str()) {
            return respond_json(
                &mut socket,
                401,
                &error_body(
                    "Incorrect API key provided.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
                None,
            )
            .await;
        }
    }
    let model = request
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_string();
    let id = format!(
        "chatcmpl-fake-{}",
        state.next_id.fetch_add(1, Ordering::SeqCst)
    );
    let script = state
        .scripts
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Script::Reply(state.config.default_reply.clone()));
    let (ttft, interval) = (state.config.ttft, state.config.token_interval);
    let chunks = Chunks { id, model };
    match script {
        Script::Reply(tokens) => stream(&mut socket, &chunks, &tokens, None, ttft, interval).await,
        Script::ReplyTimed {
            tokens,
            ttft,
            token_interval,
        } => stream(&mut socket, &chunks, &tokens, None, ttft, token_interval).await,
        Script::DisconnectAfter { tokens, after } => {
            stream(&mut socket, &chunks, &tokens, Some(after), ttft, interval).await
        }
        Script::Empty => stream(&mut socket, &chunks, &[], None, ttft, interval).await,
        Script::Error {
            status,
            message,
            retry_after,
        } => {
            let kind = if status == 429 {
                ("requests", "rate_limit_exceeded")
            } else {
                ("server_error", "internal_error")
            };
            respond_json(
                &mut socket,
                status,
                &error_body(&message, kind.0, kind.1),
                retry_after,
            )
            .await
        }
        Script::Slow => {
            write_stream_head(&mut socket).await?;
            write_event(&mut socket, &chunks.role()).await?;
            // Hold until the client hangs up (read returns 0 or fails) or the hold ends.
            let mut buf = [0u8; 256];
            let _ = tokio::time::timeout(SLOW_HOLD, async {
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            Ok(())
        }
        Script::NonStream(text) => {
            tokio::time::sleep(ttft).await;
            let body = json!({
                "id": chunks.id,
                "object": "chat.completion",
                "created": unix_secs(),
                "model": chunks.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
            });
            respond_json(&mut socket, 200, &body, None).await
        }
    }
}

/// Builds the `chat.completion.chunk` events of one response.
struct Chunks {
    id: String,
    model: String,
}

impl Chunks {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": unix_secs(),
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        })
        .to_string()
    }

    fn role(&self) -> String {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }
}

async fn stream(
    socket: &mut TcpStream,
    chunks: &Chunks,
    tokens: &[String],
    cut_after: Option<usize>,
    ttft: Duration,
    interval: Duration,
) -> Result<()> {
    write_stream_head(socket).await?;
    write_chunk(socket, b": keep-alive\n\n").await?;
    write_event(socket, &chunks.role()).await?;
    tokio::time::sleep(ttft).await;
    for (i, token) in tokens.iter().enumerate() {
        if cut_after == Some(i) {
            // Half a chunk header, then gone: the body can never complete.
            socket.write_all(b"4").await?;
            socket.flush().await?;
            return Ok(());
        }
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        write_event(socket, &chunks.chunk(json!({"content": token}), None)).await?;
    }
    if cut_after.is_some_and(|n| n >= tokens.len()) {
        return Ok(());
    }
    write_event(socket, &chunks.chunk(json!({}), Some("stop"))).await?;
    write_event(socket, "[DONE]").await?;
    socket.write_all(LAST_CHUNK).await?;
    socket.flush().await?;
    Ok(())
}

async fn write_stream_head(socket: &mut TcpStream) -> Result<()> {
    let head = Head::response("200 OK")
        .header("Content-Type", "text/event-stream; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .header("Transfer-Encoding", "chunked")
        .header("Connection", "close")
        .into_bytes();
    socket.write_all(&head).await?;
    socket.flush().await?;
    Ok(())
}

async fn write_event(socket: &mut TcpStream, data: &str) -> Result<()> {
    Ok(write_chunk(socket, format!("data: {data}\n\n").as_bytes()).await?)
}

fn error_body(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

async fn respond_json(
    socket: &mut TcpStream,
    status: u16,
    body: &Value,
    retry_after: Option<u32>,
) -> Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = Head::response(&format!("{status} {reason}"))
        .header("Content-Type", "application/json")
        .header("Content-Length", body.len())
        .header("Connection", "close");
    if let Some(secs) = retry_after {
        head = head.header("Retry-After", secs);
    }
    socket.write_all(&head.with_body(body.as_bytes())).await?;
    socket.flush().await?;
    Ok(())
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_like_a_tokenizer() {
        assert_eq!(
            tokens("[happy]你好 world!"),
            vec!["[", "happy", "]", "你", "好", " world", "!"]
        );
        assert_eq!(tokens("").len(), 0);
        assert_eq!(tokens("3.14").concat(), "3.14");
    }

    /// The raw bytes on the wire, read with a plain socket: chunked SSE with `[DONE]`.
    #[tokio::test]
    async fn streams_chunked_sse_with_done_and_checks_the_key() {
        let fake = FakeOpenAi::start(FakeConfig {
            api_key: Some("sk-test".into()),
            ttft: Duration::from_millis(1),
            token_interval: Duration::from_millis(1),
            default_reply: tokens("你好"),
        })
        .await
        .unwrap();
        let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let raw = |key: &str| {
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let addr = fake.addr();
        let exchange = |request: String| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(request.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = exchange(raw("sk-test")).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("text/event-stream"));
        assert!(ok.contains("Transfer-Encoding: chunked"));
        assert!(ok.contains(r#""delta":{"content":"你"}"#));
        assert!(ok.contains(r#""finish_reason":"stop""#));
        assert!(ok.contains("data: [DONE]\n\n"));
        assert!(ok.ends_with("0\r\n\r\n"));

        let denied = exchange(raw("sk-wrong")).await;
        assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
        assert!(denied.contains("invalid_api_key"));

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
        assert_eq!(requests[0].message_content(0), Some("hi"));
    }
}
