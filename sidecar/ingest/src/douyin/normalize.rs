//! Room messages (`Message { method, payload, msgId }`) → normalized [`LiveEvent`]s.
//!
//! The rules, in one place:
//!
//! * comments (`WebcastChatMessage`, `WebcastEmojiChatMessage`, `WebcastScreenChatMessage`):
//!   text truncated to [`MAX_COMMENT_CHARS`] characters; empty text is rejected;
//! * gifts: `count: 0` plus a [`ComboTotal`] `{roomId}-{userId}-{giftId}-{groupId}` with
//!   `total = max(repeatCount,1) × max(groupCount,1)`; the ledger turns totals into increments.
//!   Non-combo gifts get a fresh `groupId` per send, so the same rule counts them too;
//! * likes, enters, follows (`Social` action 1), shares (action 3), viewer counts;
//! * `Control` status 3 ends the stream (no event); fans-club messages are ignored but counted;
//!   unknown methods are counted, never fatal;
//! * absurd numbers and undecodable payloads (including invalid UTF-8 in a string, which prost
//!   refuses) reject that one message with a reason, the rest of the frame goes on.
//!
//! Message ids seen recently are remembered (a bounded FIFO set) so that the duplicates the
//! server resends after a reconnect are dropped here already; the ledger de-duplicates across
//! restarts.

use super::frame::DEFAULT_MAX_PAYLOAD_BYTES;
use super::proto;
use crate::Rejected;
use aivs_core::event::{ComboTotal, EventKind, Gift, LiveEvent, Viewer};
use aivs_core::recent_ids::RecentIds;

pub const PLATFORM: &str = "douyin";
/// Comments longer than this (in characters) are cut.
pub const MAX_COMMENT_CHARS: usize = 300;
/// How many recent message ids the in-memory de-duplication remembers.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 65_536;
/// Above these a gift message is not believed.
pub const MAX_REPEAT_COUNT: u64 = 100_000;
pub const MAX_GROUP_COUNT: u64 = 10_000;
pub const MAX_DIAMONDS: i64 = 1_000_000;
/// Gift name when the message has none.
const DEFAULT_GIFT_NAME: &str = "礼物";

/// What one message became.
#[derive(Debug, Clone, PartialEq)]
// Built and matched once per message, never stored in bulk: boxing the event would cost an
// allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Normalized {
    Event(LiveEvent),
    Rejected(Rejected),
    /// Its id was seen recently.
    Duplicate,
    /// A known message without an event (fans club, other control states, other social actions).
    Ignored,
    /// A method this adapter does not read (rank lists, room stats…).
    Unknown,
    /// `WebcastControlMessage` status 3.
    StreamEnded,
}

/// Counts since the normalizer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormalizerStats {
    pub messages: u64,
    pub events: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub ignored: u64,
    pub unknown_methods: u64,
}

/// Turns messages into events; keeps the recent-id set and the counters. One per connection
/// loop (it survives reconnects, which is the point of the id set).
#[derive(Debug)]
pub struct Normalizer {
    max_payload_bytes: usize,
    recent: RecentIds,
    stats: NormalizerStats,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    /// 4 MiB payload cap, 65 536 remembered ids.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_DEDUPE_CAPACITY)
    }

    pub fn with_limits(max_payload_bytes: usize, dedupe_capacity: usize) -> Self {
        Self {
            max_payload_bytes,
            recent: RecentIds::new(dedupe_capacity),
            stats: NormalizerStats::default(),
        }
    }

    /// Cap on a frame's decompressed payload (used by [`super::frame::decode_frame_to_events`]).
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    pub fn stats(&self) -> NormalizerStats {
        self.stats
    }

    /// Normalizes one message (see the module docs for the rules).
    pub fn normalize(&mut self, message: &proto::Message) -> Normalized {
        self.stats.messages += 1;
        let out = self.classify(message);
        let counter = match &out {
            Normalized::Event(_) => &mut self.stats.events,
            Normalized::Rejected(_) => &mut self.stats.rejected,
            Normalized::Duplicate => &mut self.stats.duplicates,
            Normalized::Ignored | Normalized::StreamEnded => &mut self.stats.ignored,
            Normalized::Unknown => &mut self.stats.unknown_methods,
        };
        *counter += 1;
        out
    }

    fn classify(&mut self, message: &proto::Message) -> Normalized {
        // Cheap early exit for resends: the outer id is known before decoding the payload.
        if message.msg_id != 0 && self.recent.contains(message.msg_id as u64) {
            return Normalized::Duplicate;
        }
        let decoded = match decode(&message.method, &message.payload) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return Normalized::Unknown,
            Err(reject) => return Normalized::Rejected(reject),
        };
        let id = match message.msg_id {
            0 => decoded.common_msg_id,
            id => id as u64,
        };
        if id != 0 && !self.recent.insert(id) {
            return Normalized::Duplicate;
        }
        match decoded.outcome {
            Outcome::Event { user, kind } => {
                if id == 0 && matches!(kind, EventKind::Gift(_)) {
                    // The ledger keys gifts on the id: without one it could not count it once.
                    return Normalized::Rejected(Rejected::new("gift_without_id", &message.method));
                }
                Normalized::Event(LiveEvent {
                    platform: PLATFORM.to_string(),
                    msg_id: msg_id_string(message.msg_id, id),
                    user,
                    kind,
                })
            }
            Outcome::Ignored => Normalized::Ignored,
            Outcome::StreamEnded => Normalized::StreamEnded,
        }
    }
}

/// The outer id as the server sent it (signed), else the `Common.msgId` fallback.
fn msg_id_string(outer: i64, id: u64) -> String {
    match (outer, id) {
        (0, 0) => String::new(),
        (0, id) => id.to_string(),
        (outer, _) => outer.to_string(),
    }
}

struct Decoded {
    common_msg_id: u64,
    outcome: Outcome,
}

enum Outcome {
    Event {
        user: Option<Viewer>,
        kind: EventKind,
    },
    Ignored,
    StreamEnded,
}

/// Decodes a payload by method; `Ok(None)` for a method this adapter does not read.
fn decode(method: &str, payload: &[u8]) -> Result<Option<Decoded>, Rejected> {
    let decoded = match method {
        "WebcastChatMessage" => {
            let m: proto::ChatMessage = parse(method, payload)?;
            comment(m.common, m.user, &m.content)?
        }
        "WebcastEmojiChatMessage" => {
            let m: proto::EmojiChatMessage = parse(method, payload)?;
            let text = match m.default_content.trim() {
                "" => m
                    .emoji_content
                    .map(|t| t.default_pattern)
                    .unwrap_or_default(),
                _ => m.default_content,
            };
            comment(m.common, m.user, &text)?
        }
        "WebcastScreenChatMessage" => {
            let m: proto::ScreenChatMessage = parse(method, payload)?;
            comment(m.common, m.user, &m.content)?
        }
        "WebcastGiftMessage" => gift(parse(method, payload)?)?,
        "WebcastLikeMessage" => {
            let m: proto::LikeMessage = parse(method, payload)?;
            let count = u32::try_from(m.count).unwrap_or(u32::MAX);
            event(m.common, m.user, EventKind::Like { count })
        }
        "WebcastMemberMessage" => {
            let m: proto::MemberMessage = parse(method, payload)?;
            event(m.common, m.user, EventKind::Enter)
        }
        "WebcastSocialMessage" => social(parse(method, payload)?),
        "WebcastRoomUserSeqMessage" => {
            let m: proto::RoomUserSeqMessage = parse(method, payload)?;
            let kind = EventKind::ViewerStats {
                online: m.total,
                total: m.total_user,
            };
            event(m.common, None, kind)
        }
        "WebcastControlMessage" => {
            let m: proto::ControlMessage = parse(method, payload)?;
            let outcome = match m.status {
                3 => Outcome::StreamEnded,
                _ => Outcome::Ignored,
            };
            with_common(m.common, outcome)
        }
        "WebcastFansclubMessage" => {
            let m: proto::FansclubMessage = parse(method, payload)?;
            with_common(m.common, Outcome::Ignored)
        }
        _ => return Ok(None),
    };
    Ok(Some(decoded))
}

fn parse<M: prost::Message + Default>(method: &str, payload: &[u8]) -> Result<M, Rejected> {
    M::decode(payload).map_err(|e| Rejected::new("bad_protobuf", format!("{method}: {e}")))
}

fn with_common(common: Option<proto::Common>, outcome: Outcome) -> Decoded {
    Decoded {
        common_msg_id: common.map_or(0, |c| c.msg_id),
        outcome,
    }
}

fn event(common: Option<proto::Common>, user: Option<proto::User>, kind: EventKind) -> Decoded {
    let user = user.map(viewer);
    with_common(common, Outcome::Event { user, kind })
}

fn comment(
    common: Option<proto::Common>,
    user: Option<proto::User>,
    text: &str,
) -> Result<Decoded, Rejected> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Rejected::new("empty_comment", "comment without text"));
    }
    let text = truncate_chars(text, MAX_COMMENT_CHARS).to_string();
    Ok(event(common, user, EventKind::Comment { text }))
}

/// The first `max` characters of `text` (cut on a char boundary).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn social(m: proto::SocialMessage) -> Decoded {
    match m.action {
        1 => event(m.common, m.user, EventKind::Follow),
        3 => event(m.common, m.user, EventKind::Share),
        _ => with_common(m.common, Outcome::Ignored),
    }
}

fn gift(m: proto::GiftMessage) -> Result<Decoded, Rejected> {
    if m.repeat_count > MAX_REPEAT_COUNT {
        return Err(Rejected::new(
            "absurd_repeat_count",
            format!("repeatCount {}", m.repeat_count),
        ));
    }
    if m.group_count > MAX_GROUP_COUNT {
        return Err(Rejected::new(
            "absurd_group_count",
            format!("groupCount {}", m.group_count),
        ));
    }
    let info = m.gift.unwrap_or_default();
    if !(0..=MAX_DIAMONDS).contains(&info.diamond_count) {
        return Err(Rejected::new(
            "absurd_diamonds",
            format!("diamondCount {}", info.diamond_count),
        ));
    }
    let gift_id = if m.gift_id != 0 { m.gift_id } else { info.id };
    let user = m.user.map(viewer);
    let room_id = m.common.as_ref().map_or(0, |c| c.room_id);
    let user_id = user.as_ref().map_or("", |u| u.id.as_str());
    let combo = ComboTotal {
        key: format!("{room_id}-{user_id}-{gift_id}-{}", m.group_id),
        total: m.repeat_count.max(1).saturating_mul(m.group_count.max(1)),
        end: m.repeat_end == 1,
    };
    let gift_name = match info.name.trim() {
        "" => DEFAULT_GIFT_NAME.to_string(),
        name => name.to_string(),
    };
    let kind = EventKind::Gift(Gift {
        gift_id: gift_id.to_string(),
        gift_name,
        diamonds: info.diamond_count.unsigned_abs(),
        count: 0,
        price: Some(aivs_core::pricing::Price::douyin(
            info.diamond_count.unsigned_abs(),
        )),
        message: None,
        combo: Some(combo),
    });
    Ok(with_common(m.common, Outcome::Event { user, kind }))
}

fn viewer(user: proto::User) -> Viewer {
    let id = match (user.id_str.is_empty(), user.id) {
        (false, _) => user.id_str,
        (true, 0) => String::new(),
        (true, id) => id.to_string(),
    };
    let level = user
        .pay_grade
        .map_or(0, |g| u32::try_from(g.level.max(0)).unwrap_or(u32::MAX));
    let fan_level = user
        .fans_club
        .and_then(|club| club.data)
        .map_or(0, |d| u32::try_from(d.level.max(0)).unwrap_or(u32::MAX));
    Viewer {
        id,
        name: user.nick_name,
        level,
        fan_level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::douyin::frame::decode_frame_to_events;
    use crate::douyin::frame::tests::{chat, msg_frame};
    use prost::Message as _;

    fn message(method: &str, msg_id: i64, payload: impl prost::Message) -> proto::Message {
        proto::Message {
            method: method.into(),
            payload: payload.encode_to_vec(),
            msg_id,
            ..Default::default()
        }
    }

    fn user(id: u64, id_str: &str, level: i64) -> Option<proto::User> {
        Some(proto::User {
            id,
            id_str: id_str.into(),
            nick_name: "观众".into(),
            pay_grade: Some(proto::PayGrade { level }),
            ..Default::default()
        })
    }

    fn gift_msg(msg_id: i64, repeat: u64, group_count: u64, end: u32) -> proto::Message {
        let gift = proto::GiftMessage {
            common: Some(proto::Common {
                room_id: 700,
                ..Default::default()
            }),
            gift_id: 463,
            group_count,
            repeat_count: repeat,
            user: user(9, "", 12),
            repeat_end: end,
            group_id: 1_700_000,
            gift: Some(proto::GiftStruct {
                id: 463,
                combo: true,
                diamond_count: 1,
                name: "小心心".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        message("WebcastGiftMessage", msg_id, gift)
    }

    fn only_event(n: Normalized) -> LiveEvent {
        match n {
            Normalized::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn only_gift(n: Normalized) -> (LiveEvent, Gift) {
        let event = only_event(n);
        match event.kind.clone() {
            EventKind::Gift(g) => (event, g),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gift_combo_key_and_total_follow_the_one_rule() {
        let mut n = Normalizer::new();
        let (event, gift) = only_gift(n.normalize(&gift_msg(11, 5, 1, 0)));
        assert_eq!(event.msg_id, "11");
        assert_eq!(event.user.as_ref().unwrap().id, "9");
        assert_eq!(event.user.as_ref().unwrap().level, 12);
        assert_eq!(gift.count, 0);
        assert_eq!(
            (gift.gift_id.as_str(), gift.gift_name.as_str()),
            ("463", "小心心")
        );
        assert_eq!(gift.diamonds, 1);
        let combo = gift.combo.unwrap();
        assert_eq!(combo.key, "700-9-463-1700000");
        assert_eq!((combo.total, combo.end), (5, false));

        // A bundle (groupCount 1314) ending its combo: totals multiply out.
        let (_, gift) = only_gift(n.normalize(&gift_msg(12, 2, 1314, 1)));
        let combo = gift.combo.unwrap();
        assert_eq!((combo.total, combo.end), (2628, true));

        // Zero counts mean one.
        let (_, gift) = only_gift(n.normalize(&gift_msg(13, 0, 0, 0)));
        assert_eq!(gift.combo.unwrap().total, 1);
    }

    #[test]
    fn gift_falls_back_to_struct_id_and_default_name() {
        let mut gift = proto::GiftMessage {
            gift: Some(proto::GiftStruct {
                id: 99,
                diamond_count: 520,
                ..Default::default()
            }),
            user: user(1, "u-str", 0),
            group_id: 5,
            ..Default::default()
        };
        gift.common = Some(proto::Common {
            msg_id: 321,
            room_id: 8,
            ..Default::default()
        });
        let (event, g) =
            only_gift(Normalizer::new().normalize(&message("WebcastGiftMessage", 0, gift)));
        assert_eq!(event.msg_id, "321", "falls back to common.msgId");
        assert_eq!((g.gift_id.as_str(), g.gift_name.as_str()), ("99", "礼物"));
        assert_eq!(g.combo.unwrap().key, "8-u-str-99-5");
    }

    #[test]
    fn absurd_gift_numbers_are_rejected_with_a_reason() {
        let mut n = Normalizer::new();
        let reason = |n: Normalized| match n {
            Normalized::Rejected(r) => r.reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(n.normalize(&gift_msg(1, 100_001, 1, 0))),
            "absurd_repeat_count"
        );
        assert_eq!(
            reason(n.normalize(&gift_msg(2, 1, 10_001, 0))),
            "absurd_group_count"
        );
        let mut rich = gift_msg(3, 1, 1, 0);
        let mut decoded = proto::GiftMessage::decode(rich.payload.as_slice()).unwrap();
        decoded.gift.as_mut().unwrap().diamond_count = 1_000_001;
        rich.payload = decoded.encode_to_vec();
        assert_eq!(reason(n.normalize(&rich)), "absurd_diamonds");
        decoded.gift.as_mut().unwrap().diamond_count = -5;
        rich.payload = decoded.encode_to_vec();
        rich.msg_id = 4;
        assert_eq!(reason(n.normalize(&rich)), "absurd_diamonds");
        // The limits themselves are accepted.
        only_gift(n.normalize(&gift_msg(5, 100_000, 10_000, 0)));
        assert_eq!(n.stats().rejected, 4);
    }

    #[test]
    fn a_gift_without_any_id_is_rejected() {
        let out = Normalizer::new().normalize(&gift_msg(0, 1, 1, 0));
        assert!(matches!(out, Normalized::Rejected(r) if r.reason == "gift_without_id"));
    }

    #[test]
    fn invalid_utf8_rejects_only_that_message() {
        let good = chat(1, "good");
        let mut bad = chat(2, "XXXX");
        let at = bad.payload.windows(4).position(|w| w == b"XXXX").unwrap();
        bad.payload[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        let bytes = msg_frame(1, vec![good, bad, chat(3, "also good")], "ext");
        let decoded = decode_frame_to_events(&bytes, &mut Normalizer::new()).unwrap();
        let ids: Vec<_> = decoded.events.iter().map(|e| e.msg_id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
        assert_eq!(decoded.rejects.len(), 1);
        assert_eq!(decoded.rejects[0].0, "bad_protobuf");
        assert!(decoded.rejects[0].1.starts_with("WebcastChatMessage"));
    }

    #[test]
    fn comments_are_trimmed_truncated_on_char_boundaries_and_never_empty() {
        let mut n = Normalizer::new();
        let long = "抖".repeat(400);
        let event = only_event(n.normalize(&chat(1, &long)));
        let EventKind::Comment { text } = event.kind else {
            panic!()
        };
        assert_eq!(text.chars().count(), MAX_COMMENT_CHARS);
        assert!(matches!(
            n.normalize(&chat(2, "   ")),
            Normalized::Rejected(r) if r.reason == "empty_comment"
        ));
        assert_eq!(truncate_chars("ab", 5), "ab");
        assert_eq!(truncate_chars("a抖b", 2), "a抖");
    }

    #[test]
    fn emoji_and_screen_chat_are_comments() {
        let mut n = Normalizer::new();
        let emoji = proto::EmojiChatMessage {
            user: user(3, "", 0),
            emoji_content: Some(proto::Text {
                default_pattern: "[比心]".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let event = only_event(n.normalize(&message("WebcastEmojiChatMessage", 1, emoji)));
        assert_eq!(
            event.kind,
            EventKind::Comment {
                text: "[比心]".into()
            }
        );
        let screen = proto::ScreenChatMessage {
            content: "弹幕".into(),
            ..Default::default()
        };
        let event = only_event(n.normalize(&message("WebcastScreenChatMessage", 2, screen)));
        assert_eq!(
            event.kind,
            EventKind::Comment {
                text: "弹幕".into()
            }
        );
        assert_eq!(event.user, None);
    }

    #[test]
    fn likes_enters_follows_shares_and_viewer_stats() {
        let mut n = Normalizer::new();
        let like = proto::LikeMessage {
            count: 15,
            total: 900,
            user: user(1, "", 0),
            ..Default::default()
        };
        let e = only_event(n.normalize(&message("WebcastLikeMessage", 1, like)));
        assert_eq!(e.kind, EventKind::Like { count: 15 });
        let member = proto::MemberMessage {
            user: user(2, "", 3),
            ..Default::default()
        };
        let e = only_event(n.normalize(&message("WebcastMemberMessage", 2, member)));
        assert_eq!((e.kind, e.user.unwrap().level), (EventKind::Enter, 3));
        for (id, action, kind) in [(3, 1, EventKind::Follow), (4, 3, EventKind::Share)] {
            let social = proto::SocialMessage {
                action,
                user: user(5, "", 0),
                ..Default::default()
            };
            let e = only_event(n.normalize(&message("WebcastSocialMessage", id, social)));
            assert_eq!(e.kind, kind);
        }
        let other = proto::SocialMessage {
            action: 7,
            ..Default::default()
        };
        assert_eq!(
            n.normalize(&message("WebcastSocialMessage", 5, other)),
            Normalized::Ignored
        );
        let seq = proto::RoomUserSeqMessage {
            total: 120,
            total_user: 4000,
            ..Default::default()
        };
        let e = only_event(n.normalize(&message("WebcastRoomUserSeqMessage", 0, seq)));
        assert_eq!(e.msg_id, "");
        assert_eq!(
            e.kind,
            EventKind::ViewerStats {
                online: 120,
                total: 4000
            }
        );
    }

    #[test]
    fn control_fansclub_and_unknown_methods_are_counted_not_fatal() {
        let mut n = Normalizer::new();
        let end = proto::ControlMessage {
            status: 3,
            ..Default::default()
        };
        assert_eq!(
            n.normalize(&message("WebcastControlMessage", 1, end)),
            Normalized::StreamEnded
        );
        let fans = proto::FansclubMessage {
            r#type: 2,
            content: "加入粉丝团".into(),
            ..Default::default()
        };
        assert_eq!(
            n.normalize(&message("WebcastFansclubMessage", 2, fans)),
            Normalized::Ignored
        );
        let rank = proto::Message {
            method: "WebcastRoomRankMessage".into(),
            payload: vec![1, 2, 3],
            msg_id: 3,
            ..Default::default()
        };
        assert_eq!(n.normalize(&rank), Normalized::Unknown);
        let stats = n.stats();
        assert_eq!(
            (stats.ignored, stats.unknown_methods, stats.messages),
            (2, 1, 3)
        );
    }

    #[test]
    fn recent_ids_are_deduplicated_with_fifo_eviction() {
        let mut n = Normalizer::with_limits(1 << 20, 3);
        assert!(matches!(n.normalize(&chat(1, "a")), Normalized::Event(_)));
        assert_eq!(n.normalize(&chat(1, "a")), Normalized::Duplicate);
        for id in 2..=4 {
            assert!(matches!(n.normalize(&chat(id, "x")), Normalized::Event(_)));
        }
        // Id 1 was evicted by 2, 3, 4: it is new again (the ledger still catches it).
        assert!(matches!(n.normalize(&chat(1, "a")), Normalized::Event(_)));
        assert_eq!(n.normalize(&chat(4, "x")), Normalized::Duplicate);
        assert_eq!(n.stats().duplicates, 2);
    }

    #[test]
    fn fallback_ids_from_common_are_deduplicated_too() {
        let mut n = Normalizer::new();
        let mut m = chat(77, "hi");
        m.msg_id = 0;
        assert_eq!(only_event(n.normalize(&m)).msg_id, "77");
        assert_eq!(n.normalize(&m), Normalized::Duplicate);
    }

    #[test]
    fn the_fan_club_level_comes_from_the_user() {
        let user = proto::User {
            id: 7,
            nick_name: "小明".into(),
            fans_club: Some(proto::FansClub {
                data: Some(proto::FansClubData {
                    club_name: "小樱团".into(),
                    level: 12,
                }),
            }),
            ..Default::default()
        };
        assert_eq!(viewer(user).fan_level, 12);
        assert_eq!(viewer(proto::User::default()).fan_level, 0);
    }
}
