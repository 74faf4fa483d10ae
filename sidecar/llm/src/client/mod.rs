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
//!
//! Split by concern: this file holds the messages, the client and its attempt/retry loop;
//! `stream` the reply stream and its event handling after the first token; `body` the
//! bounded reading of non-streamed bodies; `errors` the human-readable, key-scrubbed error text.

mod body;
mod errors;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

use super::config::{Endpoint, LlmConfig};
use super::ratelimit::RateLimiter;
use super::{LlmError, TimeoutStage};
use body::{read_limited, whole_reply_content, ReadError};
use errors::{error_chain, error_detail, scrub_error};
pub use stream::ChatStream;
use stream::StreamState;

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

fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or("");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}
