//! The avatar's side: its reports (Progress feeds the interruption rule, Finished ends a
//! line), its coming and going, and the watchdog for an end that is never reported.

use avatar_link::{Command, Report};
use tokio::time::Instant;

use super::{Airtime, OnAir, Outcome, Unheard};
use crate::clock::now_ms;
use crate::link::LinkEvent;

impl OnAir {
    /// An event from the avatar link; returns how lines ended because of it.
    pub fn on_link(&mut self, event: LinkEvent) -> Vec<Outcome> {
        match event {
            LinkEvent::Connected { .. } => {}
            LinkEvent::Disconnected { audio_clock, .. } => {
                if audio_clock && !self.avatar.has_audio_clock() {
                    // The line may be half heard; give it another go when the avatar is back.
                    if self.current.take().is_some() {
                        if let Some(id) = self.timeline.requeue_playing() {
                            tracing::warn!(
                                line = id,
                                "avatar went away mid-line; it will be said again"
                            );
                        }
                    }
                    // Nothing sent to that avatar will be reported any more (a stopped line's
                    // end report included).
                    self.utterances.clear();
                }
            }
            LinkEvent::Report { report, .. } => self.on_report(report),
        }
        self.take_outcomes()
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Progress {
                utterance,
                played_ms,
                ..
            } => {
                if let Some(playing) = self.utterances.get_mut(&utterance) {
                    playing.played_any |= played_ms > 0;
                    self.timeline.progress(playing.line_id, played_ms);
                }
            }
            Report::Finished {
                utterance,
                played_ms,
                interrupted,
            } => self.on_finished(utterance, played_ms, interrupted, false),
            Report::Started { .. } | Report::Hello { .. } => {}
        }
    }

    /// The end of an utterance: reported by the avatar, or declared by the watchdog.
    fn on_finished(&mut self, utterance: u64, played_ms: u32, interrupted: bool, watchdog: bool) {
        let Some(ended) = self.utterances.remove(&utterance) else {
            return;
        };
        let end = now_ms();
        self.outcomes.push(Outcome::Aired(Airtime {
            utterance,
            cue: ended.cue,
            started_ms: ended.started_ms,
            ended_ms: end,
            played_ms,
            interrupted,
        }));
        if ended.stopped {
            return;
        }
        if self.current == Some(utterance) {
            self.current = None;
        }
        self.last_spoke = Instant::now();
        // An interrupted line was already requeued (or discarded) by the timeline; a late
        // report of it finds nothing playing under its id.
        let Some(line) = self.timeline.finish(ended.line_id) else {
            return;
        };
        self.clips.remove(&line.id);
        let played = played_ms > 0 || ended.played_any;
        let why = if watchdog {
            Unheard::NoEndReport
        } else if !played {
            Unheard::NothingPlayed
        } else if interrupted {
            // The avatar cut it short by itself (the unit's own stops never get here).
            Unheard::CutShort
        } else {
            self.outcomes.push(Outcome::Heard {
                cue: line.payload,
                at_ms: end,
            });
            return;
        };
        self.outcomes.push(Outcome::NotHeard {
            cue: line.payload,
            why,
        });
    }

    /// Watchdog: an avatar that never reports the end must not stall the show, and a line
    /// whose end was never reported was not necessarily heard. Called on the show's tick.
    pub fn watchdog(&mut self) -> Vec<Outcome> {
        let Some(utterance) = self.current else {
            return Vec::new();
        };
        if self
            .utterances
            .get(&utterance)
            .is_some_and(|a| Instant::now() > a.expected_end)
        {
            tracing::warn!(utterance, "no end report from the avatar; moving on");
            self.avatar.command(&Command::Stop { utterance });
            self.on_finished(utterance, 0, false, true);
        }
        self.take_outcomes()
    }
}
