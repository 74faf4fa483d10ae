//! `[scheduler]`: the interruption rule's gaps, queue bounds, reply expiry, what makes a
//! comment important, and the idle and welcome pacing; aging (`max_wait_secs`) and the
//! per-class caps (`[scheduler.caps]`).

use serde::Deserialize;

use super::class::CapsConfig;
use super::timeline::InterruptRules;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Priority gap needed to interrupt what is playing (seed 000: 5).
    pub interrupt_gap: i32,
    /// Gap needed once more than `late_progress` of it has played (seed 000: 8).
    pub interrupt_gap_late: i32,
    pub late_progress: f32,
    /// Unpaid lines waiting at most; beyond, the least urgent is dropped (paid lines never are).
    pub max_queued_unpaid: usize,
    /// A reply to a comment older than this is stale and skipped.
    pub reply_ttl_secs: u64,
    /// Comments containing one of these are "important" (priority 0 instead of 5).
    pub important_keywords: Vec<String>,
    /// Viewers at or above this level get VIP priority for comments.
    pub vip_level: u32,
    /// Seconds of silence after which the avatar says an idle line.
    pub idle_after_secs: u64,
    /// At most one welcome line per this many seconds.
    pub welcome_every_secs: u64,
    /// A comment reply that waited this long goes next, even in a gift storm (after the line
    /// playing). Only matters below `reply_ttl_secs`: a reply whose ttl ends first expires.
    pub max_wait_secs: u64,
    /// The cap of each unpaid line class.
    pub caps: CapsConfig,
}

impl SchedulerConfig {
    /// The timeline's rules from these settings.
    pub fn timeline_rules(&self) -> InterruptRules {
        InterruptRules {
            gap: self.interrupt_gap,
            gap_late: self.interrupt_gap_late,
            late_progress: self.late_progress,
            max_unpaid: self.max_queued_unpaid,
            max_wait_ms: Some(self.max_wait_secs.saturating_mul(1_000)),
            caps: self.caps.table(),
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interrupt_gap: 5,
            interrupt_gap_late: 8,
            late_progress: 0.85,
            max_queued_unpaid: 12,
            reply_ttl_secs: 45,
            important_keywords: ["主播", "？", "?", "怎么", "什么", "吗"]
                .map(String::from)
                .to_vec(),
            vip_level: 30,
            idle_after_secs: 20,
            welcome_every_secs: 20,
            max_wait_secs: 30,
            caps: CapsConfig::default(),
        }
    }
}
