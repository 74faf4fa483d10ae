//! ONE OpenAI-compatible streaming chat client for every provider.
//!
//! ```text
//! stream_chat(messages)
//!   ├─ concurrency permit (Semaphore, held until the stream is dropped)
//!   ├─ rate-limit slot (token bucket, bounded wait)
//!   └─ attempt: POST {base}/chat/completions {"stream": true, …}
//!        ├─ 429 / 5xx / connect error / closed before any text → back off, next attempt
//!        └─ first token of text arrives → Ok(ChatStream): from here on NOTHING is retried
//! ```
//!
//! The first-token rule is what keeps a reply from being spoken twice: once text has come out
//! it may already be on air, so a failure after it ends the stream with
//! [`LlmError::Interrupted`] and the caller decides (keep what aired, fall back for the rest).
//!
//! Wire format handled: `text/event-stream` with `data: {chat.completion.chunk}` events, SSE
//! comments, multi-line events, `data: [DONE]`, `choices[0].delta.content` (role-only and null
//! deltas skipped, `reasoning_content` ignored: it is not meant to be spoken), `{"error": …}`
//! events and error bodies. A server that ignores `stream: true` and answers one
//! `chat.completion` JSON is accepted as a one-delta stream (some proxies do that).
//!
//! The key goes into the `Authorization` header and nowhere else: not into `Debug`, logs or
//! errors (error text from the server is scrubbed of it, in case a proxy echoes headers).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

use super::config::{ApiKey, Endpoint, LlmConfig};
use super::ratelimit::RateLimiter;
use super::sse::SseParser;
use super::{LlmError, TimeoutStage};

/// Error bodies are read up to this size (enough for any provider's error JSON).
const MAX_ERROR_BODY: usize = 16 * 1024;
/// A non-streamed JSON reply is read up to this size.
const MAX_JSON_BODY: usize = 1 << 20;
/// Longest `Retry-After` honoured; beyond it the reply would be too late anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    temperature: f32,
    max_tokens: u32,
}

/// Cheap to clone: clones share the HTTP connection pool, the concurrency cap and the rate limit.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    temperature: f32,
    max_tokens: u32,
    connect_timeout: Duration,
    first_token_timeout: Duration,
    reply_timeout: Duration,
    retries: u32,
    retry_backoff: Duration,
    permits: Arc<Semaphore>,
    limiter: RateLimiter,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Endpoint`'s Debug redacts the key.
        f.debug_struct("LlmClient")
            .field("endpoint", &self.inner.endpoint)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// Why an attempt failed, and how long the server asked us to wait (429 `Retry-After`).
struct AttemptError {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl From<LlmError> for AttemptError {
    fn from(error: LlmError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl LlmClient {
    /// Resolves the endpoint (preset, overrides, key from config or [`super::API_KEY_ENV`]) and
    /// builds the HTTP client. Fails on unusable settings, never on an unreachable server.
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        Self::with_endpoint(config, config.endpoint()?)
    }

    /// Like [`LlmClient::new`] with an already resolved endpoint.
    pub fn with_endpoint(config: &LlmConfig, endpoint: Endpoint) -> Result<Self, LlmError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .user_agent(concat!("ai-vstreamer-sidecar/", env!("CARGO_PKG_VERSION")));
        if is_loopback_url(&endpoint.url) {
            // A local Ollama or test server must not be sent through an HTTP(S)_PROXY.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                temperature: config.temperature,
                max_tokens: config.max_tokens,
                connect_timeout: Duration::from_millis(config.connect_timeout_ms),
                first_token_timeout: Duration::from_millis(config.first_token_timeout_ms),
                reply_timeout: Duration::from_millis(config.reply_timeout_ms),
                retries: config.retries,
                retry_backoff: Duration::from_millis(config.retry_backoff_ms),
                permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
                limiter: RateLimiter::new(
                    config.requests_per_minute,
                    Duration::from_millis(config.rate_limit_max_wait_ms),
                ),
            }),
        })
    }

    pub fn model(&self) -> &str {
        &self.inner.endpoint.model
    }

    /// Requests the reply to `messages` and returns once its first token of text has arrived
    /// (so `Ok` means the model is talking). The stream yields text deltas in order, the first
    /// one included, and ends after `[DONE]`; an error item ends it early.
    ///
    /// Errors before the first token: [`LlmError::Http`] (after retries for 429/5xx),
    /// `Unreachable`, `Timeout` (`FirstToken` per attempt, `Reply` overall), `RateLimited`,
    /// `Empty` (the model finished without text), `Protocol`.
    pub async fn stream_chat(&self, messages: Vec<ChatMessage>) -> Result<ChatStream, LlmError> {
        let inner = &self.inner;
        let started = Instant::now();
        let deadline = started + inner.reply_timeout;
        let reply_timeout = LlmError::Timeout {
            stage: TimeoutStage::Reply,
            ms: inner.reply_timeout.as_millis() as u64,
        };
        let permit = timeout_at(deadline, inner.permits.clone().acquire_owned())
            .await
            .map_err(|_| reply_timeout.clone())?
            .map_err(|_| LlmError::Config("client closed".into()))?;
        let body = serde_json::to_vec(&ChatRequest {
            model: &inner.endpoint.model,
            messages: &messages,
            stream: true,
            temperature: inner.temperature,
            max_tokens: inner.max_tokens,
        })
        .map_err(|e| LlmError::Protocol(format!("cannot encode request: {e}")))?;

        let mut attempt = 0u32;
        loop {
            inner
                .limiter
                .acquire()
                .await
                .map_err(|wait| LlmError::RateLimited {
                    wait_ms: wait.as_millis() as u64,
                })?;
            tracing::debug!(
                url = %inner.endpoint.url,
                model = %inner.endpoint.model,
                attempt,
                "LLM request"
            );
            let failure = match self.attempt(&body, deadline).await {
                Ok(mut state) => {
                    let first_token_at = Instant::now();
                    state.permit = Some(permit);
                    return Ok(ChatStream {
                        inner: futures_util::stream::unfold(state, StreamState::step).boxed(),
                        started,
                        first_token_at,
                        attempts: attempt + 1,
                    });
                }
                Err(failure) => failure,
            };
            let error = scrub_error(inner.endpoint.key.as_ref(), failure.error);
            if attempt >= inner.retries || !error.is_retryable() {
                return Err(error);
            }
            let backoff = inner.retry_backoff * 2u32.saturating_pow(attempt);
            let wait = failure
                .retry_after
                .map(|ra| ra.min(MAX_RETRY_AFTER).max(backoff))
                .unwrap_or(backoff);
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::warn!(
                %error,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "LLM request failed before the first token, retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One request, up to and including its first token of text.
    async fn attempt(&self, body: &[u8], deadline: Instant) -> Result<StreamState, AttemptError> {
        let inner = &self.inner;
        let sent = Instant::now();
        let first_deadline = (sent + inner.first_token_timeout).min(deadline);
        let timeout_error = || {
            if first_deadline == deadline {
                LlmError::Timeout {
                    stage: TimeoutStage::Reply,
                    ms: inner.reply_timeout.as_millis() as u64,
                }
            } else {
                LlmError::Timeout {
                    stage: TimeoutStage::FirstToken,
                    ms: inner.first_token_timeout.as_millis() as u64,
                }
            }
        };
        let mut request = inner
            .http
            .post(&inner.endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body.to_vec());
        if let Some(key) = &inner.endpoint.key {
            request = request.bearer_auth(key.expose());
        }
        let response = timeout_at(first_deadline, request.send())
            .await
            .map_err(|_| timeout_error())?
            .map_err(|e| self.send_error(e))?;

        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let text = read_limited(response, MAX_ERROR_BODY, first_deadline)
                .await
                .unwrap_or_default();
            return Err(AttemptError {
                error: LlmError::Http {
                    status: status.as_u16(),
                    detail: error_detail(&text),
                },
                retry_after,
            });
        }

        let mut state = StreamState::new(inner, deadline);
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
        if is_json {
            let text = read_limited(response, MAX_JSON_BODY, first_deadline)
                .await
                .map_err(|e| match e {
                    ReadError::Timeout => timeout_error(),
                    ReadError::Body(detail) => LlmError::Unreachable(detail),
                })?;
            state.pending.push_back(whole_reply_content(&text)?);
            state.done = true;
            return Ok(state);
        }

        state.body = Some(
            response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| error_chain(&e)))
                .boxed(),
        );
        // Read until the first text; failures here are still "before the first token".
        loop {
            match timeout_at(first_deadline, state.read_more()).await {
                Err(_) => return Err(timeout_error().into()),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(())) => {}
            }
            if !state.pending.is_empty() {
                return Ok(state);
            }
            if state.done {
                return Err(LlmError::Empty.into());
            }
        }
    }

    fn send_error(&self, e: reqwest::Error) -> AttemptError {
        let e = e.without_url();
        let error = if e.is_timeout() {
            LlmError::Timeout {
                stage: TimeoutStage::Connect,
                ms: self.inner.connect_timeout.as_millis() as u64,
            }
        } else {
            LlmError::Unreachable(error_chain(&e))
        };
        error.into()
    }
}

/// The text deltas of one reply, in order. Holds the concurrency permit until dropped (or
/// until the reply ended), so a slow consumer counts against the cap as it should.
pub struct ChatStream {
    inner: BoxStream<'static, Result<String, LlmError>>,
    started: Instant,
    first_token_at: Instant,
    attempts: u32,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("attempts", &self.attempts)
            .field("time_to_first_token", &(self.first_token_at - self.started))
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// When `stream_chat` was called.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the first token arrived (time to first token = `first_token_at - started`).
    pub fn first_token_at(&self) -> Instant {
        self.first_token_at
    }

    /// Requests sent for this reply (1 = no retry).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl Stream for ChatStream {
    type Item = Result<String, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Everything a reply's stream owns: the body, the SSE parser, parsed-but-unyielded deltas.
struct StreamState {
    body: Option<BoxStream<'static, Result<Vec<u8>, String>>>,
    parser: SseParser,
    pending: VecDeque<String>,
    /// `[DONE]` (or the end of a non-streamed reply) was seen.
    done: bool,
    /// An error to yield once the deltas before it have been yielded.
    error: Option<LlmError>,
    /// An error item was yielded: the stream is over.
    failed: bool,
    saw_finish_reason: bool,
    /// Characters yielded so far.
    received_chars: usize,
    deadline: Instant,
    reply_timeout: Duration,
    key: Option<ApiKey>,
    permit: Option<OwnedSemaphorePermit>,
}

impl StreamState {
    fn new(inner: &Inner, deadline: Instant) -> Self {
        Self {
            body: None,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            done: false,
            error: None,
            failed: false,
            saw_finish_reason: false,
            received_chars: 0,
            deadline,
            reply_timeout: inner.reply_timeout,
            key: inner.endpoint.key.clone(),
            permit: None,
        }
    }

    /// The next item; `None` = the reply is complete (or failed earlier).
    async fn step(mut self) -> Option<(Result<String, LlmError>, Self)> {
        loop {
            if let Some(delta) = self.pending.pop_front() {
                self.received_chars += delta.chars().count();
                return Some((Ok(delta), self));
            }
            if let Some(error) = self.error.take() {
                self.failed = true;
                self.permit = None;
                return Some((Err(error), self));
            }
            if self.done || self.failed {
                return None;
            }
            match timeout_at(self.deadline, self.read_more()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.error = Some(scrub_error(self.key.as_ref(), e)),
                Err(_) => {
                    self.error = Some(LlmError::Timeout {
                        stage: TimeoutStage::Reply,
                        ms: self.reply_timeout.as_millis() as u64,
                    })
                }
            }
        }
    }

    /// Reads one network chunk and turns its events into pending deltas.
    async fn read_more(&mut self) -> Result<(), LlmError> {
        let Some(body) = self.body.as_mut() else {
            self.done = true;
            return Ok(());
        };
        match body.next().await {
            Some(Ok(chunk)) => {
                let events = self
                    .parser
                    .push(&chunk)
                    .map_err(|e| LlmError::Protocol(e.to_string()))?;
                for event in events {
                    self.on_event(&event.event, &event.data)?;
                    if self.done {
                        break;
                    }
                }
                Ok(())
            }
            Some(Err(detail)) => Err(self.broken(detail)),
            None => {
                self.body = None;
                if let Some(event) = self
                    .parser
                    .finish()
                    .map_err(|e| LlmError::Protocol(e.to_string()))?
                {
                    self.on_event(&event.event, &event.data)?;
                }
                if self.done {
                    return Ok(());
                }
                if self.saw_finish_reason && !self.nothing_yet() {
                    // No `[DONE]`, but the model said it had finished: the reply is whole.
                    self.done = true;
                    return Ok(());
                }
                Err(self.broken("stream ended without [DONE]".into()))
            }
        }
    }

    fn nothing_yet(&self) -> bool {
        self.received_chars == 0 && self.pending.is_empty()
    }

    /// Before any text a broken stream is a (retryable) reachability problem; after it, an
    /// interruption that must not be retried.
    fn broken(&self, detail: String) -> LlmError {
        if self.nothing_yet() {
            return LlmError::Unreachable(format!(
                "connection broke before the first token: {detail}"
            ));
        }
        let pending: usize = self.pending.iter().map(|s| s.chars().count()).sum();
        LlmError::Interrupted {
            received_chars: self.received_chars + pending,
            detail,
        }
    }

    fn on_event(&mut self, name: &str, data: &str) -> Result<(), LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Protocol(format!("event is not JSON ({e}): {}", clip(data))))?;
        if name == "error" || value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(LlmError::Protocol(format!(
                "server error in the stream: {}",
                error_detail(data)
            )));
        }
        let Some(choice) = value.get("choices").and_then(|c| c.get(0)) else {
            // Usage-only chunks (`stream_options.include_usage`) have no choices.
            return Ok(());
        };
        if let Some(text) = choice
            .get("delta")
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
        {
            if !text.is_empty() {
                self.pending.push_back(text.to_string());
            }
        }
        if choice.get("finish_reason").is_some_and(Value::is_string) {
            self.saw_finish_reason = true;
        }
        Ok(())
    }
}

fn scrub(key: Option<&ApiKey>, text: String) -> String {
    match key {
        Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "<redacted>"),
        _ => text,
    }
}

fn scrub_error(key: Option<&ApiKey>, e: LlmError) -> LlmError {
    match e {
        LlmError::Protocol(d) => LlmError::Protocol(scrub(key, d)),
        LlmError::Unreachable(d) => LlmError::Unreachable(scrub(key, d)),
        LlmError::Interrupted {
            received_chars,
            detail,
        } => LlmError::Interrupted {
            received_chars,
            detail: scrub(key, detail),
        },
        LlmError::Http { status, detail } => LlmError::Http {
            status,
            detail: scrub(key, detail),
        },
        other => other,
    }
}

/// Bytes of a body read up to a limit.
enum ReadError {
    Timeout,
    Body(String),
}

async fn read_limited(
    response: reqwest::Response,
    limit: usize,
    deadline: Instant,
) -> Result<String, ReadError> {
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    loop {
        match timeout_at(deadline, body.next()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(ReadError::Body(error_chain(&e.without_url()))),
            Ok(Some(Ok(chunk))) => {
                let room = limit.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if bytes.len() >= limit {
                    break;
                }
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The content of a non-streamed `chat.completion` JSON body.
fn whole_reply_content(text: &str) -> Result<String, LlmError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| LlmError::Protocol(format!("reply is not JSON ({e}): {}", clip(text))))?;
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(LlmError::Protocol(format!(
            "server error: {}",
            error_detail(text)
        )));
    }
    let content = value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LlmError::Protocol(format!("no choices[0].message.content: {}", clip(text)))
        })?;
    if content.trim().is_empty() {
        return Err(LlmError::Empty);
    }
    Ok(content.to_string())
}

/// The human-readable part of an error body: `error.message` (OpenAI, DeepSeek, Ark, Ollama),
/// a bare `error` string, `message`, or the start of the body.
fn error_detail(text: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("error").filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            let code = value
                .pointer("/error/code")
                .or_else(|| value.pointer("/error/type"))
                .and_then(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .or_else(|| Some(c.to_string()))
                })
                .filter(|c| c != "null");
            return match code {
                Some(code) => format!("{} ({code})", clip(message)),
                None => clip(message),
            };
        }
    }
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        clip(text.trim())
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// `e` and its sources, so "error sending request" says *why* (connection refused, reset…).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or("");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StreamState {
        StreamState {
            body: None,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            done: false,
            error: None,
            failed: false,
            saw_finish_reason: false,
            received_chars: 0,
            deadline: Instant::now() + Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
            key: None,
            permit: None,
        }
    }

    fn chunk(delta: &str, finish: &str) -> String {
        format!(
            r#"{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}"#
        )
    }

    #[test]
    fn chunk_events_yield_only_spoken_content() {
        let mut s = state();
        s.on_event("", &chunk(r#"{"role":"assistant","content":""}"#, "null"))
            .unwrap();
        s.on_event("", &chunk(r#"{"content":null}"#, "null"))
            .unwrap();
        s.on_event("", &chunk(r#"{"reasoning_content":"想一想"}"#, "null"))
            .unwrap();
        s.on_event("", &chunk(r#"{"content":"你好"}"#, "null"))
            .unwrap();
        s.on_event("", &chunk("{}", r#""stop""#)).unwrap();
        // Usage-only chunk (stream_options.include_usage) and a blank keep-alive event.
        s.on_event("", r#"{"id":"c1","choices":[],"usage":{"total_tokens":3}}"#)
            .unwrap();
        s.on_event("", "").unwrap();
        assert_eq!(s.pending, VecDeque::from(vec!["你好".to_string()]));
        assert!(s.saw_finish_reason && !s.done);
        s.on_event("", " [DONE] ").unwrap();
        assert!(s.done);
    }

    #[test]
    fn error_events_and_bad_json_are_protocol_errors() {
        let mut s = state();
        let e = s
            .on_event(
                "",
                r#"{"error":{"message":"model overloaded","type":"server_error"}}"#,
            )
            .unwrap_err();
        assert!(
            matches!(&e, LlmError::Protocol(d) if d.contains("model overloaded")),
            "{e}"
        );
        let e = s.on_event("error", r#"{"message":"boom"}"#).unwrap_err();
        assert!(
            matches!(&e, LlmError::Protocol(d) if d.contains("boom")),
            "{e}"
        );
        assert!(matches!(
            s.on_event("", "{not json"),
            Err(LlmError::Protocol(_))
        ));
    }

    #[test]
    fn broken_streams_are_unreachable_before_text_and_interrupted_after() {
        let mut s = state();
        assert!(matches!(s.broken("reset".into()), LlmError::Unreachable(_)));
        s.pending.push_back("你好".into());
        s.received_chars = 3;
        assert_eq!(
            s.broken("reset".into()),
            LlmError::Interrupted {
                received_chars: 5,
                detail: "reset".into()
            }
        );
    }

    #[test]
    fn error_bodies_of_the_providers() {
        assert_eq!(
            error_detail(
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            "Incorrect API key provided (invalid_api_key)"
        );
        // Ollama: {"error":"model not found"}; Ark: code + message.
        assert_eq!(
            error_detail(r#"{"error":"model \"x\" not found"}"#),
            "model \"x\" not found"
        );
        assert_eq!(
            error_detail(r#"{"error":{"code":"InvalidEndpoint","message":"endpoint not found"}}"#),
            "endpoint not found (InvalidEndpoint)"
        );
        assert_eq!(
            error_detail("<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(error_detail(""), "(empty body)");
        assert_eq!(error_detail(&"x".repeat(1000)).chars().count(), 301);
    }

    #[test]
    fn non_streamed_replies() {
        let ok = r#"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"[happy]好呀"},"finish_reason":"stop"}]}"#;
        assert_eq!(whole_reply_content(ok).unwrap(), "[happy]好呀");
        let empty = r#"{"choices":[{"message":{"content":"  "}}]}"#;
        assert_eq!(whole_reply_content(empty), Err(LlmError::Empty));
        assert!(matches!(
            whole_reply_content(r#"{"error":{"message":"nope"}}"#),
            Err(LlmError::Protocol(_))
        ));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let http = |status| LlmError::Http {
            status,
            detail: String::new(),
        };
        assert!(http(429).is_retryable() && http(500).is_retryable() && http(503).is_retryable());
        assert!(
            !http(400).is_retryable() && !http(401).is_retryable() && !http(404).is_retryable()
        );
        assert!(LlmError::Unreachable("refused".into()).is_retryable());
        let timeout = |stage| LlmError::Timeout { stage, ms: 1 };
        assert!(timeout(TimeoutStage::Connect).is_retryable());
        assert!(!timeout(TimeoutStage::FirstToken).is_retryable());
        assert!(!LlmError::Empty.is_retryable());
        assert!(!LlmError::Interrupted {
            received_chars: 1,
            detail: String::new()
        }
        .is_retryable());
    }

    #[test]
    fn key_is_scrubbed_and_loopback_skips_proxies() {
        let key = ApiKey::new("sk-abc");
        assert_eq!(
            scrub_error(Some(&key), LlmError::Protocol("echo sk-abc".into())),
            LlmError::Protocol("echo <redacted>".into())
        );
        assert!(is_loopback_url(
            "http://127.0.0.1:11434/v1/chat/completions"
        ));
        assert!(is_loopback_url("http://localhost:8080/v1"));
        assert!(!is_loopback_url("https://api.openai.com/v1"));
    }
}
