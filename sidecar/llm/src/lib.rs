//! Streaming LLM replies to viewer comments.
//!
//! The pieces, each small and testable on its own:
//!
//! * [`config`]: [`LlmConfig`] (`[llm]` in the settings) with the provider [`Preset`]s and the
//!   persona ([`PersonaConfig`], seed 002's fields). Off by default: the embedded show answers
//!   from templates and needs no LLM.
//! * [`sse`]: an incremental Server-Sent-Events parser (bytes in, events out; chunk boundaries
//!   may fall anywhere, even inside a UTF-8 character or a CRLF).
//! * [`client`]: ONE OpenAI-compatible streaming chat client for every provider (OpenAI,
//!   Ollama's `/v1`, Volcengine Ark, DeepSeek): timeouts, a concurrency cap, a rate limiter
//!   ([`ratelimit`]) and retries that stop at the first token, so spoken text is never repeated.
//! * [`prompt`]: the system prompt from the persona, and the user message as a JSON object in
//!   which the viewer's name and comment are quoted data, never instructions.
//! * [`sentences`]: cuts the token stream into sentences as soon as each one ends, so the first
//!   sentence goes to TTS long before the model has finished.
//! * [`safety`]: screens model output (no system-prompt echoes, no blocked words, no contact
//!   bait) and masks viewer names/comments before anything is spoken.
//! * [`emotion`]: the reply's emotion (a leading `[happy]` tag or keywords) → avatar expression,
//!   motion and TTS prosody.
//! * [`reply`]: [`ReplyWriter`], the piece the show uses: comment in, safe tagged sentences out
//!   on a channel.

pub mod client;
pub mod config;
pub mod emotion;
pub mod prompt;
pub mod ratelimit;
pub mod reply;
pub mod safety;
pub mod sentences;
pub mod sse;

#[cfg(test)]
mod injection_tests;
#[cfg(test)]
mod safety_tests;

pub use client::{ChatMessage, ChatStream, LlmClient, Role};
pub use config::{LlmConfig, PersonaConfig, Preset, API_KEY_ENV};
pub use emotion::Emotion;
pub use prompt::{CommentContext, Exchange, PromptBuilder, SceneContext, ViewerContext};
pub use reply::{ReplyAssembler, ReplyEvent, ReplySentence, ReplyWriter};
pub use safety::{SafetyScreen, Verdict};
pub use sentences::SentenceSplitter;

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutStage {
    /// Opening the TCP/TLS connection.
    Connect,
    /// From sending the request to the first token of text.
    FirstToken,
    /// The whole reply, retries included.
    Reply,
}

impl std::fmt::Display for TimeoutStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutStage::Connect => "connect",
            TimeoutStage::FirstToken => "first token",
            TimeoutStage::Reply => "whole reply",
        })
    }
}

/// Everything that can go wrong getting a reply. Cheap to clone (strings only) so the same error
/// can be logged, counted and handed to the caller. No variant ever carries the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The settings cannot work (missing key or model, bad URL).
    #[error("LLM settings: {0}")]
    Config(String),
    /// The server answered with an HTTP error status (the error JSON's message as detail).
    #[error("LLM server answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    /// The server could not be reached, or the connection broke before the first token.
    #[error("cannot reach the LLM server: {0}")]
    Unreachable(String),
    #[error("LLM {stage} timeout after {ms} ms")]
    Timeout { stage: TimeoutStage, ms: u64 },
    /// The server spoke the wire format wrongly (bad SSE/JSON, an error event mid-stream).
    #[error("LLM protocol error: {0}")]
    Protocol(String),
    /// The stream broke after text had already been received. Never retried: the text so far
    /// may already be on air, and a second request would say it again.
    #[error("LLM stream broke after {received_chars} characters: {detail}")]
    Interrupted {
        received_chars: usize,
        detail: String,
    },
    /// The model finished without saying anything.
    #[error("the LLM returned an empty reply")]
    Empty,
    /// The rate limiter would have had to wait longer than allowed.
    #[error("LLM rate limit: next request slot in {wait_ms} ms (more than the allowed wait)")]
    RateLimited { wait_ms: u64 },
    /// Every sentence of the reply was refused by the safety screen.
    #[error("the reply was refused by the safety screen: {0}")]
    Refused(String),
}

impl LlmError {
    /// Whether a fresh attempt may succeed. Only asked before the first token: after it,
    /// nothing is retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => *status == 429 || (500..600).contains(status),
            LlmError::Unreachable(_) => true,
            LlmError::Timeout { stage, .. } => *stage == TimeoutStage::Connect,
            _ => false,
        }
    }
}
