//! The queue of lines waiting to be said and the line being said.
//!
//! Invariants, all tested below:
//! * A paid line (a gift thank-you) is never dropped: not for capacity, not for age, and an
//!   interrupted paid line goes back to the front of its priority level.
//! * At most `max_unpaid` unpaid lines wait; beyond that the least urgent (then oldest) is dropped.
//! * A new line interrupts the playing one when it is more urgent by `gap` levels, or by
//!   `gap_late` once more than `late_progress` of the playing line has been heard (seed 000:
//!   5, 8 and 85 %).
//! * Equal priorities play in arrival order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The seed's interruption rule, configurable.
#[derive(Debug, Clone, Copy)]
pub struct InterruptRules {
    pub gap: i32,
    pub gap_late: i32,
    pub late_progress: f32,
    pub max_unpaid: usize,
}

impl Default for InterruptRules {
    fn default() -> Self {
        Self {
            gap: 5,
            gap_late: 8,
            late_progress: 0.85,
            max_unpaid: 12,
        }
    }
}

/// Something to say, with scheduling metadata; `T` is whatever the caller needs to say it.
#[derive(Debug, Clone)]
pub struct Line<T> {
    pub id: u64,
    pub priority: i32,
    pub paid: bool,
    /// Unpaid lines past this time are skipped instead of said.
    pub expires_ms: Option<u64>,
    pub payload: T,
    seq: u64,
}

impl<T> Line<T> {
    pub fn new(id: u64, priority: i32, paid: bool, expires_ms: Option<u64>, payload: T) -> Self {
        Self {
            id,
            priority,
            paid,
            expires_ms,
            payload,
            seq: 0,
        }
    }

    fn expired(&self, now_ms: u64) -> bool {
        !self.paid && self.expires_ms.is_some_and(|e| now_ms >= e)
    }
}

struct Queued<T>(Line<T>);

impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the "greatest" is the most urgent, i.e. the lowest priority
        // number, then the earliest sequence number.
        other
            .0
            .priority
            .cmp(&self.0.priority)
            .then_with(|| other.0.seq.cmp(&self.0.seq))
    }
}
impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> PartialEq for Queued<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Queued<T> {}

struct Playing<T> {
    line: Line<T>,
    played_ms: u32,
    total_ms: u32,
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
    /// Unpaid lines pushed out by capacity (possibly the offered one itself).
    pub dropped: Vec<Line<T>>,
}

#[derive(Debug)]
pub struct Interrupted<T> {
    pub id: u64,
    pub requeued: bool,
    /// The line itself when it was not requeued.
    pub discarded: Option<Line<T>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub offered: u64,
    pub started: u64,
    pub finished: u64,
    pub interrupted: u64,
    pub dropped_capacity: u64,
    pub dropped_expired: u64,
}

/// Paid lines wait in a heap (unbounded, never dropped); unpaid lines in a short vector bounded
/// by `max_unpaid`, so finding the one to drop is a scan of a dozen items, not of the whole
/// backlog, however many gifts are waiting.
pub struct Timeline<T> {
    rules: InterruptRules,
    paid: BinaryHeap<Queued<T>>,
    unpaid: Vec<Line<T>>,
    playing: Option<Playing<T>>,
    next_seq: u64,
    stats: Stats,
}

/// Orders lines by urgency: lower priority number first, then arrival order.
fn urgency<T>(line: &Line<T>) -> (i32, u64) {
    (line.priority, line.seq)
}

impl<T> Timeline<T> {
    pub fn new(rules: InterruptRules) -> Self {
        Self {
            rules,
            paid: BinaryHeap::new(),
            unpaid: Vec::new(),
            playing: None,
            next_seq: 0,
            stats: Stats::default(),
        }
    }

    /// Queues a line, interrupting the playing one if the rule says so.
    pub fn offer(&mut self, mut line: Line<T>) -> Offer<T> {
        self.stats.offered += 1;
        line.seq = self.next_seq;
        self.next_seq += 1;
        let interrupted = match &self.playing {
            Some(p) if self.should_interrupt(p, line.priority) => Some(self.interrupt_playing()),
            _ => None,
        };
        self.push(line);
        let dropped = self.enforce_capacity();
        Offer {
            interrupted,
            dropped,
        }
    }

    fn should_interrupt(&self, playing: &Playing<T>, new_priority: i32) -> bool {
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
        // Paid lines always get another go. An unpaid one only if most of it is still unheard:
        // replaying a reply the room has mostly heard sounds broken.
        if p.line.paid || p.progress() < 0.5 {
            self.push(p.line); // keeps its seq: back to the front of its level
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

    fn push(&mut self, line: Line<T>) {
        if line.paid {
            self.paid.push(Queued(line));
        } else {
            self.unpaid.push(line);
        }
    }

    fn enforce_capacity(&mut self) -> Vec<Line<T>> {
        let mut dropped = Vec::new();
        while self.unpaid.len() > self.rules.max_unpaid {
            // Least urgent unpaid line; among equals the oldest (it is the stalest).
            let victim = (0..self.unpaid.len())
                .max_by(|&a, &b| {
                    let (a, b) = (&self.unpaid[a], &self.unpaid[b]);
                    a.priority.cmp(&b.priority).then(b.seq.cmp(&a.seq))
                })
                .expect("over capacity means not empty");
            self.stats.dropped_capacity += 1;
            dropped.push(self.unpaid.swap_remove(victim));
        }
        dropped
    }

    /// Removes and returns the most urgent waiting line, paid or not.
    fn pop_most_urgent(&mut self) -> Option<Line<T>> {
        let best_unpaid = (0..self.unpaid.len()).min_by_key(|&i| urgency(&self.unpaid[i]));
        let take_unpaid = match (self.paid.peek(), best_unpaid) {
            (Some(p), Some(u)) => urgency(&self.unpaid[u]) < urgency(&p.0),
            (None, Some(_)) => true,
            _ => false,
        };
        match (take_unpaid, best_unpaid) {
            (true, Some(u)) => Some(self.unpaid.swap_remove(u)),
            _ => self.paid.pop().map(|q| q.0),
        }
    }

    /// If nothing is playing, takes the most urgent line to play, skipping expired unpaid ones
    /// (returned in `skipped`).
    pub fn start_next(&mut self, now_ms: u64, skipped: &mut Vec<Line<T>>) -> Option<&Line<T>> {
        if self.playing.is_some() {
            return None;
        }
        while let Some(line) = self.pop_most_urgent() {
            if line.expired(now_ms) {
                self.stats.dropped_expired += 1;
                skipped.push(line);
                continue;
            }
            self.stats.started += 1;
            self.playing = Some(Playing {
                line,
                played_ms: 0,
                total_ms: 0,
            });
            return self.playing.as_ref().map(|p| &p.line);
        }
        None
    }

    /// Like [`Timeline::start_next`], but takes the most urgent line that `ready` accepts
    /// among the `lookahead` most urgent ones: while one line's audio is late, the next ready
    /// line airs instead of waiting behind it (no head-of-line blocking). The lines passed
    /// over keep their place, so each airs as soon as it is ready and nothing more urgent is
    /// ahead of it.
    pub fn start_next_where(
        &mut self,
        now_ms: u64,
        lookahead: usize,
        skipped: &mut Vec<Line<T>>,
        ready: impl Fn(&Line<T>) -> bool,
    ) -> Option<&Line<T>> {
        if self.playing.is_some() {
            return None;
        }
        let mut passed_over = Vec::new();
        let mut chosen = None;
        while passed_over.len() < lookahead.max(1) {
            let Some(line) = self.pop_most_urgent() else {
                break;
            };
            if line.expired(now_ms) {
                self.stats.dropped_expired += 1;
                skipped.push(line);
            } else if ready(&line) {
                chosen = Some(line);
                break;
            } else {
                passed_over.push(line);
            }
        }
        for line in passed_over {
            self.push(line); // same seq: back in its place
        }
        let line = chosen?;
        self.stats.started += 1;
        self.playing = Some(Playing {
            line,
            played_ms: 0,
            total_ms: 0,
        });
        self.playing.as_ref().map(|p| &p.line)
    }

    /// Calls `visit` on the `n` most urgent waiting lines, most urgent first (the lines worth
    /// synthesising ahead of their turn).
    pub fn upcoming(&mut self, n: usize, mut visit: impl FnMut(&Line<T>)) {
        let mut taken = Vec::with_capacity(n);
        while taken.len() < n {
            match self.pop_most_urgent() {
                Some(line) => taken.push(line),
                None => break,
            }
        }
        for line in taken {
            visit(&line);
            self.push(line);
        }
    }

    /// Waiting paid lines (to feed a backlog in pages).
    pub fn queued_paid(&self) -> usize {
        self.paid.len()
    }

    /// Puts the playing line back (e.g. the avatar went away before it was heard).
    pub fn requeue_playing(&mut self) -> Option<u64> {
        let p = self.playing.take()?;
        let id = p.line.id;
        self.push(p.line);
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

    pub fn playing(&self) -> Option<&Line<T>> {
        self.playing.as_ref().map(|p| &p.line)
    }

    pub fn queued(&self) -> usize {
        self.paid.len() + self.unpaid.len()
    }

    pub fn is_idle(&self) -> bool {
        self.playing.is_none() && self.queued() == 0
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::priority::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn tl() -> Timeline<&'static str> {
        Timeline::new(InterruptRules::default())
    }

    fn line(id: u64, priority: i32, paid: bool) -> Line<&'static str> {
        Line::new(id, priority, paid, None, "")
    }

    fn start(t: &mut Timeline<&'static str>) -> Option<u64> {
        t.start_next(0, &mut Vec::new()).map(|l| l.id)
    }

    #[test]
    fn a_line_that_is_not_ready_is_passed_over_and_keeps_its_place() {
        let mut t = tl();
        t.offer(line(1, GIFT_LARGE, true)); // its audio is late
        t.offer(line(2, GIFT_NORMAL, true));
        t.offer(line(3, NORMAL, false));
        let not_ready = |l: &Line<&str>| l.id != 1;
        let started = t.start_next_where(0, 8, &mut Vec::new(), not_ready);
        assert_eq!(started.map(|l| l.id), Some(2), "the next ready line airs");
        t.finish(2);
        // Line 1 is ready now: it goes before the less urgent line 3.
        let started = t.start_next_where(0, 8, &mut Vec::new(), |_| true);
        assert_eq!(started.map(|l| l.id), Some(1));
        t.finish(1);
        assert_eq!(start(&mut t), Some(3));
    }

    #[test]
    fn nothing_ready_within_the_lookahead_starts_nothing_and_loses_nothing() {
        let mut t = tl();
        for id in 1..=5 {
            t.offer(line(id, GIFT_NORMAL, true));
        }
        assert!(t
            .start_next_where(0, 2, &mut Vec::new(), |l| l.id == 5)
            .is_none());
        assert_eq!(t.queued(), 5);
        let mut seen = Vec::new();
        t.upcoming(3, |l| seen.push(l.id));
        assert_eq!(seen, vec![1, 2, 3], "order unchanged");
        assert_eq!(t.queued(), 5);
    }

    #[test]
    fn most_urgent_first_then_arrival_order() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        t.offer(line(2, GIFT_NORMAL, true));
        t.offer(line(3, NORMAL, false));
        t.offer(line(4, GIFT_LARGE, true));
        let mut order = Vec::new();
        while let Some(id) = start(&mut t) {
            order.push(id);
            t.finish(id);
        }
        assert_eq!(order, vec![4, 2, 1, 3]);
    }

    #[test]
    fn big_gift_interrupts_a_comment_reply() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        start(&mut t);
        t.set_duration(1, 4_000);
        t.progress(1, 1_000);
        let offer = t.offer(line(2, GIFT_LARGE, true));
        let interrupted = offer.interrupted.expect("gap 10 >= 5 interrupts");
        assert_eq!((interrupted.id, interrupted.requeued), (1, true));
        assert_eq!(start(&mut t), Some(2));
        t.finish(2);
        assert_eq!(
            start(&mut t),
            Some(1),
            "the cut reply comes back (only 25 % heard)"
        );
    }

    #[test]
    fn gap_below_five_does_not_interrupt() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        start(&mut t);
        t.set_duration(1, 4_000);
        assert!(t
            .offer(line(2, COMMENT_IMPORTANT + 1, false))
            .interrupted
            .is_none());
        assert!(
            t.offer(line(3, 1, true)).interrupted.is_none(),
            "gap 4 waits its turn"
        );
    }

    #[test]
    fn late_in_a_line_the_gap_must_be_eight() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        start(&mut t);
        t.set_duration(1, 1_000);
        t.progress(1, 900); // 90 % played
                            // A normal gift is 6 levels more urgent: enough before 85 %, not after.
        assert!(t.offer(line(2, GIFT_NORMAL, true)).interrupted.is_none());
        // A big gift is 10 levels more urgent: still interrupts.
        let cut = t
            .offer(line(3, GIFT_LARGE, true))
            .interrupted
            .expect("gap 10 >= 8");
        assert!(!cut.requeued, "90 % heard: not replayed");
        assert_eq!(cut.discarded.map(|l| l.id), Some(1));
    }

    #[test]
    fn gap_of_exactly_five_interrupts_before_85_percent() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        start(&mut t);
        t.set_duration(1, 1_000);
        t.progress(1, 500);
        assert!(t
            .offer(line(2, COMMENT_IMPORTANT, false))
            .interrupted
            .is_some());
    }

    #[test]
    fn interrupted_paid_lines_are_always_replayed() {
        let mut t = tl();
        t.offer(line(1, GIFT_NORMAL, true));
        start(&mut t);
        t.set_duration(1, 1_000);
        t.progress(1, 990);
        let cut = t
            .offer(line(2, EMERGENCY, false))
            .interrupted
            .expect("gap 9");
        assert!(cut.requeued);
        assert_eq!(start(&mut t), Some(2));
        t.finish(2);
        assert_eq!(start(&mut t), Some(1));
    }

    #[test]
    fn capacity_drops_least_urgent_unpaid_never_paid() {
        let mut t = Timeline::new(InterruptRules {
            max_unpaid: 2,
            ..Default::default()
        });
        t.offer(line(1, SCRIPT, false));
        t.offer(line(2, NORMAL, false));
        for id in 10..20 {
            assert!(t.offer(line(id, GIFT_NORMAL, true)).dropped.is_empty());
        }
        let dropped = t.offer(line(3, NORMAL, false)).dropped;
        assert_eq!(dropped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1]);
        let dropped = t.offer(line(4, BACKGROUND, false)).dropped;
        assert_eq!(dropped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![4]);
        assert_eq!(t.queued(), 12);
    }

    #[test]
    fn expired_unpaid_lines_are_skipped_but_paid_ones_never_expire() {
        let mut t = tl();
        t.offer(Line::new(1, NORMAL, false, Some(100), ""));
        t.offer(Line::new(2, NORMAL, true, Some(100), ""));
        let mut skipped = Vec::new();
        assert_eq!(t.start_next(500, &mut skipped).map(|l| l.id), Some(2));
        t.finish(2);
        assert_eq!(t.start_next(500, &mut skipped).map(|l| l.id), None);
        assert_eq!(skipped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn late_reports_of_interrupted_lines_are_ignored() {
        let mut t = tl();
        t.offer(line(1, NORMAL, false));
        start(&mut t);
        t.offer(line(2, GIFT_LARGE, true));
        start(&mut t);
        assert!(t.finish(1).is_none());
        assert_eq!(t.playing().map(|l| l.id), Some(2));
    }

    /// Random storms of offers, progress, interruptions and finishes: every paid line offered is
    /// eventually started and finished exactly once.
    #[test]
    fn paid_lines_always_come_out_exactly_once() {
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut t = Timeline::new(InterruptRules {
                max_unpaid: 3,
                ..Default::default()
            });
            let mut paid_offered = std::collections::BTreeSet::new();
            let mut paid_finished = Vec::new();
            let mut now = 0;
            for id in 0..300u64 {
                now += rng.random_range(0..200);
                let paid = rng.random_bool(0.4);
                let priority = rng.random_range(EMERGENCY..=BACKGROUND);
                if paid {
                    paid_offered.insert(id);
                }
                t.offer(Line::new(id, priority, paid, Some(now + 1_000), ""));
                if rng.random_bool(0.5) {
                    if let Some(l) = t.start_next(now, &mut Vec::new()) {
                        let id = l.id;
                        t.set_duration(id, 1_000);
                        t.progress(id, rng.random_range(0..1_000));
                    }
                }
                if rng.random_bool(0.3) {
                    if let Some(id) = t.playing().map(|l| l.id) {
                        let done = t.finish(id).expect("playing");
                        if done.paid {
                            paid_finished.push(done.id);
                        }
                    }
                }
            }
            if let Some(id) = t.playing().map(|l| l.id) {
                if t.finish(id).expect("playing").paid {
                    paid_finished.push(id);
                }
            }
            while let Some(id) = t.start_next(u64::MAX, &mut Vec::new()).map(|l| l.id) {
                if t.finish(id).expect("playing").paid {
                    paid_finished.push(id);
                }
            }
            let finished: std::collections::BTreeSet<u64> = paid_finished.iter().copied().collect();
            assert_eq!(
                finished.len(),
                paid_finished.len(),
                "seed {seed}: a paid line finished twice"
            );
            assert_eq!(finished, paid_offered, "seed {seed}");
        }
    }
}
