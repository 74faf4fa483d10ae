//! The message stream of a busy room, generated from a seed, with its ground truth.
//!
//! The stream mixes chats, likes, enters, follows, shares, viewer counts, rank updates and
//! gifts. Gifts come the way Douyin sends them: combos whose `repeatCount` is cumulative and
//! advances over many messages interleaved with other viewers' combos (sometimes skipping a
//! step), bundles with a `groupCount` multiplier, end-of-combo summaries (`repeatEnd`) that
//! repeat the final total — or never come — and big non-combo gifts. Then the stream is
//! roughened: neighbours swapped, messages repeated later with the same `msgId`, and pieces of
//! bad input slipped in.
//!
//! The truth is what a correct client ends up with: for every combo, its highest
//! `repeatCount × groupCount` gifts at `diamondCount` each. Bad input carries gifts of its own
//! combos, which are not in the truth: a client that counts them is wrong.

use rand::rngs::StdRng;
use rand::Rng;

use super::messages::{self, Common, GiftFields, GiftKind, User};
use crate::protobuf_writer::ProtoWriter;

/// What a correct client must end up with, and what the scenario put in to get there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// Gifts received, bundles multiplied out (the ledger's `sum(count)`).
    pub gift_count: u64,
    /// Their value in diamonds (the ledger's `sum(value_fen)` is ten times this).
    pub diamonds: u64,
    /// Combos (each big non-combo gift is a combo of one).
    pub combos: usize,
    /// Well-formed gift messages, not counting repeats of the same message.
    pub gift_messages: usize,
    /// Messages sent a second time, with the same `msgId`, in a later position.
    pub duplicated_messages: usize,
    /// Neighbouring messages sent in swapped order.
    pub reordered_pairs: usize,
    /// Pieces of bad input, by kind (see [`BadInput`]); none of them counts towards the truth.
    pub bad_input: Vec<BadInput>,
}

impl Truth {
    /// The ledger's `sum(value_fen)`: 10 diamonds = 1 CNY = 100 fen.
    pub fn value_fen(&self) -> u64 {
        self.diamonds * 10
    }
}

/// Kinds of bad input a scenario contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadInput {
    /// A whole `PushFrame` cut short inside its payload.
    TruncatedFrame,
    /// A frame whose gzip payload inflates beyond 4 MiB (it holds a gift).
    GzipBomb,
    /// A gift message whose payload is cut short.
    TruncatedGift,
    /// A chat whose content is not UTF-8.
    InvalidUtf8Chat,
    /// A gift with `repeatCount` 10⁹.
    AbsurdRepeatCount,
}

/// One `Response.messagesList` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub msg_id: u64,
    pub method: &'static str,
    pub message: ProtoWriter,
}

const CATALOG: [GiftKind; 8] = [
    gift_kind(463, "小心心", 1, true),
    gift_kind(4157, "玫瑰", 1, true),
    gift_kind(2738, "棒棒糖", 9, true),
    gift_kind(3376, "人气票", 1, true),
    gift_kind(2002, "啤酒", 2, true),
    gift_kind(5481, "墨镜", 60, true),
    gift_kind(88, "跑车", 1200, false),
    gift_kind(3001, "嘉年华", 3000, false),
];

const fn gift_kind(id: u64, name: &'static str, diamonds: u64, combo: bool) -> GiftKind {
    GiftKind {
        id,
        name,
        diamonds,
        combo,
    }
}

/// Bundle sizes offered for cheap gifts (`groupCount`).
const BUNDLES: [u64; 5] = [10, 66, 188, 520, 1314];

const CHATS: [&str; 10] = [
    "主播好！",
    "这个怎么玩？",
    "哈哈哈哈哈",
    "来了来了",
    "666",
    "主播唱首歌吧",
    "今天几点下播？",
    "🎉🎉🎉",
    "第一次来，关注了",
    "声音好好听",
];

const NAMES: [&str; 12] = [
    "小明",
    "阿花",
    "夜猫子",
    "🌙月亮",
    "老王",
    "糖糖",
    "路人甲",
    "Kevin",
    "一只鱼",
    "橘子汽水",
    "大壮",
    "小雨",
];

struct Combo {
    user: usize,
    kind: usize,
    group_id: u64,
    group_count: u64,
    reached: u64,
    planned: u64,
}

/// Builds the stream; see the module docs.
pub struct StormBuilder<'r> {
    rng: &'r mut StdRng,
    room_id: u64,
    t0_ms: u64,
    next_msg_id: u64,
    next_group_id: u64,
    viewers: Vec<User>,
    combos: Vec<Combo>,
    stream: Vec<Entry>,
    truth: Truth,
    online: u64,
    total_user: u64,
    likes: u64,
    follows: u64,
}

impl<'r> StormBuilder<'r> {
    pub fn new(rng: &'r mut StdRng, room_id: u64, t0_ms: u64) -> Self {
        let viewers = NAMES
            .iter()
            .map(|name| User {
                id: rng.random_range(10_000_000_000..100_000_000_000u64),
                nickname: (*name).to_string(),
            })
            .collect();
        let next_msg_id = 7_300_000_000_000_000_000 + rng.random_range(0..1_000_000_000_000u64);
        let next_group_id = 1_700_000_000_000 + rng.random_range(0..1_000_000_000u64);
        Self {
            rng,
            room_id,
            t0_ms,
            next_msg_id,
            next_group_id,
            viewers,
            combos: Vec::new(),
            stream: Vec::new(),
            truth: Truth::default(),
            online: 800,
            total_user: 5_000,
            likes: 0,
            follows: 120,
        }
    }

    /// At least `messages` entries, with one piece of each inline bad input if `bad_input`.
    pub fn fill(&mut self, messages: usize, bad_input: bool) {
        let inline_bad = [
            BadInput::TruncatedGift,
            BadInput::InvalidUtf8Chat,
            BadInput::AbsurdRepeatCount,
        ];
        let mut next_bad = 0;
        while self.stream.len() < messages {
            // Spread the bad pieces over the storm: one at 20 %, 45 % and 70 %.
            if bad_input
                && next_bad < inline_bad.len()
                && self.stream.len() * 20 >= messages * (4 + 5 * next_bad)
            {
                self.bad(inline_bad[next_bad]);
                next_bad += 1;
                continue;
            }
            self.step();
        }
        // Whatever is still running ends here, with or without a summary.
        while !self.combos.is_empty() {
            self.finish_combo(0);
        }
    }

    fn step(&mut self) {
        let roll = self.rng.random_range(0..100);
        let user = self.rng.random_range(0..self.viewers.len());
        match roll {
            0..22 => {
                let text = CHATS[self.rng.random_range(0..CHATS.len())];
                self.push(messages::CHAT, |c, v| {
                    messages::chat(c, &v[user], text.as_bytes())
                });
            }
            22..32 => {
                let count = self.rng.random_range(1..=15);
                self.likes += count;
                let total = self.likes;
                self.push(messages::LIKE, |c, v| {
                    messages::like(c, &v[user], count, total)
                });
            }
            32..41 => {
                self.online += 1;
                self.total_user += 1;
                let online = self.online;
                self.push(messages::MEMBER, |c, v| {
                    messages::member(c, &v[user], online)
                });
            }
            41..46 => {
                let action = if roll % 2 == 0 {
                    self.follows += 1;
                    messages::SOCIAL_FOLLOW
                } else {
                    messages::SOCIAL_SHARE
                };
                let follows = self.follows;
                self.push(messages::SOCIAL, |c, v| {
                    messages::social(c, &v[user], action, follows)
                });
            }
            46..49 => {
                self.online = self.online.saturating_sub(3) + self.rng.random_range(0..7);
                let (online, total) = (self.online, self.total_user);
                self.push(messages::ROOM_USER_SEQ, |c, _| {
                    messages::room_user_seq(c, online, total)
                });
            }
            49..51 => self.push(messages::ROOM_RANK, |c, v| messages::room_rank(c, &v[..3])),
            51..61 if self.combos.len() < 6 => self.start_combo(user),
            61..92 if !self.combos.is_empty() => {
                let i = self.rng.random_range(0..self.combos.len());
                self.advance_combo(i);
            }
            92..96 => self.big_gift(user),
            _ => {
                let text = CHATS[self.rng.random_range(0..CHATS.len())];
                self.push(messages::CHAT, |c, v| {
                    messages::chat(c, &v[user], text.as_bytes())
                });
            }
        }
    }

    fn start_combo(&mut self, user: usize) {
        let kind = self.rng.random_range(0..CATALOG.len());
        if !CATALOG[kind].combo {
            return self.big_gift(user);
        }
        let bundle = CATALOG[kind].diamonds <= 10 && self.rng.random_bool(0.2);
        let (group_count, planned) = if bundle {
            (
                BUNDLES[self.rng.random_range(0..BUNDLES.len())],
                self.rng.random_range(1..=3),
            )
        } else {
            // Mostly short combos, now and then a long streak.
            let long = self.rng.random_bool(0.15);
            (1, self.rng.random_range(1..=if long { 99 } else { 12 }))
        };
        let group_id = self.group_id();
        self.combos.push(Combo {
            user,
            kind,
            group_id,
            group_count,
            reached: 0,
            planned,
        });
        self.truth.combos += 1;
        self.advance_combo(self.combos.len() - 1);
    }

    /// One more message of combo `i` (now and then a step skipped, or the next two steps
    /// sent in swapped order); ends the combo when it reaches its planned length.
    fn advance_combo(&mut self, i: usize) {
        let left = self.combos[i].planned - self.combos[i].reached;
        if left >= 2 && self.rng.random_bool(0.12) {
            let reached = self.combos[i].reached;
            self.push_gift(&self.combo_fields(i, reached + 2, false));
            self.push_gift(&self.combo_fields(i, reached + 1, false));
            self.combos[i].reached = reached + 2;
            self.truth.reordered_pairs += 1;
        } else {
            let step = if self.rng.random_bool(0.1) { 2 } else { 1 };
            let reached = (self.combos[i].reached + step).min(self.combos[i].planned);
            self.combos[i].reached = reached;
            self.push_gift(&self.combo_fields(i, reached, false));
        }
        if self.combos[i].reached >= self.combos[i].planned {
            self.finish_combo(i);
        }
    }

    fn combo_fields(&self, i: usize, repeat_count: u64, repeat_end: bool) -> GiftFields {
        let c = &self.combos[i];
        GiftFields {
            kind: CATALOG[c.kind].clone(),
            user: self.viewers[c.user].clone(),
            group_id: c.group_id,
            group_count: c.group_count,
            repeat_count,
            repeat_end,
        }
    }

    /// Ends combo `i`: counts it into the truth and, most of the time, sends the summary.
    fn finish_combo(&mut self, i: usize) {
        let c = &self.combos[i];
        let gifts = c.reached * c.group_count;
        self.truth.gift_count += gifts;
        self.truth.diamonds += gifts * CATALOG[c.kind].diamonds;
        if c.reached > 0 && self.rng.random_bool(0.7) {
            self.push_gift(&self.combo_fields(i, c.reached, true));
        }
        self.combos.swap_remove(i);
    }

    /// A big gift: no combo, no summary, ever.
    fn big_gift(&mut self, user: usize) {
        let kinds: Vec<usize> = (0..CATALOG.len()).filter(|k| !CATALOG[*k].combo).collect();
        let kind = CATALOG[kinds[self.rng.random_range(0..kinds.len())]].clone();
        self.truth.combos += 1;
        self.truth.gift_count += 1;
        self.truth.diamonds += kind.diamonds;
        let fields = GiftFields {
            kind,
            user: self.viewers[user].clone(),
            group_id: self.group_id(),
            group_count: 1,
            repeat_count: 1,
            repeat_end: false,
        };
        self.push_gift(&fields);
    }

    fn push_gift(&mut self, fields: &GiftFields) {
        self.truth.gift_messages += 1;
        self.push(messages::GIFT, |c, _| messages::gift(c, fields));
    }

    /// A gift of a combo of its own, outside the truth (the payload of bad input).
    pub fn orphan_gift(&mut self, repeat_count: u64) -> (u64, Vec<u8>) {
        let fields = GiftFields {
            kind: CATALOG[0].clone(),
            user: self.viewers[0].clone(),
            group_id: self.group_id(),
            group_count: 1,
            repeat_count,
            repeat_end: false,
        };
        let msg_id = self.msg_id();
        let common = self.common(messages::GIFT, msg_id);
        (msg_id, messages::gift(&common, &fields).into_bytes())
    }

    fn bad(&mut self, kind: BadInput) {
        self.truth.bad_input.push(kind);
        match kind {
            BadInput::TruncatedGift => {
                let (msg_id, mut payload) = self.orphan_gift(3);
                payload.truncate(payload.len() - 3);
                self.push_raw(messages::GIFT, msg_id, &payload);
            }
            BadInput::AbsurdRepeatCount => {
                let (msg_id, payload) = self.orphan_gift(1_000_000_000);
                self.push_raw(messages::GIFT, msg_id, &payload);
            }
            BadInput::InvalidUtf8Chat => {
                let msg_id = self.msg_id();
                let common = self.common(messages::CHAT, msg_id);
                let payload = messages::chat(&common, &self.viewers[1], b"\xe4\xbd\xa0\xff\xfe!");
                self.push_raw(messages::CHAT, msg_id, payload.as_bytes());
            }
            BadInput::TruncatedFrame | BadInput::GzipBomb => {
                unreachable!("frame-level bad input is built by the scenario")
            }
        }
    }

    /// Notes frame-level bad input the scenario built around [`Self::orphan_gift`].
    pub fn note_bad_frame(&mut self, kind: BadInput) {
        self.truth.bad_input.push(kind);
    }

    fn push(
        &mut self,
        method: &'static str,
        payload: impl FnOnce(&Common, &[User]) -> ProtoWriter,
    ) {
        let msg_id = self.msg_id();
        let common = self.common(method, msg_id);
        let payload = payload(&common, &self.viewers);
        self.push_raw(method, msg_id, payload.as_bytes());
    }

    fn push_raw(&mut self, method: &'static str, msg_id: u64, payload: &[u8]) {
        self.stream.push(Entry {
            msg_id,
            method,
            message: messages::message(method, payload, msg_id),
        });
    }

    fn common(&self, method: &'static str, msg_id: u64) -> Common<'static> {
        Common {
            method,
            msg_id,
            room_id: self.room_id,
            create_time_ms: self.t0_ms + 40 * self.stream.len() as u64,
        }
    }

    fn msg_id(&mut self) -> u64 {
        self.next_msg_id += self.rng.random_range(1..=97);
        self.next_msg_id
    }

    fn group_id(&mut self) -> u64 {
        self.next_group_id += self.rng.random_range(1..=5_000);
        self.next_group_id
    }

    /// Swaps some neighbours and repeats some messages later on (same bytes, same `msgId`).
    pub fn roughen(&mut self) {
        let mut i = 0;
        while i + 1 < self.stream.len() {
            if self.rng.random_bool(0.05) {
                self.stream.swap(i, i + 1);
                self.truth.reordered_pairs += 1;
                i += 1;
            }
            i += 1;
        }
        let mut copies: Vec<(usize, Entry)> = Vec::new();
        for (i, entry) in self.stream.iter().enumerate() {
            // Gifts are repeated more often: they are what a duplicate would corrupt.
            let p = if entry.method == messages::GIFT {
                0.08
            } else {
                0.02
            };
            if self.rng.random_bool(p) {
                copies.push((i + self.rng.random_range(4..=40), entry.clone()));
            }
        }
        self.truth.duplicated_messages = copies.len();
        copies.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        for (at, entry) in copies {
            let at = at.min(self.stream.len());
            self.stream.insert(at, entry);
        }
    }

    pub fn finish(self) -> (Vec<Entry>, Truth) {
        (self.stream, self.truth)
    }
}
