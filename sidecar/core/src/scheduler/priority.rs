//! Priority levels (seed 000): lower numbers are more urgent.

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
/// Scripted lines: welcomes, idle talk.
pub const SCRIPT: i32 = 10;
/// Background material.
pub const BACKGROUND: i32 = 20;

pub fn for_gift(tier: Tier, large_from: Tier) -> i32 {
    if tier >= large_from {
        GIFT_LARGE
    } else {
        GIFT_NORMAL
    }
}

/// Priority of a reply to a comment: keyword and viewer-level bonuses (seed 000: level / 10,
/// at most 3), never more urgent than a normal gift, so money always comes first.
pub fn for_comment(text: &str, user_level: u32, config: &SchedulerConfig) -> i32 {
    let base = if user_level >= config.vip_level {
        USER_VIP
    } else if config
        .important_keywords
        .iter()
        .any(|k| text.contains(k.as_str()))
    {
        COMMENT_IMPORTANT
    } else {
        NORMAL
    };
    let level_bonus = (user_level / 10).min(3) as i32;
    (base - level_bonus).max(GIFT_NORMAL + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
