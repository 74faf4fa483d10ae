use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::body::whole_reply_content;
use super::errors::{error_detail, scrub_error};
use super::stream::StreamState;
use super::*;
use crate::config::ApiKey;
use crate::sse::SseParser;

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
    assert!(!http(400).is_retryable() && !http(401).is_retryable() && !http(404).is_retryable());
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
