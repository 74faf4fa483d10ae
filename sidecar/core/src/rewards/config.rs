//! `[gifts]`: price overrides, tier bounds, combo windows, the celebration, the thank-you
//! lines, expressions and motions per tier, the OBS captions, and storm aggregation.

use serde::Deserialize;
use toml::Spanned;

use crate::template::lines;
use crate::tiers::{Tier, TierTable};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GiftsConfig {
    /// Price overrides in diamonds per gift id (10 diamonds = 1 CNY), for gifts whose price the
    /// platform does not send or sends wrong. Applied to every source before the ledger.
    pub diamonds: std::collections::BTreeMap<String, u64>,
    /// Yuan per unit of each platform's currency (`[gifts.rates]`), so tiers mean the same on
    /// every platform.
    pub rates: crate::pricing::Rates,
    /// How a thank-you names the platform when gifts come from more than one: `{platform}`
    /// in the lines, and the viewer read as `B站的小明`.
    pub platform_names: std::collections::BTreeMap<String, String>,
    /// A gift that carries a paid message (a Bilibili Super Chat) is thanked with one of these,
    /// reading the message in full: `{text}` (plus the usual placeholders).
    pub with_message: Vec<Spanned<String>>,
    /// Upper bounds in yuan of tiers 1, 2 and 3; above the last is tier 4 (seed 002).
    pub tier_max_yuan: [f64; 3],
    pub combo_idle_ms: u64,
    pub combo_max_hold_ms: u64,
    /// Gifts of this tier or above switch OBS to the celebration scene.
    pub celebrate_from_tier: u8,
    pub celebration_secs: f64,
    pub thanks: TierLines,
    /// Expression shown while thanking, per tier.
    pub expression: [String; 4],
    /// Motion played when thanking, per tier.
    pub motion: [String; 4],
    /// OBS captions, as templates (`{caption}` is `小明 送出 玫瑰 × 3`; `{user}`, `{gift}`,
    /// `{count}`, `{value}` work too).
    pub captions: CaptionLines,
    /// In a storm, once more than this many thank-yous wait they are merged into one line per
    /// platform (`RewardEngine::merge_thanks`); 0 never merges.
    pub aggregate_after: usize,
    /// Names a merged line reads out (the most urgent givers first).
    pub aggregate_names: usize,
    /// A merged line when more givers than `aggregate_names` are in it: `{names}` (`A、B、C`),
    /// `{count}` (givers).
    pub aggregate: Vec<Spanned<String>>,
    /// A merged line naming every giver: `{names}`, `{count}`.
    pub aggregate_few: Vec<Spanned<String>>,
}

/// `[gifts.captions]`: what OBS shows for a gift.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptionLines {
    /// The latest-gift text source, as soon as the gift is counted.
    pub latest_gift: Vec<Spanned<String>>,
    /// The celebration scene's caption (gifts of `celebrate_from_tier` and above).
    pub celebration: Vec<Spanned<String>>,
    /// The latest-gift text when the thank-you could not be voiced after every attempt: the
    /// gift is thanked in writing instead.
    pub thanked_in_text: Vec<Spanned<String>>,
}

impl Default for CaptionLines {
    fn default() -> Self {
        Self {
            latest_gift: lines(&["最新礼物：{caption}"]),
            celebration: lines(&["感谢 {caption}！"]),
            thanked_in_text: lines(&["感谢 {caption}！"]),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierLines {
    pub tier1: Vec<Spanned<String>>,
    pub tier2: Vec<Spanned<String>>,
    pub tier3: Vec<Spanned<String>>,
    pub tier4: Vec<Spanned<String>>,
}

impl Default for GiftsConfig {
    fn default() -> Self {
        Self {
            diamonds: Default::default(),
            rates: Default::default(),
            platform_names: [
                ("douyin", "抖音"),
                ("barrage_grab", "抖音"),
                ("bilibili", "B站"),
                ("kuaishou", "快手"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            with_message: lines(&["谢谢{user}的{gift}！留言说：{text}"]),
            tier_max_yuan: [1.0, 10.0, 100.0],
            combo_idle_ms: 2_000,
            combo_max_hold_ms: 8_000,
            celebrate_from_tier: 3,
            celebration_secs: 8.0,
            thanks: TierLines::default(),
            expression: ["happy", "happy", "surprised", "surprised"].map(String::from),
            motion: ["nod", "bounce", "bounce", "wave"].map(String::from),
            captions: CaptionLines::default(),
            aggregate_after: 6,
            aggregate_names: 3,
            aggregate: lines(&[
                "{感谢|谢谢}{names}等{count}位家人的礼物{~|！}",
                "{哇|好多礼物呀}，{感谢|谢谢}{names}等{count}位家人，{爱你们|你们太好了}！",
            ]),
            aggregate_few: lines(&["{感谢|谢谢}{names}的礼物{~|！}"]),
        }
    }
}

impl Default for TierLines {
    fn default() -> Self {
        Self {
            tier1: lines(&["{谢谢|感谢}{user}的{gift}{~|！}"]),
            tier2: lines(&["哇，{谢谢|感谢}{user}送的{count}个{gift}，{太开心了|好感动}！"]),
            tier3: lines(&["天哪！{user}送了{gift}！{这也太豪气了吧|老板大气}！"]),
            tier4: lines(&[
                "{OMG|不得了}！{user}居然送了{gift}！{我要给你唱首歌|全场感谢{user}}！",
            ]),
        }
    }
}

impl GiftsConfig {
    /// The tier table; bounds were validated when the config was read.
    pub fn tier_table(&self) -> TierTable {
        TierTable::from_yuan(self.tier_max_yuan).unwrap_or_default()
    }

    /// The lowest tier that switches OBS to the celebration scene.
    /// The rates and per-gift overrides admission applies to every gift.
    pub fn pricing(&self) -> crate::pricing::Pricing {
        crate::pricing::Pricing {
            rates: self.rates,
            overrides: self.diamonds.clone(),
        }
    }

    pub fn celebrate_from(&self) -> Tier {
        Tier::ALL[(self.celebrate_from_tier.clamp(1, 4) - 1) as usize]
    }
}
