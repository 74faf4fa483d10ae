//! The avatar's side: its reports (Progress feeds the interruption rule, Finished ends a
//! line), its coming and going, and the watchdog for an end that is never reported.

use avatar_link::{Command, Report};
use tokio::time::Instant;

use super::playback::{Event, Fate, Playback};
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
                    self.avatar_gone();
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
                    playing.played_ms = playing.played_ms.max(played_ms);
                    if playing.stopped.is_none() {
                        self.timeline.progress(playing.line_id, played_ms);
                    }
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

    /// The avatar with the audio clock went away: nothing sent to it will be reported any more
    /// (a stopped line's end report included).
    fn avatar_gone(&mut self) {
        match self.playback {
            Playback::Playing(playing) => {
                // The line may be half heard; give it another go when the avatar is back (a
                // resumed line from where it resumed).
                if let Some(id) = self.timeline.requeue_playing() {
                    tracing::warn!(
                        line = id,
                        "avatar went away mid-line; it will be said again"
                    );
                    let first_clause = self
                        .utterances
                        .get(&playing.utterance)
                        .map_or(0, |u| u.first_clause);
                    if first_clause > 0 {
                        self.fates.insert(
                            id,
                            Fate::Resume {
                                from_clause: first_clause,
                            },
                        );
                    }
                }
                self.playback.step(Event::Ended);
            }
            Playback::Interrupted { cut, .. } => {
                // Its end report will not come: the fate decided from the last progress stands.
                self.playback.step(Event::CutResolved(
                    self.fates
                        .get(&cut.line_id)
                        .copied()
                        .unwrap_or(Fate::Discard),
                ));
            }
            _ => {}
        }
        self.utterances.clear();
    }

    /// The end of an utterance: reported by the avatar, or declared by the watchdog.
    fn on_finished(&mut self, utterance: u64, played_ms: u32, interrupted: bool, watchdog: bool) {
        let Some(ended) = self.utterances.remove(&utterance) else {
            return;
        };
        let end = now_ms();
        let mut aired = ended.cue.clone();
        aired.text.clone_from(&ended.text);
        self.outcomes.push(Outcome::Aired(Airtime {
            utterance,
            cue: aired,
            started_ms: ended.started_ms,
            ended_ms: end,
            played_ms,
            interrupted,
        }));
        if ended.stopped.is_some() {
            // Interrupted by the unit: the timeline already requeued (or let go of) the line,
            // which may be playing again by now.
            self.cut_ended(&ended, played_ms, !interrupted);
            return;
        }
        if self.playback.playing().map(|p| p.utterance) == Some(utterance) {
            self.playback.step(Event::Ended);
        }
        self.last_spoke = Instant::now();
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
        self.forget_unreported_stops();
        let Some(utterance) = self.playback.playing().map(|p| p.utterance) else {
            return self.take_outcomes();
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

impl OnAir {
    /// A stopped utterance whose end report is overdue will not be reported: it goes into the
    /// airtime log as far as it was reported played, and its line's fate stands as decided
    /// from that (so the unit can become idle again).
    fn forget_unreported_stops(&mut self) {
        let now = Instant::now();
        let overdue: Vec<u64> = self
            .utterances
            .iter()
            .filter(|(_, u)| u.stopped.is_some() && now > u.expected_end)
            .map(|(id, _)| *id)
            .collect();
        for utterance in overdue {
            let played_ms = self.utterances[&utterance].played_ms;
            tracing::warn!(utterance, "no end report of an interrupted line; moving on");
            self.on_finished(utterance, played_ms, true, false);
        }
    }
}
