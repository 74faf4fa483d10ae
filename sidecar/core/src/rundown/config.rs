//! `[rundown]`: whether the seller's rundown runs, where its script library lives, and how it
//! paces products and segments.

use serde::Deserialize;

/// How the rundown moves from product to product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RundownMode {
    /// Each product gets `minutes_per_product`, then the next one, round and round.
    #[default]
    Schedule,
    /// Like `schedule`, but the room steers: a product viewers ask about is shown next (or
    /// kept on longer), and a busy room hears more urging than explaining.
    Activity,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RundownConfig {
    /// Off by default: a chat stream has no products.
    pub enabled: bool,
    /// The script library: every `*.toml` here except `*.drafts.toml`, in name order (a
    /// file's reviewed drafts are read from `<file>.drafts.toml` beside it).
    pub dir: std::path::PathBuf,
    pub mode: RundownMode,
    /// How long each product is on, in minutes.
    pub minutes_per_product: f64,
    /// One rundown line this often (it waits in the timeline behind paid lines and replies).
    pub line_every_secs: u64,
    /// Fraction of a product's time after which explaining gives way to urging.
    pub urge_from: f64,
    /// Every n-th rundown line is a filler line (follow, like, share prompts); 0 = none.
    pub filler_every: u32,
    /// `activity` mode: comments, likes, gifts, follows and shares per minute from which the
    /// room counts as busy (more urging).
    pub busy_events_per_minute: u32,
    /// `activity` mode: a question about the product on keeps it on at least this much longer
    /// (up to twice its time).
    pub stay_secs: u64,
    /// The same question about the same product is answered once per this many seconds (a
    /// flood of "多少钱" gets one answer, not twenty).
    pub answer_repeat_secs: u64,
}

impl Default for RundownConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dir: "config/scripts".into(),
            mode: RundownMode::Schedule,
            minutes_per_product: 5.0,
            line_every_secs: 20,
            urge_from: 0.6,
            filler_every: 4,
            busy_events_per_minute: 30,
            stay_secs: 120,
            answer_repeat_secs: 15,
        }
    }
}

impl RundownConfig {
    /// Bounds serde cannot check; the error names the key (the config adds file and line).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((format!("rundown.{key}"), message.to_string()));
        if !(self.minutes_per_product.is_finite()
            && (0.5..=240.0).contains(&self.minutes_per_product))
        {
            return err("minutes_per_product", "must be between 0.5 and 240 minutes");
        }
        if !(3..=600).contains(&self.line_every_secs) {
            return err("line_every_secs", "must be between 3 and 600 seconds");
        }
        if !(self.urge_from.is_finite() && (0.0..=1.0).contains(&self.urge_from)) {
            return err("urge_from", "must be between 0 and 1");
        }
        if self.line_every_secs as f64 * 2.0 > self.minutes_per_product * 60.0 {
            return err(
                "minutes_per_product",
                "must leave room for at least two lines (see rundown.line_every_secs)",
            );
        }
        if self.answer_repeat_secs > 3_600 || self.stay_secs > 3_600 {
            let key = if self.stay_secs > 3_600 {
                "stay_secs"
            } else {
                "answer_repeat_secs"
            };
            return err(key, "must be at most 3600 seconds");
        }
        Ok(())
    }

    pub fn slot_ms(&self) -> u64 {
        (self.minutes_per_product * 60_000.0) as u64
    }

    pub fn line_every_ms(&self) -> u64 {
        self.line_every_secs * 1_000
    }
}
