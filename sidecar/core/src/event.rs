//! The normalized live-room event model.
//!
//! Every platform adapter (replay files now; Douyin, Bilibili… later) turns its own messages into
//! [`LiveEvent`]s, and nothing downstream knows which platform an event came from except through
//! [`LiveEvent::platform`]. The serde form is the one stored in replay files.

use serde::{Deserialize, Serialize};

/// 10 diamonds (抖币) are worth 1 CNY; values are kept as integer fen (1/100 CNY) to stay exact.
pub const FEN_PER_DIAMOND: u64 = 10;

/// One thing that happened in a live room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Platform name, e.g. `douyin`, `bilibili`, `replay`.
    pub platform: String,
    /// The platform's message id: the de-duplication key for paid events.
    pub msg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Viewer>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The viewer who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub id: String,
    pub name: String,
    /// Platform user level (Douyin 财富等级), 0 when unknown.
    #[serde(default)]
    pub level: u32,
    /// Fan-club level with this room (Douyin 粉丝团, Bilibili 粉丝勋章), 0 when none or unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fan_level: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Gift(Gift),
    Comment { text: String },
    Like { count: u32 },
    Follow,
    Enter,
    Share,
    ViewerStats { online: u64, total: u64 },
}

impl EventKind {
    /// The kind's name as the replay files write it (metrics labels, logs).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Gift(_) => "gift",
            EventKind::Comment { .. } => "comment",
            EventKind::Like { .. } => "like",
            EventKind::Follow => "follow",
            EventKind::Enter => "enter",
            EventKind::Share => "share",
            EventKind::ViewerStats { .. } => "viewer_stats",
        }
    }
}

/// A gift message: `count` gifts of one kind sent by one viewer.
///
/// `count` is an increment. Platforms that report combos as running totals (Douyin's
/// cumulative `repeatCount`) fill [`Gift::combo`] instead and leave `count` at 0: the ledger
/// turns the running total into the increment inside the same transaction that records the
/// message, so a combo is counted exactly once across duplicates, reordering, reconnects and
/// restarts (see [`crate::ledger::Ledger::admit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    pub gift_id: String,
    pub gift_name: String,
    /// Price of one gift in diamonds.
    pub diamonds: u64,
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combo: Option<ComboTotal>,
    /// What the platform charged for one, in its own currency, when the adapter knows it
    /// (`[gifts.rates]` re-converts it before the ledger: the `pricing` module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// A message paid for with the gift (a Bilibili Super Chat): read out in full in its
    /// thank-you, never dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a gift message stands in its combo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComboTotal {
    /// Identifies one combo of one viewer (Douyin: `roomId-userId-giftId-groupId`).
    pub key: String,
    /// Gifts sent in this combo so far, bundles already multiplied out
    /// (`repeatCount × groupCount`).
    pub total: u64,
    /// The platform's end-of-combo summary (`repeatEnd`): it counts only what is still missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// A platform's own currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Currency {
    /// 抖币: 10 = 1 CNY.
    DouyinDiamond,
    /// Bilibili 金电池 (gold): 1000 = 1 CNY.
    BilibiliGold,
    /// Bilibili 银瓜子/银电池 (silver): free, worth nothing by default.
    BilibiliSilver,
    /// Yuan, as a Super Chat is priced.
    Cny,
}

/// What the platform charged for one gift, before conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub currency: Currency,
    pub amount: u64,
}

impl Price {
    /// Douyin prices gifts in diamonds (the show's own unit).
    pub fn douyin(diamonds: u64) -> Self {
        Self {
            currency: Currency::DouyinDiamond,
            amount: diamonds,
        }
    }
}

impl Gift {
    /// Total value of this message in fen.
    pub fn value_fen(&self) -> u64 {
        self.diamonds
            .saturating_mul(self.count as u64)
            .saturating_mul(FEN_PER_DIAMOND)
    }
}

impl LiveEvent {
    pub fn viewer_name(&self) -> &str {
        self.user.as_ref().map_or("朋友", |u| u.name.as_str())
    }

    pub fn user_level(&self) -> u32 {
        self.user.as_ref().map_or(0, |u| u.level)
    }

    /// Paid events carry money and are never dropped, whatever the load.
    pub fn is_paid(&self) -> bool {
        matches!(self.kind, EventKind::Gift(_))
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            EventKind::Gift(_) => "gift",
            EventKind::Comment { .. } => "comment",
            EventKind::Like { .. } => "like",
            EventKind::Follow => "follow",
            EventKind::Enter => "enter",
            EventKind::Share => "share",
            EventKind::ViewerStats { .. } => "viewer_stats",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_name_is_its_tag_in_the_replay_files() {
        for kind in [
            EventKind::Comment { text: "hi".into() },
            EventKind::Like { count: 1 },
            EventKind::Follow,
            EventKind::Enter,
            EventKind::Share,
            EventKind::ViewerStats {
                online: 1,
                total: 2,
            },
        ] {
            let json = serde_json::to_value(&kind).unwrap();
            assert_eq!(json["type"], kind.name());
        }
    }

    #[test]
    fn gift_events_use_a_flat_tagged_json_form() {
        let line = r#"{"platform":"douyin","msg_id":"m1","user":{"id":"u1","name":"小明","level":12},"type":"gift","gift_id":"463","gift_name":"小心心","diamonds":1,"count":3}"#;
        let ev: LiveEvent = serde_json::from_str(line).unwrap();
        assert!(ev.is_paid());
        let EventKind::Gift(g) = &ev.kind else {
            panic!()
        };
        assert_eq!(g.value_fen(), 30);
        assert_eq!(serde_json::to_string(&ev).unwrap(), line);
    }

    #[test]
    fn absurd_gift_numbers_saturate_instead_of_overflowing() {
        let g = Gift {
            gift_id: "x".into(),
            gift_name: "x".into(),
            diamonds: u64::MAX,
            count: 9,
            price: None,
            message: None,
            combo: None,
        };
        assert_eq!(g.value_fen(), u64::MAX);
    }
}
