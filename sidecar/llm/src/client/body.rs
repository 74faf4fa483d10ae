//! Bodies read whole rather than as an event stream: error bodies and the one-JSON replies of
//! servers that ignore `stream: true`, each bounded in size and by the attempt's deadline.

use futures_util::stream::StreamExt;
use serde_json::Value;
use tokio::time::{timeout_at, Instant};

use super::errors::{clip, error_chain, error_detail};
use crate::LlmError;

/// Bytes of a body read up to a limit.
pub(super) enum ReadError {
    Timeout,
    Body(String),
}

pub(super) async fn read_limited(
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
pub(super) fn whole_reply_content(text: &str) -> Result<String, LlmError> {
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
