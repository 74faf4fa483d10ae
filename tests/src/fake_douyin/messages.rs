//! Douyin webcast protobuf messages, encoded with [`crate::protobuf_writer`] from the field
//! numbers in `/work/shared/protocols.md` §1 (never from the sidecar's `.proto` files).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::protobuf_writer::ProtoWriter;

pub const CHAT: &str = "WebcastChatMessage";
pub const GIFT: &str = "WebcastGiftMessage";
pub const LIKE: &str = "WebcastLikeMessage";
pub const MEMBER: &str = "WebcastMemberMessage";
pub const SOCIAL: &str = "WebcastSocialMessage";
pub const ROOM_USER_SEQ: &str = "WebcastRoomUserSeqMessage";
/// A method the sidecar has no use for; real rooms send plenty of these.
pub const ROOM_RANK: &str = "WebcastRoomRankMessage";

/// `SocialMessage.action` values.
pub const SOCIAL_FOLLOW: u64 = 1;
pub const SOCIAL_SHARE: u64 = 3;

/// A viewer as the platform describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub nickname: String,
}

/// `User { 1 id, 3 nickName, 38 displayId, 1028 idStr }`.
pub fn user(u: &User) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.uint(1, u.id)
        .string(3, &u.nickname)
        .string(38, &format!("dy{}", u.id % 1_000_000_000))
        .string(1028, &u.id.to_string());
    w
}

/// What every message payload starts with: `Common { 1 method, 2 msgId, 3 roomId, 4 createTime }`.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    pub method: &'a str,
    pub msg_id: u64,
    pub room_id: u64,
    pub create_time_ms: u64,
}

fn common(c: &Common) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.string(1, c.method)
        .uint(2, c.msg_id)
        .uint(3, c.room_id)
        .uint(4, c.create_time_ms);
    w
}

/// `ChatMessage { 1 common, 2 user, 3 content, 15 eventTime }`. `content` is raw bytes so a
/// scenario can put invalid UTF-8 into it.
pub fn chat(c: &Common, u: &User, content: &[u8]) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c))
        .message(2, &user(u))
        .bytes(3, content)
        .uint(15, c.create_time_ms / 1000);
    w
}

/// The gift catalogue entry a gift message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftKind {
    pub id: u64,
    pub name: &'static str,
    /// Price of one gift in diamonds (抖币).
    pub diamonds: u64,
    /// Whether the gift can be sent in combos (`GiftStruct.combo`).
    pub combo: bool,
}

/// One `WebcastGiftMessage` as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftFields {
    pub kind: GiftKind,
    pub user: User,
    pub group_id: u64,
    /// Bundle multiplier (1314 × 小心心 is one bundle of groupCount 1314).
    pub group_count: u64,
    /// Cumulative within the combo `(room, user, gift, group)`.
    pub repeat_count: u64,
    /// The end-of-combo summary.
    pub repeat_end: bool,
}

/// `GiftMessage { 1 common, 2 giftId, 4 groupCount, 5 repeatCount, 6 comboCount, 7 user,
/// 9 repeatEnd, 11 groupId, 29 totalCount, 15 gift GiftStruct { 5 id, 10 combo, 12 diamondCount,
/// 16 name } }`. The gift struct is written last, so cutting a few bytes off the end always
/// leaves a length prefix that claims more than is there (see `Scenario`'s truncated gifts).
pub fn gift(c: &Common, g: &GiftFields) -> ProtoWriter {
    let mut gift_struct = ProtoWriter::new();
    gift_struct
        .uint(5, g.kind.id)
        .bool(10, g.kind.combo)
        .uint(12, g.kind.diamonds)
        .string(16, g.kind.name);
    let mut w = ProtoWriter::new();
    w.message(1, &common(c))
        .uint(2, g.kind.id)
        .uint(4, g.group_count)
        .uint(5, g.repeat_count)
        .uint(6, g.repeat_count)
        .message(7, &user(&g.user))
        .bool(9, g.repeat_end)
        .uint(11, g.group_id)
        .uint(29, g.repeat_count.saturating_mul(g.group_count))
        .message(15, &gift_struct);
    w
}

/// `LikeMessage { 1 common, 2 count, 3 total, 5 user }`.
pub fn like(c: &Common, u: &User, count: u64, total: u64) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c))
        .uint(2, count)
        .uint(3, total)
        .message(5, &user(u));
    w
}

/// `MemberMessage { 1 common, 2 user, 3 memberCount, 10 action }` (action 1: entered).
pub fn member(c: &Common, u: &User, member_count: u64) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c))
        .message(2, &user(u))
        .uint(3, member_count)
        .uint(10, 1);
    w
}

/// `SocialMessage { 1 common, 2 user, 4 action, 6 followCount }`.
pub fn social(c: &Common, u: &User, action: u64, follow_count: u64) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c))
        .message(2, &user(u))
        .uint(4, action)
        .uint(6, follow_count);
    w
}

/// `RoomUserSeqMessage { 1 common, 3 total (online now), 7 totalUser (ever entered) }`.
pub fn room_user_seq(c: &Common, online: u64, total_user: u64) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c)).uint(3, online).uint(7, total_user);
    w
}

/// A rank update: a method the sidecar should ignore without complaint.
pub fn room_rank(c: &Common, top: &[User]) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.message(1, &common(c));
    for (i, u) in top.iter().enumerate() {
        let mut entry = ProtoWriter::new();
        entry.message(1, &user(u)).uint(2, i as u64 + 1);
        w.message(2, &entry);
    }
    w
}

/// An entry of `Response.messagesList`: `Message { 1 method, 2 payload, 3 msgId }`.
pub fn message(method: &str, payload: &[u8], msg_id: u64) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.string(1, method).raw_bytes(2, payload).uint(3, msg_id);
    w
}

/// The fields of a `Response` that change from frame to frame.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    pub cursor: &'a str,
    pub internal_ext: &'a str,
    pub now_ms: u64,
    /// `Response.heartbeatDuration` in ms; 0 leaves it out (the client uses its own setting).
    pub heartbeat_ms: u64,
}

/// `Response { 1 messagesList, 2 cursor, 3 fetchInterval, 4 now, 5 internalExt,
/// 8 heartbeatDuration, 9 needAck }`, always asking for an ack.
pub fn response(messages: &[ProtoWriter], meta: &ResponseMeta) -> ProtoWriter {
    let mut w = ProtoWriter::new();
    w.messages(1, messages)
        .string(2, meta.cursor)
        .uint(3, 1000)
        .uint(4, meta.now_ms)
        .string(5, meta.internal_ext)
        .uint(8, meta.heartbeat_ms)
        .bool(9, true);
    w
}

/// `PushFrame { 1 seqId, 2 logId, 3 service, 4 method, 5 headersList, 6 payloadEncoding,
/// 7 payloadType = "msg", 8 payload }` with header `compress_type = gzip` (the payload must
/// already be gzip) and the cursor headers real frames carry.
pub fn push_frame(seq: u64, log_id: u64, cursor: &str, gzip_payload: &[u8]) -> Vec<u8> {
    let header = |k: &str, v: &str| {
        let mut h = ProtoWriter::new();
        h.string(1, k).string(2, v);
        h
    };
    let headers = [header("compress_type", "gzip"), header("im-cursor", cursor)];
    // service / method: routing ids of Douyin's push gateway; clients ignore them, and the
    // values here are merely plausible.
    let mut w = ProtoWriter::new();
    w.uint(1, seq)
        .uint(2, log_id)
        .uint(3, 88)
        .uint(4, 8)
        .messages(5, &headers)
        .string(6, "pb")
        .string(7, "msg")
        .raw_bytes(8, gzip_payload);
    w.into_bytes()
}

/// gzip of `data` (fast level: the gzip bomb is megabytes of zeros, and a debug build of the
/// compressor is slow at higher levels).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data)
        .and_then(|()| enc.finish())
        .expect("gzip into a Vec cannot fail")
}
