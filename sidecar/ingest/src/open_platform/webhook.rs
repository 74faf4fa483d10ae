//! The push endpoint: `POST {path}` with a signed JSON array.
//!
//! Checks, in order, each failure counted by reason with [`EventSink::reject`]:
//!
//! | check | answer | reason |
//! |---|---|---|
//! | body larger than 1 MiB | 413 | `too_large` |
//! | body not complete within 5 s (connection closed) | 408 | `body_timeout` |
//! | `x-signature` missing or wrong | 403 | `bad_signature` |
//! | `x-timestamp` (ms; 10-digit seconds accepted) not within ±window | 403 | `stale_timestamp` |
//! | same `(nonce, timestamp, signature)` already answered 200 | 409 | `replayed` |
//! | body not a JSON array | 400 | `bad_json` |
//! | signed for another room / unknown `x-msg-type` | 200 (dropped) | `other_room` / `unknown_msg_type` |
//! | an unusable item | 200 for the rest | `bad_item`, `absurd_gift`, `absurd_like` |
//!
//! A valid push is answered 200 only after [`EventSink::deliver`] returned, i.e. after its gifts
//! are committed to the ledger. The platform wants an answer within 2 s (3 s for gifts) and
//! resends on failure; if the commit takes longer than [`COMMIT_DEADLINE`] the answer is 503 so
//! that the platform resends instead of timing out — whatever did get committed is recognised by
//! its `msg_id` when it comes again. Ten failures in a row trip the platform's breaker, hence the
//! margin. Every 403/409 means "not from the platform, or not now": nothing of it is recorded.
//!
//! The HTTP server around it ([`serve`]) bounds headers in time and connections in number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::guard::{replay_key, Refusal, ReplayGuard};
use super::payload::{map_item, GiftNames, MsgType, PLATFORM};
use super::signature;
use crate::EventSink;

/// Largest push body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// Longest wait for the ledger before answering 503 (the platform's deadline is 2 s).
pub const COMMIT_DEADLINE: Duration = Duration::from_millis(1500);
/// Longest time a push body may take to arrive: the platform sends it at once, a client that
/// trickles it is holding a connection slot.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint answered, and why (the reason is also the rejection counter's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl Answer {
    const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }
    const OK: Self = Self::new(StatusCode::OK, "ok");
}

/// Counts of what the endpoint did, for the summary at shutdown.
#[derive(Debug, Default)]
pub struct PushStats {
    pub accepted: AtomicU64,
    pub events: AtomicU64,
    pub test_items: AtomicU64,
    pub fansclub_items: AtomicU64,
    pub commit_timeouts: AtomicU64,
}

/// The verifying, mapping and delivering part of the endpoint (everything but HTTP itself).
pub struct Webhook {
    secret: String,
    room_id: String,
    gift_names: GiftNames,
    guard: Mutex<ReplayGuard>,
    sink: EventSink,
    commit_deadline: Duration,
    body_timeout: Duration,
    pub stats: PushStats,
}

impl Webhook {
    pub fn new(
        secret: String,
        room_id: String,
        window_secs: u64,
        gift_names: GiftNames,
        sink: EventSink,
    ) -> Self {
        Self {
            secret,
            room_id,
            gift_names,
            guard: Mutex::new(ReplayGuard::new(window_secs)),
            sink,
            commit_deadline: COMMIT_DEADLINE,
            body_timeout: BODY_TIMEOUT,
            stats: PushStats::default(),
        }
    }

    /// Handles one push whose body was read already; `now_ms` is the wall clock.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8], now_ms: u64) -> Answer {
        if body.len() > MAX_BODY {
            return self.refuse(
                Answer::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                &body.len(),
            );
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signed = signature::SIGNED_HEADERS.map(|name| (name, header(name).unwrap_or("")));
        let Some(given) = header("x-signature") else {
            return self.refuse(
                Answer::new(StatusCode::FORBIDDEN, "bad_signature"),
                &"no x-signature header",
            );
        };
        if !signature::matches(&signature::sign(&signed, body, &self.secret), given.trim()) {
            return self.refuse(
                Answer::new(StatusCode::FORBIDDEN, "bad_signature"),
                &"x-signature does not match (wrong app_secret, or not from the platform)",
            );
        }
        let [(_, msg_type), (_, nonce), (_, room), (_, timestamp)] = signed;
        let key = replay_key(nonce, timestamp, given);
        let reserved = {
            let mut guard = self.guard.lock().unwrap_or_else(|e| e.into_inner());
            guard
                .check_time(timestamp, now_ms)
                .and_then(|ts| guard.reserve(&key, ts, now_ms))
        };
        match reserved {
            Ok(()) => {}
            Err(Refusal::Stale) => {
                return self.refuse(
                    Answer::new(StatusCode::FORBIDDEN, "stale_timestamp"),
                    &format!("x-timestamp {timestamp:?} vs our clock {now_ms} ms"),
                )
            }
            Err(Refusal::Replayed) => {
                return self.refuse(
                    Answer::new(StatusCode::CONFLICT, "replayed"),
                    &format!("nonce {nonce:?} at {timestamp} was already received"),
                )
            }
            Err(Refusal::Full) => {
                tracing::warn!("push replay memory full; answering 503");
                return Answer::new(StatusCode::SERVICE_UNAVAILABLE, "busy");
            }
        }
        self.sink.raw_frame(PLATFORM, body);
        let answer = self.process(msg_type, room, body).await;
        if answer.status != StatusCode::OK {
            self.guard
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(&key);
        }
        answer
    }

    /// A signed, fresh push: parse, map, deliver.
    async fn process(&self, msg_type: &str, room: &str, body: &[u8]) -> Answer {
        let items: Vec<serde_json::Value> = match serde_json::from_slice(body) {
            Ok(items) => items,
            Err(e) => return self.refuse(Answer::new(StatusCode::BAD_REQUEST, "bad_json"), &e),
        };
        if !self.room_id.is_empty() && room != self.room_id {
            self.sink.reject(
                PLATFORM,
                "other_room",
                &format!(
                    "push for room {room:?}, configured room is {:?}",
                    self.room_id
                ),
            );
            return Answer::OK;
        }
        let Some(kind) = MsgType::parse(msg_type) else {
            self.sink.reject(
                PLATFORM,
                "unknown_msg_type",
                &format!("x-msg-type {msg_type:?} ({} items)", items.len()),
            );
            return Answer::OK;
        };
        let mut events = Vec::with_capacity(items.len());
        for item in &items {
            match map_item(kind, item, &self.gift_names) {
                Ok(mapped) => {
                    let msg_id = mapped.event.as_ref().map(|e| e.msg_id.as_str());
                    if mapped.test {
                        self.stats.test_items.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(msg_type, ?msg_id, "test push from the developer console");
                    }
                    if mapped.rounded {
                        tracing::warn!(?msg_id, "gift value not whole diamonds; rounded");
                    }
                    match mapped.event {
                        Some(event) => events.push(event),
                        None => {
                            self.stats.fansclub_items.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(rejected) => self
                    .sink
                    .reject(PLATFORM, rejected.reason, &rejected.detail),
            }
        }
        let count = events.len() as u64;
        if count > 0 {
            match tokio::time::timeout(self.commit_deadline, self.sink.deliver(events, None)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(_closed)) => {
                    return Answer::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
                }
                Err(_elapsed) => {
                    self.stats.commit_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        msg_type,
                        events = count,
                        "ledger commit slower than {:?}; answering 503 so the platform resends",
                        self.commit_deadline
                    );
                    return Answer::new(StatusCode::SERVICE_UNAVAILABLE, "commit_timeout");
                }
            }
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.events.fetch_add(count, Ordering::Relaxed);
        Answer::OK
    }

    fn refuse(&self, answer: Answer, detail: &dyn std::fmt::Display) -> Answer {
        self.sink.reject(PLATFORM, answer.reason, detail);
        answer
    }

    #[cfg(test)]
    fn with_commit_deadline(mut self, deadline: Duration) -> Self {
        self.commit_deadline = deadline;
        self
    }

    #[cfg(test)]
    fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

/// The HTTP side: one route, `POST {path}`.
pub fn router(path: &str, hook: Arc<Webhook>) -> Router {
    Router::new().route(path, post(push)).with_state(hook)
}

async fn push(State(hook): State<Arc<Webhook>>, headers: HeaderMap, body: Body) -> Response {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let answer = match declared {
        Some(len) if len > MAX_BODY as u64 => hook.refuse(
            Answer::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            &format!("content-length {len}"),
        ),
        _ => match tokio::time::timeout(hook.body_timeout, axum::body::to_bytes(body, MAX_BODY))
            .await
        {
            Ok(Ok(bytes)) => {
                hook.handle(&headers, &bytes, aivs_core::clock::now_ms())
                    .await
            }
            // Over the limit while streaming (or the client went away mid-body).
            Ok(Err(e)) => hook.refuse(Answer::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large"), &e),
            Err(_) => hook.refuse(
                Answer::new(StatusCode::REQUEST_TIMEOUT, "body_timeout"),
                &format!("body not complete within {:?}", hook.body_timeout),
            ),
        },
    };
    // The rest of a trickled body is not worth waiting for: close instead of draining it.
    let close = answer.status == StatusCode::REQUEST_TIMEOUT;
    let err_no = if answer.status == StatusCode::OK {
        0
    } else {
        answer.status.as_u16()
    };
    let mut response = (
        answer.status,
        Json(serde_json::json!({ "err_no": err_no, "err_msg": answer.reason })),
    )
        .into_response();
    if close {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

pub mod serve;

#[cfg(test)]
mod tests;
