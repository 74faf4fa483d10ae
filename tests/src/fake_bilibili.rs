//! A stand-in for Bilibili's live danmaku server (`wss://broadcastlv.chat.bilibili.com/sub`)
//! on loopback, for end-to-end tests of the sidecar's Bilibili adapter.
//!
//! It speaks the real wire format byte for byte (16-byte big-endian header: packet length,
//! header length 16, protocol version, operation, sequence; see `/work/shared/protocols.md`
//! §4) through its own small encoder in [`wire`]; it shares no code with the sidecar, so a
//! mistake in the sidecar's decoder cannot cancel out against the same mistake here.
//!
//! What it does on each connection:
//! 1. checks the auth packet (operation 7: `roomid`, `key`, `protover` 3, `platform` "web",
//!    `type` 2, `uid`, `buvid`) and the `/sub` path, records the attempt, answers `{"code":0}`
//!    (or `{"code":-101}` and closes, for a wrong key or room);
//! 2. plays its scripted storm: part one on the first authenticated connection, which it then
//!    drops in the middle of the storm (FIN without a WebSocket close frame, like a server
//!    going away), part two on the next one (or, made with [`FakeBilibili::start_stream`], a
//!    steady stream of gifts on the first connection, never dropped);
//! 3. answers every heartbeat (operation 2) with a popularity (operation 3) and records it.
//!
//! The storm mixes version 0 packets, version 2 (zlib) and 3 (brotli) bodies holding several
//! packets, gift messages repeated with the same `tid` (within a connection and across the
//! reconnect), a repeated Super Chat, `COMBO_SEND` summaries of gifts already sent, malformed
//! JSON, a packet whose length field lies, and zlib and brotli decompression bombs. The bombs
//! are made of gift packets that are not in the ground truth, so a decoder without a size cap
//! would put gifts in the ledger that must not be there. [`FakeBilibili::expected_gifts`] is
//! the ground truth: every gift the ledger must hold, once, with its count and value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What the fake expects from the client.
#[derive(Debug, Clone)]
pub struct FakeBilibiliOptions {
    pub room_id: u64,
    /// The token the auth packet must carry.
    pub key: String,
    /// Sent in every heartbeat reply.
    pub popularity: u32,
}

/// A gift the ledger must hold exactly once, under the adapter's documented message id
/// (`tid` for `SEND_GIFT`, `sc-<id>` for Super Chats, `guard-<payflow_id>` for guards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedGift {
    pub msg_id: String,
    pub count: u64,
    pub value_fen: u64,
}

/// One auth packet as received.
#[derive(Debug, Clone)]
pub struct AuthAttempt {
    /// Request path of the WebSocket upgrade.
    pub path: String,
    /// Operation 7 in a well-formed 16-byte header whose length matched the message.
    pub header_ok: bool,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
    pub accepted: bool,
}

/// What the fake has seen and done so far.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub connections: usize,
    pub auth_attempts: Vec<AuthAttempt>,
    /// Well-formed heartbeats (operation 2, body `[object Object]`).
    pub heartbeats: usize,
    /// Anything else the client sent after auth.
    pub unexpected_packets: usize,
    /// Storm parts played (0, 1 or 2).
    pub storm_parts_played: usize,
    /// Times the fake dropped a connection on purpose.
    pub drops: usize,
    /// Messages of a steady stream ([`FakeBilibili::start_stream`]) sent so far.
    pub stream_sent: usize,
}

/// The running fake server. Stops when dropped.
pub struct FakeBilibili {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    options: FakeBilibiliOptions,
    storm: Storm,
    /// `Some`: a steady stream, one message this often, on the first connection (no drop).
    pace: Option<Duration>,
    activity: Mutex<Activity>,
}

impl FakeBilibili {
    /// Builds the storm and listens on `127.0.0.1` (a free port).
    pub async fn start(options: FakeBilibiliOptions) -> std::io::Result<Self> {
        // Building the bombs compresses a few MiB: keep it off the async threads.
        let storm = tokio::task::spawn_blocking(Storm::build)
            .await
            .map_err(std::io::Error::other)?;
        Self::serve(options, storm, None).await
    }

    /// Instead of the storm: `gifts` plain `SEND_GIFT` messages, one every `every`, on the
    /// first connection, which is never dropped (the real server keeps no history either, so
    /// a client that lost the connection would lose what was sent meanwhile). Heartbeats are
    /// answered throughout. [`Activity::stream_sent`] counts what went out.
    pub async fn start_stream(
        options: FakeBilibiliOptions,
        gifts: usize,
        every: Duration,
    ) -> std::io::Result<Self> {
        Self::serve(options, Storm::stream(gifts), Some(every)).await
    }

    async fn serve(
        options: FakeBilibiliOptions,
        storm: Storm,
        pace: Option<Duration>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            options,
            storm,
            pace,
            activity: Mutex::new(Activity::default()),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, serving.clone()));
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// `ws://127.0.0.1:<port>/sub`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/sub", self.addr)
    }

    pub fn activity(&self) -> Activity {
        lock(&self.shared.activity).clone()
    }

    /// Ground truth: every gift of the storm once, sorted by message id.
    pub fn expected_gifts(&self) -> Vec<ExpectedGift> {
        self.shared.storm.gifts.values().cloned().collect()
    }

    /// Message ids of comments the storm carries (danmaku with an `id_str`, Super Chat texts).
    pub fn expected_comment_ids(&self) -> Vec<String> {
        self.shared.storm.comment_ids.clone()
    }

    /// Messages the storm makes the client reject, by the reason the bad input illustrates.
    pub fn planted_faults(&self) -> &'static [&'static str] {
        &[
            "malformed_json",
            "bad_packet_length",
            "decompressed_too_large",
        ]
    }
}

impl Drop for FakeBilibili {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection, from upgrade to end. Errors just end it.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let path = Arc::new(Mutex::new(String::new()));
    let seen_path = path.clone();
    // The callback's error type is tungstenite's (a whole HTTP response).
    #[allow(clippy::result_large_err)]
    let upgrade = move |request: &Request, response: Response| {
        *lock(&seen_path) = request.uri().path().to_string();
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, upgrade).await else {
        return;
    };
    lock(&shared.activity).connections += 1;

    // 1. Auth.
    let Some(Ok(Message::Binary(first))) = ws.next().await else {
        return;
    };
    let parsed = wire::parse(&first);
    let header_ok = matches!(parsed, Some((_, wire::OP_AUTH, _)));
    let body: Value = parsed
        .and_then(|(_, _, body)| serde_json::from_slice(body).ok())
        .unwrap_or(Value::Null);
    let path = lock(&path).clone();
    let options = &shared.options;
    let accepted = path == "/sub"
        && header_ok
        && body["roomid"].as_u64() == Some(options.room_id)
        && body["key"].as_str() == Some(options.key.as_str())
        && body["protover"].as_u64() == Some(3)
        && body["platform"].as_str() == Some("web")
        && body["type"].as_u64() == Some(2)
        && body["uid"].is_u64()
        && body["buvid"].is_string();
    lock(&shared.activity).auth_attempts.push(AuthAttempt {
        path,
        header_ok,
        body,
        accepted,
    });
    let code = if accepted { 0 } else { -101 };
    let reply = wire::packet(
        wire::V_INT,
        wire::OP_AUTH_REPLY,
        1,
        format!("{{\"code\":{code}}}").as_bytes(),
    );
    if ws.send(Message::binary(reply)).await.is_err() || !accepted {
        let _ = ws.close(None).await;
        return;
    }

    // 2. The storm.
    let part = {
        let mut activity = lock(&shared.activity);
        (activity.storm_parts_played < 2).then(|| {
            activity.storm_parts_played += 1;
            activity.storm_parts_played - 1
        })
    };
    if let (Some(every), Some(0)) = (shared.pace, part) {
        if play_stream(&mut ws, &shared, every).await.is_err() {
            return;
        }
    } else if let Some(part) = part {
        for frame in &shared.storm.parts[part] {
            if ws.send(Message::binary(frame.clone())).await.is_err() {
                return;
            }
        }
        if part == 0 {
            // Drop mid-storm: FIN, no close frame. Keep reading until the client hangs up, so
            // the kernel never answers its heartbeats with a reset that could eat the storm.
            let _ = ws.flush().await;
            let _ = ws.get_mut().shutdown().await;
            lock(&shared.activity).drops += 1;
            while let Some(Ok(message)) = ws.next().await {
                record_client_packet(&shared, &message);
            }
            return;
        }
    }

    // 3. Heartbeats.
    while let Some(Ok(message)) = ws.next().await {
        if record_client_packet(&shared, &message)
            && ws
                .send(Message::binary(heartbeat_reply(&shared)))
                .await
                .is_err()
        {
            return;
        }
    }
}

/// Plays the steady stream (part one), one message per `every`, answering heartbeats.
async fn play_stream(
    ws: &mut WebSocketStream<TcpStream>,
    shared: &Shared,
    every: Duration,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut frames = shared.storm.parts[0].iter();
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                let Some(frame) = frames.next() else { return Ok(()) };
                ws.send(Message::binary(frame.clone())).await?;
                lock(&shared.activity).stream_sent += 1;
                next += every;
            }
            message = ws.next() => match message {
                Some(Ok(message)) => {
                    if record_client_packet(shared, &message) {
                        ws.send(Message::binary(heartbeat_reply(shared))).await?;
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed),
            },
        }
    }
}

fn heartbeat_reply(shared: &Shared) -> Vec<u8> {
    wire::packet(
        wire::V_INT,
        wire::OP_HEARTBEAT_REPLY,
        1,
        &shared.options.popularity.to_be_bytes(),
    )
}

/// Counts a client packet after auth; `true` if it was a well-formed heartbeat.
fn record_client_packet(shared: &Shared, message: &Message) -> bool {
    let heartbeat = match message {
        Message::Binary(bytes) => matches!(
            wire::parse(bytes),
            Some((_, wire::OP_HEARTBEAT, body)) if body == b"[object Object]"
        ),
        Message::Ping(_) | Message::Pong(_) => return false,
        _ => false,
    };
    let mut activity = lock(&shared.activity);
    if heartbeat {
        activity.heartbeats += 1;
    } else {
        activity.unexpected_packets += 1;
    }
    heartbeat
}

/// The scripted storm and its ground truth.
struct Storm {
    /// WebSocket messages of part one (then the drop) and part two.
    parts: [Vec<Vec<u8>>; 2],
    gifts: BTreeMap<String, ExpectedGift>,
    comment_ids: Vec<String>,
}

impl Storm {
    fn build() -> Self {
        let mut s = Script::default();
        let t1 = s.send_gift("1700000001000000001", 31036, "小花花", 3, 100, "gold");
        let t2 = s.send_gift("1700000001000000002", 31026, "告白气球", 1, 52_000, "gold");
        let t3 = s.send_gift("1700000001000000003", 1, "辣条", 5, 100, "silver");
        let t4 = s.send_gift("1700000001000000004", 31036, "小花花", 10, 100, "gold");
        let t5 = s.send_gift("1700000001000000005", 31039, "牛哇牛哇", 2, 1_000, "gold");
        let t6 = s.send_gift("1700000001000000006", 31037, "打call", 1, 10_000, "gold");
        let sc = s.super_chat(90_001, 30, "主播唱首歌吧！");
        let guard = s.guard_buy("2311141200000000001", 1, 198_000);
        let danmaku = s.danmaku("5a1e2f3c4b5d6e7f", "大家好呀", 3_001);
        let combo = json!({"cmd": "COMBO_SEND", "data": {"action": "投喂", "batch_combo_id": "batch:gift:combo_id:7:1:31036:1700000001",
            "batch_combo_num": 3, "combo_num": 3, "combo_total_coin": 300, "gift_id": 31036, "gift_name": "小花花",
            "total_num": 3, "uid": 7, "uname": "送花的人", "r_uname": "主播", "ruid": 1, "coin_type": "gold"}});
        let enter = interact(3_002, "路过的人", 1);
        let follow = interact(3_003, "新粉丝", 2);
        let like = json!({"cmd": "LIKE_INFO_V3_CLICK", "data": {"uid": 3_004, "uname": "点赞的人", "like_text": "为主播点赞了", "show_area": 0, "msg_type": 6}});
        let unknown = json!({"cmd": "ROOM_REAL_TIME_MESSAGE_UPDATE", "data": {"roomid": 21452505, "fans": 1234, "red_notice": -1, "fans_club": 56}});
        let watched = json!({"cmd": "WATCHED_CHANGE", "data": {"num": 6_789, "text_small": "6789", "text_large": "6789人看过"}});
        let bomb_gift = s.untracked_gift("1700000009999999999", 31036, "小花花", 1, 100);

        use wire::{brotli, command, packet, zlib, OP_COMMAND, V_BROTLI, V_ZLIB};
        let part_one = vec![
            command(&t1),
            packet(
                V_ZLIB,
                OP_COMMAND,
                0,
                &zlib(
                    &[
                        command(&danmaku),
                        command(&t2),
                        command(&t1),
                        command(&combo),
                        command(&enter),
                    ]
                    .concat(),
                ),
            ),
            // Malformed JSON, then a good packet in the same message.
            [
                packet(
                    0,
                    OP_COMMAND,
                    0,
                    br#"{"cmd":"SEND_GIFT","data":{"tid":"170000000100"#,
                ),
                command(&follow),
            ]
            .concat(),
            // A length field that claims 4096 bytes.
            {
                let mut lie = command(&like);
                lie[..4].copy_from_slice(&4096u32.to_be_bytes());
                lie
            },
            packet(V_ZLIB, OP_COMMAND, 0, &zlib(&bomb(&bomb_gift))),
            packet(
                V_BROTLI,
                OP_COMMAND,
                0,
                &brotli(
                    &[
                        command(&sc),
                        command(&guard),
                        command(&t3),
                        command(&like),
                        command(&unknown),
                    ]
                    .concat(),
                ),
            ),
        ];
        let part_two = vec![
            packet(
                V_ZLIB,
                OP_COMMAND,
                0,
                &zlib(&[command(&t2), command(&t4), command(&watched)].concat()),
            ),
            packet(V_BROTLI, OP_COMMAND, 0, &brotli(&bomb(&bomb_gift))),
            [command(&t5), command(&t6)].concat(),
            command(&sc),
        ];
        Storm {
            parts: [part_one, part_two],
            gifts: s.gifts,
            comment_ids: s.comment_ids,
        }
    }
}

impl Storm {
    /// `gifts` gifts, one `SEND_GIFT` per message, of 1 to 3 items at 0.1, 1 or 52 CNY each.
    fn stream(gifts: usize) -> Self {
        let mut s = Script::default();
        let part_one = (0..gifts)
            .map(|n| {
                let (gift_id, name, price) = [
                    (31036, "小花花", 100),
                    (31039, "牛哇牛哇", 1_000),
                    (31026, "告白气球", 52_000),
                ][n % 3];
                let tid = format!("17000000020{n:08}");
                let num = 1 + (n as u64 % 3);
                wire::command(&s.send_gift(&tid, gift_id, name, num, price, "gold"))
            })
            .collect();
        Storm {
            parts: [part_one, Vec::new()],
            gifts: s.gifts,
            comment_ids: s.comment_ids,
        }
    }
}

/// ~6 MiB of the same gift packet: compresses to a few KiB, expands past any sane cap.
fn bomb(gift: &Value) -> Vec<u8> {
    let one = wire::command(gift);
    let mut out = Vec::with_capacity(6 * 1024 * 1024 + one.len());
    while out.len() < 6 * 1024 * 1024 {
        out.extend_from_slice(&one);
    }
    out
}

fn interact(uid: u64, uname: &str, msg_type: u64) -> Value {
    json!({"cmd": "INTERACT_WORD", "data": {"uid": uid, "uname": uname, "msg_type": msg_type, "roomid": 21452505,
        "timestamp": 1_700_000_100u64, "trigger_time": 1_700_000_100_123_456_789u64 + uid, "score": 1_700_000_100_000u64,
        "fans_medal": {"medal_level": 0, "medal_name": ""}, "identities": [1], "is_spread": 0}})
}

/// Command documents plus the ground truth they imply.
#[derive(Default)]
struct Script {
    gifts: BTreeMap<String, ExpectedGift>,
    comment_ids: Vec<String>,
}

impl Script {
    fn expect(&mut self, msg_id: String, count: u64, value_fen: u64) {
        let gift = ExpectedGift {
            msg_id: msg_id.clone(),
            count,
            value_fen,
        };
        let previous = self.gifts.insert(msg_id, gift.clone());
        assert!(
            previous.is_none() || previous == Some(gift),
            "inconsistent script"
        );
    }

    /// `SEND_GIFT`; `price` is gold (1/1000 CNY) per gift, i.e. `price / 10` fen.
    fn send_gift(
        &mut self,
        tid: &str,
        gift_id: u64,
        name: &str,
        num: u64,
        price: u64,
        coin_type: &str,
    ) -> Value {
        let fen = if coin_type == "gold" {
            price * num / 10
        } else {
            0
        };
        self.expect(tid.to_string(), num, fen);
        gift_doc(tid, gift_id, name, num, price, coin_type)
    }

    /// A gift that must never reach the ledger (it only exists inside bombs).
    fn untracked_gift(&self, tid: &str, gift_id: u64, name: &str, num: u64, price: u64) -> Value {
        gift_doc(tid, gift_id, name, num, price, "gold")
    }

    /// `SUPER_CHAT_MESSAGE`; `price` in CNY.
    fn super_chat(&mut self, id: u64, price: u64, message: &str) -> Value {
        self.expect(format!("sc-{id}"), 1, price * 100);
        json!({"cmd": "SUPER_CHAT_MESSAGE", "roomid": 21452505, "data": {
            "id": id, "uid": 4_001, "price": price, "rate": 1000, "message": message, "message_trans": "",
            "time": 60, "start_time": 1_700_000_200u64, "end_time": 1_700_000_260u64, "token": "8F0E4A1B", "ts": 1_700_000_200u64,
            "background_color": "#EDF5FF", "gift": {"gift_id": 12000, "gift_name": "醒目留言", "num": 1},
            "medal_info": null, "user_info": {"uname": "路人甲", "face": "https://i0.hdslb.com/bfs/face/x.jpg", "user_level": 12, "guard_level": 0}}})
    }

    /// `GUARD_BUY`; `price` is gold per unit.
    fn guard_buy(&mut self, payflow_id: &str, num: u64, price: u64) -> Value {
        self.expect(format!("guard-{payflow_id}"), num, price * num / 10);
        json!({"cmd": "GUARD_BUY", "data": {"uid": 5_001, "username": "舰长大人", "guard_level": 3, "num": num,
            "price": price, "gift_id": 10003, "gift_name": "舰长", "start_time": 1_700_000_300u64,
            "end_time": 1_700_000_300u64, "payflow_id": payflow_id}})
    }

    /// `DANMU_MSG` in the current format (`id_str` inside `info[0][15].extra`).
    fn danmaku(&mut self, id_str: &str, text: &str, uid: u64) -> Value {
        self.comment_ids.push(id_str.to_string());
        let extra = json!({"send_from_me": false, "mode": 0, "color": 16777215, "dm_type": 0, "font_size": 25,
            "content": text, "id_str": id_str, "emoticon_unique": "", "reply_uname": ""}).to_string();
        json!({"cmd": "DANMU_MSG", "dm_v2": "", "info": [
            [0, 1, 25, 16777215, 1_700_000_000_456u64, 1_700_000_000u64, 0, "9f1c2a3b", 0, 0, 0, "", 0, "{}", "{}",
             {"mode": 0, "show_player_type": 0, "extra": extra, "user": {"uid": uid, "base": {"name": "弹幕的人"}}},
             {"activity_identity": "", "activity_source": 0, "not_show": 0}, 0],
            text,
            [uid, "弹幕的人", 0, 0, 0, 10000, 1, ""],
            [],
            [15, 0, 6406234, ">50000", 0],
            ["", ""], 0, 0, null, {"ts": 1_700_000_000u64, "ct": "6A1F0C2B"}, 0, 0, null, null, 0, 105, [5], null]})
    }
}

fn gift_doc(tid: &str, gift_id: u64, name: &str, num: u64, price: u64, coin_type: &str) -> Value {
    json!({"cmd": "SEND_GIFT", "data": {
        "action": "投喂", "batch_combo_id": format!("batch:gift:combo_id:7:1:{gift_id}:1700000001"), "coin_type": coin_type,
        "giftId": gift_id, "giftName": name, "giftType": 0, "num": num, "price": price, "discount_price": price,
        "rnd": "1700000001", "tid": tid, "timestamp": 1_700_000_001u64, "total_coin": price * num,
        "combo_total_coin": price * num, "uid": 7, "uname": "送花的人", "face": "https://i0.hdslb.com/bfs/face/y.jpg",
        "wealth_level": 12, "medal_info": {"medal_level": 0, "medal_name": ""}, "blind_gift": null}})
}

/// The fake's own packet encoder and decoder.
pub mod wire {
    use std::io::Write;

    pub const V_JSON: u16 = 0;
    pub const V_INT: u16 = 1;
    pub const V_ZLIB: u16 = 2;
    pub const V_BROTLI: u16 = 3;
    pub const OP_HEARTBEAT: u32 = 2;
    pub const OP_HEARTBEAT_REPLY: u32 = 3;
    pub const OP_COMMAND: u32 = 5;
    pub const OP_AUTH: u32 = 7;
    pub const OP_AUTH_REPLY: u32 = 8;

    /// `[len u32][16 u16][version u16][op u32][seq u32][body]`, all big-endian.
    pub fn packet(version: u16, op: u32, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
        out.extend_from_slice(&[0x00, 0x10]);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&op.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// A version-0 command packet.
    pub fn command(doc: &serde_json::Value) -> Vec<u8> {
        packet(V_JSON, OP_COMMAND, 0, doc.to_string().as_bytes())
    }

    /// `(version, op, body)` of a message holding exactly one well-formed packet.
    pub fn parse(bytes: &[u8]) -> Option<(u16, u32, &[u8])> {
        if bytes.len() < 16 {
            return None;
        }
        let len = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
        let header = u16::from_be_bytes(bytes[4..6].try_into().ok()?);
        let version = u16::from_be_bytes(bytes[6..8].try_into().ok()?);
        let op = u32::from_be_bytes(bytes[8..12].try_into().ok()?);
        (len == bytes.len() && header == 16).then(|| (version, op, &bytes[16..]))
    }

    pub fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).expect("zlib into memory");
        enc.finish().expect("zlib into memory")
    }

    pub fn brotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 2, 22);
            enc.write_all(bytes).expect("brotli into memory");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_the_documented_one() {
        assert_eq!(
            wire::packet(
                wire::V_INT,
                wire::OP_HEARTBEAT_REPLY,
                1,
                &[0, 0, 0x10, 0x92]
            ),
            b"\x00\x00\x00\x14\x00\x10\x00\x01\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x10\x92"
        );
        let auth = wire::packet(wire::V_INT, wire::OP_AUTH, 1, b"{}");
        assert_eq!(wire::parse(&auth), Some((1, wire::OP_AUTH, &b"{}"[..])));
        assert_eq!(wire::parse(&auth[..17]), None);
    }

    #[test]
    fn the_storm_truth_counts_each_gift_once() {
        let storm = Storm::build();
        let total: u64 = storm.gifts.values().map(|g| g.value_fen).sum();
        let count: u64 = storm.gifts.values().map(|g| g.count).sum();
        assert_eq!(storm.gifts.len(), 8);
        assert_eq!((count, total), (24, 29_330));
        for part in &storm.parts {
            for frame in part {
                assert!(
                    frame.len() < 256 * 1024,
                    "frames stay small: {}",
                    frame.len()
                );
            }
        }
    }
}
