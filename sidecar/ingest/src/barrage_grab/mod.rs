//! DouyinBarrageGrab: the local WebSocket of a capture tool many streamers already run.
//!
//! DouyinBarrageGrab (Windows) reads the Douyin live room out of the streamer's own Douyin
//! client or browser and re-broadcasts every message as JSON on `ws://127.0.0.1:8888`. This
//! source is a client of that socket: no signature, no cookies, nothing to sign — the tool did
//! that part. Its message format and gift semantics are in [`parse`].
//!
//! The tool keeps no history and sends nothing to clients that are not connected, so what
//! happens while we are disconnected is lost; within a connection, duplicates (the tool forwards
//! what Douyin resends) are removed by the ledger on `MsgId`, and gift combos are counted from
//! Douyin's running totals rather than the tool's own increments (see [`parse`]).
//!
//! When the tool is not running the source says so ("BarrageGrab not reachable at …,
//! retrying") and retries with backoff; a dropped connection is re-established the same way.
//! A silent connection is probed with WebSocket pings (the tool answers them); one that stops
//! answering is dropped and re-established.

pub mod parse;

use std::time::Duration;

use avatar_link::backoff::Backoff;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use self::parse::{Parsed, PLATFORM};
use crate::{EventSink, LiveSource, SelectError, SourceKind, SourceSpec};

/// Largest message accepted from the tool (its messages are a few KiB).
pub const MAX_MESSAGE: usize = 1 << 20;
/// A ping goes out after this much silence…
const PING_AFTER: Duration = Duration::from_secs(15);
/// …and the connection is given up when nothing at all came back for this long.
const DEAD_AFTER: Duration = Duration::from_secs(45);
/// While the tool is away, "not reachable" is logged on the first failure and then about once a
/// minute (every this many attempts at the 5 s backoff cap), not every few seconds.
const LOG_EVERY_ATTEMPTS: u32 = 12;

/// `[source.barrage_grab]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BarrageGrabConfig {
    /// The tool's WebSocket (its `WsProt` setting, default 8888).
    pub url: String,
    /// Reconnect when the tool is not running or the connection drops; off: stop with an error.
    pub reconnect: bool,
}

impl Default for BarrageGrabConfig {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:8888".into(),
            reconnect: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BarrageGrabError {
    #[error("[source.barrage_grab] url {0:?} is not a ws:// or wss:// URL")]
    BadUrl(String),
    #[error("BarrageGrab not reachable at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    #[error("BarrageGrab at {url} did not complete the connection within {after:?}")]
    ConnectTimeout { url: String, after: Duration },
    #[error("lost the connection to BarrageGrab at {url}: {reason}")]
    Disconnected { url: String, reason: String },
}

/// The WebSocket upgrade must be done by then (a port held by something else that accepts and
/// never answers).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct BarrageGrabSource {
    config: BarrageGrabConfig,
}

impl BarrageGrabSource {
    /// `resume` is ignored: the tool has no history to resume from.
    pub fn new(config: BarrageGrabConfig, _resume: Option<String>) -> Self {
        Self { config }
    }
}

impl SourceSpec for BarrageGrabConfig {
    type Source = BarrageGrabSource;
    const KIND: SourceKind = SourceKind::BarrageGrab;

    /// The tool has no room id and nothing to resume: the key only names the source; a second
    /// tool (another port) gets its URL in the key.
    fn key(&self) -> String {
        if self.url == Self::default().url {
            PLATFORM.into()
        } else {
            format!("{PLATFORM}:{}", self.url)
        }
    }

    fn build(&self, resume: Option<String>) -> Result<BarrageGrabSource, SelectError> {
        Ok(BarrageGrabSource::new(self.clone(), resume))
    }
}

/// Why a connection ended.
enum Ended {
    /// The show stopped: stop too.
    SinkClosed,
    Lost(String),
}

impl LiveSource for BarrageGrabSource {
    type Error = BarrageGrabError;

    fn describe(&self) -> String {
        format!("DouyinBarrageGrab at {}", self.config.url)
    }

    async fn run(self, sink: EventSink) -> Result<(), Self::Error> {
        let url = self.config.url;
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(BarrageGrabError::BadUrl(url));
        }
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let mut backoff = Backoff::new();
        let mut failures: u32 = 0;
        loop {
            if sink.is_closed() {
                return Ok(());
            }
            let connecting =
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config), true);
            let connected = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(connected) => connected.map_err(|source| BarrageGrabError::Connect {
                    url: url.clone(),
                    source,
                }),
                Err(_) => Err(BarrageGrabError::ConnectTimeout {
                    url: url.clone(),
                    after: CONNECT_TIMEOUT,
                }),
            };
            match connected {
                Ok((ws, _)) => {
                    tracing::info!(%url, "connected to BarrageGrab");
                    sink.source_up();
                    backoff.reset();
                    failures = 0;
                    match session(ws, &sink).await {
                        Ended::SinkClosed => return Ok(()),
                        Ended::Lost(reason) if self.config.reconnect => {
                            sink.source_down(&reason);
                            tracing::warn!(%url, %reason, "lost the connection to BarrageGrab; reconnecting")
                        }
                        Ended::Lost(reason) => {
                            return Err(BarrageGrabError::Disconnected { url, reason })
                        }
                    }
                }
                Err(error) if !self.config.reconnect => return Err(error),
                Err(error) => {
                    sink.source_down(&error);
                    if failures.is_multiple_of(LOG_EVERY_ATTEMPTS) {
                        tracing::warn!(%error, "BarrageGrab not reachable at {url}, retrying (is it running?)");
                    } else {
                        tracing::debug!(%error, "BarrageGrab still not reachable at {url}");
                    }
                    failures = failures.saturating_add(1);
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Reads one connection until it ends.
async fn session<S>(mut ws: S, sink: &EventSink) -> Ended
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    // Ticks often enough to notice a stopped show quickly; pings only after real silence.
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    loop {
        tokio::select! {
            message = ws.next() => {
                let message = match message {
                    None => return Ended::Lost("closed".into()),
                    Some(Err(e)) => return Ended::Lost(e.to_string()),
                    Some(Ok(m)) => m,
                };
                last_heard = Instant::now();
                let text = match &message {
                    Message::Text(t) => t.as_str(),
                    Message::Binary(b) => match std::str::from_utf8(b) {
                        Ok(t) => t,
                        Err(e) => {
                            sink.raw_frame(PLATFORM, b);
                            sink.reject(PLATFORM, "bad_envelope", &e);
                            continue;
                        }
                    },
                    Message::Close(frame) => {
                        return Ended::Lost(format!("closed by BarrageGrab ({frame:?})"))
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                sink.raw_frame(PLATFORM, text.as_bytes());
                if handle(text, sink).await.is_err() {
                    return Ended::SinkClosed;
                }
            }
            _ = ticks.tick() => {
                if sink.is_closed() {
                    return Ended::SinkClosed;
                }
                let silent = last_heard.elapsed();
                if silent >= DEAD_AFTER {
                    return Ended::Lost(format!("no answer for {silent:?}"));
                }
                if silent >= PING_AFTER && last_ping.elapsed() >= PING_AFTER {
                    last_ping = Instant::now();
                    if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                        return Ended::Lost(e.to_string());
                    }
                }
            }
        }
    }
}

/// Parses one message and hands its event to the show.
async fn handle(text: &str, sink: &EventSink) -> Result<(), crate::SinkClosed> {
    match parse::parse(text) {
        // Waits for the commit like every source: BarrageGrab has no acknowledgement, but a
        // message read is a message the tool will not send again, so nothing more is read
        // while the ledger holds this one.
        Ok(Parsed::Event(event)) => sink.deliver(vec![event], None).await,
        Ok(Parsed::FansClub) => {
            tracing::debug!("BarrageGrab fans-club message (not used)");
            Ok(())
        }
        Ok(Parsed::StreamEnded { room }) => {
            tracing::info!(%room, "BarrageGrab reports the stream ended");
            Ok(())
        }
        Err(rejected) => {
            sink.reject(PLATFORM, rejected.reason, &rejected.detail);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_tools_default_port() {
        let c = BarrageGrabConfig::default();
        assert_eq!(c.url, "ws://127.0.0.1:8888");
        assert!(c.reconnect);
        assert_eq!(c.key(), "barrage_grab");
        let c: BarrageGrabConfig = toml::from_str("url = 'ws://127.0.0.1:9999'").unwrap();
        assert_eq!((c.url.as_str(), c.reconnect), ("ws://127.0.0.1:9999", true));
        assert!(toml::from_str::<BarrageGrabConfig>("port = 1").is_err());
    }

    #[tokio::test]
    async fn a_bad_url_or_an_absent_tool_without_reconnect_is_an_error() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let source = BarrageGrabSource::new(
            BarrageGrabConfig {
                url: "http://127.0.0.1:8888".into(),
                reconnect: true,
            },
            None,
        );
        assert!(matches!(
            source.run(EventSink::new(tx.clone())).await,
            Err(BarrageGrabError::BadUrl(_))
        ));
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let source = BarrageGrabSource::new(
            BarrageGrabConfig {
                url: format!("ws://127.0.0.1:{port}"),
                reconnect: false,
            },
            None,
        );
        let err = source.run(EventSink::new(tx)).await.unwrap_err();
        assert!(
            err.to_string().contains("BarrageGrab not reachable"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_port_that_accepts_and_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream); // never answers the upgrade
            }
        });
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let source = BarrageGrabSource::new(
            BarrageGrabConfig {
                url: format!("ws://127.0.0.1:{port}"),
                reconnect: false,
            },
            None,
        );
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let err = source.run(EventSink::new(tx)).await.unwrap_err();
        assert!(
            matches!(err, BarrageGrabError::ConnectTimeout { .. }),
            "{err}"
        );
        let took = started.elapsed();
        assert!(
            took >= CONNECT_TIMEOUT && took < CONNECT_TIMEOUT + Duration::from_millis(50),
            "{took:?}"
        );
        hold.abort();
    }

    #[tokio::test]
    async fn bad_messages_are_counted_and_good_ones_delivered() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let sink = EventSink::new(tx);
        let data =
            serde_json::json!({"MsgId": 9, "User": {"Id": 1, "Nickname": "n"}, "Content": "hi"});
        let good = serde_json::json!({"Type": 1, "ProcessName": "p", "Data": data.to_string()});
        handle("{\"Type\":1,\"Data\":\"{oops\"}", &sink)
            .await
            .unwrap();
        // The show's side: take the delivery and commit it (the handler waits for that).
        let show = tokio::spawn(async move {
            let delivery = rx.recv().await.unwrap();
            delivery.committed.unwrap().send(()).unwrap();
            delivery.events[0].msg_id.clone()
        });
        handle(&good.to_string(), &sink).await.unwrap();
        assert_eq!(show.await.unwrap(), "9");
        assert_eq!(
            sink.counters().snapshot(),
            vec![("barrage_grab".to_string(), "bad_data", 1)]
        );
    }
}
