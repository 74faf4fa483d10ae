//! Priority levels (seed 000) and the dynamic priority of a line: lower numbers are more urgent.
//!
//! A priority is a [`Priority`]: a **level** (the seed's scale, what the interruption rule
//! compares) and a **rank** within the level (lower first). The facts about a gift or a
//! comment move them:
//!
//! * a gift's level is its tier's (`GIFT_NORMAL` or `GIFT_LARGE`); its rank reflects where its
//!   value sits in the tier, the combo's length, the giver's level / VIP and recent activity.
//!   Gifts never change level for these facts, so a big gift is never 5 levels above a small
//!   one and never cuts its thank-you, and the seed's 5/8 gaps to the other lines stay as
//!   the seed drew them;
//! * a comment's level comes from its keywords and the viewer's level / VIP and recent
//!   activity (seed 000: level / 10 at most 3, activity at most 2), never more urgent than
//!   `GIFT_NORMAL + 1`: at offer time money always comes first (only aging, in the timeline,
//!   lets a long-waiting reply go before gifts);
//! * notices are `EMERGENCY`, idle talk `BACKGROUND`.
//!
//! Every function here is pure: its inputs are the documented facts.

use super::SchedulerConfig;
use crate::tiers::Tier;

/// System notices, error recovery.
pub const EMERGENCY: i32 = -10;
/// Big gifts (tier 3+).
pub const GIFT_LARGE: i32 = -5;
/// Comments from high-level viewers.
pub const USER_VIP: i32 = -2;
/// Ordinary gifts.
pub const GIFT_NORMAL: i32 = -1;
/// Comments with an important keyword (a question to the host…).
pub const COMMENT_IMPORTANT: i32 = 0;
/// Ordinary interaction: comment replies, follow thanks.
pub const NORMAL: i32 = 5;
/// Scripted lines: welcomes, shares.
pub const SCRIPT: i32 = 10;
/// Background material: idle talk, ambience.
pub const BACKGROUND: i32 = 20;

/// A line's place in the timeline: `level` first, then `rank`, then arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Priority {
    pub level: i32,
    pub rank: i32,
}

impl Priority {
    pub const fn level(level: i32) -> Self {
        Self { level, rank: 0 }
    }
}

/// What is known about a gift batch when its thank-you is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GiftFacts {
    pub tier: Tier,
    /// The lowest tier thanked at `GIFT_LARGE` (tier 3 by default).
    pub large_from: Tier,
    /// Where the batch's value sits in its tier, 0.0 (its floor) to 1.0 (its ceiling):
    /// `TierTable::position_in_tier`.
    pub value_in_tier: f32,
    /// Gifts in the batch (a combo of 30 小心心 is 30).
    pub combo: u64,
    /// The giver's platform level.
    pub viewer_level: u32,
    /// The giver's level is at least `[scheduler] vip_level`.
    pub vip: bool,
    /// The giver's interactions within the activity window (`RecentActivity::count`).
    pub recent_activity: u32,
}

/// What is known about a comment when its reply is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommentFacts<'a> {
    pub text: &'a str,
    pub viewer_level: u32,
    /// The viewer's interactions within the activity window, this comment included.
    pub recent_activity: u32,
}

/// Rank points (subtracted from 0). A higher tier always comes first (its points exceed all
/// the others together: two tiers share a level); within a tier value weighs most, so between
/// two gifts of one tier from similar viewers the bigger one comes first.
const TIER_POINTS: i32 = 1_100;
const VALUE_POINTS: f32 = 500.0;
const COMBO_POINTS_PER_DOUBLING: u64 = 40;
const COMBO_POINTS_MAX: u64 = 200;
const LEVEL_POINTS_PER_STEP: i32 = 30;
const VIP_POINTS: i32 = 60;
const ACTIVITY_POINTS_PER_ACT: u32 = 15;
const ACTIVITY_POINTS_MAX: u32 = 150;

/// Level steps of 10 (seed 000: at most 3).
fn level_steps(viewer_level: u32) -> i32 {
    (viewer_level / 10).min(3) as i32
}

/// Seed 000's activity bonus, at most 2 levels: one from 5 recent interactions, two from 15.
fn activity_steps(recent_activity: u32) -> i32 {
    match recent_activity {
        0..5 => 0,
        5..15 => 1,
        _ => 2,
    }
}

/// The priority of a gift's thank-you.
pub fn for_gift_facts(facts: &GiftFacts) -> Priority {
    let value = (facts.value_in_tier.clamp(0.0, 1.0) * VALUE_POINTS) as i32;
    let combo = (u64::from(facts.combo.max(1).ilog2()) * COMBO_POINTS_PER_DOUBLING)
        .min(COMBO_POINTS_MAX) as i32;
    let viewer = level_steps(facts.viewer_level) * LEVEL_POINTS_PER_STEP
        + if facts.vip { VIP_POINTS } else { 0 };
    let activity =
        (facts.recent_activity * ACTIVITY_POINTS_PER_ACT).min(ACTIVITY_POINTS_MAX) as i32;
    let tier = facts.tier.index() as i32 * TIER_POINTS;
    Priority {
        level: for_gift(facts.tier, facts.large_from),
        rank: -(tier + value + combo + viewer + activity),
    }
}

/// The level of a gift's thank-you by tier alone.
pub fn for_gift(tier: Tier, large_from: Tier) -> i32 {
    if tier >= large_from {
        GIFT_LARGE
    } else {
        GIFT_NORMAL
    }
}

/// The priority of a reply to a comment: keyword, viewer-level and activity bonuses, never
/// more urgent than `GIFT_NORMAL + 1`; within the level, higher-level and more active viewers
/// first.
pub fn for_comment_facts(facts: &CommentFacts, config: &SchedulerConfig) -> Priority {
    let base = if facts.viewer_level >= config.vip_level {
        USER_VIP
    } else if config
        .important_keywords
        .iter()
        .any(|k| facts.text.contains(k.as_str()))
    {
        COMMENT_IMPORTANT
    } else {
        NORMAL
    };
    let bonus = level_steps(facts.viewer_level) + activity_steps(facts.recent_activity);
    Priority {
        level: (base - bonus).max(GIFT_NORMAL + 1),
        rank: -(facts.viewer_level.min(100) as i32) - facts.recent_activity.min(50) as i32,
    }
}

/// The level of a reply to a comment from a viewer with no recent activity.
pub fn for_comment(text: &str, user_level: u32, config: &SchedulerConfig) -> i32 {
    let facts = CommentFacts {
        text,
        viewer_level: user_level,
        recent_activity: 0,
    };
    for_comment_facts(&facts, config).level
}

/// Operator and system notices (`CueKind::Notice`): before everything, and they interrupt
/// anything but another notice.
pub const fn for_notice() -> Priority {
    Priority::level(EMERGENCY)
}

/// Idle talk and ambience: after everything; any line 5 levels more urgent cuts it.
pub const fn for_idle() -> Priority {
    Priority::level(BACKGROUND)
}

/// Scripted lines: welcomes, thanks for shares.
pub const fn for_script() -> Priority {
    Priority::level(SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gift(tier: Tier, value_in_tier: f32) -> GiftFacts {
        GiftFacts {
            tier,
            large_from: Tier::Big,
            value_in_tier,
            combo: 1,
            viewer_level: 0,
            vip: false,
            recent_activity: 0,
        }
    }

    #[test]
    fn comments_never_outrank_gifts() {
        let config = SchedulerConfig::default();
        assert_eq!(for_comment("哈哈", 0, &config), NORMAL);
        assert_eq!(for_comment("主播在干嘛？", 0, &config), COMMENT_IMPORTANT);
        assert_eq!(for_comment("哈哈", 25, &config), NORMAL - 2);
        assert!(for_comment("主播?", 60, &config) > GIFT_NORMAL);
        assert_eq!(for_gift(Tier::Big, Tier::Big), GIFT_LARGE);
        assert_eq!(for_gift(Tier::Medium, Tier::Big), GIFT_NORMAL);
    }

    #[test]
    fn a_bigger_gift_of_the_same_tier_comes_a_bit_sooner_at_the_same_level() {
        let small = for_gift_facts(&gift(Tier::Medium, 0.1));
        let bigger = for_gift_facts(&gift(Tier::Medium, 0.9));
        assert_eq!(
            small.level, bigger.level,
            "the interruption rule sees no gap"
        );
        assert!(bigger < small, "{bigger:?} before {small:?}");
        // A long combo, a high-level VIP giver and recent activity move it too.
        let fan = GiftFacts {
            combo: 32,
            viewer_level: 40,
            vip: true,
            recent_activity: 6,
            ..gift(Tier::Medium, 0.1)
        };
        let fan = for_gift_facts(&fan);
        assert_eq!(fan.level, GIFT_NORMAL);
        assert_eq!(fan.rank, -(1_100 + 50 + 200 + 90 + 60 + 90));
        assert!(fan < small);
        // A higher tier sharing the level still goes first, and any big gift before any
        // normal one.
        let loved_small = GiftFacts {
            combo: u64::MAX,
            viewer_level: 1_000,
            vip: true,
            recent_activity: 1_000,
            ..gift(Tier::Small, 1.0)
        };
        assert!(for_gift_facts(&gift(Tier::Medium, 0.0)) < for_gift_facts(&loved_small));
        assert!(for_gift_facts(&gift(Tier::Big, 0.0)) < fan);
        assert_eq!(for_gift_facts(&gift(Tier::Super, 1.0)).level, GIFT_LARGE);
    }

    #[test]
    fn active_and_high_level_viewers_are_answered_first() {
        let config = SchedulerConfig::default();
        let facts = |text, viewer_level, recent_activity| CommentFacts {
            text,
            viewer_level,
            recent_activity,
        };
        let quiet = for_comment_facts(&facts("哈哈", 0, 1), &config);
        assert_eq!(quiet.level, NORMAL);
        assert_eq!(
            for_comment_facts(&facts("哈哈", 0, 5), &config).level,
            NORMAL - 1
        );
        assert_eq!(
            for_comment_facts(&facts("哈哈", 0, 40), &config).level,
            NORMAL - 2
        );
        let vip = for_comment_facts(&facts("哈哈", 35, 40), &config);
        assert_eq!(vip.level, COMMENT_IMPORTANT, "clamped above normal gifts");
        let keen = for_comment_facts(&facts("哈哈", 9, 3), &config);
        assert_eq!(keen.level, quiet.level);
        assert!(
            keen < quiet,
            "same level: the higher-level, busier viewer first"
        );
    }

    #[test]
    fn notices_idle_talk_and_script_use_their_levels() {
        assert_eq!(for_notice().level, EMERGENCY);
        assert_eq!(for_idle().level, BACKGROUND);
        assert_eq!(for_script().level, SCRIPT);
        // Under the seed's rule a notice cuts a big gift's thank-you, and a welcome cuts
        // idle talk.
        use crate::scheduler::{InterruptRules, Line, Timeline};
        for (playing, new) in [(GIFT_LARGE, for_notice()), (BACKGROUND, for_script())] {
            let mut t = Timeline::new(InterruptRules::default());
            t.offer(Line::new(1, playing, false, None, ()));
            t.start_next(0, &mut Vec::new());
            let offer = t.offer(Line::new(2, new.level, false, None, ()));
            assert!(offer.interrupted.is_some(), "{new:?} cuts {playing}");
        }
    }

    proptest! {
        /// Whatever the facts, a comment's reply is less urgent than any gift's thank-you at
        /// offer time, and value within a tier never makes a gift later.
        #[test]
        fn money_first_and_value_orders_a_tier(
            text in "[主播哈?吗a-z]{0,8}",
            c_level in 0u32..200,
            c_activity in 0u32..1000,
            tier in prop::sample::select(Tier::ALL.to_vec()),
            low in 0.0f32..1.0,
            high in 0.0f32..1.0,
            combo in 1u64..10_000,
            g_level in 0u32..200,
            vip: bool,
            g_activity in 0u32..1000,
        ) {
            let config = SchedulerConfig::default();
            let comment = for_comment_facts(
                &CommentFacts { text: &text, viewer_level: c_level, recent_activity: c_activity },
                &config,
            );
            let facts = GiftFacts {
                combo, viewer_level: g_level, vip, recent_activity: g_activity, ..gift(tier, low)
            };
            let g = for_gift_facts(&facts);
            prop_assert!(comment.level > g.level, "{comment:?} vs {g:?}");
            let (low, high) = (low.min(high), low.max(high));
            let lower = for_gift_facts(&GiftFacts { value_in_tier: low, ..facts });
            let higher = for_gift_facts(&GiftFacts { value_in_tier: high, ..facts });
            prop_assert!(higher <= lower);
            prop_assert_eq!(higher.level, lower.level);
        }
    }
}
