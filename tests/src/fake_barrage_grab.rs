//! A stand-in for DouyinBarrageGrab's local WebSocket server, for tests of the sidecar's
//! `barrage_grab` source.
//!
//! It speaks the tool's wire format: text messages `{"Type": n, "ProcessName": "...",
//! "Data": "<JSON document in a string>"}` ([`envelope`]), with the inner documents in the
//! tool's PascalCase shape ([`user`], [`gift`], …). A test scripts a session as [`Step`]s:
//! messages (including duplicates and deliberately broken ones), pauses, and crashes — the tool
//! going away without a close frame and coming back on the same port some time later, the way it
//! does when a streamer restarts it.
//!
//! Nothing is sent while no client is connected (the real tool keeps no history either): every
//! scripted message goes to a connected client, so a test knows exactly what the sidecar saw.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The tool's process name field (which Douyin client it read the room from).
pub const PROCESS_NAME: &str = "直播伴侣";

/// How long the fake waits for the sidecar to (re)connect before the script fails.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Grace given to the client to read what was sent before a crash drops the connection.
const DRAIN_BEFORE_CRASH: Duration = Duration::from_millis(300);

/// Message types of the tool.
pub mod kind {
    pub const CHAT: i64 = 1;
    pub const LIKE: i64 = 2;
    pub const ENTER: i64 = 3;
    pub const FOLLOW: i64 = 4;
    pub const GIFT: i64 = 5;
    pub const ROOM_STATS: i64 = 6;
    pub const FANS_CLUB: i64 = 7;
    pub const SHARE: i64 = 8;
    pub const STREAM_ENDED: i64 = 9;
}

/// The tool's envelope around an inner document: `Data` is that document serialised to a string.
pub fn envelope(kind: i64, data: &Value) -> String {
    json!({"Type": kind, "ProcessName": PROCESS_NAME, "Data": data.to_string()}).to_string()
}

/// An envelope whose `Data` is the given raw text (for broken inner documents).
pub fn envelope_raw(kind: i64, data_text: &str) -> String {
    json!({"Type": kind, "ProcessName": PROCESS_NAME, "Data": data_text}).to_string()
}

/// A `User` as the tool serialises it (`PayLevel` is -1 when Douyin did not send one).
pub fn user(id: u64, nickname: &str, pay_level: i64) -> Value {
    json!({
        "Id": id, "ShortId": id % 100_000, "DisplayId": format!("dy{id}"), "Nickname": nickname,
        "Level": 0, "PayLevel": pay_level, "Gender": 2, "HeadImgUrl": "https://p3.douyinpic.com/a.jpeg",
        "SecUid": format!("MS4wLjABAAAA{id}"), "FansClub": {"ClubName": "", "Level": 0},
        "FollowerCount": 12, "FollowStatus": 0
    })
}

/// The fields every message of a room carries.
pub fn base(msg_id: u64, user: Option<Value>, content: &str, room_id: u64) -> Value {
    json!({"MsgId": msg_id, "User": user, "Content": content, "RoomId": room_id, "WebRoomId": 123456789})
}

/// A chat message's inner document.
pub fn chat(msg_id: u64, user: Value, content: &str, room_id: u64) -> Value {
    base(msg_id, Some(user), content, room_id)
}

/// One gift message as the tool forwards it.
#[derive(Debug, Clone)]
pub struct GiftMsg {
    pub msg_id: u64,
    pub room_id: u64,
    pub gift_id: u64,
    pub gift_name: &'static str,
    pub diamonds: i64,
    /// Douyin's combo group (0 for none).
    pub group_id: u64,
    /// The tool's own increment (from its cache).
    pub gift_count: i64,
    /// Douyin's cumulative count in the combo.
    pub repeat_count: i64,
    pub combo: bool,
}

/// A gift message's inner document.
pub fn gift(g: &GiftMsg, sender: Value) -> Value {
    let mut data = base(
        g.msg_id,
        Some(sender),
        &format!(
            "送出 {} x {}个，增量{}个",
            g.gift_name, g.repeat_count, g.gift_count
        ),
        g.room_id,
    );
    for (k, v) in [
        ("GiftId", json!(g.gift_id)),
        ("GiftName", json!(g.gift_name)),
        ("GroupId", json!(g.group_id)),
        ("GiftCount", json!(g.gift_count)),
        ("RepeatCount", json!(g.repeat_count)),
        ("DiamondCount", json!(g.diamonds)),
        ("Combo", json!(g.combo)),
        ("ImgUrl", json!("")),
        ("ToUser", Value::Null),
    ] {
        data[k] = v;
    }
    data
}

/// A steady stream of `gifts` gifts in `room_id`, `every` apart, each its own message (no
/// combos), with message ids from `first_msg_id` on: the script, and the gifts a ledger must
/// hold afterwards as `msg_id → (count, value_fen)`.
pub fn gift_stream(
    room_id: u64,
    first_msg_id: u64,
    gifts: u64,
    every: Duration,
) -> (Vec<Step>, BTreeMap<String, (u64, u64)>) {
    let fans = [
        user(2001, "小明", 12),
        user(2002, "阿花", -1),
        user(2003, "老王", 30),
    ];
    let mut script = Vec::new();
    let mut truth = BTreeMap::new();
    for n in 0..gifts {
        // 1, 10 or 52 diamonds, so a wrong gift shows in the value too.
        let (gift_id, gift_name, diamonds) = match n % 3 {
            0 => (1001, "玫瑰", 1),
            1 => (2002, "鲜花", 10),
            _ => (4004, "爱心", 52),
        };
        let msg = GiftMsg {
            msg_id: first_msg_id + n,
            room_id,
            gift_id,
            gift_name,
            diamonds,
            group_id: 0,
            gift_count: 1,
            repeat_count: 1,
            combo: false,
        };
        let sender = fans[(n % 3) as usize].clone();
        script.push(Step::Send(envelope(kind::GIFT, &gift(&msg, sender))));
        script.push(Step::Pause(every));
        truth.insert(msg.msg_id.to_string(), (1, diamonds as u64 * 10));
    }
    (script, truth)
}

/// One step of a scripted session.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send this text message to the connected client.
    Send(String),
    /// Wait (still answering the client's pings).
    Pause(Duration),
    /// The tool dies: the TCP connection drops without a close frame and nobody listens for
    /// `away`; then the tool is back on the same port and the script waits for the client.
    Crash { away: Duration },
}

/// What the fake did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub connections: usize,
    pub sent: usize,
    /// When each `Send` step went out, in order.
    pub sent_at: Vec<std::time::Instant>,
}

/// A running fake tool.
pub struct FakeBarrageGrab {
    addr: SocketAddr,
    script_done: Option<oneshot::Receiver<Result<Report>>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FakeBarrageGrab {
    /// Listens on a loopback port and plays `script` to the first client that connects.
    pub async fn start(script: Vec<Step>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (done_tx, done_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut report = Report::default();
            match play(listener, addr, script, &mut report).await {
                Ok(ws) => {
                    let _ = done_tx.send(Ok(report));
                    idle(ws, stop_rx).await;
                }
                Err(e) => {
                    let _ = done_tx.send(Err(e));
                }
            }
        });
        Ok(Self {
            addr,
            script_done: Some(done_rx),
            stop: Some(stop_tx),
            task,
        })
    }

    /// The URL to configure as the sidecar's `[source.barrage_grab] url`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Waits until the whole script was played (the connection then stays open).
    pub async fn script_played(&mut self, timeout: Duration) -> Result<Report> {
        let done = self
            .script_done
            .take()
            .context("script_played called twice")?;
        tokio::time::timeout(timeout, done)
            .await
            .context("the scripted session did not finish in time")?
            .context("the fake stopped without a report")?
    }
}

impl Drop for FakeBarrageGrab {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

async fn accept(listener: &TcpListener) -> Result<WebSocketStream<TcpStream>> {
    let (stream, _) = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept())
        .await
        .context("no client connected to the fake BarrageGrab")??;
    Ok(tokio_tungstenite::accept_async(stream).await?)
}

/// Plays the script; returns the connection that is open at its end.
async fn play(
    listener: TcpListener,
    addr: SocketAddr,
    script: Vec<Step>,
    report: &mut Report,
) -> Result<WebSocketStream<TcpStream>> {
    let mut listener = Some(listener);
    let mut ws = accept(listener.as_ref().expect("listening")).await?;
    report.connections += 1;
    for step in script {
        match step {
            Step::Send(text) => {
                ws.send(Message::text(text))
                    .await
                    .context("the client went away mid-script")?;
                report.sent += 1;
                report.sent_at.push(std::time::Instant::now());
            }
            Step::Pause(d) => read_for(&mut ws, d).await?,
            Step::Crash { away } => {
                read_for(&mut ws, DRAIN_BEFORE_CRASH).await?;
                drop(ws);
                drop(listener.take());
                tokio::time::sleep(away).await;
                let back = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("coming back on {addr}"))?;
                ws = accept(&back).await?;
                listener = Some(back);
                report.connections += 1;
            }
        }
    }
    Ok(ws)
}

/// Reads (and so answers pings) for `d`; the client closing is an error mid-script.
async fn read_for(ws: &mut WebSocketStream<TcpStream>, d: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_elapsed) => return Ok(()),
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => bail!("the client disconnected mid-script"),
        }
    }
}

/// Keeps the final connection open, answering pings, until stopped.
async fn idle(mut ws: WebSocketStream<TcpStream>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            message = ws.next() => match message {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_travels_as_a_json_document_inside_a_string() {
        let text = envelope(kind::CHAT, &chat(7, user(1, "小明", 12), "你好", 99));
        let outer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(outer["Type"], 1);
        assert_eq!(outer["ProcessName"], PROCESS_NAME);
        let inner: Value = serde_json::from_str(outer["Data"].as_str().unwrap()).unwrap();
        assert_eq!(inner["MsgId"], 7);
        assert_eq!(inner["User"]["Nickname"], "小明");
        assert_eq!(inner["Content"], "你好");
    }

    #[tokio::test]
    async fn a_client_receives_the_script_across_a_crash() {
        let mut fake = FakeBarrageGrab::start(vec![
            Step::Send("one".into()),
            Step::Crash {
                away: Duration::from_millis(200),
            },
            Step::Send("two".into()),
        ])
        .await
        .unwrap();
        let url = fake.url();
        let client = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (mut ws, _) = loop {
                    match tokio_tungstenite::connect_async(url.as_str()).await {
                        Ok(c) => break c,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                if let Some(Ok(Message::Text(t))) = ws.next().await {
                    got.push(t.to_string());
                }
                // Wait for the drop (first connection) or keep the second one open.
                if got.len() == 1 {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }
            got
        });
        let report = fake.script_played(Duration::from_secs(10)).await.unwrap();
        assert_eq!(
            (report.connections, report.sent, report.sent_at.len()),
            (2, 2, 2)
        );
        assert_eq!(client.await.unwrap(), ["one", "two"]);
    }
}
