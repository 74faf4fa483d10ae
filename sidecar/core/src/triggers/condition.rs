//! Compiled `when` conditions and how they match a [`Happening`].
//!
//! A condition is a tree: leaves name what happened (a gift, a comment, a like milestone…) or
//! filter it (the viewer's memory, the hours of the day); `all`, `any` and `not` combine them.
//! Each tree knows which kinds of happening can satisfy it ([`Kinds`]), so a gift is only
//! matched against the rules that can fire on gifts: with 500 rules an event costs the rules
//! that care about it, not all of them.

use regex::Regex;

use crate::rewards::combo::GiftBatch;
use crate::tiers::Tier;

/// Something that happened, as the triggers see it.
#[derive(Debug, Clone, Copy)]
pub enum Happening<'a> {
    /// A gift batch (a combo, folded) is ready to be thanked.
    Gift {
        batch: &'a GiftBatch,
        tier: Tier,
    },
    Comment {
        text: &'a str,
    },
    Follow,
    Share,
    Join,
    /// The room's like total went from `before` to `after`.
    Likes {
        before: u64,
        after: u64,
    },
    /// The online count; `peak_before` is the highest seen before it.
    Viewers {
        online: u64,
        peak_before: u64,
    },
    /// No viewer has done anything for `for_ms` (checked on every tick).
    Quiet {
        for_ms: u64,
    },
    /// The clock ticked (schedules are checked).
    Clock,
    /// OBS's stream output started or stopped.
    Stream {
        live: bool,
    },
}

/// A set of happening kinds, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(pub u16);

impl Kinds {
    pub const GIFT: Kinds = Kinds(1);
    pub const COMMENT: Kinds = Kinds(1 << 1);
    pub const FOLLOW: Kinds = Kinds(1 << 2);
    pub const SHARE: Kinds = Kinds(1 << 3);
    pub const JOIN: Kinds = Kinds(1 << 4);
    pub const LIKES: Kinds = Kinds(1 << 5);
    pub const VIEWERS: Kinds = Kinds(1 << 6);
    pub const QUIET: Kinds = Kinds(1 << 7);
    pub const CLOCK: Kinds = Kinds(1 << 8);
    pub const STREAM: Kinds = Kinds(1 << 9);
    /// Filters (viewer memory, hours) constrain nothing by themselves.
    pub const ALL: Kinds = Kinds((1 << 10) - 1);
    pub const COUNT: usize = 10;

    pub fn of(happening: &Happening<'_>) -> Kinds {
        match happening {
            Happening::Gift { .. } => Self::GIFT,
            Happening::Comment { .. } => Self::COMMENT,
            Happening::Follow => Self::FOLLOW,
            Happening::Share => Self::SHARE,
            Happening::Join => Self::JOIN,
            Happening::Likes { .. } => Self::LIKES,
            Happening::Viewers { .. } => Self::VIEWERS,
            Happening::Quiet { .. } => Self::QUIET,
            Happening::Clock => Self::CLOCK,
            Happening::Stream { .. } => Self::STREAM,
        }
    }

    pub fn index(self) -> usize {
        self.0.trailing_zeros() as usize
    }

    pub fn contains(self, other: Kinds) -> bool {
        self.0 & other.0 == other.0
    }

    fn and(self, other: Kinds) -> Kinds {
        Kinds(self.0 & other.0)
    }

    fn or(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }
}

/// What the show knows of the viewer behind a happening (none for room-wide ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// Entries into the room, this show and (once the ledger answered) earlier ones.
    pub visits: u64,
    /// Everything given before this happening, in fen.
    pub gift_fen_before: u64,
    pub level: u32,
    pub fan_level: u32,
}

/// Everything a condition may look at.
pub struct Context<'a> {
    pub happening: Happening<'a>,
    pub facts: Facts,
    pub vip_level: u32,
    pub now_ms: u64,
    /// Local time of day in minutes (0–1439), for schedules and hours.
    pub minute_of_day: u32,
    /// When the show started (schedules count from it).
    pub show_started_ms: u64,
    /// When this rule last fired, if it has.
    pub last_fired_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Gift(GiftCond),
    Comment(CommentCond),
    Follow,
    Share,
    Join,
    LikesEvery(u64),
    ViewersEvery(u64),
    ViewersReach(Vec<u64>),
    Idle {
        ms: u64,
    },
    Every {
        ms: u64,
    },
    At(Vec<u32>),
    /// Within local hours `[from, to)` in minutes of the day (crossing midnight when from > to).
    Hours {
        from: u32,
        to: u32,
    },
    Stream {
        live: bool,
    },
    Viewer(ViewerCond),
}

#[derive(Debug, Clone, Default)]
pub struct GiftCond {
    pub tier: Option<u8>,
    pub min_tier: Option<u8>,
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub min_fen: Option<u64>,
    pub combo_at_least: Option<u64>,
    pub first_of_viewer: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CommentCond {
    pub keywords: Vec<String>,
    pub regex: Option<Regex>,
    pub min_fan_level: Option<u32>,
    pub min_level: Option<u32>,
    pub vip: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ViewerCond {
    pub min_visits: Option<u64>,
    pub max_visits: Option<u64>,
    pub min_gift_fen: Option<u64>,
}

/// Past this, "at 20:30" is not fired again the same minute.
const AT_REFIRE_MS: u64 = 60_000;

impl Cond {
    /// The happening kinds that can satisfy this condition.
    pub fn kinds(&self) -> Kinds {
        match self {
            Cond::All(parts) => parts.iter().fold(Kinds::ALL, |k, c| k.and(c.kinds())),
            Cond::Any(parts) => parts.iter().fold(Kinds(0), |k, c| k.or(c.kinds())),
            Cond::Not(_) | Cond::Hours { .. } | Cond::Viewer(_) => Kinds::ALL,
            Cond::Gift(_) => Kinds::GIFT,
            Cond::Comment(_) => Kinds::COMMENT,
            Cond::Follow => Kinds::FOLLOW,
            Cond::Share => Kinds::SHARE,
            Cond::Join => Kinds::JOIN,
            Cond::LikesEvery(_) => Kinds::LIKES,
            Cond::ViewersEvery(_) | Cond::ViewersReach(_) => Kinds::VIEWERS,
            Cond::Idle { .. } => Kinds::QUIET,
            Cond::Every { .. } | Cond::At(_) => Kinds::CLOCK,
            Cond::Stream { .. } => Kinds::STREAM,
        }
    }

    /// Whether the condition reads what is remembered of viewers (so it is worth asking).
    pub fn reads_memory(&self) -> bool {
        match self {
            Cond::All(parts) | Cond::Any(parts) => parts.iter().any(Cond::reads_memory),
            Cond::Not(inner) => inner.reads_memory(),
            Cond::Viewer(_) => true,
            Cond::Gift(g) => g.first_of_viewer,
            _ => false,
        }
    }

    pub fn matches(&self, cx: &Context<'_>) -> bool {
        match (self, &cx.happening) {
            (Cond::All(parts), _) => parts.iter().all(|c| c.matches(cx)),
            (Cond::Any(parts), _) => parts.iter().any(|c| c.matches(cx)),
            (Cond::Not(inner), _) => !inner.matches(cx),
            (Cond::Gift(g), Happening::Gift { batch, tier }) => g.matches(batch, *tier, &cx.facts),
            (Cond::Comment(c), Happening::Comment { text }) => c.matches(text, cx),
            (Cond::Follow, Happening::Follow)
            | (Cond::Share, Happening::Share)
            | (Cond::Join, Happening::Join) => true,
            (Cond::LikesEvery(n), Happening::Likes { before, after }) => after / n > before / n,
            (
                Cond::ViewersEvery(n),
                Happening::Viewers {
                    online,
                    peak_before,
                },
            ) => online / n > peak_before / n,
            (
                Cond::ViewersReach(marks),
                Happening::Viewers {
                    online,
                    peak_before,
                },
            ) => marks.iter().any(|m| peak_before < m && m <= online),
            (Cond::Idle { ms }, Happening::Quiet { for_ms }) => {
                // Once per quiet spell: not if it already fired since the room went quiet.
                let spell_began = cx.now_ms.saturating_sub(*for_ms);
                for_ms >= ms && cx.last_fired_ms.is_none_or(|t| t < spell_began)
            }
            (Cond::Every { ms }, Happening::Clock) => {
                let since = cx.last_fired_ms.unwrap_or(cx.show_started_ms);
                cx.now_ms >= since.saturating_add(*ms)
            }
            (Cond::At(minutes), Happening::Clock) => {
                minutes.contains(&cx.minute_of_day)
                    && cx
                        .last_fired_ms
                        .is_none_or(|t| cx.now_ms >= t + AT_REFIRE_MS)
            }
            (Cond::Hours { from, to }, _) => within(cx.minute_of_day, *from, *to),
            (Cond::Stream { live }, Happening::Stream { live: now_live }) => live == now_live,
            (Cond::Viewer(v), _) => v.matches(&cx.facts),
            _ => false,
        }
    }
}

fn within(minute: u32, from: u32, to: u32) -> bool {
    if from <= to {
        (from..to).contains(&minute)
    } else {
        minute >= from || minute < to
    }
}

impl GiftCond {
    fn matches(&self, batch: &GiftBatch, tier: Tier, facts: &Facts) -> bool {
        self.tier.is_none_or(|t| tier.number() == t)
            && self.min_tier.is_none_or(|t| tier.number() >= t)
            && (self.names.is_empty() || self.names.contains(&batch.gift_name))
            && (self.ids.is_empty() || self.ids.contains(&batch.gift_id))
            && self.min_fen.is_none_or(|f| batch.value_fen >= f)
            && self.combo_at_least.is_none_or(|c| batch.count >= c)
            && (!self.first_of_viewer || facts.gift_fen_before == 0)
    }
}

impl CommentCond {
    fn matches(&self, text: &str, cx: &Context<'_>) -> bool {
        let f = &cx.facts;
        self.min_level.is_none_or(|l| f.level >= l)
            && self.min_fan_level.is_none_or(|l| f.fan_level >= l)
            && (!self.vip || f.level >= cx.vip_level)
            && (self.keywords.is_empty() || self.keywords.iter().any(|k| text.contains(k.as_str())))
            && self.regex.as_ref().is_none_or(|r| r.is_match(text))
    }
}

impl ViewerCond {
    fn matches(&self, facts: &Facts) -> bool {
        self.min_visits.is_none_or(|v| facts.visits >= v)
            && self.max_visits.is_none_or(|v| facts.visits <= v)
            && self.min_gift_fen.is_none_or(|f| facts.gift_fen_before >= f)
    }
}
