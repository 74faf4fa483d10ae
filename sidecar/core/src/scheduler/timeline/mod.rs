//! The queue of lines waiting to be said and the line being said.
//!
//! Invariants, all tested (`tests.rs`, `props.rs`):
//! * A paid line (a gift thank-you) is never dropped: not for capacity, not for age, not for a
//!   class cap, and an interrupted paid line goes back to the front of its priority level.
//! * At most `max_unpaid` unpaid lines wait; beyond that the least urgent (then oldest) is
//!   dropped. Each unpaid class may have its own cap (`coalesce` or `drop_oldest`). Every drop
//!   is counted by (class, reason). An interrupted unpaid line comes back only when less than
//!   half was heard and its class has room (else newer lines of its class take its place).
//!   `requeue_playing` (the avatar left) puts any line back as is.
//! * A new line interrupts the playing one when it is more urgent by `gap` levels, or by
//!   `gap_late` once more than `late_progress` of the playing line has been heard (seed 000:
//!   5, 8 and 85 %). The rank within a level never counts for this.
//! * **Aging, bounded:** an unpaid reply that has waited `max_wait_ms` is *overdue* and goes
//!   next, before any gift: it waits at most `max_wait_ms` + the rest of the line playing at
//!   its deadline (+ the overdue replies older than it, at most the reply cap). While a reply
//!   is overdue no line interrupts (only an `EMERGENCY` notice does), and an overdue reply on
//!   air is cut only by an `EMERGENCY` notice, so a storm of big gifts cannot push it back. A
//!   reply whose expiry (`reply_ttl_secs`) comes before its deadline expires instead: aging
//!   only matters when `max_wait < ttl`, and a line is never said stale.
//! * Equal level and rank play in arrival order.
//!
//! The clock is passed in (u64 ms): the timeline keeps the latest time it was told, and the
//! calls without a time (`offer`, `upcoming`) use that.

mod waiting;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use super::class::{ClassCaps, DropCounts, DropReason, LineClass};
use super::priority::EMERGENCY;
use waiting::Waiting;

/// The seed's interruption rule and the queue's bounds, configurable
/// (`SchedulerConfig::timeline_rules`). The default has no class caps and no aging: the
/// plain seed rule.
#[derive(Debug, Clone, Copy)]
pub struct InterruptRules {
    pub gap: i32,
    pub gap_late: i32,
    pub late_progress: f32,
    pub max_unpaid: usize,
    /// An unpaid reply that waited this long goes next (`None`: replies never age).
    pub max_wait_ms: Option<u64>,
    /// Each unpaid class's cap (`None`: only `max_unpaid` bounds it).
    pub caps: ClassCaps,
}

impl Default for InterruptRules {
    fn default() -> Self {
        Self {
            gap: 5,
            gap_late: 8,
            late_progress: 0.85,
            max_unpaid: 12,
            max_wait_ms: None,
            caps: [None; LineClass::COUNT],
        }
    }
}

/// Something to say, with scheduling metadata; `T` is whatever the caller needs to say it.
#[derive(Debug, Clone)]
pub struct Line<T> {
    pub id: u64,
    /// The priority level: ordering and the interruption rule.
    pub priority: i32,
    /// Order within the level (lower first); ignored by the interruption rule.
    pub rank: i32,
    pub paid: bool,
    /// Unpaid lines past this time are skipped instead of said.
    pub expires_ms: Option<u64>,
    /// What kind of line it is: class caps, aging (replies) and drop counters.
    pub class: LineClass,
    pub payload: T,
    seq: u64,
    offered_ms: u64,
}

impl<T> Line<T> {
    /// A line of class [`LineClass::Gift`] when paid, [`LineClass::Other`] otherwise, rank 0.
    pub fn new(id: u64, priority: i32, paid: bool, expires_ms: Option<u64>, payload: T) -> Self {
        Self {
            id,
            priority,
            rank: 0,
            paid,
            expires_ms,
            class: if paid {
                LineClass::Gift
            } else {
                LineClass::Other
            },
            payload,
            seq: 0,
            offered_ms: 0,
        }
    }

    pub fn with_class(mut self, class: LineClass) -> Self {
        self.class = class;
        self
    }

    pub fn with_rank(mut self, rank: i32) -> Self {
        self.rank = rank;
        self
    }

    /// When the line was offered (its place and age; a coalesced line keeps the one it
    /// replaced).
    pub fn offered_ms(&self) -> u64 {
        self.offered_ms
    }

    fn expired(&self, now_ms: u64) -> bool {
        !self.paid && self.expires_ms.is_some_and(|e| now_ms >= e)
    }
}

struct Playing<T> {
    line: Line<T>,
    played_ms: u32,
    total_ms: u32,
    /// It went on air because it was overdue: only a notice cuts it.
    overdue: bool,
}

impl<T> Playing<T> {
    fn progress(&self) -> f32 {
        if self.total_ms == 0 {
            0.0
        } else {
            (self.played_ms as f32 / self.total_ms as f32).min(1.0)
        }
    }
}

/// What happened to an offered line.
#[derive(Debug)]
pub struct Offer<T> {
    /// The playing line was interrupted: stop its audio now. If it deserves another go it is
    /// already back in the queue; otherwise it is returned here for the record.
    pub interrupted: Option<Interrupted<T>>,
    /// Unpaid lines pushed out (possibly the offered one itself, by capacity).
    pub dropped: Vec<Line<T>>,
    /// Why each of `dropped` went, in the same order.
    pub why_dropped: Vec<DropReason>,
}

impl<T> Offer<T> {
    pub fn dropped_with_reasons(&self) -> impl Iterator<Item = (&Line<T>, DropReason)> {
        self.dropped.iter().zip(self.why_dropped.iter().copied())
    }
}

#[derive(Debug)]
pub struct Interrupted<T> {
    pub id: u64,
    pub requeued: bool,
    /// The line itself when it was not requeued (mostly heard, or its class is at its cap:
    /// newer lines of its class wait, and it counts as interrupted, not as dropped).
    pub discarded: Option<Line<T>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub offered: u64,
    pub started: u64,
    pub finished: u64,
    pub interrupted: u64,
    /// Dropped for `max_unpaid` (all classes).
    pub dropped_capacity: u64,
    /// Skipped at their turn because they had expired (all classes).
    pub dropped_expired: u64,
    /// Replies that went on air because they were overdue.
    pub started_overdue: u64,
    /// Lines taken out by [`Timeline::take_waiting_where`] (to be merged, not dropped).
    pub taken: u64,
    /// Every drop by (class, reason).
    pub drops: DropCounts,
}

pub struct Timeline<T> {
    rules: InterruptRules,
    waiting: Waiting<T>,
    playing: Option<Playing<T>>,
    next_seq: u64,
    now_ms: u64,
    stats: Stats,
}

impl<T> Timeline<T> {
    pub fn new(rules: InterruptRules) -> Self {
        Self {
            rules,
            waiting: Waiting::new(),
            playing: None,
            next_seq: 0,
            now_ms: 0,
            stats: Stats::default(),
        }
    }

    /// Moves the timeline's clock forward (never back) and returns it.
    fn tick(&mut self, now_ms: u64) -> u64 {
        self.now_ms = self.now_ms.max(now_ms);
        self.now_ms
    }

    /// [`Timeline::offer_at`] at the latest time the timeline was told.
    pub fn offer(&mut self, line: Line<T>) -> Offer<T> {
        self.offer_at(line, self.now_ms)
    }

    /// Queues a line offered at `now_ms`, interrupting the playing one if the rule says so,
    /// then applies its class's cap and the capacity bound.
    pub fn offer_at(&mut self, mut line: Line<T>, now_ms: u64) -> Offer<T> {
        let now_ms = self.tick(now_ms);
        self.stats.offered += 1;
        line.seq = self.next_seq;
        line.offered_ms = now_ms;
        self.next_seq += 1;
        let interrupted = match &self.playing {
            Some(p) if self.should_interrupt(p, line.priority, now_ms) => {
                Some(self.interrupt_playing())
            }
            _ => None,
        };
        let mut dropped = Vec::new();
        let mut why_dropped = Vec::new();
        let cap = self.rules.caps[line.class.index()];
        if let Some((old, why)) = self.waiting.admit(line, cap) {
            self.stats.drops.add(old.class, why);
            dropped.push(old);
            why_dropped.push(why);
        }
        for old in self.waiting.enforce_capacity(self.rules.max_unpaid) {
            self.stats.dropped_capacity += 1;
            self.stats.drops.add(old.class, DropReason::Capacity);
            dropped.push(old);
            why_dropped.push(DropReason::Capacity);
        }
        Offer {
            interrupted,
            dropped,
            why_dropped,
        }
    }

    fn should_interrupt(&self, playing: &Playing<T>, new_priority: i32, now_ms: u64) -> bool {
        // Aging's bound: an overdue reply, on air or next, is not pushed back by anything
        // but a notice.
        if new_priority > EMERGENCY
            && (playing.overdue || self.waiting.any_overdue(now_ms, self.rules.max_wait_ms))
        {
            return false;
        }
        let gap = playing.line.priority - new_priority;
        let needed = if playing.progress() > self.rules.late_progress {
            self.rules.gap_late
        } else {
            self.rules.gap
        };
        gap >= needed
    }

    fn interrupt_playing(&mut self) -> Interrupted<T> {
        let p = self.playing.take().expect("checked by caller");
        self.stats.interrupted += 1;
        let id = p.line.id;
        // Paid lines always get another go. An unpaid one only if most of it is still unheard
        // (replaying a reply the room has mostly heard sounds broken) and its class has room:
        // the lines of its class waiting are newer and take its place.
        let cap = self.rules.caps[p.line.class.index()];
        if p.line.paid || (p.progress() < 0.5 && !self.waiting.class_full(&p.line, cap)) {
            self.waiting.push(p.line); // keeps its seq: back to the front of its level
            Interrupted {
                id,
                requeued: true,
                discarded: None,
            }
        } else {
            Interrupted {
                id,
                requeued: false,
                discarded: Some(p.line),
            }
        }
    }

    fn pop_next(&mut self) -> Option<(Line<T>, bool)> {
        self.waiting.pop(self.now_ms, self.rules.max_wait_ms)
    }

    fn skip_expired(&mut self, line: Line<T>, skipped: &mut Vec<Line<T>>) {
        self.stats.dropped_expired += 1;
        self.stats.drops.add(line.class, DropReason::Expired);
        skipped.push(line);
    }

    fn start(&mut self, line: Line<T>, overdue: bool) -> Option<&Line<T>> {
        self.stats.started += 1;
        self.stats.started_overdue += u64::from(overdue);
        self.playing = Some(Playing {
            line,
            played_ms: 0,
            total_ms: 0,
            overdue,
        });
        self.playing.as_ref().map(|p| &p.line)
    }

    /// If nothing is playing, takes the next line to play (an overdue reply, else the most
    /// urgent), skipping expired unpaid ones (returned in `skipped`).
    pub fn start_next(&mut self, now_ms: u64, skipped: &mut Vec<Line<T>>) -> Option<&Line<T>> {
        self.start_next_where(now_ms, usize::MAX, skipped, |_| true)
    }

    /// Like [`Timeline::start_next`], but takes the first line that `ready` accepts among
    /// the `lookahead` next ones: while one line's audio is late, the next ready line airs
    /// instead of waiting behind it (no head-of-line blocking). The lines passed over keep
    /// their place, so each airs as soon as it is ready and nothing more urgent is ahead of it.
    pub fn start_next_where(
        &mut self,
        now_ms: u64,
        lookahead: usize,
        skipped: &mut Vec<Line<T>>,
        ready: impl Fn(&Line<T>) -> bool,
    ) -> Option<&Line<T>> {
        self.tick(now_ms);
        if self.playing.is_some() {
            return None;
        }
        let mut passed_over = Vec::new();
        let mut chosen = None;
        while passed_over.len() < lookahead.max(1) {
            let Some((line, overdue)) = self.pop_next() else {
                break;
            };
            if line.expired(self.now_ms) {
                self.skip_expired(line, skipped);
            } else if ready(&line) {
                chosen = Some((line, overdue));
                break;
            } else {
                passed_over.push(line);
            }
        }
        for line in passed_over {
            self.waiting.push(line); // same seq: back in its place
        }
        let (line, overdue) = chosen?;
        self.start(line, overdue)
    }

    /// Calls `visit` on the `n` lines to be said next, in that order (the lines worth
    /// synthesising ahead of their turn), at the timeline's latest time.
    pub fn upcoming(&mut self, n: usize, mut visit: impl FnMut(&Line<T>)) {
        let mut taken = Vec::with_capacity(n);
        while taken.len() < n {
            match self.pop_next() {
                Some((line, _)) => taken.push(line),
                None => break,
            }
        }
        for line in taken {
            visit(&line);
            self.waiting.push(line);
        }
    }

    /// Takes out every waiting line `pred` accepts (never the playing one), most urgent first:
    /// e.g. the thank-yous of a gift storm, to be merged into one line and offered again
    /// (`RewardEngine::merge_thanks`). They are not dropped: the caller owns them now.
    pub fn take_waiting_where(&mut self, pred: impl FnMut(&Line<T>) -> bool) -> Vec<Line<T>> {
        let taken = self.waiting.take_where(pred);
        self.stats.taken += taken.len() as u64;
        taken
    }

    /// Waiting lines `pred` accepts (e.g. thank-yous, to decide when to merge them).
    pub fn count_waiting_where(&self, pred: impl FnMut(&Line<T>) -> bool) -> usize {
        self.waiting.count_where(pred)
    }

    /// Waiting paid lines (to feed a backlog in pages).
    pub fn queued_paid(&self) -> usize {
        self.waiting.paid_len()
    }

    /// Puts the playing line back (e.g. the avatar went away before it was heard).
    pub fn requeue_playing(&mut self) -> Option<u64> {
        let p = self.playing.take()?;
        let id = p.line.id;
        self.waiting.push(p.line);
        Some(id)
    }

    /// Length of the playing line's audio, known once it is synthesised.
    pub fn set_duration(&mut self, id: u64, total_ms: u32) {
        if let Some(p) = self.playing.as_mut().filter(|p| p.line.id == id) {
            p.total_ms = total_ms;
        }
    }

    pub fn progress(&mut self, id: u64, played_ms: u32) {
        if let Some(p) = self.playing.as_mut().filter(|p| p.line.id == id) {
            p.played_ms = played_ms;
        }
    }

    /// The playing line finished; returns it. Ignores ids that are not playing (e.g. the late
    /// report of a line that was interrupted).
    pub fn finish(&mut self, id: u64) -> Option<Line<T>> {
        if self.playing.as_ref().is_some_and(|p| p.line.id == id) {
            self.stats.finished += 1;
            return self.playing.take().map(|p| p.line);
        }
        None
    }

    /// Every waiting line, most urgent first by level and rank (an overdue reply may still go
    /// first: see [`Timeline::start_next`]). For display; the order of airing is the timeline's.
    pub fn waiting_lines(&self) -> Vec<&Line<T>> {
        self.waiting.sorted()
    }

    /// How much of the playing line was heard and how long it is (0 until its clip is known).
    pub fn playing_progress(&self) -> Option<(u32, u32)> {
        self.playing.as_ref().map(|p| (p.played_ms, p.total_ms))
    }

    pub fn playing(&self) -> Option<&Line<T>> {
        self.playing.as_ref().map(|p| &p.line)
    }

    pub fn queued(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_idle(&self) -> bool {
        self.playing.is_none() && self.queued() == 0
    }

    /// The latest time the timeline was told.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }
}
