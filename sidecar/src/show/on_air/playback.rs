//! The playback state machine (seed 000): what the avatar is doing with the unit's lines, and
//! what becomes of a line cut short.
//!
//! ```text
//!   Idle ── Started ──▶ Playing ── Urgent (a more urgent offer) ──▶ InterruptDecision
//!    ▲ ◀──── Ended ────  ▲   ▲ ◀──────────── Kept (the rule says no) ──────┘      │ Cut
//!    │                   │   │                                                   ▼ (Stop sent)
//!    │                   │   └──────────── Started (the interrupter) ─────── Interrupted
//!    │                   └── Started ── PostInterrupt ◀── CutResolved ───────────┘
//!    └──────── InterrupterGone ─────────────┘         (the cut line's end report)
//! ```
//!
//! * **InterruptDecision** lasts one offer: the timeline applies the rule (≥ 5 levels more
//!   urgent, ≥ 8 past 85 % heard) and either cuts the playing line or keeps it.
//! * **Interrupted**: `Stop` was sent. The cut line's [`Fate`] is decided at once from the last
//!   `Progress` report (every ~100 ms), and decided again, exactly, from the avatar's end
//!   report of the cut utterance (`played_ms` up to the block the `Stop` landed in) unless the
//!   line is back on air by then.
//! * **PostInterrupt**: that end report came in; the fate is final.
//! * In both, nothing but the interrupter starts while its clip is being made: the cut line
//!   must not slip back on air first. The interrupter (or anything more urgent) starting moves
//!   to `Playing`.
//!
//! What becomes of the cut line ([`fate`]):
//! * played to its end before the `Stop` landed → heard (a gift is thanked);
//! * an unpaid line the timeline let go (half of it or more heard: replaying it sounds broken)
//!   → discarded; an unpaid reply whose TTL has passed → discarded (a late reply to a comment
//!   the room has moved on from is worse than none; one whose TTL passes while it waits is
//!   skipped by the timeline);
//! * otherwise it **resumes from the clause that was cut**: the clauses before it are not said
//!   again. Paid lines always resume, however much was heard: a thank-you that was mostly
//!   heard is *not* counted as heard (the seed makes a nearly finished line harder to
//!   interrupt rather than counting it done), and what remains of it is short. A gift is
//!   thanked only once that remaining part has been heard to the end.

use crate::speech::voice::ClauseSpan;

/// An utterance on air and the line it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OnAirLine {
    pub utterance: u64,
    pub line_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Playback {
    /// Nothing on air.
    Idle,
    Playing(OnAirLine),
    /// Line `by` is more urgent than the playing one: the interruption rule is being applied.
    InterruptDecision {
        playing: OnAirLine,
        by: u64,
    },
    /// The playing line was stopped for line `by`; its end report is awaited.
    Interrupted {
        cut: OnAirLine,
        by: u64,
    },
    /// The cut line's fate is final; line `by` airs next.
    PostInterrupt {
        by: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// A line went on air.
    Started(OnAirLine),
    /// Line `by`, more urgent than the playing one, was offered.
    Urgent { by: u64 },
    /// The rule kept the playing line on air.
    Kept,
    /// The rule cut the playing line: `Stop` is sent.
    Cut,
    /// The cut line's fate is decided.
    CutResolved(Fate),
    /// The playing line ended (played out, watchdog, avatar gone).
    Ended,
    /// The interrupter will not air (dropped, or its clip failed).
    InterrupterGone,
}

/// What becomes of a line that was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// Said again from this clause of the whole line (0: the first).
    Resume { from_clause: usize },
    /// It played to its end after all.
    Heard,
    /// Not said again.
    Discard,
}

impl Playback {
    /// The line that interrupted and airs next, if any.
    pub fn interrupter(&self) -> Option<u64> {
        match self {
            Playback::Interrupted { by, .. } | Playback::PostInterrupt { by } => Some(*by),
            _ => None,
        }
    }

    /// The utterance on air, if any (the one watched by the watchdog).
    pub fn playing(&self) -> Option<OnAirLine> {
        match self {
            Playback::Playing(line) | Playback::InterruptDecision { playing: line, .. } => {
                Some(*line)
            }
            _ => None,
        }
    }

    /// Applies `event`, logged at debug. An event that does not apply to the current state
    /// changes nothing (and is logged): the unit's calls come from outside in any order, so a
    /// stray event must not corrupt the state.
    pub fn step(&mut self, event: Event) {
        let next = match (*self, event) {
            (
                Playback::Idle | Playback::Interrupted { .. } | Playback::PostInterrupt { .. },
                Event::Started(line),
            ) => Playback::Playing(line),
            (Playback::Playing(playing), Event::Urgent { by }) => {
                Playback::InterruptDecision { playing, by }
            }
            (Playback::InterruptDecision { playing, .. }, Event::Kept) => {
                Playback::Playing(playing)
            }
            (Playback::InterruptDecision { playing, by }, Event::Cut) => {
                Playback::Interrupted { cut: playing, by }
            }
            (Playback::Interrupted { by, .. }, Event::CutResolved(_)) => {
                Playback::PostInterrupt { by }
            }
            (Playback::Playing(_), Event::Ended) => Playback::Idle,
            (
                Playback::Interrupted { .. } | Playback::PostInterrupt { .. },
                Event::InterrupterGone,
            ) => Playback::Idle,
            (state, event) => {
                tracing::debug!(?state, ?event, "playback: event ignored in this state");
                return;
            }
        };
        tracing::debug!(from = ?self, to = ?next, ?event, "playback transition");
        *self = next;
    }
}

/// What is known of a line when it was cut.
#[derive(Debug, Clone, Copy)]
pub(super) struct CutFacts<'a> {
    /// The timeline put it back in the queue (paid, or less than half heard).
    pub requeued: bool,
    pub paid: bool,
    /// Its TTL has passed (unpaid replies only have one).
    pub expired: bool,
    /// The avatar reported it played to its end (the `Stop` came too late).
    pub completed: bool,
    /// Of the utterance that was cut.
    pub played_ms: u32,
    /// The clauses of the utterance that was cut, `end_sample` counted from its start.
    pub clauses: &'a [ClauseSpan],
    /// Which clause of the whole line the utterance started with (a resumed line starts late).
    pub first_clause: usize,
}

/// The module doc's rules, on plain values.
pub(super) fn fate(cut: CutFacts) -> Fate {
    let cut_clause = cut
        .clauses
        .iter()
        .position(|clause| avatar_link::samples_to_ms(clause.end_sample) > cut.played_ms);
    let Some(cut_clause) = cut_clause.filter(|_| !cut.completed) else {
        return Fate::Heard;
    };
    if !cut.requeued || (!cut.paid && cut.expired) {
        return Fate::Discard;
    }
    Fate::Resume {
        from_clause: cut.first_clause + cut_clause,
    }
}

#[cfg(test)]
#[path = "playback_tests.rs"]
mod tests;
