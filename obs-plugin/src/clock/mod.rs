//! The audio clock: one thread per source that paces audio *and* video.
//!
//! Every 10 ms (on a fixed schedule computed from the start instant, so sleeping jitter never
//! accumulates into drift) the clock:
//!
//! 1. pulls one 480-sample block (10 ms at 48 kHz) from the [`Playout`](avatar_link::playout::Playout),
//!    silence when idle, so OBS always sees gapless audio;
//! 2. feeds that block to the [`MouthEnvelope`](avatar_link::lipsync::MouthEnvelope), then
//!    mixes the sound effects over it ([`SoundMixer`](avatar_link::sounds::SoundMixer)): the
//!    mouth follows the voice, not a "ding";
//! 3. hands it to OBS with timestamp `t0 + samples_emitted / 48 kHz` (a continuous sample clock);
//! 4. whenever the block crosses the next 1/30 s frame boundary, renders a frame with the mouth
//!    computed from *that* block and outputs it with *the same* timestamp.
//!
//! Because audio and mouth share one timestamp, OBS presents them together: the audio clock
//! drives the mouth, not the other way round. Blinks, breathing, expressions and motions are
//! advanced by the same sample clock. The OBS calls live behind [`FrameSink`], so all of this is
//! tested with a fake sink (see `tests.rs`).
//!
//! # Falling behind
//!
//! Small delays (a slow frame, scheduler jitter) are caught up: the missed blocks are emitted
//! back to back, with continuous timestamps, skipping the frames that would already be stale.
//! If the thread is more than [`RESYNC_AFTER`] late (a stall, a suspended machine), it resyncs
//! instead: the schedule restarts from now and the timestamps jump forward by the missed time
//! (the sample clock itself, and so the audio, continue without loss). Catching up that much
//! would hand OBS audio for time windows it has probably mixed already: it would drop it or
//! raise its global audio buffering, which never shrinks again. The jump is harmless to
//! lip-sync because the source runs with *unbuffered* async video (see `source.rs`): OBS places
//! audio by absolute timestamp and shows each frame on arrival, and frames are emitted at their
//! own timestamp.

mod core;
mod threaded_video;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use avatar_link::{AudioChunk, Report, SoundChunk};

use crate::avatar::{AvatarFrameState, AvatarRenderer, Expression, Motion, RenderConfig};
use crate::guard;
use crate::log::{log_error, log_warn};

pub use self::core::{ClockCore, Render, TickOutcome};
pub use self::threaded_video::ThreadedVideo;

/// Samples per clock tick: 10 ms at 48 kHz.
pub use avatar_link::playout::BLOCK_SAMPLES;
/// Wall-clock period of one tick.
pub const BLOCK_PERIOD: Duration = Duration::from_millis(10);
/// Video frame rate of the source.
pub const FPS: u32 = 30;
/// Lateness beyond which the clock resyncs (skips ahead) instead of catching up.
pub const RESYNC_AFTER: Duration = Duration::from_millis(100);
/// Minimum spacing of "clock fell behind" log lines.
const RESYNC_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How often the thread may restart after an internal error before it gives up.
const MAX_RESTARTS: u32 = 3;

/// Where the clock sends its output: OBS in the plugin, a recorder in tests.
pub trait FrameSink {
    /// One block of mono 48 kHz float samples starting at `timestamp_ns`.
    fn audio(&mut self, block: &[f32], timestamp_ns: u64);
    /// One straight-alpha RGBA frame (`width * 4` bytes per row) shown at `timestamp_ns`.
    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64);
    /// A frame is due: draw `state` and output it at `timestamp_ns`. The default draws right
    /// here on the clock thread; [`ThreadedVideo`] hands it to a render thread instead, so a
    /// slow render can never delay the audio.
    fn frame(
        &mut self,
        renderer: &mut AvatarRenderer,
        state: &AvatarFrameState,
        timestamp_ns: u64,
    ) {
        let (width, height) = (renderer.width(), renderer.height());
        self.video(renderer.render(state), width, height, timestamp_ns);
    }
}

/// Everything that reaches the clock from outside (the link thread, settings updates).
#[derive(Debug, Clone, PartialEq)]
pub enum ClockInput {
    Say {
        utterance: u64,
        expression: Option<Expression>,
    },
    Audio(AudioChunk),
    /// Audio of a sound effect, mixed over the voice.
    Sound(SoundChunk),
    Stop {
        utterance: u64,
    },
    Expression {
        expression: Expression,
        duration_ms: u32,
    },
    Motion(Motion),
    /// The sidecar connection ended: no more audio will arrive for queued utterances.
    LinkLost,
    /// New frame size / badge setting.
    Configure(RenderConfig),
}

/// Everything the clock thread needs.
pub struct ClockParams<S> {
    pub sink: S,
    pub config: RenderConfig,
    pub inputs: Receiver<ClockInput>,
    /// Receives `Started` / `Progress` / `Finished` reports for the sidecar.
    pub reports: Box<dyn FnMut(Report) + Send>,
    /// Whether the source is shown anywhere; hidden sources render at a reduced rate.
    pub visible: Arc<AtomicBool>,
    /// The time base of timestamps (libobs' `os_gettime_ns` in the plugin).
    pub now_ns: fn() -> u64,
}

/// Handle of a running clock thread; stopping (or dropping) it joins the thread.
pub struct ClockThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ClockThread {
    pub fn spawn<S: FrameSink + Send + 'static>(params: ClockParams<S>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("ai-avatar-clock".into())
            .spawn(move || supervise(params, &stop_flag))?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Signals the thread and waits for it (at most one tick plus one frame render).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            // The thread body catches its own panics, so `join` only fails if the panic
            // happened in the logging itself; nothing more can be done then.
            let _ = handle.join();
        }
    }
}

impl Drop for ClockThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the clock loop, restarting it (with fresh state) if it panics, so one bug does not
/// silently freeze the avatar for the rest of the stream.
fn supervise<S: FrameSink>(mut params: ClockParams<S>, stop: &AtomicBool) {
    for attempt in 0..=MAX_RESTARTS {
        let finished = guard::catch("audio clock", false, || {
            run(&mut params, stop);
            true
        });
        if finished || stop.load(Ordering::Acquire) {
            return;
        }
        if attempt < MAX_RESTARTS {
            log_warn!("restarting the audio clock");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    log_error!(
        "the audio clock failed repeatedly and has stopped; re-add the source to restart it"
    );
}

/// The paced loop. Returns when `stop` is set.
fn run<S: FrameSink>(params: &mut ClockParams<S>, stop: &AtomicBool) {
    let now_ns = params.now_ns;
    let mut core = ClockCore::new(params.config, now_ns(), rand::random());
    let frame_period = Duration::from_secs(1) / FPS;
    let mut start = Instant::now();
    let mut ticks: u32 = 0;
    let mut resyncs = 0u32;
    let mut last_resync_log: Option<Instant> = None;

    while !stop.load(Ordering::Acquire) {
        loop {
            match params.inputs.try_recv() {
                Ok(ClockInput::Configure(config)) => {
                    // Remembered so that a restarted loop keeps the current size.
                    params.config = config;
                    core.apply(ClockInput::Configure(config));
                }
                Ok(input) => core.apply(input),
                // Disconnected only means nobody can send any more; keep the clock running
                // so queued audio still plays until the source is destroyed.
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }

        // A block that is already a frame interval late is part of a catch-up burst: its
        // frame would be stale on arrival, so only the audio is emitted.
        let due = start + BLOCK_PERIOD * ticks;
        let render = if Instant::now().saturating_duration_since(due) >= frame_period {
            Render::None
        } else if params.visible.load(Ordering::Relaxed) {
            Render::All
        } else {
            Render::Throttled
        };
        core.tick(&mut params.sink, render);
        for report in core.drain_reports() {
            (params.reports)(report);
        }

        ticks += 1;
        let next = start + BLOCK_PERIOD * ticks;
        let now = Instant::now();
        if let Some(wait) = next.checked_duration_since(now) {
            std::thread::sleep(wait);
        } else if now - next > RESYNC_AFTER {
            resyncs += 1;
            if last_resync_log.is_none_or(|at| now - at >= RESYNC_LOG_INTERVAL) {
                let behind = now - next;
                log_warn!(
                    "audio clock fell {behind:?} behind schedule; resynchronised ({resyncs} times)"
                );
                last_resync_log = Some(now);
            }
            start = now;
            ticks = 0;
            core.rebase(now_ns());
        }
        // Otherwise slightly late: loop on without sleeping until caught up.

        // Restart the tick counter well before `BLOCK_PERIOD * ticks` could overflow.
        if ticks >= 1 << 30 {
            start += BLOCK_PERIOD * ticks;
            ticks = 0;
        }
    }
}

#[cfg(test)]
mod tests;
