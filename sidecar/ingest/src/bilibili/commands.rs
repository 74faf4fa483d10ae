//! Bilibili JSON commands (operation 5) and heartbeat replies (operation 3) → [`LiveEvent`]s.
//!
//! Money: Bilibili prices paid gifts in gold (金瓜子, 1/1000 CNY) per gift and Super Chats in
//! whole CNY; the show counts diamonds (10 = 1 CNY, so 1 diamond = 100 gold). Silver gifts
//! (`coin_type: "silver"`) cost nothing and are worth 0.
//!
//! Counting: every `SEND_GIFT` is already an increment (`num` gifts, one message id `tid`), so
//! gifts travel with `count = num` and no combo total. `COMBO_SEND` only summarises gifts that
//! were each sent as `SEND_GIFT` before; counting it would count them twice, so it is ignored
//! (and counted as such).
//!
//! Message ids: `SEND_GIFT` has `tid`, Super Chats `id`, guards `payflow_id` when present.
//! Danmaku have no stable id in older formats: newer ones carry `id_str` inside
//! `info[0][15].extra` (a JSON document in a string); otherwise the id is a digest of
//! (uid, text, send time in ms), stable across reconnects and restarts.

use md5::{Digest, Md5};
use serde_json::Value;

use super::PLATFORM;
use aivs_core::event::{EventKind, Gift, LiveEvent, Viewer};
use aivs_core::pricing::{Currency, Price};

/// Gold (金瓜子) per diamond: 1 diamond = 0.1 CNY = 100 gold.
pub const GOLD_PER_DIAMOND: u64 = 100;
/// Super Chat prices are whole CNY; 10 diamonds = 1 CNY.
pub const DIAMONDS_PER_CNY: u64 = 10;
/// What Bilibili calls a Super Chat in the room.
pub const SUPER_CHAT_NAME: &str = "醒目留言";

/// What a command turned into.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Events(Vec<LiveEvent>),
    /// A known command deliberately not turned into events; the reason is counted.
    Ignored(&'static str),
    /// A command this adapter does not handle (Bilibili has hundreds); counted, not an error.
    Unknown(String),
}

/// A command that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("command body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("command has no \"cmd\" string")]
    NoCmd,
    #[error("{cmd}: {field} is missing or has the wrong type")]
    Field {
        cmd: &'static str,
        field: &'static str,
    },
    #[error("heartbeat reply body has {0} bytes, expected a 4-byte popularity")]
    HeartbeatReply(usize),
}

impl CommandError {
    /// Short reason for [`crate::EventSink::reject`].
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Json(_) => "malformed_json",
            Self::NoCmd => "missing_cmd",
            Self::Field { .. } => "bad_command_field",
            Self::HeartbeatReply(_) => "bad_heartbeat_reply",
        }
    }
}

/// Turns command bodies into events. Keeps the room's latest viewer figures, because Bilibili
/// reports online and total viewers in different commands and a [`EventKind::ViewerStats`]
/// carries both.
#[derive(Debug, Default)]
pub struct CommandDecoder {
    online: u64,
    total: u64,
}

impl CommandDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one operation-5 body.
    pub fn command(&mut self, body: &[u8]) -> Result<Outcome, CommandError> {
        let doc: Value = serde_json::from_slice(body)?;
        let cmd = doc
            .get("cmd")
            .and_then(Value::as_str)
            .ok_or(CommandError::NoCmd)?;
        // Some commands carry protocol options after a colon, e.g. "DANMU_MSG:4:0:2:2:2:0".
        let name = cmd.split(':').next().unwrap_or(cmd);
        let events = match name {
            "DANMU_MSG" => vec![danmaku(&doc)?],
            "SEND_GIFT" => vec![send_gift(data(&doc, "SEND_GIFT")?)?],
            "COMBO_SEND" => return Ok(Outcome::Ignored("combo_summary_ignored")),
            "GUARD_BUY" => vec![guard_buy(data(&doc, "GUARD_BUY")?)?],
            "SUPER_CHAT_MESSAGE" => super_chat(data(&doc, "SUPER_CHAT_MESSAGE")?)?,
            // The same Super Chat again, machine-translated: counting it would pay twice.
            "SUPER_CHAT_MESSAGE_JPN" => {
                return Ok(Outcome::Ignored("super_chat_translation_ignored"))
            }
            "INTERACT_WORD" => match interaction(data(&doc, "INTERACT_WORD")?)? {
                Some(event) => vec![event],
                None => return Ok(Outcome::Ignored("interaction_other")),
            },
            "LIKE_INFO_V3_CLICK" => vec![like(data(&doc, "LIKE_INFO_V3_CLICK")?)],
            "WATCHED_CHANGE" => {
                let data = data(&doc, "WATCHED_CHANGE")?;
                self.total = need(number(&data["num"]), "WATCHED_CHANGE", "data.num")?;
                vec![self.stats()]
            }
            "ONLINE_RANK_COUNT" => {
                let data = data(&doc, "ONLINE_RANK_COUNT")?;
                // `online_count` is the room's online figure; older servers only send `count`.
                self.online = need(
                    number(&data["online_count"]).or_else(|| number(&data["count"])),
                    "ONLINE_RANK_COUNT",
                    "data.online_count",
                )?;
                vec![self.stats()]
            }
            other => return Ok(Outcome::Unknown(other.to_string())),
        };
        Ok(Outcome::Events(events))
    }

    /// Decodes an operation-3 body (a big-endian u32 "popularity"). Bilibili has sent a
    /// constant 1 since it retired the popularity figure, so 0 and 1 carry no information and
    /// produce no event (they would wipe the online count from `ONLINE_RANK_COUNT`).
    pub fn heartbeat_reply(&mut self, body: &[u8]) -> Result<Option<LiveEvent>, CommandError> {
        let bytes: [u8; 4] = body
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(CommandError::HeartbeatReply(body.len()))?;
        let popularity = u32::from_be_bytes(bytes) as u64;
        if popularity <= 1 {
            return Ok(None);
        }
        self.online = popularity;
        Ok(Some(self.stats()))
    }

    fn stats(&self) -> LiveEvent {
        LiveEvent {
            platform: PLATFORM.to_string(),
            // Viewer figures are state, not messages: no id, never de-duplicated.
            msg_id: String::new(),
            user: None,
            kind: EventKind::ViewerStats {
                online: self.online,
                total: self.total,
            },
        }
    }
}

/// `DANMU_MSG`: `info[0]` metadata (`[4]` send time ms, `[15].extra` JSON string with
/// `id_str`), `info[1]` text, `info[2]` `[uid, name, …]`, `info[3]` the fan medal
/// `[level, name, …]` (empty without one), `info[4]` `[user level, …]`.
fn danmaku(doc: &Value) -> Result<LiveEvent, CommandError> {
    const CMD: &str = "DANMU_MSG";
    let info = need(doc["info"].as_array(), CMD, "info")?;
    let meta = info.first().unwrap_or(&Value::Null);
    let text = need(info.get(1).and_then(Value::as_str), CMD, "info[1] (text)")?;
    let sender = info.get(2).unwrap_or(&Value::Null);
    let uid = number(&sender[0]);
    let name = sender[1].as_str();
    let level = info
        .get(4)
        .and_then(|rank| number(&rank[0]))
        .map_or(0, clamp_u32);
    let fan_level = info
        .get(3)
        .and_then(|medal| number(&medal[0]))
        .map_or(0, clamp_u32);
    let msg_id = match danmaku_id(&meta[15]["extra"]) {
        Some(id) => id,
        None => {
            let sent_ms = number(&meta[4]).unwrap_or(0);
            format!(
                "dm-{}",
                digest(&[&uid.unwrap_or(0).to_string(), text, &sent_ms.to_string()])
            )
        }
    };
    Ok(LiveEvent {
        platform: PLATFORM.to_string(),
        msg_id,
        user: viewer(uid, name, level).map(|v| Viewer { fan_level, ..v }),
        kind: EventKind::Comment {
            text: text.to_string(),
        },
    })
}

/// `id_str` from a danmaku's `extra`, which is a JSON document in a string (or, defensively,
/// already an object).
fn danmaku_id(extra: &Value) -> Option<String> {
    let parsed;
    let extra = match extra {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            &parsed
        }
        other => other,
    };
    id(&extra["id_str"])
}

/// `SEND_GIFT`: `data.{tid, num, giftId, giftName, price, coin_type, uid, uname, wealth_level}`.
fn send_gift(data: &Value) -> Result<LiveEvent, CommandError> {
    const CMD: &str = "SEND_GIFT";
    let tid = need(id(&data["tid"]), CMD, "data.tid")?;
    let num = need(number(&data["num"]).and_then(to_u32), CMD, "data.num")?;
    let gift_id = need(id(&data["giftId"]), CMD, "data.giftId")?;
    let gift_name = need(data["giftName"].as_str(), CMD, "data.giftName")?;
    let price = need(number(&data["price"]), CMD, "data.price")?;
    let (diamonds, currency) = match data["coin_type"].as_str() {
        Some("silver") => (0, Currency::BilibiliSilver),
        _ => (gold_to_diamonds(price), Currency::BilibiliGold),
    };
    Ok(gift_event(
        tid,
        viewer(
            number(&data["uid"]),
            data["uname"].as_str(),
            number(&data["wealth_level"]).map_or(0, clamp_u32),
        ),
        Gift {
            gift_id,
            gift_name: gift_name.to_string(),
            diamonds,
            count: num,
            price: Some(Price {
                currency,
                amount: price,
            }),
            message: None,
            combo: None,
        },
    ))
}

/// `GUARD_BUY` (舰长/提督/总督): `data.{uid, username, num, price (gold per unit), gift_id,
/// gift_name, payflow_id?, start_time}`.
fn guard_buy(data: &Value) -> Result<LiveEvent, CommandError> {
    const CMD: &str = "GUARD_BUY";
    let num = need(number(&data["num"]).and_then(to_u32), CMD, "data.num")?;
    let price = need(number(&data["price"]), CMD, "data.price")?;
    let gift_id = need(id(&data["gift_id"]), CMD, "data.gift_id")?;
    let gift_name = need(data["gift_name"].as_str(), CMD, "data.gift_name")?;
    let uid = number(&data["uid"]);
    let msg_id = match id(&data["payflow_id"]) {
        Some(flow) => format!("guard-{flow}"),
        None => format!(
            "guard-{}",
            digest(&[
                &uid.unwrap_or(0).to_string(),
                &gift_id,
                &num.to_string(),
                &price.to_string(),
                &number(&data["start_time"]).unwrap_or(0).to_string(),
            ])
        ),
    };
    Ok(gift_event(
        msg_id,
        viewer(uid, data["username"].as_str(), 0),
        Gift {
            gift_id,
            gift_name: gift_name.to_string(),
            diamonds: gold_to_diamonds(price),
            count: num,
            price: Some(Price {
                currency: Currency::BilibiliGold,
                amount: price,
            }),
            message: None,
            combo: None,
        },
    ))
}

/// `SUPER_CHAT_MESSAGE`: `data.{id, price (CNY), message, uid, user_info.uname, gift.gift_id}`.
/// One paid gift carrying its message: the thank-you reads it out in full (a paid message is
/// not a comment that may be skipped under load).
fn super_chat(data: &Value) -> Result<Vec<LiveEvent>, CommandError> {
    const CMD: &str = "SUPER_CHAT_MESSAGE";
    let sc_id = need(id(&data["id"]), CMD, "data.id")?;
    let price = need(number(&data["price"]), CMD, "data.price")?;
    let message = need(data["message"].as_str(), CMD, "data.message")?;
    let user = viewer(number(&data["uid"]), data["user_info"]["uname"].as_str(), 0);
    let gift = gift_event(
        format!("sc-{sc_id}"),
        user.clone(),
        Gift {
            gift_id: id(&data["gift"]["gift_id"]).unwrap_or_else(|| "super_chat".to_string()),
            gift_name: SUPER_CHAT_NAME.to_string(),
            diamonds: price.saturating_mul(DIAMONDS_PER_CNY),
            count: 1,
            price: Some(Price {
                currency: Currency::Cny,
                amount: price,
            }),
            message: Some(message.to_string()).filter(|m| !m.trim().is_empty()),
            combo: None,
        },
    );
    Ok(vec![gift])
}

/// `INTERACT_WORD`: `data.msg_type` 1 enter, 2 follow, 3 share, 4 special follow, 5 mutual
/// follow; `data.{uid, uname, trigger_time (ns) | timestamp (s)}`. Other types → `None`.
fn interaction(data: &Value) -> Result<Option<LiveEvent>, CommandError> {
    const CMD: &str = "INTERACT_WORD";
    let kind = match need(number(&data["msg_type"]), CMD, "data.msg_type")? {
        1 => EventKind::Enter,
        2 | 4 | 5 => EventKind::Follow,
        3 => EventKind::Share,
        _ => return Ok(None),
    };
    let uid = number(&data["uid"]);
    let when = number(&data["trigger_time"]).or_else(|| number(&data["timestamp"]));
    // Without a time there is nothing to tell a repeat from a resend: leave the id empty
    // (never de-duplicated) rather than swallow later visits of the same viewer.
    let msg_id = match when {
        Some(t) => format!(
            "iw-{}-{}-{t}",
            uid.unwrap_or(0),
            number(&data["msg_type"]).unwrap_or(0)
        ),
        None => String::new(),
    };
    Ok(Some(LiveEvent {
        platform: PLATFORM.to_string(),
        msg_id,
        user: viewer(uid, data["uname"].as_str(), 0),
        kind,
    }))
}

/// `LIKE_INFO_V3_CLICK`: one viewer tapped like once; `data.{uid, uname}`. There is no id.
fn like(data: &Value) -> LiveEvent {
    LiveEvent {
        platform: PLATFORM.to_string(),
        msg_id: String::new(),
        user: viewer(number(&data["uid"]), data["uname"].as_str(), 0),
        kind: EventKind::Like { count: 1 },
    }
}

fn gift_event(msg_id: String, user: Option<Viewer>, gift: Gift) -> LiveEvent {
    LiveEvent {
        platform: PLATFORM.to_string(),
        msg_id,
        user,
        kind: EventKind::Gift(gift),
    }
}

/// Gold to diamonds, to the nearest diamond (real prices are whole multiples of 100 gold).
pub fn gold_to_diamonds(gold: u64) -> u64 {
    gold.saturating_add(GOLD_PER_DIAMOND / 2) / GOLD_PER_DIAMOND
}

fn data<'a>(doc: &'a Value, cmd: &'static str) -> Result<&'a Value, CommandError> {
    let data = &doc["data"];
    if data.is_object() {
        Ok(data)
    } else {
        Err(CommandError::Field { cmd, field: "data" })
    }
}

fn need<T>(value: Option<T>, cmd: &'static str, field: &'static str) -> Result<T, CommandError> {
    value.ok_or(CommandError::Field { cmd, field })
}

/// A non-negative integer, given as a JSON number or a decimal string (Bilibili uses both).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An identifier, given as a non-empty string or a number.
fn id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn to_u32(n: u64) -> Option<u32> {
    u32::try_from(n).ok()
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn viewer(uid: Option<u64>, name: Option<&str>, level: u32) -> Option<Viewer> {
    if uid.is_none() && name.is_none() {
        return None;
    }
    Some(Viewer {
        id: uid.unwrap_or(0).to_string(),
        name: name.unwrap_or_default().to_string(),
        level,
        fan_level: 0,
    })
}

/// Hex MD5 of the parts, separated so that ("ab", "c") and ("a", "bc") differ.
fn digest(parts: &[&str]) -> String {
    let mut hash = Md5::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0x1f]);
    }
    format!("{:x}", hash.finalize())
}

#[cfg(test)]
mod tests;
