//! DouyinBarrageGrab's messages and what they become.
//!
//! Every WebSocket text message is an envelope `{"Type": n, "ProcessName": "...", "Data": "..."}`
//! whose `Data` is a second JSON document serialised into a string. The tool's C# classes are
//! serialised with default settings, so keys are PascalCase and 64-bit ids are JSON numbers.
//!
//! | Type | meaning | event |
//! |---|---|---|
//! | 1 | chat | [`EventKind::Comment`] (`Content`) |
//! | 2 | like | [`EventKind::Like`] (`Count`) |
//! | 3 | enter | [`EventKind::Enter`] |
//! | 4 | follow | [`EventKind::Follow`] |
//! | 5 | gift | [`EventKind::Gift`] (see below) |
//! | 6 | room stats | [`EventKind::ViewerStats`] (`OnlineUserCount`, `TotalUserCount`) |
//! | 7 | fans club | none (counted) |
//! | 8 | share | [`EventKind::Share`] |
//! | 9 | stream ended | none (logged) |
//!
//! `msg_id` is `Data.MsgId` (Douyin's message id); the viewer is `User.Id` / `User.Nickname`,
//! level `User.PayLevel` (财富等级; the tool sends -1 when unknown), else `User.Level`.
//!
//! **Gifts.** The tool computes `GiftCount` as the increment since the previous message of the
//! same combo, from its own in-memory cache (keyed without the user, expiring after 10 s, lost
//! when the tool restarts) and does not forward the end-of-combo summaries. `RepeatCount` is
//! Douyin's cumulative count of the combo, as received. So a combo gift (`Combo` true or absent,
//! `RepeatCount > 0`, `GroupId` present) travels as a running total: [`ComboTotal`] with key
//! `{RoomId}-{User.Id}-{GiftId}-{GroupId}` and `total = RepeatCount × GroupCount` — `GroupCount`
//! (the preset-bundle multiplier) only where the tool's version sends it, otherwise 1, which is
//! the same reading the tool's own `GiftCount` makes — and `end: false` (summaries never come).
//! The ledger turns totals into increments exactly once, whatever the tool's cache did (restarts,
//! duplicates, reconnects). Other gifts count `GiftCount`. `DiamondCount` is the price of one.

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::Rejected;
use aivs_core::event::{ComboTotal, EventKind, Gift, LiveEvent, Viewer};

/// Platform name on events, rejections and raw frames of this source.
pub const PLATFORM: &str = "barrage_grab";

/// Sanity limits: beyond them a message is broken, not generous.
pub const MAX_GIFT_COUNT: i64 = 100_000;
pub const MAX_DIAMONDS: i64 = 1_000_000;
pub const MAX_LIKES: i64 = 1_000_000;
pub const MAX_VIEWERS: i64 = 1_000_000_000;

/// Gift name used when the tool sends none.
const DEFAULT_GIFT_NAME: &str = "礼物";

/// What one envelope turned into.
#[derive(Debug, Clone, PartialEq)]
// Built and matched once per message, never stored in bulk: boxing the event would cost an
// allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Event(LiveEvent),
    /// A fans-club message: understood, not used by the show.
    FansClub,
    /// The tool reports the stream ended.
    StreamEnded {
        room: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: i64,
    /// `null` for messages without content.
    data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Data {
    #[serde(deserialize_with = "opt_id")]
    msg_id: Option<String>,
    user: Option<User>,
    content: Option<String>,
    #[serde(deserialize_with = "opt_id")]
    room_id: Option<String>,
    #[serde(deserialize_with = "opt_id")]
    web_room_id: Option<String>,
    // gift
    #[serde(deserialize_with = "opt_id")]
    gift_id: Option<String>,
    gift_name: Option<String>,
    group_id: Option<i64>,
    group_count: Option<i64>,
    gift_count: Option<i64>,
    repeat_count: Option<i64>,
    diamond_count: Option<i64>,
    combo: Option<bool>,
    // like
    count: Option<i64>,
    // room stats
    online_user_count: Option<i64>,
    total_user_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct User {
    #[serde(deserialize_with = "opt_id", default)]
    id: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    level: Option<i64>,
    #[serde(default)]
    pay_level: Option<i64>,
    #[serde(default)]
    fans_club: Option<FansClub>,
}

/// The viewer's fan club with this room (`Level` 0: not a member).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FansClub {
    #[serde(default)]
    level: Option<i64>,
}

/// Parses one WebSocket text message.
pub fn parse(text: &str) -> Result<Parsed, Rejected> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| Rejected::new("bad_envelope", e.to_string()))?;
    let data_text = envelope
        .data
        .ok_or_else(|| Rejected::new("bad_data", format!("type {}: no Data", envelope.kind)))?;
    let data: Data = serde_json::from_str(&data_text)
        .map_err(|e| Rejected::new("bad_data", format!("type {}: {e}", envelope.kind)))?;
    let kind = match envelope.kind {
        1 => EventKind::Comment {
            text: data
                .content
                .clone()
                .ok_or_else(|| Rejected::new("missing_field", "chat without Content"))?,
        },
        2 => {
            let count = data
                .count
                .ok_or_else(|| Rejected::new("missing_field", "like without Count"))?;
            if !(1..=MAX_LIKES).contains(&count) {
                return Err(Rejected::new(
                    "absurd_number",
                    format!("like Count {count}"),
                ));
            }
            EventKind::Like {
                count: count as u32,
            }
        }
        3 => EventKind::Enter,
        4 => EventKind::Follow,
        5 => EventKind::Gift(gift(&data)?),
        6 => {
            let (online, total) = (
                data.online_user_count.unwrap_or(0),
                data.total_user_count.unwrap_or(0),
            );
            for n in [online, total] {
                if !(0..=MAX_VIEWERS).contains(&n) {
                    return Err(Rejected::new(
                        "absurd_number",
                        format!("room stats {online}/{total}"),
                    ));
                }
            }
            EventKind::ViewerStats {
                online: online as u64,
                total: total as u64,
            }
        }
        7 => return Ok(Parsed::FansClub),
        8 => EventKind::Share,
        9 => {
            return Ok(Parsed::StreamEnded {
                room: room_of(&data),
            })
        }
        other => return Err(Rejected::new("unknown_type", format!("Type {other}"))),
    };
    let viewer_stats = matches!(kind, EventKind::ViewerStats { .. });
    let msg_id = match data.msg_id.filter(|id| !id.is_empty() && id != "0") {
        Some(id) => id,
        // Viewer counts need no de-duplication; everything else does.
        None if viewer_stats => String::new(),
        None => {
            return Err(Rejected::new(
                "missing_field",
                format!("type {}: no MsgId", envelope.kind),
            ))
        }
    };
    let user = match data.user.map(viewer) {
        Some(user) => Some(user?),
        None if viewer_stats => None,
        None => {
            return Err(Rejected::new(
                "missing_field",
                format!("msg {msg_id}: no User"),
            ))
        }
    };
    Ok(Parsed::Event(LiveEvent {
        platform: PLATFORM.to_string(),
        msg_id,
        user,
        kind,
    }))
}

fn room_of(data: &Data) -> String {
    data.room_id
        .clone()
        .or_else(|| data.web_room_id.clone())
        .unwrap_or_default()
}

fn viewer(user: User) -> Result<Viewer, Rejected> {
    let id = user
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Rejected::new("missing_field", "User without Id"))?;
    let level = [user.pay_level, user.level]
        .into_iter()
        .flatten()
        .find(|l| *l > 0)
        .map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX));
    let fan_level = user
        .fans_club
        .and_then(|club| club.level)
        .map_or(0, |l| u32::try_from(l.max(0)).unwrap_or(u32::MAX));
    Ok(Viewer {
        name: user.nickname.unwrap_or_default(),
        id,
        level,
        fan_level,
    })
}

fn gift(data: &Data) -> Result<Gift, Rejected> {
    let gift_id = data
        .gift_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Rejected::new("missing_field", "gift without GiftId"))?;
    let diamonds = data
        .diamond_count
        .ok_or_else(|| Rejected::new("missing_field", "gift without DiamondCount"))?;
    if !(0..=MAX_DIAMONDS).contains(&diamonds) {
        return Err(Rejected::new(
            "absurd_number",
            format!("gift DiamondCount {diamonds}"),
        ));
    }
    let repeat = data.repeat_count.unwrap_or(0);
    let group_id = data.group_id.unwrap_or(0);
    let is_combo = data.combo != Some(false) && repeat > 0 && group_id > 0;
    let (count, combo) = if is_combo {
        let bundle = data.group_count.filter(|g| *g > 0).unwrap_or(1);
        let total = repeat.saturating_mul(bundle);
        if repeat > MAX_GIFT_COUNT || total > MAX_GIFT_COUNT {
            return Err(Rejected::new(
                "absurd_number",
                format!("gift RepeatCount {repeat} × {bundle}"),
            ));
        }
        let user_id = data
            .user
            .as_ref()
            .and_then(|u| u.id.clone())
            .unwrap_or_default();
        let key = format!("{}-{user_id}-{gift_id}-{group_id}", room_of(data));
        (
            0,
            Some(ComboTotal {
                key,
                total: total as u64,
                end: false,
            }),
        )
    } else {
        let count = data
            .gift_count
            .ok_or_else(|| Rejected::new("missing_field", "gift without GiftCount"))?;
        if !(1..=MAX_GIFT_COUNT).contains(&count) {
            return Err(Rejected::new(
                "absurd_number",
                format!("gift GiftCount {count}"),
            ));
        }
        (count as u32, None)
    };
    Ok(Gift {
        gift_id,
        gift_name: data
            .gift_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_GIFT_NAME.to_string()),
        diamonds: diamonds as u64,
        count,
        price: Some(aivs_core::pricing::Price::douyin(diamonds as u64)),
        message: None,
        combo,
    })
}

/// An id that may be a JSON number, a string, or null.
fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(de::Error::custom(format!("expected an id, got {other}"))),
    }
}

#[cfg(test)]
mod tests;
