//! The reply after its first token: [`ChatStream`] (what callers consume) and `StreamState`
//! (what it owns: the body, the SSE parser, deltas parsed but not yet yielded).
//!
//! Kept apart from the request side because from the first token on nothing is retried: every
//! failure here ends the stream ([`LlmError::Interrupted`] once text has come out), and the
//! concurrency permit is released when the reply ends or the stream is dropped.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout_at, Instant};

use super::errors::{clip, error_detail, scrub_error};
use super::Inner;
use crate::config::ApiKey;
use crate::sse::SseParser;
use crate::{LlmError, TimeoutStage};

/// The text deltas of one reply, in order. Holds the concurrency permit until dropped (or
/// until the reply ended), so a slow consumer counts against the cap as it should.
pub struct ChatStream {
    pub(super) inner: BoxStream<'static, Result<String, LlmError>>,
    pub(super) started: Instant,
    pub(super) first_token_at: Instant,
    pub(super) attempts: u32,
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
pub(super) struct StreamState {
    pub(super) body: Option<BoxStream<'static, Result<Vec<u8>, String>>>,
    pub(super) parser: SseParser,
    pub(super) pending: VecDeque<String>,
    /// `[DONE]` (or the end of a non-streamed reply) was seen.
    pub(super) done: bool,
    /// An error to yield once the deltas before it have been yielded.
    pub(super) error: Option<LlmError>,
    /// An error item was yielded: the stream is over.
    pub(super) failed: bool,
    pub(super) saw_finish_reason: bool,
    /// Characters yielded so far.
    pub(super) received_chars: usize,
    pub(super) deadline: Instant,
    pub(super) reply_timeout: Duration,
    pub(super) key: Option<ApiKey>,
    pub(super) permit: Option<OwnedSemaphorePermit>,
}

impl StreamState {
    pub(super) fn new(inner: &Inner, deadline: Instant) -> Self {
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
    pub(super) async fn step(mut self) -> Option<(Result<String, LlmError>, Self)> {
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
    pub(super) async fn read_more(&mut self) -> Result<(), LlmError> {
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
    pub(super) fn broken(&self, detail: String) -> LlmError {
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

    pub(super) fn on_event(&mut self, name: &str, data: &str) -> Result<(), LlmError> {
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
