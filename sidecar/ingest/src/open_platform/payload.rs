//! The JSON items of a push and what they become.
//!
//! A push body is a JSON array; the item shape depends on the `x-msg-type` header:
//!
//! | `x-msg-type` | item fields used | event |
//! |---|---|---|
//! | `live_comment` | `msg_id, sec_openid, nickname, content` | [`EventKind::Comment`] |
//! | `live_gift` | `msg_id, sec_openid, nickname, sec_gift_id, gift_num, gift_value` | [`EventKind::Gift`] |
//! | `live_like` | `msg_id, sec_openid, nickname, like_num` | [`EventKind::Like`] |
//! | `live_fansclub` | — | none (counted, not used by the show) |
//!
//! `sec_openid` is the viewer's id for this app (the platform does not give the Douyin user id or
//! level). Numbers are accepted as JSON numbers or numeric strings; ids as strings or numbers.
//!
//! **Gift value.** `gift_value` is the total value of the item in fen (1/100 CNY) and
//! `gift_num` the number of gifts; a gift's price in diamonds (10 fen each) is
//! `gift_value / gift_num / 10`. When that does not divide evenly (never for real Douyin gifts,
//! whose prices are whole diamonds), the item is recorded as one gift worth the whole value so
//! that the ledger's value stays exact (`count = 1`, `diamonds = gift_value / 10`); a value that
//! is not even whole diamonds is rounded to the nearest diamond and logged.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::Rejected;
use aivs_core::event::{EventKind, Gift, LiveEvent, Viewer, FEN_PER_DIAMOND};

/// Platform name on events, rejections and raw frames of this source.
pub const PLATFORM: &str = "douyin_open_platform";

/// More gifts than this in one item is not something a viewer can send: a broken push.
pub const MAX_GIFT_NUM: u64 = 100_000;
/// One item worth more than 10 million CNY is a broken push, not a gift.
pub const MAX_GIFT_VALUE_FEN: u64 = 1_000_000_000;
/// More likes than this in one item is a broken push.
pub const MAX_LIKE_NUM: u64 = 1_000_000;

/// The `x-msg-type` values this source understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Comment,
    Gift,
    Like,
    Fansclub,
}

impl MsgType {
    pub fn parse(header: &str) -> Option<Self> {
        match header {
            "live_comment" => Some(Self::Comment),
            "live_gift" => Some(Self::Gift),
            "live_like" => Some(Self::Like),
            "live_fansclub" => Some(Self::Fansclub),
            _ => None,
        }
    }
}

/// Gift names by `sec_gift_id` (the push carries only the id).
pub type GiftNames = BTreeMap<String, String>;

/// Name used for a gift whose `sec_gift_id` is not in [`GiftNames`].
pub const DEFAULT_GIFT_NAME: &str = "礼物";

/// What one item turned into.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// `None` for item types the show does not use (fans club).
    pub event: Option<LiveEvent>,
    /// The platform's test pushes (`"test": true`), sent from the developer console.
    pub test: bool,
    /// The gift value was not whole diamonds and was rounded (see the module docs).
    pub rounded: bool,
}

#[derive(Debug, Deserialize)]
struct Common {
    #[serde(deserialize_with = "id_string")]
    msg_id: String,
    #[serde(deserialize_with = "id_string")]
    sec_openid: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    test: bool,
}

#[derive(Debug, Deserialize)]
struct CommentItem {
    #[serde(default)]
    content: String,
}

#[derive(Debug, Deserialize)]
struct GiftItem {
    #[serde(deserialize_with = "id_string")]
    sec_gift_id: String,
    #[serde(deserialize_with = "number")]
    gift_num: u64,
    #[serde(deserialize_with = "number")]
    gift_value: u64,
}

#[derive(Debug, Deserialize)]
struct LikeItem {
    #[serde(deserialize_with = "number")]
    like_num: u64,
}

/// Maps one item of a push of type `kind`.
pub fn map_item(
    kind: MsgType,
    item: &serde_json::Value,
    gift_names: &GiftNames,
) -> Result<Mapped, Rejected> {
    let common = Common::deserialize(item).map_err(|e| Rejected::new("bad_item", e.to_string()))?;
    if common.msg_id.is_empty() {
        return Err(Rejected::new("bad_item", "empty msg_id"));
    }
    let mut rounded = false;
    let kind = match kind {
        MsgType::Fansclub => {
            return Ok(Mapped {
                event: None,
                test: common.test,
                rounded,
            })
        }
        MsgType::Comment => {
            let c = CommentItem::deserialize(item)
                .map_err(|e| Rejected::new("bad_item", e.to_string()))?;
            EventKind::Comment { text: c.content }
        }
        MsgType::Like => {
            let l = LikeItem::deserialize(item)
                .map_err(|e| Rejected::new("bad_item", e.to_string()))?;
            if l.like_num == 0 || l.like_num > MAX_LIKE_NUM {
                return Err(Rejected::new(
                    "absurd_like",
                    format!("msg {}: like_num {}", common.msg_id, l.like_num),
                ));
            }
            EventKind::Like {
                count: l.like_num as u32,
            }
        }
        MsgType::Gift => {
            let g = GiftItem::deserialize(item)
                .map_err(|e| Rejected::new("bad_item", e.to_string()))?;
            let (count, diamonds, was_rounded) =
                gift_amounts(g.gift_num, g.gift_value).map_err(|why| {
                    Rejected::new("absurd_gift", format!("msg {}: {why}", common.msg_id))
                })?;
            rounded = was_rounded;
            let gift_name = gift_names
                .get(&g.sec_gift_id)
                .cloned()
                .unwrap_or_else(|| DEFAULT_GIFT_NAME.to_string());
            EventKind::Gift(Gift {
                gift_id: g.sec_gift_id,
                gift_name,
                diamonds,
                count,
                price: Some(aivs_core::pricing::Price::douyin(diamonds)),
                message: None,
                combo: None,
            })
        }
    };
    let user = (!common.sec_openid.is_empty()).then(|| Viewer {
        id: common.sec_openid.clone(),
        name: common.nickname.clone(),
        level: 0,
        fan_level: 0,
    });
    Ok(Mapped {
        event: Some(LiveEvent {
            platform: PLATFORM.to_string(),
            msg_id: common.msg_id,
            user,
            kind,
        }),
        test: common.test,
        rounded,
    })
}

/// `(count, diamonds per gift, rounded)` for `num` gifts worth `value_fen` in total, keeping
/// `count × diamonds × 10 = value_fen` whenever the value is whole diamonds.
pub fn gift_amounts(num: u64, value_fen: u64) -> Result<(u32, u64, bool), String> {
    if num == 0 || num > MAX_GIFT_NUM {
        return Err(format!("gift_num {num}"));
    }
    if value_fen > MAX_GIFT_VALUE_FEN {
        return Err(format!("gift_value {value_fen} fen"));
    }
    let per_gift_fen = num * FEN_PER_DIAMOND;
    if value_fen.is_multiple_of(per_gift_fen) {
        return Ok((num as u32, value_fen / per_gift_fen, false));
    }
    let diamonds = (value_fen + FEN_PER_DIAMOND / 2) / FEN_PER_DIAMOND;
    Ok((1, diamonds, !value_fen.is_multiple_of(FEN_PER_DIAMOND)))
}

/// A string, or a number written as its decimal string.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

/// A non-negative integer, as a JSON number or a numeric string.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| de::Error::custom(format!("expected a non-negative integer, got {n}"))),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("expected a non-negative integer, got {s:?}"))),
        other => Err(de::Error::custom(format!(
            "expected a non-negative integer, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> GiftNames {
        [("n1Gq3Zf9".to_string(), "小心心".to_string())].into()
    }

    fn gift_of(mapped: &Mapped) -> &Gift {
        match &mapped.event.as_ref().unwrap().kind {
            EventKind::Gift(g) => g,
            other => panic!("not a gift: {other:?}"),
        }
    }

    #[test]
    fn a_gift_item_becomes_a_gift_with_its_per_gift_price() {
        let item = json!({
            "msg_id": "7312345678901234001", "sec_openid": "oid_1", "sec_gift_id": "n1Gq3Zf9",
            "gift_num": 3, "gift_value": 30, "avatar_url": "https://x/a.png", "nickname": "小明",
            "timestamp": 1700000000123u64, "test": false
        });
        let mapped = map_item(MsgType::Gift, &item, &names()).unwrap();
        let ev = mapped.event.as_ref().unwrap();
        assert_eq!(ev.platform, "douyin_open_platform");
        assert_eq!(ev.msg_id, "7312345678901234001");
        assert_eq!(
            ev.user,
            Some(Viewer {
                id: "oid_1".into(),
                name: "小明".into(),
                level: 0,
                fan_level: 0,
            })
        );
        let g = gift_of(&mapped);
        assert_eq!(
            (g.count, g.diamonds, g.gift_name.as_str()),
            (3, 1, "小心心")
        );
        assert_eq!(g.value_fen(), 30);
        assert!(g.combo.is_none());
        assert!(!mapped.test && !mapped.rounded);
    }

    #[test]
    fn gift_values_stay_exact_when_they_do_not_divide() {
        // 3 gifts worth 100 fen in total: not a whole number of diamonds each.
        assert_eq!(gift_amounts(3, 100), Ok((1, 10, false)));
        // 52 fen is not whole diamonds: rounded to 5 diamonds and flagged.
        assert_eq!(gift_amounts(2, 52), Ok((1, 5, true)));
        assert_eq!(gift_amounts(2, 55), Ok((1, 6, true)));
        assert_eq!(gift_amounts(10, 0), Ok((10, 0, false)));
        assert_eq!(gift_amounts(1, 30_000), Ok((1, 3_000, false)));
        assert!(gift_amounts(0, 10).is_err());
        assert!(gift_amounts(MAX_GIFT_NUM + 1, 10).is_err());
        assert!(gift_amounts(1, MAX_GIFT_VALUE_FEN + 1).is_err());
    }

    #[test]
    fn unknown_gift_ids_get_a_generic_name_and_numbers_may_be_strings() {
        let item = json!({"msg_id": 42, "sec_openid": "o", "sec_gift_id": "zzz",
                          "gift_num": "2", "gift_value": "200", "test": true});
        let mapped = map_item(MsgType::Gift, &item, &names()).unwrap();
        let g = gift_of(&mapped);
        assert_eq!((g.gift_name.as_str(), g.count, g.diamonds), ("礼物", 2, 10));
        assert_eq!(mapped.event.unwrap().msg_id, "42");
        assert!(mapped.test);
    }

    #[test]
    fn comments_and_likes_map_and_fansclub_items_are_not_events() {
        let c = json!({"msg_id": "c1", "sec_openid": "o2", "content": "主播好", "nickname": "阿花",
                       "avatar_url": "", "timestamp": 1});
        let ev = map_item(MsgType::Comment, &c, &names())
            .unwrap()
            .event
            .unwrap();
        assert_eq!(
            ev.kind,
            EventKind::Comment {
                text: "主播好".into()
            }
        );
        assert_eq!(ev.viewer_name(), "阿花");
        let l = json!({"msg_id": "l1", "sec_openid": "o3", "like_num": 15});
        let ev = map_item(MsgType::Like, &l, &names())
            .unwrap()
            .event
            .unwrap();
        assert_eq!(ev.kind, EventKind::Like { count: 15 });
        let f = json!({"msg_id": "f1", "sec_openid": "o4", "fansclub_reason_type": 1, "fansclub_level": 3});
        assert_eq!(
            map_item(MsgType::Fansclub, &f, &names()).unwrap().event,
            None
        );
    }

    #[test]
    fn broken_items_are_rejected_with_a_reason() {
        let cases = [
            (
                MsgType::Gift,
                json!({"sec_openid": "o", "sec_gift_id": "g", "gift_num": 1, "gift_value": 10}),
                "bad_item",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "", "sec_openid": "o", "sec_gift_id": "g", "gift_num": 1, "gift_value": 10}),
                "bad_item",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "m", "sec_openid": "o", "sec_gift_id": "g", "gift_num": -1, "gift_value": 10}),
                "bad_item",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "m", "sec_openid": "o", "sec_gift_id": "g", "gift_num": 1}),
                "bad_item",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "m", "sec_openid": "o", "sec_gift_id": "g", "gift_num": 1, "gift_value": 1e15}),
                "bad_item",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "m", "sec_openid": "o", "sec_gift_id": "g", "gift_num": 1, "gift_value": 100_000_000_000u64}),
                "absurd_gift",
            ),
            (
                MsgType::Gift,
                json!({"msg_id": "m", "sec_openid": "o", "sec_gift_id": "g", "gift_num": 0, "gift_value": 0}),
                "absurd_gift",
            ),
            (
                MsgType::Like,
                json!({"msg_id": "m", "sec_openid": "o", "like_num": 0}),
                "absurd_like",
            ),
            (
                MsgType::Like,
                json!({"msg_id": "m", "sec_openid": "o"}),
                "bad_item",
            ),
            (MsgType::Comment, json!("just a string"), "bad_item"),
            (
                MsgType::Comment,
                json!({"msg_id": "m", "sec_openid": ["o"]}),
                "bad_item",
            ),
        ];
        for (kind, item, reason) in cases {
            let got = map_item(kind, &item, &names());
            assert_eq!(
                got.as_ref().map_err(|r| r.reason),
                Err(reason),
                "{item}: {got:?}"
            );
        }
    }
}
