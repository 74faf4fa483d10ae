//! One accepted WebSocket connection: sends the storm from where the client resumed, injects
//! the scheduled faults, pings, and records what the client sends back.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::messages::{self, Common, ResponseMeta};
use super::observed::{Ack, Beat, SessionEnd};
use super::proto_read::Fields;
use super::scenario::Fault;
use super::Shared;

type Ws = WebSocketStream<TcpStream>;

/// `logId`s of idle frames live in their own range, far from the storm's.
const IDLE_LOG_ID_BASE: u64 = 1 << 62;
const IDLE_MSG_ID_BASE: u64 = 7_900_000_000_000_000_000;

pub(crate) async fn run(mut ws: Ws, shared: Arc<Shared>, conn: usize, start: usize) {
    {
        let mut st = shared.lock();
        st.open_sessions += 1;
        st.max_open_sessions = st.max_open_sessions.max(st.open_sessions);
    }
    let end = serve(&mut ws, &shared, conn, start).await;
    let mut st = shared.lock();
    st.open_sessions -= 1;
    st.connections[conn].ended = Some((shared.now(), end));
}

/// A stall in progress.
#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Silent, waiting for the client to ack the last frame before the stall: a client still
    /// working through frames buffered in its socket has not seen the silence yet.
    CatchingUp { seq: u64 },
    /// Silent for `stall_for` since the client caught up.
    Silent,
}

/// How long a stall waits for the client to catch up before the silence starts anyway.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(10);

async fn serve(ws: &mut Ws, shared: &Shared, conn: usize, start: usize) -> SessionEnd {
    let options = &shared.scenario.options;
    let frames = &shared.scenario.frames;
    let mut next = start;
    let mut send_at = Instant::now() + options.frame_interval;
    let mut ping_at = Instant::now() + options.ping_every;
    let mut stall: Option<Stall> = None;
    let mut pings = 0u64;
    // Starts the silent part of a stall.
    let go_silent = |stall: &mut Option<Stall>, send_at: &mut Instant| {
        *stall = Some(Stall::Silent);
        *send_at = Instant::now() + options.stall_for;
        shared.lock().connections[conn].stall_started = Some(shared.now());
    };
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) => return SessionEnd::ClientClosed,
                Some(Ok(msg)) => {
                    let acked = on_client_message(shared, conn, msg);
                    if let (Some(Stall::CatchingUp { seq }), Some(a)) = (stall, acked) {
                        if a == seq {
                            go_silent(&mut stall, &mut send_at);
                        }
                    }
                }
                Some(Err(e)) => return SessionEnd::ClientGone(e.to_string()),
                None => return SessionEnd::ClientGone("end of stream".into()),
            },
            _ = sleep_until(ping_at), if stall.is_none() => {
                pings += 1;
                if let Err(e) = ws.send(Message::Ping(pings.to_be_bytes().to_vec().into())).await {
                    return SessionEnd::ClientGone(e.to_string());
                }
                ping_at = Instant::now() + options.ping_every;
            }
            _ = sleep_until(send_at) => {
                match stall.take() {
                    Some(Stall::CatchingUp { .. }) => {
                        go_silent(&mut stall, &mut send_at);
                        continue;
                    }
                    // The client did not notice the stall: carry on as before.
                    Some(Stall::Silent) | None => {}
                }
                let Some(frame) = frames.get(next) else {
                    if let Err(e) = send(ws, shared, conn, idle_frame(shared)).await {
                        return SessionEnd::ClientGone(e.to_string());
                    }
                    send_at = Instant::now() + options.idle_every;
                    continue;
                };
                if let Err(e) = send(ws, shared, conn, frame.bytes.clone()).await {
                    return SessionEnd::ClientGone(e.to_string());
                }
                {
                    let at = shared.now();
                    let mut st = shared.lock();
                    *st.storm_sent.entry(frame.seq).or_default() += 1;
                    st.storm_first_sent.entry(frame.seq).or_insert(at);
                }
                next += 1;
                send_at = Instant::now() + options.frame_interval;
                match fire_fault(shared, frame.seq) {
                    Some(Fault::Drop) => return SessionEnd::ServerDropped,
                    Some(Fault::Stall) => {
                        stall = Some(Stall::CatchingUp { seq: frame.seq });
                        send_at = Instant::now() + CATCH_UP_LIMIT;
                    }
                    Some(Fault::DuplicateFrame) => {
                        if let Err(e) = send(ws, shared, conn, frame.bytes.clone()).await {
                            return SessionEnd::ClientGone(e.to_string());
                        }
                        *shared.lock().storm_sent.entry(frame.seq).or_default() += 1;
                    }
                    None => {}
                }
            }
        }
    }
}

async fn send(
    ws: &mut Ws,
    shared: &Shared,
    conn: usize,
    bytes: Vec<u8>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    ws.send(Message::Binary(bytes.into())).await?;
    shared.lock().connections[conn].frames_sent += 1;
    Ok(())
}

/// The fault scheduled after frame `seq`, unless it already happened (on any connection).
fn fire_fault(shared: &Shared, seq: u64) -> Option<Fault> {
    let fault = *shared.scenario.faults.get(&seq)?;
    let mut st = shared.lock();
    if st.faults_fired.contains_key(&seq) {
        return None;
    }
    st.faults_fired.insert(seq, shared.now());
    Some(fault)
}

/// After the storm: a viewer-count update, carrying the last storm frame's cursor (nothing new
/// to resume from), still asking for an ack.
fn idle_frame(shared: &Shared) -> Vec<u8> {
    let scenario = &shared.scenario;
    let Some(last) = scenario.frames.last() else {
        return Vec::new();
    };
    let n = {
        let mut st = shared.lock();
        let n = st.idle_frames.len() as u64 + 1;
        st.idle_frames
            .insert(IDLE_LOG_ID_BASE + n, last.internal_ext.clone());
        n
    };
    let (log_id, msg_id) = (IDLE_LOG_ID_BASE + n, IDLE_MSG_ID_BASE + n);
    let now_ms = 1_750_000_000_000 + shared.now().as_millis() as u64;
    let common = Common {
        method: messages::ROOM_USER_SEQ,
        msg_id,
        room_id: scenario.room_id,
        create_time_ms: now_ms,
    };
    let stats = messages::room_user_seq(&common, 1000 + n % 17, 9000 + n);
    let list = [messages::message(
        messages::ROOM_USER_SEQ,
        stats.as_bytes(),
        msg_id,
    )];
    let meta = ResponseMeta {
        cursor: &last.cursor,
        internal_ext: &last.internal_ext,
        now_ms,
        heartbeat_ms: scenario.options.heartbeat_ms,
    };
    let payload = messages::gzip(messages::response(&list, &meta).as_bytes());
    messages::push_frame(0, log_id, &last.cursor, &payload)
}

/// Acks, heartbeats and pongs; anything else the client sends is a violation. Returns the
/// storm frame acked, if the message was such an ack.
fn on_client_message(shared: &Shared, conn: usize, msg: Message) -> Option<u64> {
    let at = shared.now();
    let mut st = shared.lock();
    let bytes = match msg {
        Message::Binary(b) => b,
        Message::Pong(_) => {
            st.pongs.push(Beat {
                connection: conn,
                at,
            });
            return None;
        }
        // Answered by tungstenite itself.
        Message::Ping(_) | Message::Frame(_) | Message::Close(_) => return None,
        Message::Text(t) => {
            st.violation(format!("connection {conn}: text message {:?}", t.as_str()));
            return None;
        }
    };
    let frame = match Fields::parse(&bytes) {
        Ok(f) => f,
        Err(e) => {
            st.violation(format!("connection {conn}: undecodable client frame: {e}"));
            return None;
        }
    };
    match frame.string(7).as_str() {
        "ack" => {
            let log_id = frame.uint(2);
            let payload = frame.bytes(8);
            let (seq, ext, ackable) = match shared.scenario.frame_by_log_id(log_id) {
                Some(f) => (Some(f.seq), f.internal_ext.clone(), f.ackable()),
                None => match st.idle_frames.get(&log_id) {
                    Some(ext) => (None, ext.clone(), true),
                    None => {
                        st.violation(format!("connection {conn}: ack for unknown logId {log_id}"));
                        return None;
                    }
                },
            };
            if !ackable {
                st.violation(format!(
                    "connection {conn}: ack for frame {seq:?}, which cannot be decoded"
                ));
            }
            if payload != ext.as_bytes() {
                st.violation(format!(
                    "connection {conn}: ack payload {:?} is not the frame's internalExt",
                    String::from_utf8_lossy(payload)
                ));
            }
            if let Some(seq) = seq {
                st.storm_acked.insert(seq);
            }
            st.acks.push(Ack {
                connection: conn,
                at,
                log_id,
                seq,
            });
            seq
        }
        "hb" => {
            st.heartbeats.push(Beat {
                connection: conn,
                at,
            });
            None
        }
        other => {
            st.violation(format!(
                "connection {conn}: client frame with payloadType {other:?}"
            ));
            None
        }
    }
}
