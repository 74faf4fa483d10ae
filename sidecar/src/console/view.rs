//! What the console shows: plain serialisable values, built by their owners.
//!
//! The show builds [`ShowView`] from its own state (it is the only one that may read the
//! timeline); the console's server adds what other parts own (sources, voice, OBS, avatar
//! link, push targets) when it sends a [`Panels`] update. Nothing here holds a lock or a
//! handle: a slow page never slows the show.

use std::collections::BTreeMap;

use serde::Serialize;

/// The show's part of the console, published by the show every few hundred milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShowView {
    /// The AI is paused: nothing but the operator's own lines starts.
    pub paused: bool,
    /// The human mic scene is on program (the operator took over).
    pub human_mic: bool,
    pub on_air: Option<LineView>,
    /// The waiting lines, most urgent first (at most [`QUEUE_SHOWN`]).
    pub queue: Vec<LineView>,
    pub queued_total: usize,
    /// Waiting lines per priority level (all of them, not only those shown).
    pub queued_by_level: BTreeMap<i32, usize>,
    /// The latest thanked gift batches of this run, newest first.
    pub recent_gifts: Vec<GiftView>,
    /// This run's gifts per platform.
    pub totals: BTreeMap<String, PlatformTotal>,
    /// Viewers online per platform, as the platform last said.
    pub viewers: BTreeMap<String, u64>,
    pub triggers: Vec<TriggerView>,
    pub counters: ShowCounters,
}

/// Waiting lines listed at most (the count covers the rest).
pub const QUEUE_SHOWN: usize = 50;
/// Gift batches listed at most.
pub const GIFTS_SHOWN: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineView {
    /// The timeline's id: what `veto` names.
    pub id: u64,
    pub text: String,
    /// `gift_thanks`, `reply`, `triggered`, `notice`…
    pub kind: &'static str,
    /// Why it is there: the gift and its giver, the trigger, the operator.
    pub cause: String,
    pub priority: i32,
    pub paid: bool,
    pub age_secs: f64,
    /// For the line on air: heard so far and its length (0 until its clip is known).
    pub played_ms: u32,
    pub total_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GiftView {
    pub platform: String,
    pub user: String,
    pub gift: String,
    pub count: u32,
    pub yuan: f64,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlatformTotal {
    pub batches: u64,
    pub yuan: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerView {
    pub name: String,
    /// Where it is written (`triggers.toml:12`).
    pub at: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShowCounters {
    pub events: u64,
    pub gifts: u64,
    pub lines_aired: u64,
    pub thanks_merged: u64,
    pub interrupted: u64,
    pub dropped: u64,
    pub speech_failures: u64,
    /// Drops by (class, reason), for `/metrics`.
    pub drops: Vec<(String, String, u64)>,
}

/// Everything one console update carries.
#[derive(Debug, Clone, Serialize)]
pub struct Panels {
    pub show: ShowView,
    pub sources: Vec<SourceView>,
    pub voice: Vec<EngineView>,
    pub obs: ObsView,
    /// Avatar link clients (the AI Avatar source, live2d-bridge) and whether one plays audio.
    pub avatars: usize,
    pub audio_clock: bool,
    pub push: Vec<PushView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    pub key: String,
    pub state: &'static str,
    pub reason: Option<String>,
    pub since_secs: f64,
    pub reconnects: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineView {
    pub engine: String,
    pub voice: String,
    pub attempts: u64,
    pub successes: u64,
    /// Over the recent attempts; None until there are enough of them.
    pub success_rate: Option<f64>,
    pub mean_latency_ms: f64,
    pub breaker: &'static str,
    pub breaker_trips: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObsView {
    /// OBS control is switched on in the config.
    pub enabled: bool,
    pub connected: bool,
    /// Why it is not connected (the last error).
    pub reason: Option<String>,
    pub streaming: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushView {
    pub name: String,
    pub state: String,
    pub kbps: f64,
    pub mb_sent: f64,
    pub reconnects: u64,
    pub last_error: String,
}
