//! Getting lines on air: their clips, what plays next, the avatar's reports and the watchdog.
//!
//! * **Clips ahead of their turn, bounded.** Only the [`SYNTH_AHEAD`] most urgent waiting lines
//!   (and the playing one) are synthesised; a storm of a thousand gifts is a thousand queued
//!   lines, not a thousand syntheses in flight. Clips of lines pushed out of that window by
//!   more urgent ones are evicted past [`MAX_CLIPS`] (they come back from the audio cache).
//! * **No head-of-line blocking.** The next line to air is the most urgent one whose clip is
//!   ready (or failed, to be dealt with); a late clip does not hold back the ready lines behind
//!   it, and airs as soon as it is ready.
//! * **Heard, or not thanked.** A gift is marked thanked only when the avatar reports that its
//!   line played to the end. A voice failure, a missing end report (watchdog) or an avatar
//!   that left with nothing played hands the line to [`super::unheard`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use avatar_link::{AudioChunk, Command, Report};
use tokio::time::Instant;

use super::unheard::{Next, Unheard};
use super::{now_ms, Show};
use crate::cue::{Act, Cue, CueKind, When};
use crate::ledger::AiredLine;
use crate::link::LinkEvent;
use crate::speech::{Clip, SpeechError};

/// Audio is sent to the avatar in 100 ms chunks: small enough that a `Stop` cuts promptly on
/// the avatar side, large enough to keep per-message overhead negligible.
const CHUNK_SAMPLES: usize = avatar_link::SAMPLE_RATE as usize / 10;
/// A playing line with no `Finished` report this long after its expected end is given up on.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);
/// Waiting lines synthesised ahead of their turn (and looked through for a ready one).
pub(super) const SYNTH_AHEAD: usize = 8;
/// Clips kept at most; past this, clips of lines outside the window are dropped.
const MAX_CLIPS: usize = 4 * SYNTH_AHEAD;

pub(super) enum ClipState {
    Pending,
    Ready(Arc<Clip>),
    Failed,
}

pub(super) struct OnAir {
    line_id: u64,
    cue: Cue,
    started_ms: u64,
    expected_end: Instant,
    /// Whether the avatar reported any audio of it as played.
    played_any: bool,
    /// The show stopped it (an interruption): its end report only goes into the airtime log.
    stopped: bool,
}

impl Show {
    /// Synthesis of one line on its own task. A panic inside it (an engine bug, a decoder on
    /// bad data) counts as a failed clip instead of leaving the line waiting forever.
    fn synthesize(&mut self, line_id: u64, cue: &Cue) {
        self.clips.insert(line_id, ClipState::Pending);
        let voice = self.voice.clone();
        let tx = self.synth_tx.clone();
        let (text, prosody) = (cue.text.clone(), cue.prosody);
        tokio::spawn(async move {
            let work = tokio::spawn(async move { voice.speak(&text, prosody).await });
            let result = work.await.unwrap_or_else(|e| {
                Err(SpeechError::Rejected(format!(
                    "synthesis task ended abnormally: {e}"
                )))
            });
            let _ = tx.send((line_id, result));
        });
    }

    /// Starts synthesis for the lines about to air, and keeps the clip map bounded.
    fn synthesize_ahead(&mut self) {
        let mut window = Vec::with_capacity(SYNTH_AHEAD);
        self.timeline.upcoming(SYNTH_AHEAD, |line| {
            window.push((line.id, line.payload.clone()))
        });
        for (id, cue) in &window {
            if !self.clips.contains_key(id) {
                self.synthesize(*id, cue);
            }
        }
        if self.clips.len() > MAX_CLIPS {
            let keep: HashSet<u64> = window
                .iter()
                .map(|(id, _)| *id)
                .chain(self.timeline.playing().map(|l| l.id))
                .collect();
            self.clips
                .retain(|id, state| keep.contains(id) || matches!(state, ClipState::Pending));
        }
    }

    pub(super) fn on_clip(&mut self, line_id: u64, result: Result<Arc<Clip>, SpeechError>) {
        if !self.clips.contains_key(&line_id) {
            return; // the line was dropped (or evicted) meanwhile
        }
        let state = match result {
            Ok(clip) => ClipState::Ready(clip),
            Err(e) => {
                self.summary.speech_failures += 1;
                tracing::error!(line = line_id, engine = self.voice.primary_engine(), error = %e, "speech synthesis failed");
                ClipState::Failed
            }
        };
        self.clips.insert(line_id, state);
    }

    /// Starts the next line when the avatar is free and a clip is ready.
    pub(super) fn pump(&mut self) {
        self.synthesize_ahead();
        if !self.hub.has_audio_clock() || self.timeline.playing().is_some() {
            return;
        }
        // The line that interrupted goes first: the line it cut (requeued, clip ready) must not
        // slip back on air while the interrupter's clip is still being made.
        if let Some(id) = self.interrupter {
            match self.clips.get(&id) {
                Some(ClipState::Pending) => return,
                None => self.interrupter = None, // dropped meanwhile
                Some(_) => {}
            }
        }
        let mut skipped = Vec::new();
        let clips = &self.clips;
        let started = self
            .timeline
            .start_next_where(now_ms(), SYNTH_AHEAD, &mut skipped, |line| {
                !matches!(clips.get(&line.id), Some(ClipState::Pending) | None)
            })
            .map(|line| line.id);
        for line in skipped {
            self.clips.remove(&line.id);
            self.summary.lines_dropped += 1;
            tracing::debug!(line = line.id, "stale line skipped");
        }
        let Some(line_id) = started else {
            return;
        };
        self.interrupter = None;
        match self.clips.get(&line_id) {
            Some(ClipState::Ready(clip)) => {
                let clip = clip.clone();
                self.air(line_id, &clip);
            }
            _ => {
                // Nothing to play: the line is done with, and a gift stays unthanked.
                let line = self.timeline.finish(line_id).expect("just started");
                self.clips.remove(&line_id);
                self.not_heard(line.payload, Unheard::VoiceFailed);
                self.pump();
            }
        }
    }

    fn air(&mut self, line_id: u64, clip: &Clip) {
        let cue = self.timeline.playing().expect("playing").payload.clone();
        let utterance = self.next_utterance;
        self.next_utterance += 1;
        self.timeline.set_duration(line_id, clip.duration_ms());
        self.outputs.apply_due(&cue, When::OnAir);
        self.hub.send_command(&Command::Say {
            utterance,
            priority: cue.priority,
            text: cue.text.clone(),
            expression: cue.expression().map(str::to_string),
        });
        let chunks = clip.samples.chunks(CHUNK_SAMPLES);
        let n = chunks.len();
        for (i, samples) in chunks.enumerate() {
            self.hub.send_audio(&AudioChunk {
                utterance,
                last: i + 1 == n,
                samples: samples.to_vec(),
            });
        }
        tracing::info!(utterance, kind = cue.kind.name(), priority = cue.priority, ms = clip.duration_ms(), text = %cue.text, "on air");
        self.current_utterance = Some(utterance);
        let expected_end =
            Instant::now() + Duration::from_millis(clip.duration_ms() as u64) + WATCHDOG_GRACE;
        self.on_air.insert(
            utterance,
            OnAir {
                line_id,
                cue,
                started_ms: now_ms(),
                expected_end,
                played_any: false,
                stopped: false,
            },
        );
    }

    pub(super) fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected { .. } => {}
            LinkEvent::Disconnected { audio_clock, .. } => {
                if audio_clock && !self.hub.has_audio_clock() {
                    // The line may be half heard; give it another go when the avatar is back.
                    if self.current_utterance.take().is_some() {
                        if let Some(id) = self.timeline.requeue_playing() {
                            tracing::warn!(
                                line = id,
                                "avatar went away mid-line; it will be said again"
                            );
                        }
                    }
                    // Nothing sent to that avatar will be reported any more (a stopped line's
                    // end report included).
                    self.on_air.clear();
                }
            }
            LinkEvent::Report { report, .. } => self.on_report(report),
        }
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Progress {
                utterance,
                played_ms,
                ..
            } => {
                if let Some(on_air) = self.on_air.get_mut(&utterance) {
                    on_air.played_any |= played_ms > 0;
                    self.timeline.progress(on_air.line_id, played_ms);
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

    /// Marks an utterance the show stopped (see [`OnAir::stopped`]).
    pub(super) fn stopped(&mut self, utterance: u64) {
        if let Some(on_air) = self.on_air.get_mut(&utterance) {
            on_air.stopped = true;
        }
    }

    /// The end of an utterance: reported by the avatar, or declared by the watchdog.
    fn on_finished(&mut self, utterance: u64, played_ms: u32, interrupted: bool, watchdog: bool) {
        let Some(on_air) = self.on_air.remove(&utterance) else {
            return;
        };
        let end = now_ms();
        self.log_airtime(utterance, &on_air, end, played_ms, interrupted);
        if on_air.stopped {
            return;
        }
        if self.current_utterance == Some(utterance) {
            self.current_utterance = None;
        }
        self.last_spoke = Instant::now();
        // An interrupted line was already requeued (or discarded) by the timeline; a late
        // report of it finds nothing playing under its id.
        let Some(line) = self.timeline.finish(on_air.line_id) else {
            return;
        };
        self.clips.remove(&line.id);
        let played = played_ms > 0 || on_air.played_any;
        if watchdog {
            self.not_heard(line.payload, Unheard::NoEndReport);
        } else if !played {
            self.not_heard(line.payload, Unheard::NothingPlayed);
        } else if interrupted {
            // The avatar cut it short by itself (the show's own stops never get here).
            self.not_heard(line.payload, Unheard::CutShort);
        } else {
            self.heard(&line.payload, end);
        }
    }

    /// Watchdog: an avatar that never reports the end must not stall the show, and a line
    /// whose end was never reported was not necessarily heard.
    pub(super) fn watchdog(&mut self) {
        let Some(utterance) = self.current_utterance else {
            return;
        };
        if self
            .on_air
            .get(&utterance)
            .is_some_and(|a| Instant::now() > a.expected_end)
        {
            tracing::warn!(utterance, "no end report from the avatar; moving on");
            self.hub.send_command(&Command::Stop { utterance });
            self.on_finished(utterance, 0, false, true);
        }
    }

    fn log_airtime(&mut self, utterance: u64, on_air: &OnAir, end: u64, played: u32, cut: bool) {
        self.summary.lines_aired += 1;
        let kind = on_air.cue.kind.name().to_string();
        let text = on_air.cue.text.clone();
        let (priority, started) = (on_air.cue.priority, on_air.started_ms);
        self.ledger_note("airtime", move |l| {
            l.log_airtime(&AiredLine {
                utterance,
                kind: &kind,
                priority,
                text: &text,
                started_ms: started,
                ended_ms: end,
                played_ms: played,
                interrupted: cut,
            })
        });
    }

    /// A gift line was heard to the end: its gifts are thanked.
    fn heard(&mut self, cue: &Cue, now: u64) {
        self.unheard.heard(cue);
        self.mark_thanked(cue, cue.text.clone(), now);
    }

    /// A line was not heard. A gift line is tried again later, and after the last attempt
    /// thanked in a text overlay; other lines are let go.
    fn not_heard(&mut self, cue: Cue, why: Unheard) {
        if !matches!(cue.kind, CueKind::GiftThanks { .. }) {
            tracing::info!(reason = why.reason(), text = %cue.text, "line not heard; let go");
            return;
        }
        match self.unheard.not_heard(&cue, Instant::now()) {
            Next::RetryAt(_) => {
                self.summary.unheard_retries += 1;
                tracing::warn!(reason = why.reason(), text = %cue.text, "gift thank-you not heard; it will be tried again");
            }
            Next::GiveUp { attempts } => {
                self.summary.thanked_in_text += 1;
                let overlay = cue
                    .acts(When::NotVoiced)
                    .find_map(|act| match act {
                        Act::LatestGiftText(text) => Some(text.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| cue.text.clone());
                tracing::warn!(reason = why.reason(), attempts, %overlay, "gift thank-you could not be voiced; thanked in the text overlay");
                self.outputs.apply_due(&cue, When::NotVoiced);
                let note = format!("(text overlay, not spoken: {}) {overlay}", why.reason());
                self.mark_thanked(&cue, note, now_ms());
            }
        }
    }

    fn mark_thanked(&mut self, cue: &Cue, text: String, now: u64) {
        let CueKind::GiftThanks {
            platform, msg_ids, ..
        } = &cue.kind
        else {
            return;
        };
        let (platform, msg_ids) = (platform.clone(), msg_ids.clone());
        self.ledger_note("thanked gift", move |l| {
            l.mark_aired(&platform, &msg_ids, &text, now)
        });
    }
}
