//! What the operator's console does to the on-air unit: pause, skip the line on air, veto a
//! waiting one, and see the timeline.
//!
//! * **Pause** lets the line on air finish and starts nothing else but notices (the
//!   operator's own lines); everything else waits, paid lines never expire, unpaid ones may.
//! * **Skip** stops the line on air at the avatar's next block. It is not said again; the
//!   avatar's end report still comes and logs its airtime, and the line ends as
//!   [`Unheard::Skipped`] (a gift's thanks then goes to the text overlay, never lost).
//! * **Veto** takes a waiting line out before it airs, with its clip and fate.

use avatar_link::Command;
use tokio::time::Instant;

use super::playback::Event;
use super::{OnAir, Stopped};
use crate::clock::now_ms;
use crate::cue::Cue;
use crate::scheduler::Line;

/// A line as the console sees it.
pub struct LineSnapshot<'a> {
    pub line: &'a Line<Cue>,
    pub age_ms: u64,
    pub played_ms: u32,
    pub total_ms: u32,
}

impl OnAir {
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Stops the line on air; returns its id and cue, or None when nothing is on air.
    pub fn skip(&mut self) -> Option<(u64, Cue)> {
        let playing = self.playback.playing()?;
        let line = self.timeline.finish(playing.line_id)?;
        self.clips.remove(&line.id);
        self.avatar.command(&Command::Stop {
            utterance: playing.utterance,
        });
        if let Some(utterance) = self.utterances.get_mut(&playing.utterance) {
            utterance.stopped = Some(Stopped { requeued: false });
        }
        self.skipped.insert(line.id);
        self.playback.step(Event::Ended);
        self.last_spoke = Instant::now();
        Some((line.id, line.payload))
    }

    /// Takes the waiting line `id` out; returns its cue, or None when no such line waits.
    pub fn veto(&mut self, id: u64) -> Option<Cue> {
        let line = self
            .timeline
            .take_waiting_where(|l| l.id == id)
            .into_iter()
            .next()?;
        self.clips.remove(&id);
        self.fates.remove(&id);
        Some(line.payload)
    }

    /// The line on air, if any.
    pub fn on_air_line(&self) -> Option<LineSnapshot<'_>> {
        let line = self.timeline.playing()?;
        let (played_ms, total_ms) = self.timeline.playing_progress().unwrap_or((0, 0));
        Some(LineSnapshot {
            age_ms: now_ms().saturating_sub(line.offered_ms()),
            line,
            played_ms,
            total_ms,
        })
    }

    /// The waiting lines, most urgent first.
    pub fn waiting_lines(&self) -> Vec<LineSnapshot<'_>> {
        let now = now_ms();
        self.timeline
            .waiting_lines()
            .into_iter()
            .map(|line| LineSnapshot {
                age_ms: now.saturating_sub(line.offered_ms()),
                line,
                played_ms: 0,
                total_ms: 0,
            })
            .collect()
    }
}
