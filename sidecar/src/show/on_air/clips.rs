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

use super::{ClipResult, OnAir, Outcome, Unheard, Utterance};
use crate::clock::now_ms;
use crate::cue::When;
use crate::outputs::Outputs;
use crate::speech::Clip;

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
    Ready(Arc<Clip>),
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
        if let Some(id) = self.interrupter {
            match self.clips.get(&id) {
                Some(ClipState::Pending) => return None,
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
            self.counts.dropped += 1;
            tracing::debug!(line = line.id, "stale line skipped");
        }
        let line_id = started?;
        self.interrupter = None;
        match self.clips.get(&line_id) {
            Some(ClipState::Ready(clip)) => {
                let clip = clip.clone();
                self.air(line_id, &clip, outputs);
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

    fn air(&mut self, line_id: u64, clip: &Clip, outputs: &Outputs) {
        let cue = self.timeline.playing().expect("playing").payload.clone();
        let utterance = self.next_utterance;
        self.next_utterance += 1;
        self.timeline.set_duration(line_id, clip.duration_ms());
        outputs.apply_due(&cue, When::OnAir);
        self.avatar.command(&Command::Say {
            utterance,
            priority: cue.priority,
            text: cue.text.clone(),
            expression: cue.expression().map(str::to_string),
        });
        let chunks = clip.samples.chunks(CHUNK_SAMPLES);
        let n = chunks.len();
        for (i, samples) in chunks.enumerate() {
            self.avatar.audio(&AudioChunk {
                utterance,
                last: i + 1 == n,
                samples: samples.to_vec(),
            });
        }
        tracing::info!(utterance, kind = cue.kind.name(), priority = cue.priority, ms = clip.duration_ms(), text = %cue.text, "on air");
        self.current = Some(utterance);
        let expected_end =
            Instant::now() + Duration::from_millis(clip.duration_ms() as u64) + WATCHDOG_GRACE;
        self.utterances.insert(
            utterance,
            Utterance {
                line_id,
                cue,
                started_ms: now_ms(),
                expected_end,
                played_any: false,
                stopped: false,
            },
        );
    }
}
