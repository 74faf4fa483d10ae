//! The connection loop: connect → auth → heartbeats and commands, reconnecting with backoff.
//!
//! One session is one WebSocket connection. It ends on close, error, a missing auth reply or
//! a stall (no message at all for `stall_secs`; the server answers every heartbeat, so even a
//! silent room is never quiet that long). Recoverable ends reconnect after a backoff delay
//! (0.5 s doubling to 5 s, jittered); fatal ones (bad config, rejected auth) end the run with
//! the reason, instead of hammering the server with a key it already refused.

use std::collections::HashSet;
use std::future::pending;
use std::time::Duration;

use avatar_link::backoff::Backoff;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{interval, sleep, sleep_until, timeout, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::commands::{CommandDecoder, Outcome};
use super::packet::{self, op, version, Limits};
use super::{room_info, BilibiliConfig, BilibiliError, DEFAULT_API, DEFAULT_ENDPOINT, PLATFORM};
use crate::EventSink;
use aivs_core::event::LiveEvent;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to answer the auth packet.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest WebSocket message accepted (real ones are a few KiB; bodies expand within
/// [`Limits`]).
const MAX_MESSAGE: usize = 1024 * 1024;
/// The web client's heartbeat body, kept byte for byte in case the server ever checks it.
pub const HEARTBEAT_BODY: &[u8] = b"[object Object]";
/// Distinct unknown command names logged per run (the rest are only counted).
const UNKNOWN_NAMES_LOGGED: usize = 64;

/// Runs until the sink closes (`Ok`) or a fatal error.
pub async fn run(config: BilibiliConfig, sink: EventSink) -> Result<(), BilibiliError> {
    config.validate()?;
    let http = reqwest::Client::new();
    let mut backoff = Backoff::new();
    let mut state = State::default();
    loop {
        match session(&config, &sink, &http, &mut state, &mut backoff).await {
            Ok(()) => return Ok(()),
            // The caller logs why the source stopped.
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                sink.source_down(&e);
                let delay = backoff.next_delay();
                tracing::warn!(
                    room = config.room_id,
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "bilibili connection lost; reconnecting"
                );
                if sink.is_closed() {
                    return Ok(());
                }
                sleep(delay).await;
            }
        }
    }
}

/// What survives reconnections.
#[derive(Default)]
struct State {
    decoder: CommandDecoder,
    unknown_logged: HashSet<String>,
}

/// The URL to connect to and the token to authenticate with (a secret).
struct Target {
    url: String,
    key: String,
}

async fn resolve(config: &BilibiliConfig, http: &reqwest::Client) -> Result<Target, BilibiliError> {
    if let Some(key) = config.configured_key() {
        return Ok(Target {
            url: config
                .endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            key: key.to_string(),
        });
    }
    let api = config.api.as_deref().unwrap_or(DEFAULT_API);
    let info = room_info::fetch(http, api, config.room_id, &config.buvid).await?;
    Ok(Target {
        url: config
            .endpoint
            .clone()
            .or_else(|| info.ws_url())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        key: info.token,
    })
}

/// The auth packet (operation 7). Contains the key: never log it.
pub fn auth_packet(config: &BilibiliConfig, key: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "uid": config.uid,
        "roomid": config.room_id,
        "protover": 3,
        "platform": "web",
        "type": 2,
        "buvid": config.buvid,
        "key": key,
    });
    packet::encode(version::INT, op::AUTH, 1, body.to_string().as_bytes())
}

/// The heartbeat packet (operation 2).
pub fn heartbeat_packet() -> Vec<u8> {
    packet::encode(version::INT, op::HEARTBEAT, 1, HEARTBEAT_BODY)
}

/// One connection, from connect to its end. `Ok(())` means the sink closed: stop.
async fn session(
    config: &BilibiliConfig,
    sink: &EventSink,
    http: &reqwest::Client,
    state: &mut State,
    backoff: &mut Backoff,
) -> Result<(), BilibiliError> {
    let target = resolve(config, http).await?;
    let mut request =
        target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| BilibiliError::Connect {
                url: target.url.clone(),
                source: Box::new(e),
            })?;
    let headers = request.headers_mut();
    headers.insert("User-Agent", HeaderValue::from_static(super::USER_AGENT));
    headers.insert(
        "Origin",
        HeaderValue::from_static("https://live.bilibili.com"),
    );
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (ws, _) = timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, Some(ws_config), false),
    )
    .await
    .map_err(|_| BilibiliError::ConnectTimeout(target.url.clone()))?
    .map_err(|e| BilibiliError::Connect {
        url: target.url.clone(),
        source: Box::new(e),
    })?;
    let (mut write, mut read) = ws.split();
    write
        .send(Message::binary(auth_packet(config, &target.key)))
        .await
        .map_err(ws_error)?;
    tracing::debug!(room = config.room_id, url = %target.url, "bilibili auth sent");

    let stall = Duration::from_secs_f64(config.stall_secs);
    let auth_deadline = Instant::now() + AUTH_TIMEOUT;
    let mut heartbeat: Option<Interval> = None;
    let mut last_message = Instant::now();
    loop {
        let deadline = if heartbeat.is_some() {
            last_message + stall
        } else {
            auth_deadline
        };
        tokio::select! {
            next = read.next() => {
                let message = match next {
                    None => return Err(BilibiliError::Closed),
                    Some(Err(e)) => return Err(ws_error(e)),
                    Some(Ok(message)) => message,
                };
                last_message = Instant::now();
                let bytes = match message {
                    Message::Binary(bytes) => bytes,
                    Message::Text(text) => {
                        sink.raw_frame(PLATFORM, text.as_bytes());
                        sink.reject(PLATFORM, "text_message", &"the danmaku protocol is binary");
                        continue;
                    }
                    Message::Close(_) => return Err(BilibiliError::Closed),
                    // Pings are answered by tungstenite itself.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                sink.raw_frame(PLATFORM, &bytes);
                let handled = handle_message(&bytes, sink, state);
                if let Some(code) = handled.auth_code {
                    if code != 0 {
                        return Err(BilibiliError::AuthRejected { code });
                    }
                    if heartbeat.is_none() {
                        tracing::info!(room = config.room_id, "bilibili danmaku connected");
                        sink.source_up();
                        backoff.reset();
                        let mut every = interval(Duration::from_secs_f64(config.heartbeat_secs));
                        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        heartbeat = Some(every); // first tick is immediate
                    }
                }
                if let Some(problem) = handled.auth_malformed {
                    if heartbeat.is_none() {
                        return Err(BilibiliError::AuthReplyMalformed(problem));
                    }
                }
                if !handled.events.is_empty() && sink.deliver(handled.events, None).await.is_err() {
                    return Ok(());
                }
            }
            _ = tick(&mut heartbeat) => {
                if sink.is_closed() {
                    return Ok(());
                }
                write.send(Message::binary(heartbeat_packet())).await.map_err(ws_error)?;
            }
            _ = sleep_until(deadline) => {
                return Err(if heartbeat.is_some() {
                    BilibiliError::Stalled(stall)
                } else {
                    BilibiliError::AuthTimeout(AUTH_TIMEOUT)
                });
            }
        }
    }
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(every) => {
            every.tick().await;
        }
        None => pending::<()>().await,
    }
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> BilibiliError {
    BilibiliError::Ws(Box::new(e))
}

/// What one WebSocket message amounted to.
#[derive(Debug, Default)]
struct Handled {
    events: Vec<LiveEvent>,
    /// `code` of an auth reply in this message.
    auth_code: Option<i64>,
    /// An auth reply that could not be read.
    auth_malformed: Option<String>,
}

/// Decodes one message: events out, everything unusable counted on the sink.
fn handle_message(bytes: &[u8], sink: &EventSink, state: &mut State) -> Handled {
    let decoded = packet::decode_message(bytes, &Limits::default());
    for error in &decoded.errors {
        sink.reject(PLATFORM, error.reason(), error);
    }
    let mut out = Handled::default();
    for packet in decoded.packets {
        match packet.operation {
            op::COMMAND => match state.decoder.command(&packet.body) {
                Ok(Outcome::Events(events)) => out.events.extend(events),
                Ok(Outcome::Ignored(reason)) => {
                    sink.counters().add(PLATFORM, reason);
                }
                Ok(Outcome::Unknown(name)) => {
                    sink.counters().add(PLATFORM, "unknown_command");
                    if state.unknown_logged.len() < UNKNOWN_NAMES_LOGGED
                        && state.unknown_logged.insert(name.clone())
                    {
                        tracing::debug!(cmd = %name, "bilibili command not handled (counted)");
                    }
                }
                Err(e) => sink.reject(PLATFORM, e.reason(), &e),
            },
            op::HEARTBEAT_REPLY => match state.decoder.heartbeat_reply(&packet.body) {
                Ok(stats) => out.events.extend(stats),
                Err(e) => sink.reject(PLATFORM, e.reason(), &e),
            },
            op::AUTH_REPLY => match auth_code(&packet.body) {
                Ok(code) => out.auth_code = Some(code),
                Err(problem) => {
                    sink.reject(PLATFORM, "bad_auth_reply", &problem);
                    out.auth_malformed = Some(problem);
                }
            },
            other => sink.reject(
                PLATFORM,
                "unexpected_operation",
                &format_args!("operation {other} from the server"),
            ),
        }
    }
    out
}

/// `code` of an auth reply body (`{"code":0}` is success).
fn auth_code(body: &[u8]) -> Result<i64, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    doc["code"]
        .as_i64()
        .ok_or_else(|| "no numeric \"code\"".to_string())
}

#[cfg(test)]
mod tests;
