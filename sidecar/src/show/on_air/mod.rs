//! The on-air unit: what waits to be said, what is being said, and how it ended.
//!
//! It owns the [`Timeline`] of lines, the clips made ahead of their turn ([`clips`]), the
//! utterances sent to the avatar and the watchdog over their end reports ([`reports`]). It
//! talks to the avatar through [`AvatarPort`] and asks for clips through [`ClipMaker`] (the
//! show's voice makes them and hands them back with [`OnAir::on_clip`]), so it runs, and is
//! tested, without a link or a voice. Time is tokio's: the tests run on a paused clock.
//!
//! It never touches the ledger. How a line ended comes back as [`Outcome`]s, in the order it
//! happened, and the show reacts (airtime and thanked-gift notes, unheard retries, text
//! overlays): a gift is thanked only on [`Outcome::Heard`].
//!
//! * **Clips ahead of their turn, bounded.** Only the `SYNTH_AHEAD` (8) most urgent waiting lines
//!   (and the playing one) are synthesised; a storm of a thousand gifts is a thousand queued
//!   lines, not a thousand syntheses in flight.
//! * **No head-of-line blocking.** The next line to air is the most urgent one whose clip is
//!   ready (or failed, to be dealt with); a late clip does not hold back the ready lines behind
//!   it, and airs as soon as it is ready.
//! * **Heard, or not.** A line is heard only when the avatar reports that it played to the end.
//!   A voice failure, a missing end report (watchdog), an avatar that played none of it or cut
//!   it short is [`Outcome::NotHeard`].
//! * **Explicit playback states** ([`playback`]): idle, playing, deciding on an interruption,
//!   interrupted, after an interruption. A line cut short resumes from the clause that was
//!   playing, or is discarded or counted heard, by the rules documented there.

mod clips;
mod operator;
mod playback;
mod ports;
mod reports;
mod resume;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::unheard::Unheard;
use crate::clock::now_ms;
use crate::cue::{Cue, CueKind};
use crate::scheduler::timeline::Interrupted;
use crate::scheduler::{DropReason, InterruptRules, Line, LineClass, Timeline};
use crate::speech::voice::ClauseSpan;
use clips::ClipState;
pub use operator::LineSnapshot;
use playback::{Event, Fate, Playback};
pub use ports::{AvatarPort, ClipMaker, ClipResult, VoiceClips};

/// How a line (or an utterance of it) ended, for the show to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An utterance ended (reported by the avatar, declared by the watchdog, or the late end
    /// report of one the unit stopped): for the airtime log.
    Aired(Airtime),
    /// The line played to the end on the avatar's audio clock.
    Heard { cue: Cue, at_ms: u64 },
    /// The line is done with but was not heard.
    NotHeard { cue: Cue, why: Unheard },
}

/// One utterance's time on air.
#[derive(Debug, Clone, PartialEq)]
pub struct Airtime {
    pub utterance: u64,
    pub cue: Cue,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub played_ms: u32,
    pub interrupted: bool,
}

/// The unit's counters for the end-of-show summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub interrupted: u64,
    pub dropped: u64,
    pub speech_failures: u64,
}

/// An utterance sent to the avatar.
struct Utterance {
    line_id: u64,
    /// The line's cue as offered (a resumed line says only part of its text).
    cue: Cue,
    /// What this utterance says: the cue's text, or its clauses from the one that was cut.
    text: String,
    /// Its clauses, `end_sample` counted from the utterance's first sample.
    clauses: Vec<ClauseSpan>,
    /// Which clause of the whole line it starts with.
    first_clause: usize,
    expires_ms: Option<u64>,
    started_ms: u64,
    expected_end: Instant,
    /// Whether the avatar reported any audio of it as played.
    played_any: bool,
    /// The last `Progress` report.
    played_ms: u32,
    /// The unit stopped it (an interruption): set to whether the timeline requeued the line.
    stopped: Option<Stopped>,
}

#[derive(Debug, Clone, Copy)]
struct Stopped {
    requeued: bool,
}

pub struct OnAir {
    timeline: Timeline<Cue>,
    avatar: Box<dyn AvatarPort>,
    voice: Box<dyn ClipMaker>,
    /// Clips of the lines about to air (bounded: see [`clips`]).
    clips: HashMap<u64, ClipState>,
    /// Idle, playing, or dealing with an interruption ([`playback`]).
    playback: Playback,
    /// Requeued lines that were cut short → how they air again (applied at their turn).
    fates: HashMap<u64, Fate>,
    /// Utterance id → what is being played under it.
    utterances: HashMap<u64, Utterance>,
    next_line_id: u64,
    next_utterance: u64,
    last_spoke: Instant,
    /// Outcomes gathered during one call, handed back at its end.
    outcomes: Vec<Outcome>,
    /// Lines the timeline let go (dropped, expired), for the show's line log.
    let_go: Vec<(Cue, DropReason)>,
    counts: Counts,
    /// The operator paused the AI: only notices start ([`operator`]).
    paused: bool,
    /// Lines the operator skipped whose end report is awaited (they end as skipped).
    skipped: HashSet<u64>,
}

impl OnAir {
    pub fn new(
        rules: InterruptRules,
        avatar: impl AvatarPort + 'static,
        voice: impl ClipMaker + 'static,
    ) -> Self {
        Self {
            timeline: Timeline::new(rules),
            avatar: Box::new(avatar),
            voice: Box::new(voice),
            clips: HashMap::new(),
            playback: Playback::Idle,
            fates: HashMap::new(),
            utterances: HashMap::new(),
            next_line_id: 1,
            next_utterance: 1,
            last_spoke: Instant::now(),
            outcomes: Vec::new(),
            let_go: Vec::new(),
            counts: Counts::default(),
            paused: false,
            skipped: HashSet::new(),
        }
    }

    /// Puts a cue on the timeline, interrupting the playing line if the rule says so (the
    /// avatar is told to stop it). Returns the line's id.
    pub fn offer(&mut self, cue: Cue) -> u64 {
        let id = self.next_line_id;
        self.next_line_id += 1;
        let now = now_ms();
        let expires = cue.ttl_ms.map(|ttl| now + ttl);
        let urgent = self.playback.playing().is_some()
            && self
                .timeline
                .playing()
                .is_some_and(|playing| cue.priority < playing.priority);
        if urgent {
            self.playback.step(Event::Urgent { by: id });
        }
        let (class, rank) = (LineClass::from(&cue.kind), cue.rank);
        let line = Line::new(id, cue.priority, cue.paid, expires, cue)
            .with_class(class)
            .with_rank(rank);
        let offer = self.timeline.offer_at(line, now);
        match offer.interrupted {
            Some(cut) => self.interrupt(cut, id),
            None if urgent => self.playback.step(Event::Kept),
            None => {}
        }
        for (dropped, why) in offer.dropped.into_iter().zip(offer.why_dropped) {
            self.counts.dropped += 1;
            self.clips.remove(&dropped.id);
            self.fates.remove(&dropped.id);
            tracing::info!(line = dropped.id, class = dropped.class.name(), reason = why.name(), text = %dropped.payload.text, "dropped an unpaid line");
            self.let_go.push((dropped.payload, why));
        }
        id
    }

    /// The timeline cut the playing line for line `by`: the avatar is told to stop it, and the
    /// line's fate is decided from the last progress report (and again from its end report).
    fn interrupt(&mut self, cut: Interrupted<Cue>, by: u64) {
        tracing::info!(
            line = cut.id,
            requeued = cut.requeued,
            by,
            "interrupting the current line"
        );
        self.counts.interrupted += 1;
        let Some(playing) = self.playback.playing() else {
            return;
        };
        self.playback.step(Event::Cut);
        self.avatar.command(&avatar_link::Command::Stop {
            utterance: playing.utterance,
        });
        let Some(stopped) = self.utterances.get_mut(&playing.utterance) else {
            return;
        };
        stopped.stopped = Some(Stopped {
            requeued: cut.requeued,
        });
        if cut.requeued {
            let fate = resume::fate_of(stopped, stopped.played_ms, false);
            tracing::debug!(
                line = cut.id,
                ?fate,
                played_ms = stopped.played_ms,
                "cut line: provisional fate"
            );
            self.fates.insert(cut.id, fate);
        }
    }

    /// Nothing waits, nothing plays, and no end report is awaited.
    pub fn is_idle(&self) -> bool {
        self.timeline.is_idle() && self.utterances.is_empty()
    }

    /// In a gift storm, takes the waiting thank-yous out (most urgent first) for merging,
    /// when `storm` says their number is one; none otherwise. Only lines nobody is voicing yet
    /// count and are taken: a line whose clip is being made or ready (the next few to air) and
    /// a line cut short and waiting to resume keep their place. Without that, a storm would
    /// merge the merged line again with every new gift and throw its clip away each time, and
    /// nothing would ever air.
    pub fn take_thanks_storm(&mut self, storm: impl Fn(usize) -> bool) -> Vec<Cue> {
        let (fates, clips) = (&self.fates, &self.clips);
        let mergeable = |l: &Line<Cue>| {
            l.paid
                && matches!(
                    l.payload.kind,
                    CueKind::GiftThanks {
                        reads_message: false,
                        ..
                    }
                )
                && !fates.contains_key(&l.id)
                && !clips.contains_key(&l.id)
        };
        if !storm(self.timeline.count_waiting_where(mergeable)) {
            return Vec::new();
        }
        let mut taken = self.timeline.take_waiting_where(mergeable);
        taken.sort_by_key(|l| (l.priority, l.rank, l.id));
        taken.into_iter().map(|l| l.payload).collect()
    }

    /// Waiting paid lines (to feed a backlog in pages).
    pub fn queued_paid(&self) -> usize {
        self.timeline.queued_paid()
    }

    /// True (once, then the wait starts again) when the avatar can play, nothing waits or
    /// plays, and nothing was said for `quiet`: time for an idle line.
    pub fn due_for_idle_line(&mut self, quiet: Duration) -> bool {
        let due = self.timeline.is_idle()
            && self.avatar.has_audio_clock()
            && self.last_spoke.elapsed() > quiet;
        if due {
            self.last_spoke = Instant::now();
        }
        due
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The timeline's own counters (offers, starts, interruptions, drops by reason).
    pub fn stats(&self) -> crate::scheduler::timeline::Stats {
        self.timeline.stats()
    }

    /// The lines let go since the last call, with why (the show logs them).
    pub fn take_let_go(&mut self) -> Vec<(Cue, DropReason)> {
        std::mem::take(&mut self.let_go)
    }

    fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }
}
