//! Error text that is safe and useful to show: the human-readable part of a provider's error
//! body, clipped; an error with its whole source chain; and every detail scrubbed of the API
//! key (in case a proxy echoes the request headers back).

use serde_json::Value;

use crate::config::ApiKey;
use crate::LlmError;

fn scrub(key: Option<&ApiKey>, text: String) -> String {
    match key {
        Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "<redacted>"),
        _ => text,
    }
}

pub(super) fn scrub_error(key: Option<&ApiKey>, e: LlmError) -> LlmError {
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

/// The human-readable part of an error body: `error.message` (OpenAI, DeepSeek, Ark, Ollama),
/// a bare `error` string, `message`, or the start of the body.
pub(super) fn error_detail(text: &str) -> String {
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

pub(super) fn clip(text: &str) -> String {
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
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
