//! The trigger files' TOML form, as written by the streamer (`scenes/*.toml`).
//!
//! ```toml
//! [[group]]                     # actions of a group play one firing at a time
//! name = "scene"
//! policy = "queue"              # or "drop": a firing that finds the group busy is let go
//! max_queued = 8
//!
//! [[trigger]]
//! name = "big gift → celebration"
//! when.gift = { min_tier = 3 }  # several keys in one `when` must all hold; `any`/`all`/`not` nest
//! group = "scene"
//! cooldown_secs = 10
//!
//! [[trigger.do]]                # a sequence, run in order; waits pause it
//! speak = "哇，{user}的{gift}！"
//! [[trigger.do]]
//! scene = "Celebration"
//! return_after_secs = 5
//! ```
//!
//! These types only carry what was written (with positions, for file:line errors); `compile`
//! in [`super::rule`] checks them and builds the rules.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One scene file's trigger part. The scene part (`[roles]`, `[[scene]]`) belongs to the
/// sidecar's OBS module and is skipped here.
#[derive(Debug, Default, Deserialize)]
pub struct TriggerFile {
    #[serde(default)]
    pub trigger: Vec<Spanned<TriggerSpec>>,
    #[serde(default)]
    pub group: Vec<Spanned<GroupSpec>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub policy: GroupPolicy,
    /// Firings waiting for a busy `queue` group at most; past it the oldest waiting is let go.
    #[serde(default = "default_max_queued")]
    pub max_queued: usize,
}

fn default_max_queued() -> usize {
    8
}

/// What a firing does when its group is busy (Streamer.bot's blocking queues).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupPolicy {
    /// Wait its turn.
    #[default]
    Queue,
    /// Let it go.
    Drop,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub when: Spanned<WhenSpec>,
    #[serde(rename = "do")]
    pub steps: Vec<Spanned<StepSpec>>,
    /// Seconds after a firing before the trigger fires again.
    #[serde(default)]
    pub cooldown_secs: Option<Spanned<f64>>,
    /// Seconds before the same viewer can fire it again.
    #[serde(default)]
    pub viewer_cooldown_secs: Option<Spanned<f64>>,
    /// Firings in any 60 s at most (0: no limit).
    #[serde(default)]
    pub max_per_minute: Option<Spanned<i64>>,
    /// The concurrency group its actions run in (none: they run at once, alongside others).
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// The timeline level of its spoken lines: a level name (`gift_large`, `normal`,
    /// `script`…) or a number (lower is more urgent).
    #[serde(default)]
    pub priority: Option<Spanned<PrioritySpec>>,
    /// Spoken lines are paid (never dropped by the timeline). Default: unpaid; the gift's own
    /// thank-you is always paid.
    #[serde(default)]
    pub paid: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PrioritySpec {
    Level(String),
    Number(i64),
}

/// A condition. Every key given must hold; `any`, `all` and `not` combine sub-conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenSpec {
    pub gift: Option<GiftWhen>,
    pub comment: Option<CommentWhen>,
    pub follow: Option<bool>,
    pub share: Option<bool>,
    /// A viewer entered the room.
    pub join: Option<bool>,
    /// Every N likes in the room (counted over the show).
    pub likes_every: Option<i64>,
    /// Each time the online count first reaches a multiple of N.
    pub viewers_every: Option<i64>,
    /// Each time the online count first reaches one of these.
    pub viewers_reach: Option<Vec<i64>>,
    /// Once per quiet spell, when no viewer has done anything for N seconds.
    pub idle_secs: Option<f64>,
    pub schedule: Option<ScheduleWhen>,
    /// OBS's stream output: `started` or `stopped`.
    pub stream: Option<Spanned<String>>,
    /// What the show remembers of the viewer who caused the event.
    pub viewer: Option<ViewerWhen>,
    pub all: Option<Vec<Spanned<WhenSpec>>>,
    pub any: Option<Vec<Spanned<WhenSpec>>>,
    pub not: Option<Box<Spanned<WhenSpec>>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftWhen {
    /// Exactly this tier (1–4).
    pub tier: Option<i64>,
    /// This tier or higher.
    pub min_tier: Option<i64>,
    /// Gift names (any of them).
    #[serde(default)]
    pub names: Vec<String>,
    /// Platform gift ids (any of them).
    #[serde(default)]
    pub ids: Vec<String>,
    /// The batch (a combo) is worth at least this many yuan.
    pub min_yuan: Option<f64>,
    /// The combo holds at least this many gifts.
    pub combo_at_least: Option<i64>,
    /// The viewer had never sent a gift before (as far as the ledger knows).
    #[serde(default)]
    pub first_of_viewer: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentWhen {
    /// The comment contains any of these.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The comment matches this regular expression (Rust `regex` syntax).
    pub regex: Option<Spanned<String>>,
    /// The viewer's fan-club (粉丝团) level is at least this (0 when the platform does not say).
    pub min_fan_level: Option<i64>,
    /// The viewer's platform level is at least this.
    pub min_level: Option<i64>,
    /// The viewer is at `[scheduler] vip_level` or above.
    #[serde(default)]
    pub vip: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWhen {
    /// Every N minutes of the show (the first N minutes after it starts).
    pub every_mins: Option<f64>,
    /// At these local times of day ("20:30").
    #[serde(default)]
    pub at: Vec<Spanned<String>>,
    /// Only within these local hours ("19:00-23:30"; may cross midnight).
    pub hours: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerWhen {
    /// Times the viewer has entered the room, this show and before.
    pub min_visits: Option<i64>,
    pub max_visits: Option<i64>,
    /// Everything the viewer has given, in yuan.
    pub min_gift_yuan: Option<f64>,
}

/// One step of a trigger's `do` sequence: exactly one action key, with its options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Say a template (variants and placeholders as in `[lines]`).
    pub speak: Option<Spanned<String>>,
    /// With `speak`: the sequence waits until the line has been said (or let go).
    #[serde(default)]
    pub wait_for_line: bool,
    /// The avatar wears this expression (for `secs`, default 3).
    pub expression: Option<String>,
    /// The avatar plays this motion.
    pub motion: Option<String>,
    /// Play a media source (restarts it from the top).
    pub sound: Option<Spanned<String>>,
    /// Mix a WAV file (path relative to the scenes folder) into the avatar's voice: it plays
    /// over the speech through the avatar's own audio, `volume_db` louder or softer (default 0).
    pub sound_file: Option<Spanned<String>>,
    pub volume_db: Option<Spanned<f64>>,
    /// Switch the program scene; back after `return_after_secs`, or when the firing's last
    /// line ends (`return_when = "line_end"`).
    pub scene: Option<Spanned<String>>,
    pub return_after_secs: Option<f64>,
    pub return_when: Option<Spanned<String>>,
    /// Show this source (in `in_scene`, default: every scene that has it) for `secs`.
    pub show_source: Option<Spanned<String>>,
    /// Hide this source (in `in_scene`, default: every scene that has it) for `secs`.
    pub hide_source: Option<Spanned<String>>,
    pub in_scene: Option<Spanned<String>>,
    pub secs: Option<f64>,
    /// Set a text source's text from a template (`text`).
    pub set_text: Option<Spanned<String>>,
    pub text: Option<Spanned<String>>,
    /// Restart a media source.
    pub restart_media: Option<Spanned<String>>,
    /// Enable (`enabled = true`), disable, or toggle (no `enabled`) `filter` on this source.
    pub filter_source: Option<Spanned<String>>,
    pub filter: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    /// Merge `settings` into an input's settings.
    pub input: Option<Spanned<String>>,
    pub settings: Option<BTreeMap<String, toml::Value>>,
    /// Pause the sequence.
    pub wait_secs: Option<f64>,
    /// Start (`start_stream = "bilibili"`, or `"all"`) or stop a `[[push]]` target.
    pub start_stream: Option<Spanned<String>>,
    pub stop_stream: Option<Spanned<String>>,
}
