//! The clock's per-tick logic, free of threads and real time so it can be tested tick by tick.

use std::collections::HashMap;

use avatar_link::lipsync::{MouthEnvelope, MouthShape};
use avatar_link::{Report, SAMPLE_RATE};

use super::{ClockInput, FrameSink, BLOCK_SAMPLES, FPS};
use crate::avatar::{Animator, AvatarRenderer, Expression, RenderConfig};
use crate::log::log_warn;
use avatar_link::playout::{Playout, PlayoutEvent, PulledBlock};
use avatar_link::sounds::SoundMixer;

/// Samples between two video frames (1600 at 30 fps).
const FRAME_SAMPLES: u64 = (SAMPLE_RATE / FPS) as u64;
/// Blocks between two `Progress` reports (~100 ms).
const PROGRESS_EVERY: u32 = 10;
/// While the source is hidden, only every n-th frame is rendered (5 fps) to save CPU. Not none
/// at all, so the picture is at most a fraction of a second old when it is shown again.
const HIDDEN_FRAME_DIVISOR: u64 = 6;
/// Length of one block in seconds, the animator's time step.
const BLOCK_SECONDS: f64 = BLOCK_SAMPLES as f64 / SAMPLE_RATE as f64;

/// Which video frames a tick may render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// Every frame (the source is shown somewhere).
    All,
    /// One frame in six, 5 fps (the source is hidden everywhere).
    Throttled,
    /// None (the clock is catching up after a stall; those frames would be stale).
    None,
}

/// What one tick produced (for tests and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickOutcome {
    /// Timestamp of the audio block (and of the frame, if any).
    pub timestamp_ns: u64,
    /// Mouth shape computed from this block.
    pub mouth: MouthShape,
    /// `Some(shape)` when a video frame was emitted in this tick, with the mouth it shows.
    pub frame: Option<MouthShape>,
}

/// State of one source's audio clock.
pub struct ClockCore {
    playout: Playout,
    sounds: SoundMixer,
    envelope: MouthEnvelope,
    animator: Animator,
    renderer: AvatarRenderer,
    /// Reusable block buffer.
    block: Vec<f32>,
    /// Timestamp of sample 0 of the (possibly rebased) sample clock.
    t0_ns: u64,
    samples_emitted: u64,
    /// Sample index of the next video frame.
    next_frame_at: u64,
    frames_due: u64,
    /// Expressions requested by `Say`, applied when the utterance starts playing; keyed by
    /// (session, utterance).
    say_expressions: HashMap<(u64, u64), Expression>,
    blocks_since_progress: u32,
    reports: Vec<Report>,
}

impl ClockCore {
    /// `t0_ns`: timestamp of the first block; `seed`: randomness of blinking.
    pub fn new(config: RenderConfig, t0_ns: u64, seed: u64) -> Self {
        Self {
            playout: Playout::default(),
            sounds: SoundMixer::default(),
            envelope: MouthEnvelope::new(),
            animator: Animator::new(seed),
            renderer: AvatarRenderer::new(config),
            block: vec![0.0; BLOCK_SAMPLES],
            t0_ns,
            samples_emitted: 0,
            next_frame_at: 0,
            frames_due: 0,
            say_expressions: HashMap::new(),
            blocks_since_progress: 0,
            reports: Vec::new(),
        }
    }

    /// Applies one input. Called between ticks, so a command never splits a block.
    pub fn apply(&mut self, input: ClockInput) {
        match input {
            ClockInput::Say {
                utterance,
                expression,
            } => {
                if !self.playout.announce(utterance) {
                    log_warn!("utterance {utterance} announced again after it finished; ignored");
                } else if let Some(expression) = expression {
                    self.say_expressions
                        .insert((self.playout.session(), utterance), expression);
                }
            }
            ClockInput::Audio(chunk) => {
                if let Some(overflow) =
                    self.playout
                        .push(chunk.utterance, &chunk.samples, chunk.last)
                {
                    log_warn!("{overflow}");
                }
            }
            ClockInput::Sound(chunk) => {
                if let Err(refused) = self.sounds.push(&chunk) {
                    log_warn!("{refused}");
                }
            }
            ClockInput::Stop { utterance } => self.playout.stop(utterance),
            ClockInput::Expression {
                expression,
                duration_ms,
            } => self.animator.set_expression(expression, duration_ms),
            ClockInput::Motion(motion) => self.animator.start_motion(motion),
            ClockInput::LinkLost => {
                self.playout.new_session();
                self.sounds.new_session();
            }
            ClockInput::Configure(config) => {
                if config != self.renderer.config() {
                    self.renderer = AvatarRenderer::new(config);
                }
            }
        }
    }

    /// Emits one block of audio and, when a frame is due, one video frame with the same
    /// timestamp.
    pub fn tick(&mut self, sink: &mut dyn FrameSink, render: Render) -> TickOutcome {
        let timestamp_ns = self.timestamp_of(self.samples_emitted);
        let pulled = self.playout.pull(&mut self.block);
        let mouth = self.envelope.push_block(&self.block);
        // After the envelope: sound effects are heard, not lip-synced.
        self.sounds.mix_into(&mut self.block);
        self.handle_playout(pulled);
        sink.audio(&self.block, timestamp_ns);

        let block_end = self.samples_emitted + BLOCK_SAMPLES as u64;
        let mut frame = None;
        // A block is shorter than a frame interval, so at most one frame falls into it.
        if self.next_frame_at < block_end {
            self.next_frame_at += FRAME_SAMPLES;
            self.frames_due += 1;
            let wanted = match render {
                Render::All => true,
                Render::Throttled => self.frames_due % HIDDEN_FRAME_DIVISOR == 0,
                Render::None => false,
            };
            if wanted {
                let state = self.animator.frame_state(mouth);
                sink.frame(&mut self.renderer, &state, timestamp_ns);
                frame = Some(mouth);
            }
        }
        self.animator.advance(BLOCK_SECONDS);
        self.samples_emitted = block_end;
        TickOutcome {
            timestamp_ns,
            mouth,
            frame,
        }
    }

    /// Restarts the timestamp base so that the next block is stamped `now_ns` (after the
    /// thread fell far behind real time, see [`RESYNC_AFTER`](super::RESYNC_AFTER)). The
    /// sample count, the audio and all animations continue.
    pub fn rebase(&mut self, now_ns: u64) {
        self.t0_ns = now_ns.saturating_sub(samples_to_ns(self.samples_emitted));
    }

    /// Reports produced since the last call, oldest first.
    pub fn drain_reports(&mut self) -> std::vec::Drain<'_, Report> {
        self.reports.drain(..)
    }

    /// The expression currently shown.
    pub fn expression(&self) -> Expression {
        self.animator.expression()
    }

    /// Total samples emitted so far.
    pub fn samples_emitted(&self) -> u64 {
        self.samples_emitted
    }

    fn timestamp_of(&self, sample: u64) -> u64 {
        self.t0_ns.saturating_add(samples_to_ns(sample))
    }

    fn handle_playout(&mut self, pulled: PulledBlock) {
        // Utterances of an earlier sidecar connection still play out, but reporting on them
        // would confuse the current sidecar (its ids may repeat the old ones).
        let current = self.playout.session();
        for gave_up in &pulled.gave_up {
            log_warn!("{gave_up}");
        }
        for event in pulled.events {
            match event {
                PlayoutEvent::Started { session, utterance } => {
                    if let Some(expression) = self.say_expressions.remove(&(session, utterance)) {
                        self.animator
                            .set_utterance_expression(expression, utterance);
                    }
                    self.blocks_since_progress = 0;
                    if session == current {
                        self.reports.push(Report::Started { utterance });
                    }
                }
                PlayoutEvent::Finished {
                    session,
                    utterance,
                    played_ms,
                    interrupted,
                } => {
                    self.say_expressions.remove(&(session, utterance));
                    self.animator.utterance_finished(utterance);
                    if session == current {
                        self.reports.push(Report::Finished {
                            utterance,
                            played_ms,
                            interrupted,
                        });
                    }
                }
            }
        }
        if let Some(now) = pulled.now_playing.filter(|now| now.session == current) {
            self.blocks_since_progress += 1;
            if self.blocks_since_progress >= PROGRESS_EVERY {
                self.blocks_since_progress = 0;
                self.reports.push(Report::Progress {
                    utterance: now.utterance,
                    played_ms: now.played_ms,
                    received_ms: now.received_ms,
                });
            }
        }
    }
}

/// Nanoseconds spanned by `samples` at the link rate (exact integer math, no drift).
fn samples_to_ns(samples: u64) -> u64 {
    (u128::from(samples) * 1_000_000_000 / u128::from(SAMPLE_RATE)) as u64
}
