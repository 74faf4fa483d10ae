//! Clips ahead of their turn and what plays next.
//!
//! Only the [`SYNTH_AHEAD`] most urgent waiting lines (and the playing one) are synthesised.
//! Clips of lines pushed out of that window by more urgent ones are evicted past
//! [`MAX_CLIPS`] (they come back from the audio cache). The next line to air is the most
//! urgent ready one within the window (`Timeline::start_next_where`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use avatar_link::{AudioChunk, Command};
use tokio::time::Instant;

use super::playback::{Event, Fate, OnAirLine};
use super::resume::remainder;
use super::{ClipResult, OnAir, Outcome, Unheard, Utterance};
use crate::clock::now_ms;
use crate::cue::{CueKind, When};
use crate::outputs::Outputs;
use crate::speech::voice::SpokenLine;

/// Audio is sent to the avatar in 100 ms chunks: small enough that a `Stop` cuts promptly on
/// the avatar side, large enough to keep per-message overhead negligible.
pub(super) const CHUNK_SAMPLES: usize = avatar_link::SAMPLE_RATE as usize / 10;
/// A playing line with no `Finished` report this long after its expected end is given up on.
pub(super) const WATCHDOG_GRACE: Duration = Duration::from_secs(5);
/// Waiting lines synthesised ahead of their turn (and looked through for a ready one).
pub(super) const SYNTH_AHEAD: usize = 8;
/// Clips kept at most; past this, clips of lines outside the window are dropped.
const MAX_CLIPS: usize = 4 * SYNTH_AHEAD;

pub(super) enum ClipState {
    Pending,
    Ready(Arc<SpokenLine>),
    Failed,
}

impl OnAir {
    /// Starts synthesis for the lines about to air, and keeps the clip map bounded.
    fn synthesize_ahead(&mut self) {
        let mut window = Vec::with_capacity(SYNTH_AHEAD);
        self.timeline.upcoming(SYNTH_AHEAD, |line| {
            window.push((line.id, line.payload.clone()))
        });
        for (id, cue) in &window {
            if !self.clips.contains_key(id) {
                self.clips.insert(*id, ClipState::Pending);
                self.voice.request(*id, cue);
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

    /// A clip asked of the [`super::ClipMaker`] is made (or failed).
    pub fn on_clip(&mut self, line_id: u64, result: ClipResult) {
        if !self.clips.contains_key(&line_id) {
            return; // the line was dropped (or evicted) meanwhile
        }
        let state = match result {
            Ok(clip) => ClipState::Ready(clip),
            Err(e) => {
                self.counts.speech_failures += 1;
                tracing::error!(line = line_id, engine = self.voice.engine(), error = %e, "speech synthesis failed");
                ClipState::Failed
            }
        };
        self.clips.insert(line_id, state);
    }

    /// Asks for the clips about to be needed, and starts the next line when the avatar is free
    /// and a clip is ready; the effects due on air go to `outputs` just before its `Say`.
    /// Returns a line it had to let go of without airing (its clip failed): the caller reacts
    /// to it and pumps again, until this returns `None`.
    pub fn pump(&mut self, outputs: &Outputs) -> Option<Outcome> {
        self.synthesize_ahead();
        if !self.avatar.has_audio_clock() || self.timeline.playing().is_some() {
            return None;
        }
        // The line that interrupted goes first: the line it cut (requeued, clip ready) must not
        // slip back on air while the interrupter's clip is still being made.
        if let Some(id) = self.playback.interrupter() {
            match self.clips.get(&id) {
                Some(ClipState::Pending) => return None,
                None => self.playback.step(Event::InterrupterGone), // dropped meanwhile
                Some(_) => {}
            }
        }
        let mut skipped = Vec::new();
        let (clips, fates, paused) = (&self.clips, &self.fates, self.paused);
        let started = self
            .timeline
            .start_next_where(now_ms(), SYNTH_AHEAD, &mut skipped, |line| {
                // Paused by the operator: only notices (the operator's own lines) start.
                (!paused || matches!(line.payload.kind, CueKind::Notice))
                    && (matches!(fates.get(&line.id), Some(Fate::Heard | Fate::Discard))
                        || !matches!(clips.get(&line.id), Some(ClipState::Pending) | None))
            })
            .map(|line| line.id);
        for line in skipped {
            self.clips.remove(&line.id);
            self.fates.remove(&line.id);
            self.counts.dropped += 1;
            tracing::debug!(line = line.id, "stale line skipped");
            self.let_go
                .push((line.payload, crate::scheduler::DropReason::Expired));
        }
        let line_id = started?;
        let from_clause = match self.fates.remove(&line_id) {
            Some(Fate::Resume { from_clause }) => from_clause,
            None => 0,
            // A cut line whose turn came but that is not said again.
            Some(fate) => {
                let line = self.timeline.finish(line_id).expect("just started");
                self.clips.remove(&line_id);
                return Some(if fate == Fate::Heard {
                    Outcome::Heard {
                        cue: line.payload,
                        at_ms: now_ms(),
                    }
                } else {
                    Outcome::NotHeard {
                        cue: line.payload,
                        why: Unheard::Interrupted,
                    }
                });
            }
        };
        match self.clips.get(&line_id) {
            Some(ClipState::Ready(spoken)) => {
                let spoken = spoken.clone();
                self.air(line_id, &spoken, from_clause, outputs);
                None
            }
            _ => {
                // Nothing to play: the line is done with (a gift stays unthanked).
                let line = self.timeline.finish(line_id).expect("just started");
                self.clips.remove(&line_id);
                Some(Outcome::NotHeard {
                    cue: line.payload,
                    why: Unheard::VoiceFailed,
                })
            }
        }
    }

    /// Sends the playing line to the avatar: the whole clip, or (a line cut short before) its
    /// clauses from `from_clause` on.
    fn air(&mut self, line_id: u64, spoken: &SpokenLine, from_clause: usize, outputs: &Outputs) {
        let playing = self.timeline.playing().expect("playing");
        let (cue, expires_ms) = (playing.payload.clone(), playing.expires_ms);
        if matches!(cue.kind, CueKind::Reply) && from_clause == 0 {
            // A template reply is offered as its comment is admitted, an LLM reply when its
            // first sentence arrives: from then to the first audio sent to the avatar.
            let waited = now_ms().saturating_sub(playing.offered_ms());
            metrics::histogram!("aivs_reply_to_first_audio_seconds").record(waited as f64 / 1000.0);
        }
        let utterance = self.next_utterance;
        self.next_utterance += 1;
        let part = remainder(spoken, &cue.text, from_clause);
        let samples = &spoken.clip.samples[part.samples.clone()];
        let duration_ms = avatar_link::samples_to_ms(samples.len());
        self.timeline.set_duration(line_id, duration_ms);
        outputs.apply_due(&cue, When::OnAir);
        self.avatar.command(&Command::Say {
            utterance,
            priority: cue.priority,
            text: part.text.clone(),
            expression: cue.expression().map(str::to_string),
        });
        let chunks = samples.chunks(CHUNK_SAMPLES);
        let n = chunks.len();
        for (i, samples) in chunks.enumerate() {
            self.avatar.audio(&AudioChunk {
                utterance,
                last: i + 1 == n,
                samples: samples.to_vec(),
            });
        }
        tracing::info!(utterance, kind = cue.kind.name(), priority = cue.priority, ms = duration_ms, from_clause = part.first_clause, text = %part.text, "on air");
        self.playback
            .step(Event::Started(OnAirLine { utterance, line_id }));
        let expected_end =
            Instant::now() + Duration::from_millis(duration_ms as u64) + WATCHDOG_GRACE;
        self.utterances.insert(
            utterance,
            Utterance {
                line_id,
                cue,
                text: part.text,
                clauses: part.clauses,
                first_clause: part.first_clause,
                expires_ms,
                started_ms: now_ms(),
                expected_end,
                played_any: false,
                played_ms: 0,
                stopped: None,
            },
        );
    }
}
