//! The lines waiting their turn.
//!
//! Paid lines wait in a heap (unbounded, never dropped); unpaid lines in a short vector bounded
//! by `max_unpaid`, so finding the one to drop, the overdue reply or a class's oldest line is a
//! scan of a dozen items, not of the whole backlog, however many gifts are waiting.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Line;
use crate::scheduler::class::{CapPolicy, ClassCap, DropReason, LineClass};

/// Orders lines by urgency: level, then rank, then arrival order (lower first).
pub(super) fn urgency<T>(line: &Line<T>) -> (i32, i32, u64) {
    (line.priority, line.rank, line.seq)
}

/// A reply is overdue once it has waited `max_wait_ms`: it goes before everything else.
pub(super) fn overdue<T>(line: &Line<T>, now_ms: u64, max_wait_ms: Option<u64>) -> bool {
    !line.paid
        && line.class == LineClass::Reply
        && max_wait_ms.is_some_and(|wait| now_ms >= line.offered_ms.saturating_add(wait))
}

struct Queued<T>(Line<T>);

impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the "greatest" is the most urgent, the lowest key.
        urgency(&other.0).cmp(&urgency(&self.0))
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

pub(super) struct Waiting<T> {
    paid: BinaryHeap<Queued<T>>,
    unpaid: Vec<Line<T>>,
}

impl<T> Waiting<T> {
    pub(super) fn new() -> Self {
        Self {
            paid: BinaryHeap::new(),
            unpaid: Vec::new(),
        }
    }

    /// Queues a line as is (no caps): new lines after [`Waiting::admit`], requeued ones.
    pub(super) fn push(&mut self, line: Line<T>) {
        if line.paid {
            self.paid.push(Queued(line));
        } else {
            self.unpaid.push(line);
        }
    }

    /// Queues a new line under its class's cap; returns the line that left for it, if any.
    pub(super) fn admit(
        &mut self,
        mut line: Line<T>,
        cap: Option<ClassCap>,
    ) -> Option<(Line<T>, DropReason)> {
        let Some(cap) = cap.filter(|_| !line.paid) else {
            self.push(line);
            return None;
        };
        let class = line.class;
        let oldest = |unpaid: &[Line<T>]| {
            (0..unpaid.len())
                .filter(|&i| unpaid[i].class == class)
                .min_by_key(|&i| unpaid[i].seq)
        };
        let waiting = self.unpaid.iter().filter(|l| l.class == class).count();
        if waiting < cap.max.max(1) {
            self.push(line);
            return None;
        }
        let victim = oldest(&self.unpaid).expect("the class is at its cap");
        match cap.policy {
            CapPolicy::Coalesce => {
                // The new line takes the old one's place and turn: a welcome that keeps
                // being replaced must not keep going to the back.
                let old = &self.unpaid[victim];
                (line.seq, line.offered_ms) = (old.seq, old.offered_ms);
                let old = std::mem::replace(&mut self.unpaid[victim], line);
                Some((old, DropReason::Coalesced))
            }
            CapPolicy::DropOldest => {
                let old = self.unpaid.swap_remove(victim);
                self.push(line);
                Some((old, DropReason::ClassCap))
            }
        }
    }

    /// Whether an unpaid line coming back (interrupted) would exceed its class's cap.
    pub(super) fn class_full(&self, line: &Line<T>, cap: Option<ClassCap>) -> bool {
        cap.filter(|_| !line.paid).is_some_and(|cap| {
            let waiting = self.unpaid.iter().filter(|l| l.class == line.class).count();
            waiting >= cap.max.max(1)
        })
    }

    /// Drops unpaid lines beyond `max_unpaid`: the least urgent, among equals the oldest (it
    /// is the stalest).
    pub(super) fn enforce_capacity(&mut self, max_unpaid: usize) -> Vec<Line<T>> {
        let mut dropped = Vec::new();
        while self.unpaid.len() > max_unpaid {
            let victim = (0..self.unpaid.len())
                .max_by(|&a, &b| {
                    let (a, b) = (&self.unpaid[a], &self.unpaid[b]);
                    (a.priority, a.rank)
                        .cmp(&(b.priority, b.rank))
                        .then(b.seq.cmp(&a.seq))
                })
                .expect("over capacity means not empty");
            dropped.push(self.unpaid.swap_remove(victim));
        }
        dropped
    }

    /// Removes the line to say next: the reply overdue longest, else the most urgent line,
    /// paid or not. The flag says whether it was overdue.
    pub(super) fn pop(&mut self, now_ms: u64, max_wait_ms: Option<u64>) -> Option<(Line<T>, bool)> {
        let overdue_reply = max_wait_ms.and_then(|_| {
            (0..self.unpaid.len())
                .filter(|&i| overdue(&self.unpaid[i], now_ms, max_wait_ms))
                .min_by_key(|&i| (self.unpaid[i].offered_ms, self.unpaid[i].seq))
        });
        if let Some(i) = overdue_reply {
            return Some((self.unpaid.swap_remove(i), true));
        }
        let best_unpaid = (0..self.unpaid.len()).min_by_key(|&i| urgency(&self.unpaid[i]));
        let take_unpaid = match (self.paid.peek(), best_unpaid) {
            (Some(p), Some(u)) => urgency(&self.unpaid[u]) < urgency(&p.0),
            (None, Some(_)) => true,
            _ => false,
        };
        let line = match (take_unpaid, best_unpaid) {
            (true, Some(u)) => Some(self.unpaid.swap_remove(u)),
            _ => self.paid.pop().map(|q| q.0),
        };
        line.map(|l| (l, false))
    }

    /// Whether some unpaid reply is overdue now.
    pub(super) fn any_overdue(&self, now_ms: u64, max_wait_ms: Option<u64>) -> bool {
        self.unpaid.iter().any(|l| overdue(l, now_ms, max_wait_ms))
    }

    /// Takes out every waiting line `pred` accepts, most urgent first.
    pub(super) fn take_where(&mut self, mut pred: impl FnMut(&Line<T>) -> bool) -> Vec<Line<T>> {
        let (mut taken, kept): (Vec<Line<T>>, Vec<Line<T>>) = std::mem::take(&mut self.paid)
            .into_vec()
            .into_iter()
            .map(|q| q.0)
            .partition(|l| pred(l));
        self.paid = kept.into_iter().map(Queued).collect();
        let (unpaid_taken, unpaid_kept) = std::mem::take(&mut self.unpaid)
            .into_iter()
            .partition(|l| pred(l));
        self.unpaid = unpaid_kept;
        taken.extend::<Vec<_>>(unpaid_taken);
        taken.sort_by_key(urgency);
        taken
    }

    pub(super) fn count_where(&self, mut pred: impl FnMut(&Line<T>) -> bool) -> usize {
        let paid = self.paid.iter().filter(|q| pred(&q.0)).count();
        paid + self.unpaid.iter().filter(|l| pred(l)).count()
    }

    /// Every waiting line, most urgent first (what the operator's console lists).
    pub(super) fn sorted(&self) -> Vec<&Line<T>> {
        let mut all: Vec<&Line<T>> = self
            .paid
            .iter()
            .map(|q| &q.0)
            .chain(self.unpaid.iter())
            .collect();
        all.sort_by_key(|l| urgency(l));
        all
    }

    pub(super) fn paid_len(&self) -> usize {
        self.paid.len()
    }

    pub(super) fn len(&self) -> usize {
        self.paid.len() + self.unpaid.len()
    }
}
