//! A busy room that never ends, in DouyinBarrageGrab's wire format, sent at a steady rate.
//!
//! [`Room`] generates messages one at a time from a seed (an hour at 500 events/s is 1.8 M
//! messages: they are never held in memory), with the encoders of
//! [`crate::fake_barrage_grab`]. The mix, by message:
//!
//! | share | what |
//! |---:|---|
//! | 38 % | comments (some asking the streamer something, some matching a reply rule) |
//! | 24 % | likes (1–15 at a time, with the room's running total) |
//! | 18 % | viewers entering |
//! | 3 % | follows and shares |
//! | 2 % | viewer counts |
//! | 15 % | gifts: taps of running combos (cumulative `RepeatCount`, up to 8 combos of different viewers interleaved), bundles of cheap gifts, and now and then a big non-combo gift |
//!
//! Viewers: three in four messages come from a pool of regulars, one in four from a viewer
//! never seen before, as in a room that keeps drawing passers-by (so per-viewer state that is
//! never forgotten shows up as growth).
//!
//! [`RoomServer`] listens on loopback and plays the room to whoever connects (a reconnecting
//! sidecar gets the continuation, as from the real tool), pacing by elapsed time so a slow
//! moment is caught up rather than lost: over any long window the rate is the one asked for,
//! unless the client does not keep up (TCP backpressure), which [`RoomServer::sent`] shows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::fake_barrage_grab::{base, chat, envelope, gift, kind, user, GiftMsg};

pub const ROOM_ID: u64 = 7_300_000_000_000_000_042;

/// Regular viewers; the rest are new each time.
const REGULARS: u64 = 3_000;
/// Combos running at once (of different viewers, interleaved).
const MAX_COMBOS: usize = 8;
/// Pacing granularity: messages due are sent every tick.
const TICK: Duration = Duration::from_millis(10);

const COMMENTS: [&str; 12] = [
    "主播好！",
    "这个怎么玩？",
    "哈哈哈哈哈",
    "来了来了",
    "666",
    "主播唱首歌吧",
    "今天几点下播？",
    "你好呀",
    "第一次来，关注了",
    "声音好好听",
    "主播多大了？",
    "你是真人吗",
];

const NAMES: [&str; 10] = [
    "小明",
    "阿花",
    "夜猫子",
    "月亮",
    "老王",
    "糖糖",
    "路人甲",
    "一只鱼",
    "橘子汽水",
    "小雨",
];

/// `(gift id, name, diamonds, combo)`.
const GIFTS: [(u64, &str, i64, bool); 7] = [
    (463, "小心心", 1, true),
    (4157, "玫瑰", 1, true),
    (2738, "棒棒糖", 9, true),
    (2002, "啤酒", 2, true),
    (5481, "墨镜", 60, true),
    (88, "跑车", 1200, false),
    (3001, "嘉年华", 3000, false),
];

struct Combo {
    viewer: u64,
    gift: usize,
    group_id: u64,
    repeat: i64,
    planned: i64,
}

/// The endless message stream.
pub struct Room {
    rng: StdRng,
    next_msg_id: u64,
    next_group_id: u64,
    next_new_viewer: u64,
    combos: Vec<Combo>,
    likes: u64,
    online: u64,
    total_viewers: u64,
}

impl Room {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            next_msg_id: 7_400_000_000_000_000_000,
            next_group_id: 1_700_000_000_000,
            next_new_viewer: 90_000_000_000 + REGULARS,
            combos: Vec::new(),
            likes: 0,
            online: 3_000,
            total_viewers: 50_000,
        }
    }

    /// The next message, as the tool's envelope.
    pub fn next_message(&mut self) -> String {
        let msg_id = self.msg_id();
        let roll = self.rng.random_range(0..100);
        match roll {
            0..38 => {
                let text = COMMENTS[self.rng.random_range(0..COMMENTS.len())];
                envelope(kind::CHAT, &chat(msg_id, self.viewer(), text, ROOM_ID))
            }
            38..62 => {
                let count = self.rng.random_range(1..=15);
                self.likes += count;
                let mut data = base(msg_id, Some(self.viewer()), "点赞", ROOM_ID);
                data["Count"] = json!(count);
                data["Total"] = json!(self.likes);
                envelope(kind::LIKE, &data)
            }
            62..80 => {
                self.online += 1;
                self.total_viewers += 1;
                let viewer = self.viewer();
                let name = viewer["Nickname"].as_str().unwrap_or_default().to_string();
                envelope(
                    kind::ENTER,
                    &base(msg_id, Some(viewer), &format!("{name} 来了"), ROOM_ID),
                )
            }
            80..82 => envelope(
                kind::FOLLOW,
                &base(msg_id, Some(self.viewer()), "关注了主播", ROOM_ID),
            ),
            82..83 => {
                let mut data = base(msg_id, Some(self.viewer()), "分享了直播间", ROOM_ID);
                data["ShareType"] = json!(1);
                envelope(kind::SHARE, &data)
            }
            83..85 => {
                self.online = self.online.saturating_sub(40) + self.rng.random_range(0..80);
                let mut data = base(
                    msg_id,
                    None,
                    &format!("当前直播间人数 {}", self.online),
                    ROOM_ID,
                );
                for (k, v) in [
                    ("OnlineUserCount", json!(self.online)),
                    ("TotalUserCount", json!(self.total_viewers)),
                    ("OnlineUserCountStr", json!(self.online.to_string())),
                    ("TotalUserCountStr", json!(self.total_viewers.to_string())),
                ] {
                    data[k] = v;
                }
                envelope(kind::ROOM_STATS, &data)
            }
            _ => self.gift(msg_id),
        }
    }

    /// A gift message: mostly the next tap of a running combo.
    fn gift(&mut self, msg_id: u64) -> String {
        let big = self.rng.random_bool(0.04);
        if big {
            let (gift_id, name, diamonds, _) = GIFTS[self.rng.random_range(5..GIFTS.len())];
            let g = GiftMsg {
                msg_id,
                room_id: ROOM_ID,
                gift_id,
                gift_name: name,
                diamonds,
                group_id: 0,
                gift_count: 1,
                repeat_count: 1,
                combo: false,
            };
            return envelope(kind::GIFT, &gift(&g, self.viewer()));
        }
        if self.combos.is_empty() || (self.combos.len() < MAX_COMBOS && self.rng.random_bool(0.2)) {
            let viewer = self.viewer_id();
            let long = self.rng.random_bool(0.15);
            let planned = self.rng.random_range(1..=if long { 66 } else { 10 });
            self.next_group_id += self.rng.random_range(1..=5_000);
            self.combos.push(Combo {
                viewer,
                gift: self.rng.random_range(0..5),
                group_id: self.next_group_id,
                repeat: 0,
                planned,
            });
        }
        let i = self.rng.random_range(0..self.combos.len());
        let c = &mut self.combos[i];
        c.repeat += 1;
        let (gift_id, name, diamonds, combo) = GIFTS[c.gift];
        let g = GiftMsg {
            msg_id,
            room_id: ROOM_ID,
            gift_id,
            gift_name: name,
            diamonds,
            group_id: c.group_id,
            gift_count: 1,
            repeat_count: c.repeat,
            combo,
        };
        let sender = viewer_json(c.viewer);
        if c.repeat >= c.planned {
            self.combos.swap_remove(i);
        }
        envelope(kind::GIFT, &gift(&g, sender))
    }

    fn msg_id(&mut self) -> u64 {
        self.next_msg_id += self.rng.random_range(1..=97);
        self.next_msg_id
    }

    fn viewer_id(&mut self) -> u64 {
        if self.rng.random_bool(0.75) {
            90_000_000_000 + self.rng.random_range(0..REGULARS)
        } else {
            self.next_new_viewer += 1;
            self.next_new_viewer
        }
    }

    fn viewer(&mut self) -> Value {
        let id = self.viewer_id();
        viewer_json(id)
    }
}

fn viewer_json(id: u64) -> Value {
    let name = format!("{}{}", NAMES[(id % NAMES.len() as u64) as usize], id % 1000);
    user(id, &name, (id % 40) as i64)
}

/// Plays a [`Room`] at a fixed rate to whoever connects, until dropped.
pub struct RoomServer {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RoomServer {
    /// Listens on `127.0.0.1:0`; sending starts when the first client connects.
    pub async fn start(seed: u64, rate_per_sec: f64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(
            listener,
            Room::new(seed),
            rate_per_sec,
            sent.clone(),
            connections.clone(),
        ));
        Ok(Self {
            addr,
            sent,
            connections,
            task,
        })
    }

    /// The sidecar's `[source.barrage_grab] url`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Messages written to a client so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Clients that connected (more than one: the sidecar reconnected).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for RoomServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    mut room: Room,
    rate: f64,
    sent: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            continue;
        };
        connections.fetch_add(1, Ordering::Relaxed);
        let (mut tx, mut rx) = ws.split();
        // Reads (pings, closes) so the connection stays healthy; ends with the connection.
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        // The pace runs from this connection: time without a client is not made up for (the
        // real tool keeps no history).
        let (start, base) = (tokio::time::Instant::now(), sent.load(Ordering::Relaxed));
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'connection: loop {
            ticks.tick().await;
            let due = base + (start.elapsed().as_secs_f64() * rate) as u64;
            while sent.load(Ordering::Relaxed) < due {
                if tx.feed(Message::text(room.next_message())).await.is_err() {
                    break 'connection;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            if tx.flush().await.is_err() || reader.is_finished() {
                break;
            }
        }
        reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(text: &str) -> (i64, Value) {
        let outer: Value = serde_json::from_str(text).unwrap();
        let data = serde_json::from_str(outer["Data"].as_str().unwrap()).unwrap();
        (outer["Type"].as_i64().unwrap(), data)
    }

    #[test]
    fn the_mix_has_every_kind_and_combos_count_up() {
        let mut room = Room::new(7);
        let mut kinds = std::collections::BTreeMap::new();
        let mut ids = std::collections::HashSet::new();
        let mut combo_steps: std::collections::HashMap<u64, i64> = Default::default();
        for _ in 0..20_000 {
            let (k, data) = inner(&room.next_message());
            *kinds.entry(k).or_insert(0u32) += 1;
            assert!(
                ids.insert(data["MsgId"].as_u64().unwrap()),
                "ids are unique"
            );
            if k == kind::GIFT && data["Combo"] == true {
                let group = data["GroupId"].as_u64().unwrap();
                let repeat = data["RepeatCount"].as_i64().unwrap();
                let last = combo_steps.insert(group, repeat).unwrap_or(0);
                assert_eq!(
                    repeat,
                    last + 1,
                    "a combo's running total goes up one at a time"
                );
            }
        }
        for k in [
            kind::CHAT,
            kind::LIKE,
            kind::ENTER,
            kind::FOLLOW,
            kind::SHARE,
            kind::ROOM_STATS,
            kind::GIFT,
        ] {
            assert!(kinds.get(&k).copied().unwrap_or(0) > 50, "{kinds:?}");
        }
        let gifts = kinds[&kind::GIFT] as f64 / 20_000.0;
        assert!((0.12..0.18).contains(&gifts), "gift share {gifts}");
        assert!(combo_steps.values().any(|&r| r > 10), "some long combos");
    }

    #[tokio::test]
    async fn the_server_keeps_the_rate() {
        let server = RoomServer::start(1, 1_000.0).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(server.url())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut got = 0u64;
        while started.elapsed() < Duration::from_millis(1_500) {
            if let Ok(Some(Ok(Message::Text(_)))) =
                tokio::time::timeout(Duration::from_millis(100), ws.next()).await
            {
                got += 1;
            }
        }
        // 1 000/s for 1.5 s, give or take scheduling on a busy machine.
        assert!((1_200..=1_600).contains(&got), "received {got}");
        assert_eq!(server.connections(), 1);
        assert!(server.sent() >= got);
    }
}
