//! Gifts → rewards: tiering (seed 002), combo folding, the thank-you cue for each batch with
//! its dynamic priority (value in the tier, combo, giver), and merging a storm's waiting
//! thank-yous into one line ([`storm`]).

pub mod combo;
mod config;
pub mod storm;

pub use config::{CaptionLines, GiftsConfig, TierLines};

use rand::Rng;

use crate::cue::{Act, Cue, CueKind, Effect, When};
use crate::safety::SafetyScreen;
use crate::scheduler::priority::{self, GiftFacts};
use crate::scheduler::{RecentActivity, SchedulerConfig};
use crate::template::Template;
use crate::template::PLACEHOLDERS;
use crate::tiers::{Tier, TierTable};
use combo::GiftBatch;

/// A platform counts as live this long after its last event (30 min).
pub const PLATFORM_LIVE_MS: u64 = 30 * 60 * 1000;

pub struct RewardEngine {
    tiers: TierTable,
    thanks: [Vec<Template>; 4],
    latest_gift: Vec<Template>,
    celebration: Vec<Template>,
    thanked_in_text: Vec<Template>,
    expression: [String; 4],
    motion: [String; 4],
    celebrate_from: Tier,
    celebration_secs: f64,
    last_line: Option<String>,
    /// Givers' recent gift batches: a fact of a thank-you's priority.
    activity: RecentActivity,
    /// Givers at or above this level are VIPs (`[scheduler] vip_level`).
    vip_level: u32,
    aggregate_after: usize,
    aggregate_names: usize,
    aggregate: Vec<Template>,
    aggregate_few: Vec<Template>,
    /// Thank-yous of gifts that carry a paid message (`{text}` is the message, in full).
    with_message: Vec<Template>,
    platform_names: std::collections::BTreeMap<String, String>,
    /// When each platform was last heard from: with more than one live, thank-yous name it.
    platforms_seen: std::collections::BTreeMap<String, u64>,
    /// Viewer names are screened before they are spoken or shown (blocked words masked, names
    /// posing as the system replaced).
    safety: std::sync::Arc<SafetyScreen>,
}

impl RewardEngine {
    /// `safety`: the show's one screen (`llm::safety::show_screen`), shared with the script and
    /// the LLM.
    pub fn new(config: &GiftsConfig, safety: std::sync::Arc<SafetyScreen>) -> Self {
        let parse = |lines: &Vec<toml::Spanned<String>>| {
            lines
                .iter()
                .filter_map(|l| Template::parse_with_placeholders(l.get_ref(), PLACEHOLDERS).ok())
                .collect::<Vec<_>>()
        };
        let t = &config.thanks;
        Self {
            tiers: config.tier_table(),
            thanks: [
                parse(&t.tier1),
                parse(&t.tier2),
                parse(&t.tier3),
                parse(&t.tier4),
            ],
            latest_gift: parse(&config.captions.latest_gift),
            celebration: parse(&config.captions.celebration),
            thanked_in_text: parse(&config.captions.thanked_in_text),
            expression: config.expression.clone(),
            motion: config.motion.clone(),
            celebrate_from: config.celebrate_from(),
            celebration_secs: config.celebration_secs,
            last_line: None,
            activity: RecentActivity::default(),
            vip_level: SchedulerConfig::default().vip_level,
            aggregate_after: config.aggregate_after,
            aggregate_names: config.aggregate_names.max(1),
            aggregate: parse(&config.aggregate),
            aggregate_few: parse(&config.aggregate_few),
            with_message: parse(&config.with_message),
            platform_names: config.platform_names.clone(),
            platforms_seen: Default::default(),
            safety,
        }
    }

    /// Givers at or above `level` count as VIPs for the thank-you's priority (the show passes
    /// `[scheduler] vip_level`; the default is that key's default).
    pub fn with_vip_level(mut self, level: u32) -> Self {
        self.vip_level = level;
        self
    }

    /// Every thank-you variant, expanded (placeholders such as `{user}` left in): what the
    /// audio cache pre-warms, once the voice has cut them into clauses the way it speaks them
    /// (`speech::voice::clauses`) and left out the clauses that still hold a placeholder.
    pub fn thank_you_variants(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .thanks
            .iter()
            .flatten()
            .flat_map(|t| t.expand_all(64))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// An event of `platform` arrived at `at_ms` (any kind: a room that only chats is live).
    pub fn saw(&mut self, platform: &str, at_ms: u64) {
        match self.platforms_seen.get_mut(platform) {
            Some(t) => *t = (*t).max(at_ms),
            None => {
                self.platforms_seen.insert(platform.to_string(), at_ms);
            }
        }
    }

    /// How `platform` is named on air (`[gifts.platform_names]`, else its id).
    pub fn platform_name(&self, platform: &str) -> String {
        self.platform_names
            .get(platform)
            .cloned()
            .unwrap_or_else(|| platform.to_string())
    }

    /// Whether another platform than `platform` was heard from in the last
    /// [`PLATFORM_LIVE_MS`] before `at_ms`.
    pub fn others_live(&self, platform: &str, at_ms: u64) -> bool {
        self.platforms_seen
            .iter()
            .any(|(p, t)| p != platform && at_ms.saturating_sub(*t) <= PLATFORM_LIVE_MS)
    }

    pub fn tiers(&self) -> &TierTable {
        &self.tiers
    }

    pub fn celebrate_from(&self) -> Tier {
        self.celebrate_from
    }

    /// The thank-you cue for a batch of gifts.
    pub fn thank<R: Rng>(&mut self, batch: &GiftBatch, rng: &mut R) -> Cue {
        let tier = self.tiers.classify(batch.value_fen);
        let count = batch.count.to_string();
        let value = format!("{:.1}", batch.value_fen as f64 / 100.0);
        self.saw(&batch.platform, batch.last_ms());
        let plain_viewer = self.safety.speakable_name(&batch.viewer.name);
        let platform = self.platform_name(&batch.platform);
        // With several platforms live, "B站的小明": the same name may be two people.
        let viewer = if self.others_live(&batch.platform, batch.last_ms()) {
            format!("{platform}的{plain_viewer}")
        } else {
            plain_viewer.clone()
        };
        // A paid message is said in full when the screen lets it be spoken at all; otherwise
        // the gift is thanked without it (paid or not, blocked words are never aired).
        let message = batch
            .message
            .clone()
            .filter(|m| matches!(self.safety.screen_output(m), crate::safety::Verdict::Pass));
        let caption = if batch.count > 1 {
            format!("{} 送出 {} × {}", viewer, batch.gift_name, batch.count)
        } else {
            format!("{} 送出 {}", viewer, batch.gift_name)
        };
        let vars = |name: &str| match name {
            "user" | "name" => Some(viewer.clone()),
            "gift" => Some(batch.gift_name.clone()),
            "count" => Some(count.clone()),
            "value" => Some(value.clone()),
            "caption" => Some(caption.clone()),
            "platform" => Some(platform.clone()),
            "text" => message.clone(),
            _ => None,
        };
        let reads_message = message.is_some() && !self.with_message.is_empty();
        let lines = if reads_message {
            &self.with_message
        } else {
            &self.thanks[tier.index()]
        };
        let text = pick_line(lines, &vars, rng, &mut self.last_line)
            .unwrap_or_else(|| format!("谢谢{}的{}", viewer, batch.gift_name));
        let render = |templates: &[Template], rng: &mut R| {
            (!templates.is_empty())
                .then(|| templates[rng.random_range(0..templates.len())].render(&vars, rng))
        };
        let mut effects = Vec::new();
        if let Some(text) = render(&self.latest_gift, rng) {
            effects.push(Effect::new(When::Offered, Act::LatestGiftText(text)));
        }
        if tier >= self.celebrate_from {
            if let Some(caption) = render(&self.celebration, rng) {
                let secs = self.celebration_secs;
                effects.push(Effect::new(When::Offered, Act::Celebrate { caption, secs }));
            }
        }
        if let Some(name) = Some(&self.expression[tier.index()]).filter(|s| !s.is_empty()) {
            effects.push(Effect::new(When::OnAir, Act::Expression(name.clone())));
        }
        if let Some(name) = Some(&self.motion[tier.index()]).filter(|s| !s.is_empty()) {
            effects.push(Effect::new(When::OnAir, Act::Motion(name.clone())));
        }
        if let Some(text) = render(&self.thanked_in_text, rng) {
            effects.push(Effect::new(When::NotVoiced, Act::LatestGiftText(text)));
        }
        // Earlier batches of this giver in the activity window (this one not counted).
        let earlier = self
            .activity
            .note(&batch.viewer.id, batch.last_ms())
            .saturating_sub(1);
        let priority = priority::for_gift_facts(&GiftFacts {
            tier,
            large_from: Tier::Big,
            value_in_tier: self.tiers.position_in_tier(batch.value_fen),
            combo: batch.count,
            viewer_level: batch.viewer.level,
            vip: batch.viewer.level >= self.vip_level,
            recent_activity: earlier,
        });
        Cue {
            cause: crate::cue::Cause::Gifts {
                platform: batch.platform.clone(),
                msg_ids: batch.msg_ids.clone(),
            },
            kind: CueKind::GiftThanks {
                platform: batch.platform.clone(),
                msg_ids: batch.msg_ids.clone(),
                tier: tier.number(),
                viewers: vec![plain_viewer.clone()],
                reads_message,
            },
            text,
            priority: priority.level,
            rank: priority.rank,
            paid: true,
            ttl_ms: None,
            prosody: crate::cue::Prosody::default(),
            effects,
        }
    }
}

/// Renders a random template, avoiding the exact line said last time when there is a choice
/// (the same "谢谢" twice in a row is what makes a bot sound like one).
pub fn pick_line<R: Rng>(
    templates: &[Template],
    vars: &dyn Fn(&str) -> Option<String>,
    rng: &mut R,
    last: &mut Option<String>,
) -> Option<String> {
    if templates.is_empty() {
        return None;
    }
    let mut line = String::new();
    for _ in 0..4 {
        line = templates[rng.random_range(0..templates.len())].render(vars, rng);
        if last.as_deref() != Some(line.as_str()) {
            break;
        }
    }
    *last = Some(line.clone());
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Gift, LiveEvent, Viewer};
    use combo::{ComboAggregator, ComboPolicy};
    use rand::{rngs::StdRng, SeedableRng};

    fn batch(diamonds: u64, count: u32) -> GiftBatch {
        let mut agg = ComboAggregator::new(ComboPolicy::default(), TierTable::default());
        let mut ready = agg.push(
            &LiveEvent {
                platform: "douyin".into(),
                msg_id: "m".into(),
                user: Some(Viewer {
                    id: "u".into(),
                    name: "小明".into(),
                    level: 1,
                    fan_level: 0,
                }),
                kind: EventKind::Gift(Gift {
                    gift_id: "g".into(),
                    gift_name: "嘉年华".into(),
                    diamonds,
                    count,
                    price: None,
                    message: None,
                    combo: None,
                }),
            },
            0,
        );
        ready.extend(agg.drain());
        ready.remove(0)
    }

    #[test]
    fn thanks_follow_the_tier() {
        let mut engine = RewardEngine::new(
            &GiftsConfig::default(),
            std::sync::Arc::new(SafetyScreen::new(&[], &[], "哔")),
        );
        let mut rng = StdRng::seed_from_u64(1);
        let small = engine.thank(&batch(1, 1), &mut rng);
        let celebration = |cue: &Cue| {
            cue.acts(When::Offered).find_map(|act| match act {
                Act::Celebrate { secs, .. } => Some(*secs),
                _ => None,
            })
        };
        assert!(small.paid && celebration(&small).is_none());
        // The caption comes from `[gifts.captions]`, shown as soon as the gift is counted.
        assert_eq!(
            small.acts(When::Offered).collect::<Vec<_>>(),
            [&Act::LatestGiftText("最新礼物：小明 送出 嘉年华".into())]
        );
        assert_eq!(
            small.acts(When::NotVoiced).collect::<Vec<_>>(),
            [&Act::LatestGiftText("感谢 小明 送出 嘉年华！".into())]
        );
        assert_eq!(small.expression(), Some("happy"));
        assert_eq!(small.priority, priority::GIFT_NORMAL);
        assert!(
            small.text.contains("小明") && small.text.contains("嘉年华"),
            "{}",
            small.text
        );
        let big = engine.thank(&batch(30_000, 1), &mut rng);
        assert_eq!(big.priority, priority::GIFT_LARGE);
        assert_eq!(celebration(&big), Some(8.0));
        assert!(matches!(big.kind, CueKind::GiftThanks { tier: 4, .. }));
    }

    #[test]
    fn consecutive_lines_vary_when_they_can() {
        let templates = vec![Template::parse("{a|b|c}").unwrap()];
        let mut rng = StdRng::seed_from_u64(3);
        let mut last = None;
        let lines: Vec<String> = (0..30)
            .map(|_| pick_line(&templates, &|_| None, &mut rng, &mut last).unwrap())
            .collect();
        assert!(lines.windows(2).all(|w| w[0] != w[1]), "{lines:?}");
    }
}

#[cfg(test)]
mod platforms_tests;
