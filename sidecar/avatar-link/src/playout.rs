//! The utterance queue between the link (audio arriving in chunks) and whatever plays it out
//! one 10 ms block at a time: the OBS source's audio clock, and the live2d-bridge, which has no
//! audio and only re-enacts that playout to move its mouth alike. Both follow these rules, so
//! they live here once.
//!
//! Rules:
//! * utterances play one after another in the order they were announced;
//! * an utterance finishes when its `last` chunk has arrived and its audio is drained;
//! * if its audio has not arrived yet (network/TTS slower than real time) the clock gets silence
//!   and the utterance keeps waiting (it is *not* finished), up to [`PlayoutLimits::starvation`];
//! * [`Playout::stop`] fades the utterance out over [`PlayoutLimits::fade`] (default
//!   [`FADE_SAMPLES`]; none for a follower, whose mouth envelope has its own release) and drops
//!   the rest;
//! * buffered audio is capped per utterance and in total; excess audio is dropped and reported
//!   ([`Overflow`]);
//! * finished and stopped ids are remembered ([`RETIRED_MEMORY`] of them), so chunks still in
//!   flight cannot start them again;
//! * utterance ids are only unique within one sidecar connection ("session"): a restarted
//!   sidecar counts from 1 again. [`Playout::new_session`] keeps the two apart, and every event
//!   says which session it belongs to so stale reports are not sent to the new sidecar.
//!
//! Audio is buffered as the link's i16 samples (half the memory of f32, and lossless) and
//! converted when pulled. The queue has no logger and no clock of its own: what deserves a log
//! line comes back as data ([`Overflow`], [`GaveUp`]), and time moves only through
//! [`Playout::pull`].

use std::collections::VecDeque;
use std::fmt;

use crate::{samples_to_ms, SAMPLE_RATE};

/// One block: 10 ms at the link rate. The OBS source emits audio in blocks of this size and the
/// mouth envelope ([`crate::lipsync`]) is tuned for them, so every output pulls this much at a
/// time.
pub const BLOCK_SAMPLES: usize = SAMPLE_RATE as usize / 100;

/// Length of the fade-out applied by [`Playout::stop`]: 10 ms, long enough to avoid a click.
pub const FADE_SAMPLES: usize = SAMPLE_RATE as usize / 100;

// A stop takes effect in the next block and is over by its end: the fade never reaches into
// the block after (where the next utterance, e.g. the interrupter, may already start).
const _: () = assert!(FADE_SAMPLES <= BLOCK_SAMPLES);

/// How many ids of finished utterances are remembered, so that chunks still in flight for an
/// utterance that was stopped are dropped instead of starting it again.
pub const RETIRED_MEMORY: usize = 256;

/// Memory limits and patience of the playout, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutLimits {
    /// Audio buffered for one utterance (default 10 minutes, 57.6 MB).
    pub per_utterance: usize,
    /// Audio buffered for all utterances together (default 15 minutes).
    pub total: usize,
    /// How long the head of the queue may wait for audio before it is given up (default 15 s;
    /// generous because the first chunk waits for TTS).
    pub starvation: usize,
    /// Length of the fade-out when an utterance is stopped while it plays (default
    /// [`FADE_SAMPLES`]). 0 drops its audio at once.
    pub fade: usize,
}

impl Default for PlayoutLimits {
    fn default() -> Self {
        let minute = SAMPLE_RATE as usize * 60;
        Self {
            per_utterance: 10 * minute,
            total: 15 * minute,
            starvation: 15 * SAMPLE_RATE as usize,
            fade: FADE_SAMPLES,
        }
    }
}

/// Something that happened to an utterance during a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutEvent {
    /// Its first sample is in this block.
    Started { session: u64, utterance: u64 },
    /// It is done: drained (`interrupted: false`), or stopped / given up (`interrupted: true`).
    Finished {
        session: u64,
        utterance: u64,
        played_ms: u32,
        interrupted: bool,
    },
}

/// The utterance being played at the end of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NowPlaying {
    pub session: u64,
    pub utterance: u64,
    pub played_ms: u32,
    pub received_ms: u32,
}

/// Result of [`Playout::pull`]; the samples themselves are written into the caller's buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PulledBlock {
    /// In order of occurrence. Usually empty (an empty `Vec` does not allocate).
    pub events: Vec<PlayoutEvent>,
    pub now_playing: Option<NowPlaying>,
    /// Samples of this block that came from an utterance (the rest is silence).
    pub audible: usize,
    /// Utterances given up in this block because their audio never came (each also has its
    /// `Finished` in `events`); worth a warning.
    pub gave_up: Vec<GaveUp>,
}

/// An utterance that waited [`PlayoutLimits::starvation`] for audio and was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    pub utterance: u64,
    pub waited_ms: u32,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "utterance {} got no audio for {} ms; giving up on it",
            self.utterance, self.waited_ms
        )
    }
}

/// Audio of an utterance was dropped because a buffer limit was hit. Reported once per
/// utterance, by the [`Playout::push`] that first overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub utterance: u64,
    /// Audio buffered for all utterances together after the push.
    pub buffered_ms: u32,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "playout buffer full: dropping audio of utterance {} ({} ms buffered in total)",
            self.utterance, self.buffered_ms
        )
    }
}

#[derive(Debug)]
struct Utterance {
    session: u64,
    id: u64,
    buffer: VecDeque<i16>,
    /// Samples received, including those already played or dropped by the fade.
    received: usize,
    played: usize,
    /// The `last` chunk arrived (or the link went away): no more audio will come.
    sealed: bool,
    started: bool,
    /// Set by [`Playout::stop`]: length of the fade-out. The buffer is cut to this length,
    /// so the samples still buffered are exactly the fade's remainder.
    fade_len: Option<usize>,
    /// Samples of silence emitted while waiting for this utterance's audio.
    starved: usize,
    /// Audio was dropped because a buffer limit was hit (logged once).
    overflowed: bool,
}

impl Utterance {
    fn new(session: u64, id: u64) -> Self {
        Self {
            session,
            id,
            buffer: VecDeque::new(),
            received: 0,
            played: 0,
            sealed: false,
            started: false,
            fade_len: None,
            starved: 0,
            overflowed: false,
        }
    }
}

/// The queue of utterances waiting to be played.
#[derive(Debug, Default)]
pub struct Playout {
    queue: VecDeque<Utterance>,
    /// Sum of all `buffer` lengths.
    buffered: usize,
    limits: PlayoutLimits,
    /// Current sidecar session; utterances of earlier sessions only play out.
    session: u64,
    /// Recently finished ids of the current session (newest at the back).
    retired: VecDeque<u64>,
    /// Events produced outside `pull` (a stop before the start), delivered with the next pull.
    pending: Vec<PlayoutEvent>,
}

impl Playout {
    pub fn new(limits: PlayoutLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Announces an utterance (`Command::Say`); its audio follows. Returns false (and ignores
    /// it) if the utterance already finished or was stopped.
    pub fn announce(&mut self, id: u64) -> bool {
        if self.is_retired(id) {
            return false;
        }
        if self.find(id).is_none() {
            self.queue.push_back(Utterance::new(self.session, id));
        }
        true
    }

    /// Appends audio (`AudioChunk`). A chunk for an unannounced id announces it (its `Say` may
    /// have been sent before this client connected); chunks for a finished or stopped utterance
    /// are dropped. Returns the overflow, the first time this utterance's audio is dropped.
    pub fn push(&mut self, id: u64, samples: &[i16], last: bool) -> Option<Overflow> {
        if self.is_retired(id) {
            return None;
        }
        if self.find(id).is_none() {
            self.queue.push_back(Utterance::new(self.session, id));
        }
        let total_room = self.limits.total.saturating_sub(self.buffered);
        let per_utterance = self.limits.per_utterance;
        let utterance = self.find_mut(id)?;
        if utterance.fade_len.is_some() {
            return None; // being stopped: the rest is not wanted
        }
        let room = per_utterance
            .saturating_sub(utterance.buffer.len())
            .min(total_room);
        let accepted = samples.len().min(room);
        utterance.buffer.extend(&samples[..accepted]);
        utterance.received += samples.len();
        utterance.sealed |= last;
        let first_overflow = accepted < samples.len() && !utterance.overflowed;
        utterance.overflowed |= first_overflow;
        self.buffered += accepted;
        first_overflow.then(|| Overflow {
            utterance: id,
            buffered_ms: samples_to_ms(self.buffered),
        })
    }

    /// Cuts an utterance short: a short fade if it is playing, removal if it is still queued or
    /// there is nothing to fade. Its `Finished` comes with the next pull.
    pub fn stop(&mut self, id: u64) {
        let session = self.session;
        let Some(index) = self
            .queue
            .iter()
            .position(|u| u.session == session && u.id == id)
        else {
            // Not known (yet): remember it so late chunks cannot start it.
            self.retire(id);
            return;
        };
        let fade = self.limits.fade;
        let utterance = &mut self.queue[index];
        if utterance.fade_len.is_some() {
            return; // already fading out
        }
        // Fade over what is buffered if that is less than the fade (e.g. during an underrun),
        // so the ramp always ends at zero.
        let keep = utterance.buffer.len().min(fade);
        if utterance.started && keep > 0 {
            self.buffered -= utterance.buffer.len() - keep;
            utterance.buffer.truncate(keep);
            utterance.fade_len = Some(keep);
            utterance.sealed = true;
        } else if let Some(utterance) = self.queue.remove(index) {
            self.buffered -= utterance.buffer.len();
            self.pending.push(PlayoutEvent::Finished {
                session,
                utterance: id,
                played_ms: samples_to_ms(utterance.played),
                interrupted: true,
            });
            self.retire(id);
        }
    }

    /// The sidecar connection ended: no more audio will arrive for anything queued, so play out
    /// what is buffered instead of waiting for chunks that will never come. Ids seen from now
    /// on belong to a new session and may repeat old ones.
    pub fn new_session(&mut self) {
        self.seal_all();
        self.session += 1;
        self.retired.clear();
    }

    /// No more audio will arrive for anything queued: play out what is buffered, in the same
    /// session (ids keep their meaning and their retired memory).
    pub fn seal_all(&mut self) {
        for utterance in &mut self.queue {
            utterance.sealed = true;
        }
    }

    /// The current session (see [`Playout::new_session`]).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Fills `out` with the next samples (silence where there is nothing to play).
    pub fn pull(&mut self, out: &mut [f32]) -> PulledBlock {
        let mut events = std::mem::take(&mut self.pending);
        let mut gave_up = Vec::new();
        let mut filled = 0;
        while filled < out.len() {
            let starvation_limit = self.limits.starvation;
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            if front.buffer.is_empty() {
                if front.sealed {
                    let interrupted = front.fade_len.is_some();
                    self.finish_front(interrupted, &mut events);
                    continue;
                }
                // Underrun: the audio is late. Play silence and keep waiting.
                front.starved += out.len() - filled;
                if front.starved >= starvation_limit {
                    gave_up.push(GaveUp {
                        utterance: front.id,
                        waited_ms: samples_to_ms(front.starved),
                    });
                    self.finish_front(true, &mut events);
                    continue;
                }
                break;
            }
            if !front.started {
                front.started = true;
                events.push(PlayoutEvent::Started {
                    session: front.session,
                    utterance: front.id,
                });
            }
            front.starved = 0;
            let n = (out.len() - filled).min(front.buffer.len());
            // During a fade, sample i of this pull has `remaining - i` samples to go.
            let fade = front.fade_len.map(|len| (front.buffer.len(), len as f32));
            for (i, slot) in out[filled..filled + n].iter_mut().enumerate() {
                let sample = f32::from(front.buffer.pop_front().unwrap_or(0)) / 32768.0;
                let gain = fade.map_or(1.0, |(remaining, len)| (remaining - i) as f32 / len);
                *slot = sample * gain;
            }
            filled += n;
            front.played += n;
            self.buffered -= n;
            // A drained, sealed utterance is finished by the next loop iteration.
        }
        out[filled..].fill(0.0);
        // Report a drained utterance in the block that played its last sample, not 10 ms later.
        if self
            .queue
            .front()
            .is_some_and(|u| u.started && u.sealed && u.buffer.is_empty())
        {
            let interrupted = self.queue.front().is_some_and(|u| u.fade_len.is_some());
            self.finish_front(interrupted, &mut events);
        }
        let now_playing = self
            .queue
            .front()
            .filter(|u| u.started)
            .map(|u| NowPlaying {
                session: u.session,
                utterance: u.id,
                played_ms: samples_to_ms(u.played),
                received_ms: samples_to_ms(u.received),
            });
        PulledBlock {
            events,
            now_playing,
            audible: filled,
            gave_up,
        }
    }

    /// True when nothing is queued or playing.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.pending.is_empty()
    }

    /// True when `id` (of the current session) is queued and its first sample has played.
    pub fn has_started(&self, id: u64) -> bool {
        self.find(id).is_some_and(|u| u.started)
    }

    /// Samples currently buffered across all utterances.
    pub fn buffered_samples(&self) -> usize {
        self.buffered
    }

    fn finish_front(&mut self, interrupted: bool, events: &mut Vec<PlayoutEvent>) {
        if let Some(utterance) = self.queue.pop_front() {
            self.buffered -= utterance.buffer.len();
            events.push(PlayoutEvent::Finished {
                session: utterance.session,
                utterance: utterance.id,
                played_ms: samples_to_ms(utterance.played),
                interrupted,
            });
            if utterance.session == self.session {
                self.retire(utterance.id);
            }
        }
    }

    fn find(&self, id: u64) -> Option<&Utterance> {
        self.queue
            .iter()
            .find(|u| u.session == self.session && u.id == id)
    }

    fn find_mut(&mut self, id: u64) -> Option<&mut Utterance> {
        let session = self.session;
        self.queue
            .iter_mut()
            .find(|u| u.session == session && u.id == id)
    }

    fn is_retired(&self, id: u64) -> bool {
        self.retired.contains(&id)
    }

    fn retire(&mut self, id: u64) {
        if self.retired.len() == RETIRED_MEMORY {
            self.retired.pop_front();
        }
        self.retired.push_back(id);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_shared;
