//! The connection loop: resolve → sign → connect → read, reconnecting until the show stops.
//!
//! Per binary frame, in this order: record it raw, decode it, count its rejects, deliver its
//! events with the checkpoint and wait for the commit, and only then ack it (if the server
//! asked). A crash before the ack makes the server resend; the ledger drops what was already
//! in. Handshake answers the platform uses for refusals are told apart (HTTP 200 = signature
//! refused, 415 = device blocked) and retried slowly instead of hammering the server.

use std::time::Duration;

use avatar_link::backoff::Backoff;
use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderValue;
use tokio::net::TcpStream;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::frame::{decode_frame_to_events, encode_ack, encode_heartbeat, DecodedFrame};
use super::normalize::{Normalizer, DEFAULT_DEDUPE_CAPACITY, PLATFORM};
use super::signer::{SignRequest, Signer};
use super::webcast::{self, Endpoints, PushParams, Room, SITE_ORIGIN};
use super::{DouyinConfig, DouyinError, ResumeState, Retry};
use crate::{EventSink, SinkClosed};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Room-page and signer-service requests.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP + TLS + WebSocket upgrade of the push connection: a server that accepts and never
/// answers must not hold the source for the TCP stack's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket messages may exceed the payload cap by this much (frame envelope).
const FRAME_OVERHEAD: usize = 64 * 1024;

/// Why a connection ended without an error that needs its own handling.
#[derive(Debug)]
enum End {
    /// The show is gone: stop.
    SinkClosed,
    /// Connect again. `healthy`: frames arrived, so the backoff starts over.
    Reconnect { reason: String, healthy: bool },
}

/// What one binary frame was.
enum FrameOutcome {
    Msg,
    Other,
    Close,
    SinkClosed,
}

/// Runs the source until the sink closes or a configuration error stops it.
pub async fn run(
    config: DouyinConfig,
    resume: Option<ResumeState>,
    sink: EventSink,
) -> Result<(), DouyinError> {
    let mut conn = Connection::new(config, resume)?;
    let mut backoff = Backoff::new();
    let slow = Duration::from_secs_f64(conn.config.slow_retry_secs);
    loop {
        let delay = match conn.session(&sink).await {
            Ok(End::SinkClosed) => return Ok(()),
            Ok(End::Reconnect { reason, healthy }) => {
                let stats = conn.normalizer.stats();
                tracing::info!(%reason, ?stats, "douyin push connection ended; reconnecting");
                sink.source_down(&reason);
                if healthy {
                    backoff.reset();
                }
                backoff.next_delay()
            }
            Err(e) => match e.retry() {
                Retry::Never => return Err(e),
                Retry::Slow => {
                    sink.source_down(&e);
                    let retry_in_secs = slow.as_secs_f64();
                    tracing::error!(error = %e, retry_in_secs, "douyin connection refused");
                    slow
                }
                Retry::Backoff => {
                    sink.source_down(&e);
                    let delay = backoff.next_delay();
                    let retry_in_secs = delay.as_secs_f64();
                    tracing::warn!(error = %e, retry_in_secs, "douyin connection failed");
                    delay
                }
            },
        };
        if !sleep_unless_closed(&sink, delay).await {
            return Ok(());
        }
    }
}

/// Waits `delay`, checking every quarter second whether the show stopped; `false` if it did.
async fn sleep_unless_closed(sink: &EventSink, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        if sink.is_closed() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(250))).await;
    }
}

/// Everything that outlives one WebSocket connection.
struct Connection {
    config: DouyinConfig,
    endpoints: Endpoints,
    signer: Signer,
    http: reqwest::Client,
    normalizer: Normalizer,
    checkpoint_key: String,
    /// The last committed position (initially the stored checkpoint).
    resume: Option<ResumeState>,
}

impl Connection {
    fn new(config: DouyinConfig, resume: Option<ResumeState>) -> Result<Self, DouyinError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| DouyinError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            endpoints: Endpoints::from_config(&config).map_err(DouyinError::Config)?,
            signer: Signer::from_config(&config.signer)?,
            http,
            normalizer: Normalizer::with_limits(config.max_payload_bytes, DEFAULT_DEDUPE_CAPACITY),
            checkpoint_key: crate::SourceSpec::key(&config),
            resume,
            config,
        })
    }

    /// One connection, from resolving the room to its end.
    async fn session(&mut self, sink: &EventSink) -> Result<End, DouyinError> {
        let room = webcast::resolve(&self.http, &self.config, &self.endpoints).await?;
        let uid = webcast::user_unique_id();
        let (cursor, internal_ext) = self.resume_position(&room.room_id, uid);
        let signature = self
            .signer
            .sign(&SignRequest::new(&room.room_id, uid))
            .await?;
        let params = PushParams {
            room_id: &room.room_id,
            user_unique_id: uid,
            cursor: &cursor,
            internal_ext: &internal_ext,
            user_agent: self.config.user_agent(),
        };
        let url = webcast::push_url(&self.endpoints.ws_base, &params, signature.as_deref())
            .map_err(DouyinError::Config)?;
        let request = self.handshake_request(url.as_str(), &room)?;
        let ws = connect(request, self.config.max_payload_bytes).await?;
        let resumed = self
            .resume
            .as_ref()
            .is_some_and(|r| r.room_id == room.room_id);
        tracing::info!(room_id = %room.room_id, resumed, "connected to the douyin push server");
        sink.source_up();
        Ok(self.read_loop(ws, sink, &room.room_id).await)
    }

    /// Resume from the committed checkpoint if it belongs to this live session; a new session
    /// (new `room_id`) starts fresh.
    fn resume_position(&self, room_id: &str, uid: &str) -> (String, String) {
        match &self.resume {
            Some(r) if r.room_id == room_id => (r.cursor.clone(), r.internal_ext.clone()),
            _ => webcast::initial_resume(room_id, uid, aivs_core::clock::now_ms()),
        }
    }

    fn handshake_request(&self, url: &str, room: &Room) -> Result<Request, DouyinError> {
        let mut request = url
            .into_client_request()
            .map_err(|e| DouyinError::Config(format!("bad push URL: {e}")))?;
        let mut cookie = room
            .ttwid
            .as_deref()
            .map(|t| format!("ttwid={t}"))
            .unwrap_or_default();
        if let Some(extra) = self
            .config
            .cookie
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            if !cookie.is_empty() {
                cookie.push_str("; ");
            }
            cookie.push_str(extra.trim());
        }
        let header = |value: &str, what: &str| {
            HeaderValue::from_str(value).map_err(|_| {
                DouyinError::Config(format!(
                    "{what} contains characters not allowed in a header"
                ))
            })
        };
        let headers = request.headers_mut();
        headers.insert(
            "User-Agent",
            header(self.config.user_agent(), "user_agent")?,
        );
        headers.insert("Origin", HeaderValue::from_static(SITE_ORIGIN));
        headers.insert("Referer", HeaderValue::from_static(SITE_ORIGIN));
        if room.ttwid.is_none() {
            tracing::warn!(
                "no ttwid cookie from the room page; the push server may refuse the connection"
            );
        }
        if !cookie.is_empty() {
            headers.insert("Cookie", header(&cookie, "cookie")?);
        }
        Ok(request)
    }

    /// Reads until the connection ends; never fails (a broken connection is a reconnect).
    async fn read_loop(&mut self, mut ws: Ws, sink: &EventSink, room_id: &str) -> End {
        let heartbeat = Duration::from_secs_f64(self.config.heartbeat_secs);
        let stall = Duration::from_secs_f64(self.config.stall_secs);
        let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let stall_timer = tokio::time::sleep(stall);
        tokio::pin!(stall_timer);
        let mut frames = 0u64;
        let reconnect = |reason: String, frames: u64| End::Reconnect {
            reason,
            healthy: frames > 0,
        };
        loop {
            tokio::select! {
                message = ws.next() => {
                    let message = match message {
                        None => return reconnect("the server closed the connection".into(), frames),
                        Some(Err(e)) => {
                            if let tungstenite::Error::Capacity(detail) = &e {
                                sink.reject(PLATFORM, "too_large", detail);
                            }
                            return reconnect(format!("read error: {e}"), frames);
                        }
                        Some(Ok(m)) => m,
                    };
                    let outcome = self.on_message(&mut ws, &mut ticker, sink, message, room_id);
                    match outcome.await {
                        Ok(FrameOutcome::Msg) => {
                            frames += 1;
                            stall_timer.as_mut().reset(Instant::now() + stall);
                        }
                        Ok(FrameOutcome::Other) => {}
                        Ok(FrameOutcome::Close) => {
                            return reconnect("the server closed the push".into(), frames)
                        }
                        Ok(FrameOutcome::SinkClosed) => return End::SinkClosed,
                        Err(e) => return reconnect(format!("write error: {e}"), frames),
                    }
                }
                _ = ticker.tick() => {
                    if let Err(e) = ws.send(Message::Binary(encode_heartbeat().into())).await {
                        return reconnect(format!("heartbeat failed: {e}"), frames);
                    }
                }
                () = &mut stall_timer => {
                    let secs = self.config.stall_secs;
                    return reconnect(format!("no message for {secs} s (stalled push)"), frames);
                }
            }
        }
    }

    async fn on_message(
        &mut self,
        ws: &mut Ws,
        heartbeat: &mut Interval,
        sink: &EventSink,
        message: Message,
        room_id: &str,
    ) -> Result<FrameOutcome, tungstenite::Error> {
        match message {
            Message::Binary(bytes) => self.on_frame(ws, heartbeat, sink, &bytes, room_id).await,
            // tungstenite queued the pong while reading; push it out now.
            Message::Ping(_) => ws.flush().await.map(|()| FrameOutcome::Other),
            Message::Close(_) => Ok(FrameOutcome::Close),
            Message::Text(_) | Message::Pong(_) | Message::Frame(_) => Ok(FrameOutcome::Other),
        }
    }

    /// Record → decode → reject/deliver → ack (see the module docs).
    async fn on_frame(
        &mut self,
        ws: &mut Ws,
        heartbeat: &mut Interval,
        sink: &EventSink,
        bytes: &[u8],
        room_id: &str,
    ) -> Result<FrameOutcome, tungstenite::Error> {
        sink.raw_frame(PLATFORM, bytes);
        let decoded = match decode_frame_to_events(bytes, &mut self.normalizer) {
            Ok(decoded) => decoded,
            Err(e) => {
                sink.reject(PLATFORM, e.reason(), &e);
                return Ok(FrameOutcome::Other);
            }
        };
        for (reason, detail) in &decoded.rejects {
            sink.reject(PLATFORM, reason, detail);
        }
        if decoded.stream_ended {
            tracing::info!(room_id, "douyin says the stream ended");
        }
        match decoded.payload_type.as_str() {
            "msg" => {}
            "close" => return Ok(FrameOutcome::Close),
            _ => return Ok(FrameOutcome::Other),
        }
        let DecodedFrame {
            events,
            need_ack,
            log_id,
            cursor,
            internal_ext,
            ..
        } = decoded;
        let ack = need_ack.then(|| encode_ack(log_id, &internal_ext));
        let state = (!cursor.is_empty()).then(|| ResumeState {
            room_id: room_id.to_string(),
            cursor,
            internal_ext,
        });
        let checkpoint = state
            .as_ref()
            .map(|s| (self.checkpoint_key.clone(), s.to_json()));
        if deliver_with_heartbeats(ws, heartbeat, sink, events, checkpoint)
            .await?
            .is_err()
        {
            return Ok(FrameOutcome::SinkClosed);
        }
        // Committed: only now may the server forget these messages.
        if let Some(ack) = ack {
            ws.send(Message::Binary(ack.into())).await?;
        }
        if state.is_some() {
            self.resume = state;
        }
        Ok(FrameOutcome::Msg)
    }
}

/// Delivers and waits for the commit, heartbeating meanwhile: under backpressure the wait can
/// outlast a heartbeat interval, and the server must not think we are gone. (Frames are not
/// read meanwhile, so that events stay in order and every ack follows its own commit.)
async fn deliver_with_heartbeats(
    ws: &mut Ws,
    heartbeat: &mut Interval,
    sink: &EventSink,
    events: Vec<aivs_core::event::LiveEvent>,
    checkpoint: Option<(String, String)>,
) -> Result<Result<(), SinkClosed>, tungstenite::Error> {
    let delivery = sink.deliver(events, checkpoint);
    tokio::pin!(delivery);
    loop {
        tokio::select! {
            result = &mut delivery => return Ok(result),
            _ = heartbeat.tick() => ws.send(Message::Binary(encode_heartbeat().into())).await?,
        }
    }
}

/// Opens the WebSocket; the handshake statuses the platform uses for refusals get their own
/// errors.
async fn connect(request: Request, max_payload_bytes: usize) -> Result<Ws, DouyinError> {
    let limit = max_payload_bytes.saturating_add(FRAME_OVERHEAD);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    let Ok(connected) = tokio::time::timeout(CONNECT_TIMEOUT, connecting).await else {
        return Err(DouyinError::ConnectTimeout(CONNECT_TIMEOUT));
    };
    match connected {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(match response.status().as_u16() {
            200 => DouyinError::SignatureRejected,
            415 => DouyinError::DeviceBlocked,
            502 => DouyinError::BadGateway,
            status => DouyinError::HandshakeStatus(status),
        }),
        Err(e) => Err(DouyinError::Connect(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::douyin::frame::tests::{chat, msg_frame};
    use crate::douyin::proto::PushFrame;
    use crate::douyin::signer::SignerConfig;
    use crate::douyin::DouyinSource;
    use crate::LiveSource;
    use prost::Message as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::handshake::server::{Request as ServerRequest, Response};
    use tokio_tungstenite::tungstenite::http::HeaderMap;

    const ROOM_ID: &str = "7300000000000000001";
    const TTWID: &str = "1%7Cttw";

    /// What the test server is told to do on the open push connection.
    enum Cmd {
        Send(Vec<u8>),
        Ping,
        Close,
    }

    /// What the test server saw.
    #[derive(Debug)]
    enum Seen {
        Connected { uri: String, headers: HeaderMap },
        Frame(PushFrame),
        Pong,
    }

    /// Serves room pages over plain HTTP and push connections over WebSocket on one port,
    /// like the real site behind an `endpoint` override.
    async fn test_server(
        listener: TcpListener,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        seen: mpsc::UnboundedSender<Seen>,
    ) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = [0u8; 32];
            let mut n = 0;
            for _ in 0..100 {
                n = stream.peek(&mut head).await.unwrap_or(0);
                if n >= head.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if head[..n].starts_with(format!("GET {}", webcast::PUSH_PATH).as_bytes()) {
                let tx = seen.clone();
                // The callback's error type is tungstenite's, not ours to shrink.
                #[allow(clippy::result_large_err)]
                let callback = move |req: &ServerRequest, resp: Response| {
                    let uri = req.uri().to_string();
                    let headers = req.headers().clone();
                    let _ = tx.send(Seen::Connected { uri, headers });
                    Ok(resp)
                };
                let ws = tokio_tungstenite::accept_hdr_async(stream, callback)
                    .await
                    .unwrap();
                push_connection(ws, &mut cmds, &seen).await;
            } else {
                serve_page(stream).await;
            }
        }
    }

    async fn push_connection(
        mut ws: WebSocketStream<TcpStream>,
        cmds: &mut mpsc::UnboundedReceiver<Cmd>,
        seen: &mpsc::UnboundedSender<Seen>,
    ) {
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Send(bytes)) => ws.send(Message::Binary(bytes.into())).await.unwrap(),
                    Some(Cmd::Ping) => ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap(),
                    Some(Cmd::Close) | None => {
                        let _ = ws.close(None).await;
                        return;
                    }
                },
                message = ws.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        let _ = seen.send(Seen::Frame(PushFrame::decode(&bytes[..]).unwrap()));
                    }
                    Some(Ok(Message::Pong(_))) => {
                        let _ = seen.send(Seen::Pong);
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    }

    /// `/offline` is a room that is not live; any other path is a live room page.
    async fn serve_page(mut stream: TcpStream) {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let body = if request.starts_with(b"GET /offline ") {
            "<html>直播已结束</html>".to_string()
        } else {
            format!(r#"<script>self.__pace_f.push([1,"{{\"roomId\":\"{ROOM_ID}\"}}"])</script>"#)
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Set-Cookie: ttwid={TTWID}; Path=/; HttpOnly\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    async fn next_seen(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
        tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .expect("the test server saw nothing for 10 s")
            .expect("the test server stopped")
    }

    fn query(uri: &str) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("ws://x{uri}")).unwrap();
        url.query_pairs().into_owned().collect()
    }

    fn param<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key} in the push URL"))
    }

    fn config(endpoint: String, room: &str) -> DouyinConfig {
        DouyinConfig {
            room: room.into(),
            endpoint: Some(endpoint),
            heartbeat_secs: 0.2,
            signer: SignerConfig {
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "read -r l; echo \"sig-$(printf '%s' \"$l\" | md5sum | cut -c1-8)\"".into(),
                ]),
                ..SignerConfig::default()
            },
            cookie: Some("extra=1".into()),
            ..DouyinConfig::default()
        }
    }

    #[tokio::test]
    async fn delivers_then_acks_heartbeats_answers_pings_and_resumes_after_reconnect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        tokio::spawn(test_server(listener, cmd_rx, seen_tx));
        let (tx, mut deliveries) = mpsc::channel(4);
        let sink = EventSink::new(tx);
        let source = DouyinSource::new(config(endpoint, "123456"), None);
        let task = tokio::spawn(source.run(sink.clone()));

        // Connection 1: resolved room, signed URL, browser headers, ttwid cookie.
        let Seen::Connected { uri, headers } = next_seen(&mut seen).await else {
            panic!("expected a connection")
        };
        let pairs = query(&uri);
        assert_eq!(param(&pairs, "room_id"), ROOM_ID);
        assert!(param(&pairs, "signature").starts_with("sig-"));
        assert!(param(&pairs, "cursor").starts_with("t-"));
        assert_eq!(param(&pairs, "user_unique_id"), webcast::user_unique_id());
        assert_eq!(headers["Cookie"], format!("ttwid={TTWID}; extra=1"));
        assert_eq!(headers["Origin"], "https://live.douyin.com");
        assert_eq!(headers["Referer"], "https://live.douyin.com");
        assert!(headers["User-Agent"]
            .to_str()
            .unwrap()
            .starts_with("Mozilla/5.0"));

        // A broken frame is counted and skipped; then a frame with a duplicate inside gives
        // one event, with the frame's checkpoint.
        cmd.send(Cmd::Send(vec![0xff, 0xff])).ok().unwrap();
        let frame = msg_frame(42, vec![chat(1, "你好"), chat(1, "again")], "ext-1");
        cmd.send(Cmd::Send(frame)).ok().unwrap();
        let delivery = tokio::time::timeout(Duration::from_secs(10), deliveries.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(delivery.events.len(), 1);
        assert_eq!(
            sink.counters().snapshot(),
            [("douyin".to_string(), "bad_frame", 1)]
        );
        let (key, state) = delivery.checkpoint.clone().unwrap();
        assert_eq!(key, "douyin:123456");
        let state: ResumeState = serde_json::from_str(&state).unwrap();
        assert_eq!(
            (
                state.room_id.as_str(),
                state.cursor.as_str(),
                state.internal_ext.as_str()
            ),
            (ROOM_ID, "cursor-42", "ext-1")
        );

        // Not committed yet: heartbeats go on, no ack. A ping waits for the commit too.
        cmd.send(Cmd::Ping).ok().unwrap();
        let mut heartbeats = 0;
        let until = Instant::now() + Duration::from_millis(600);
        while Instant::now() < until || heartbeats == 0 {
            match next_seen(&mut seen).await {
                Seen::Frame(f) if f.payload_type == "hb" => {
                    assert_eq!(f.encode_to_vec(), [0x3A, 0x02, 0x68, 0x62]);
                    heartbeats += 1;
                }
                other => panic!("before the commit the server got {other:?}"),
            }
        }

        // Committed: now the ack comes, with the frame's logId and internalExt, and the pong.
        delivery.committed.unwrap().send(()).unwrap();
        let (mut ack, mut pong) = (None, false);
        while ack.is_none() || !pong {
            match next_seen(&mut seen).await {
                Seen::Frame(f) if f.payload_type == "ack" => ack = Some(f),
                Seen::Frame(f) if f.payload_type == "hb" => {}
                Seen::Pong => pong = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        let ack = ack.unwrap();
        assert_eq!((ack.log_id, ack.payload.as_slice()), (42, &b"ext-1"[..]));

        // The server drops the connection: the client comes back at the committed cursor.
        cmd.send(Cmd::Close).ok().unwrap();
        let uri = loop {
            if let Seen::Connected { uri, .. } = next_seen(&mut seen).await {
                break uri;
            }
        };
        let pairs = query(&uri);
        assert_eq!(param(&pairs, "cursor"), "cursor-42");
        assert_eq!(param(&pairs, "internal_ext"), "ext-1");

        // The show stops: the next delivery fails and the source ends cleanly.
        drop(deliveries);
        cmd.send(Cmd::Send(msg_frame(43, vec![chat(2, "bye")], "ext-2")))
            .ok()
            .unwrap();
        drop(sink);
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the source did not stop")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn a_push_that_sends_nothing_is_replaced_after_the_stall_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (_cmd, cmd_rx) = mpsc::unbounded_channel();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        tokio::spawn(test_server(listener, cmd_rx, seen_tx));
        let (tx, _deliveries) = mpsc::channel(4);
        let mut config = config(endpoint, "123456");
        config.stall_secs = 0.5;
        let task = tokio::spawn(DouyinSource::new(config, None).run(EventSink::new(tx)));
        let started = Instant::now();
        let mut connections = 0;
        while connections < 2 {
            // Heartbeats alone do not count as life: only `msg` frames do.
            if let Seen::Connected { .. } = next_seen(&mut seen).await {
                connections += 1;
            }
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
        task.abort();
    }

    /// A server that answers every request with `status` and no upgrade.
    async fn refusing_server(status: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        format!("ws://{addr}{}", webcast::PUSH_PATH)
    }

    #[tokio::test]
    async fn handshake_refusals_become_clear_errors_with_slow_retries() {
        for (status, expected) in [
            ("200 OK", "signature was rejected"),
            ("415 Unsupported Media Type", "DEVICE_BLOCKED"),
            ("502 Bad Gateway", "HTTP 502"),
            ("403 Forbidden", "HTTP 403"),
        ] {
            let url = refusing_server(status).await;
            let err = connect(url.into_client_request().unwrap(), 1 << 20)
                .await
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{status}: {err}");
            let slow = status.starts_with("200") || status.starts_with("415");
            assert_eq!(err.retry() == Retry::Slow, slow, "{status}");
        }
    }

    #[tokio::test]
    async fn a_room_that_is_not_live_is_a_slow_retry() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (_cmd, cmd_rx) = mpsc::unbounded_channel();
        let (seen_tx, _seen) = mpsc::unbounded_channel();
        tokio::spawn(test_server(listener, cmd_rx, seen_tx));
        let conn = Connection::new(config(endpoint.clone(), "offline"), None).unwrap();
        let err = webcast::resolve(&conn.http, &conn.config, &conn.endpoints)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is the room live?"), "{err}");
        assert_eq!(DouyinError::from(err).retry(), Retry::Slow);
        let room = webcast::resolve(&conn.http, &config(endpoint, "123456"), &conn.endpoints)
            .await
            .unwrap();
        assert_eq!(room.room_id, ROOM_ID);
        assert_eq!(room.ttwid.as_deref(), Some(TTWID));
    }

    #[test]
    fn a_stored_checkpoint_is_used_only_for_its_own_live_session() {
        let resume = ResumeState {
            room_id: "1".into(),
            cursor: "c-9".into(),
            internal_ext: "e-9".into(),
        };
        let conn = Connection::new(config("http://127.0.0.1:9".into(), "r"), Some(resume)).unwrap();
        assert_eq!(conn.resume_position("1", "u"), ("c-9".into(), "e-9".into()));
        let (cursor, ext) = conn.resume_position("2", "u");
        assert!(cursor.starts_with("t-") && ext.contains("wss_push_room_id:2"));
    }
}
