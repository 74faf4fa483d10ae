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

mod clips;
mod ports;
mod reports;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::unheard::Unheard;
use crate::clock::now_ms;
use crate::cue::Cue;
use crate::scheduler::{InterruptRules, Line, LineClass, Timeline};
use clips::ClipState;
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
    cue: Cue,
    started_ms: u64,
    expected_end: Instant,
    /// Whether the avatar reported any audio of it as played.
    played_any: bool,
    /// The unit stopped it (an interruption): its end report only goes into the airtime log.
    stopped: bool,
}

pub struct OnAir {
    timeline: Timeline<Cue>,
    avatar: Box<dyn AvatarPort>,
    voice: Box<dyn ClipMaker>,
    /// Clips of the lines about to air (bounded: see [`clips`]).
    clips: HashMap<u64, ClipState>,
    /// The line that just interrupted another: nothing else starts until its clip is ready.
    interrupter: Option<u64>,
    /// Utterance id → what is being played under it.
    utterances: HashMap<u64, Utterance>,
    /// Utterance currently owned by the timeline's playing line.
    current: Option<u64>,
    next_line_id: u64,
    next_utterance: u64,
    last_spoke: Instant,
    /// Outcomes gathered during one call, handed back at its end.
    outcomes: Vec<Outcome>,
    counts: Counts,
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
            interrupter: None,
            utterances: HashMap::new(),
            current: None,
            next_line_id: 1,
            next_utterance: 1,
            last_spoke: Instant::now(),
            outcomes: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Puts a cue on the timeline, interrupting the playing line if the rule says so (the
    /// avatar is told to stop it). Returns the line's id.
    pub fn offer(&mut self, cue: Cue) -> u64 {
        let id = self.next_line_id;
        self.next_line_id += 1;
        let now = now_ms();
        let expires = cue.ttl_ms.map(|ttl| now + ttl);
        let (class, rank) = (LineClass::from(&cue.kind), cue.rank);
        let line = Line::new(id, cue.priority, cue.paid, expires, cue)
            .with_class(class)
            .with_rank(rank);
        let offer = self.timeline.offer_at(line, now);
        if let Some(cut) = offer.interrupted {
            tracing::info!(
                line = cut.id,
                requeued = cut.requeued,
                by = id,
                "interrupting the current line"
            );
            if let Some(utterance) = self.current.take() {
                self.avatar
                    .command(&avatar_link::Command::Stop { utterance });
                // Its end report only goes into the airtime log: the timeline already
                // requeued (or let go of) the line, which may be playing again by then.
                if let Some(stopped) = self.utterances.get_mut(&utterance) {
                    stopped.stopped = true;
                }
            }
            self.interrupter = Some(id);
            self.counts.interrupted += 1;
        }
        for (dropped, why) in offer.dropped.into_iter().zip(offer.why_dropped) {
            self.counts.dropped += 1;
            self.clips.remove(&dropped.id);
            tracing::info!(line = dropped.id, class = dropped.class.name(), reason = why.name(), text = %dropped.payload.text, "dropped an unpaid line");
        }
        id
    }

    /// Nothing waits, nothing plays, and no end report is awaited.
    pub fn is_idle(&self) -> bool {
        self.timeline.is_idle() && self.utterances.is_empty()
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

    fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }
}
