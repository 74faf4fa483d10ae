//! What the avatar is doing right now, mirrored from the link without playing any audio.
//!
//! The OBS source owns the audio clock: it plays each utterance's samples at 48 kHz, 10 ms at a
//! time, and moves its mouth from exactly those samples. The bridge cannot hear that playback, so
//! [`FollowerPlayout`] re-enacts it: it queues the same audio in the same order and, as wall time
//! passes, "plays" the samples that would have gone out in that interval into the same
//! [`MouthEnvelope`]. Both mouths therefore move alike without any extra messages on the link.
//!
//! The playout rules are the OBS source's own, from [`avatar_link::playout`] (order, underruns
//! that wait, the starvation limit, retired ids, 10 ms blocks), with two differences: `Stop`
//! drops the rest of an utterance at once (no fade: the envelope's release closes the mouth),
//! and a lost link only seals what is queued. What is the bridge's own is the wall-time pacing,
//! the expressions and the motions.
//!
//! Everything here is pure: time only moves through [`FollowerPlayout::advance`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use avatar_link::lipsync::{MouthEnvelope, MouthShape};
use avatar_link::playout::{Playout, PlayoutEvent, PlayoutLimits};
use avatar_link::{AudioChunk, Command, SAMPLE_RATE};

/// The envelope is tuned for 10 ms blocks, and the OBS source feeds it exactly those.
pub use avatar_link::playout::BLOCK_SAMPLES;
/// Audio buffered for all utterances together (10 minutes, ~58 MB). The sidecar never sends that
/// much ahead; the cap only keeps a misbehaving peer from eating the machine's memory.
const MAX_BUFFERED_SAMPLES: usize = 10 * 60 * SAMPLE_RATE as usize;
/// After this much silence the envelope sits at its floor, so further idle time can be skipped
/// in one step instead of being fed block by block (matters after a long suspend).
const SETTLED_SILENT_BLOCKS: u32 = 100;
/// Motions waiting for the sink. VTube Studio queues at most 32 hotkeys; more than that pending
/// means the sink is not keeping up, and the oldest reactions are the least relevant.
const MAX_PENDING_MOTIONS: usize = 32;
/// The expression shown when no other one is active.
pub const NEUTRAL: &str = "neutral";

/// How long the current expression lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    Forever,
    /// Until the follower clock reaches this sample.
    Until(u64),
    /// While this utterance plays (from `Say { expression }`).
    Utterance(u64),
}

/// Mirror of the audio-clock owner's playout, plus the expression and motion state.
#[derive(Debug)]
pub struct FollowerPlayout {
    playout: Playout,
    /// Expressions requested by `Say`, shown once that utterance starts playing.
    say_expressions: HashMap<u64, String>,
    expression: Option<(String, Hold)>,
    motions: VecDeque<String>,
    envelope: MouthEnvelope,
    /// Reused block buffer.
    block: Vec<f32>,
    /// Wall time fed through `advance`, and the samples (whole blocks) played for it. Keeping the
    /// total instead of per-call remainders means no drift, however the ticks are spaced.
    elapsed: Duration,
    samples_played: u64,
    silent_blocks: u32,
}

impl Default for FollowerPlayout {
    fn default() -> Self {
        Self::new()
    }
}

impl FollowerPlayout {
    pub fn new() -> Self {
        let limits = PlayoutLimits {
            per_utterance: MAX_BUFFERED_SAMPLES,
            total: MAX_BUFFERED_SAMPLES,
            fade: 0,
            ..PlayoutLimits::default()
        };
        Self {
            playout: Playout::new(limits),
            say_expressions: HashMap::new(),
            expression: None,
            motions: VecDeque::new(),
            envelope: MouthEnvelope::new(),
            block: vec![0.0; BLOCK_SAMPLES],
            elapsed: Duration::ZERO,
            samples_played: 0,
            silent_blocks: SETTLED_SILENT_BLOCKS,
        }
    }

    /// Applies a control message from the sidecar.
    pub fn apply(&mut self, command: Command) {
        match command {
            // The link client checks the protocol revision; nothing to mirror here.
            Command::Hello { .. } => {}
            Command::Say {
                utterance,
                expression,
                ..
            } => {
                if let (true, Some(name)) = (self.playout.announce(utterance), expression) {
                    if self.playout.has_started(utterance) {
                        // Its audio overtook the `Say` (e.g. we connected mid-line): show it now.
                        self.expression = Some((normalise(&name), Hold::Utterance(utterance)));
                    } else {
                        self.say_expressions.insert(utterance, normalise(&name));
                    }
                }
            }
            Command::Stop { utterance } => {
                self.playout.stop(utterance);
                // Gone from the queue already; its expression goes with it now, not a block later.
                self.utterance_ended(utterance);
            }
            Command::Expression { name, duration_ms } => {
                let name = normalise(&name);
                self.expression = match duration_ms {
                    _ if name == NEUTRAL => None,
                    0 => Some((name, Hold::Forever)),
                    ms => Some((name, Hold::Until(self.samples_played + ms_to_samples(ms)))),
                };
            }
            Command::Motion { name } => {
                if self.motions.len() == MAX_PENDING_MOTIONS {
                    self.motions.pop_front();
                }
                self.motions.push_back(normalise(&name));
            }
        }
    }

    /// Queues audio. A chunk for an unannounced utterance announces it (the `Say` may have been
    /// sent before this client connected); chunks for a finished or stopped one are dropped.
    pub fn push_audio(&mut self, chunk: AudioChunk) {
        if let Some(overflow) = self
            .playout
            .push(chunk.utterance, &chunk.samples, chunk.last)
        {
            tracing::warn!(
                utterance = overflow.utterance,
                "follower buffer full; dropping audio (the mouth will run ahead of the voice)"
            );
        }
    }

    /// The link to the sidecar is gone: no more audio will come for anything queued, so play out
    /// what is buffered instead of waiting for chunks that never arrive.
    pub fn link_lost(&mut self) {
        self.playout.seal_all();
    }

    /// Lets `elapsed` of wall time pass: consumes the samples the audio-clock owner would have
    /// played meanwhile (in whole 10 ms blocks; the remainder carries over) and returns the
    /// mouth shape at the end of it.
    pub fn advance(&mut self, elapsed: Duration) -> MouthShape {
        self.elapsed += elapsed;
        let due = (self.elapsed.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u64;
        while self.samples_played + BLOCK_SAMPLES as u64 <= due {
            if self.playout.is_idle() && self.silent_blocks >= SETTLED_SILENT_BLOCKS {
                // Nothing to play and the mouth has long settled: skip the idle time in one go.
                let blocks = (due - self.samples_played) / BLOCK_SAMPLES as u64;
                self.samples_played += blocks * BLOCK_SAMPLES as u64;
                break;
            }
            self.play_block();
        }
        self.expire_expression();
        self.envelope.shape()
    }

    /// The current mouth shape (as of the last `advance`).
    pub fn mouth(&self) -> MouthShape {
        self.envelope.shape()
    }

    /// The expression being shown; [`NEUTRAL`] when none is.
    pub fn expression(&self) -> &str {
        self.expression
            .as_ref()
            .map_or(NEUTRAL, |(name, _)| name.as_str())
    }

    /// Motions requested since the last call, oldest first.
    pub fn take_motions(&mut self) -> Vec<String> {
        self.motions.drain(..).collect()
    }

    /// True when no utterance is queued or playing.
    pub fn is_idle(&self) -> bool {
        self.playout.is_idle()
    }

    /// "Plays" one block: pulls it from the playout (silence where there is nothing to play)
    /// and feeds it to the envelope, as the OBS source's audio clock does every 10 ms.
    fn play_block(&mut self) {
        let pulled = self.playout.pull(&mut self.block);
        for gave_up in &pulled.gave_up {
            tracing::warn!(
                utterance = gave_up.utterance,
                waited_ms = gave_up.waited_ms,
                "no audio; giving up on the utterance"
            );
        }
        // An utterance ends in the block that played its last sample, so a `Say` expression
        // ends with the voice and not one block later.
        for event in pulled.events {
            match event {
                PlayoutEvent::Started { utterance, .. } => {
                    if let Some(name) = self.say_expressions.remove(&utterance) {
                        self.expression = Some((name, Hold::Utterance(utterance)));
                    }
                }
                PlayoutEvent::Finished { utterance, .. } => self.utterance_ended(utterance),
            }
        }
        self.envelope.push_block(&self.block);
        self.samples_played += BLOCK_SAMPLES as u64;
        self.silent_blocks = if pulled.audible > 0 {
            0
        } else {
            self.silent_blocks.saturating_add(1)
        };
        self.expire_expression();
    }

    fn utterance_ended(&mut self, utterance: u64) {
        self.say_expressions.remove(&utterance);
        // An expression tied to this utterance ends with it; an explicit, later one stays.
        if matches!(self.expression, Some((_, Hold::Utterance(u))) if u == utterance) {
            self.expression = None;
        }
    }

    fn expire_expression(&mut self) {
        if matches!(self.expression, Some((_, Hold::Until(end))) if self.samples_played >= end) {
            self.expression = None;
        }
    }
}

/// Names arrive from an LLM-driven script; compare them case- and whitespace-insensitively.
fn normalise(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

fn ms_to_samples(ms: u32) -> u64 {
    u64::from(ms) * u64::from(SAMPLE_RATE) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(33);

    fn tone(seconds: f32, amplitude: f32) -> Vec<i16> {
        let n = (seconds * SAMPLE_RATE as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                (amplitude * 32767.0 * (std::f32::consts::TAU * 200.0 * t).sin()) as i16
            })
            .collect()
    }

    fn say(id: u64, expression: Option<&str>) -> Command {
        Command::Say {
            utterance: id,
            priority: 0,
            text: "hi".into(),
            expression: expression.map(String::from),
        }
    }

    fn chunk(id: u64, samples: Vec<i16>, last: bool) -> AudioChunk {
        AudioChunk {
            utterance: id,
            last,
            samples,
        }
    }

    /// Advances in realistic 33 ms ticks and returns the openness after each one.
    fn run(follower: &mut FollowerPlayout, total: Duration) -> Vec<f32> {
        let ticks = total.as_millis() / TICK.as_millis();
        (0..ticks)
            .map(|_| follower.advance(TICK).openness())
            .collect()
    }

    #[test]
    fn silence_keeps_the_mouth_closed() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, None));
        f.push_audio(chunk(1, vec![0; SAMPLE_RATE as usize], true));
        assert!(run(&mut f, Duration::from_secs(2))
            .iter()
            .all(|&o| o == 0.0));
        assert!(f.is_idle());
    }

    #[test]
    fn a_loud_tone_opens_the_mouth_for_as_long_as_it_would_play() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, None));
        f.push_audio(chunk(1, tone(1.0, 0.5), true));
        let open = run(&mut f, Duration::from_millis(990));
        assert!(open.iter().all(|&o| o > 0.5), "{open:?}");
        assert!(
            !f.is_idle(),
            "one second of audio must not be used up in less than a second"
        );
        let after = run(&mut f, Duration::from_millis(330));
        assert_eq!(*after.last().unwrap(), 0.0, "{after:?}");
        assert!(f.is_idle());
    }

    #[test]
    fn stop_closes_the_mouth_within_a_tenth_of_a_second() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, None));
        f.push_audio(chunk(1, tone(3.0, 0.5), false));
        run(&mut f, Duration::from_millis(330));
        assert!(f.mouth().openness() > 0.5);
        f.apply(Command::Stop { utterance: 1 });
        // Audio still in flight for the stopped utterance must not reopen the mouth.
        f.push_audio(chunk(1, tone(1.0, 0.5), true));
        let mut closed_after = None;
        for step in 1..=30 {
            if f.advance(Duration::from_millis(10)) == MouthShape::Closed {
                closed_after = Some(step * 10);
                break;
            }
        }
        assert!(
            matches!(closed_after, Some(ms) if ms <= 100),
            "closed after {closed_after:?} ms"
        );
        assert!(run(&mut f, Duration::from_secs(1))
            .iter()
            .all(|&o| o == 0.0));
        assert!(f.is_idle());
    }

    #[test]
    fn an_underrun_waits_for_the_late_audio_instead_of_skipping_it() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, None));
        f.push_audio(chunk(1, tone(0.2, 0.5), false));
        run(&mut f, Duration::from_millis(198));
        // The rest of the utterance is late by half a second: the mouth closes meanwhile...
        let waiting = run(&mut f, Duration::from_millis(495));
        assert_eq!(*waiting.last().unwrap(), 0.0);
        assert!(!f.is_idle(), "the utterance keeps its place while it waits");
        // ...and the late audio is mouthed in full once it arrives.
        f.push_audio(chunk(1, tone(0.5, 0.5), true));
        let resumed = run(&mut f, Duration::from_millis(462));
        assert!(resumed.iter().all(|&o| o > 0.5), "{resumed:?}");
        run(&mut f, Duration::from_millis(330));
        assert!(f.is_idle());
    }

    #[test]
    fn utterances_play_in_announcement_order_and_late_chunks_of_finished_ones_are_dropped() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, None));
        f.apply(say(2, None));
        // Utterance 2's audio arrives first but must wait for 1 (silence, then the tone).
        f.push_audio(chunk(2, tone(0.3, 0.5), true));
        f.push_audio(chunk(1, vec![0; SAMPLE_RATE as usize / 2], true));
        let first = run(&mut f, Duration::from_millis(495));
        assert!(first.iter().all(|&o| o == 0.0), "{first:?}");
        let second = run(&mut f, Duration::from_millis(264));
        assert!(second.iter().skip(1).all(|&o| o > 0.5), "{second:?}");
        run(&mut f, Duration::from_millis(330));
        assert!(f.is_idle());
        f.push_audio(chunk(1, tone(0.3, 0.5), true));
        assert!(f.is_idle(), "a finished utterance is not started again");
    }

    #[test]
    fn a_lost_link_lets_buffered_audio_finish() {
        let mut f = FollowerPlayout::new();
        f.push_audio(chunk(4, tone(0.1, 0.5), false));
        f.link_lost();
        run(&mut f, Duration::from_millis(330));
        assert!(f.is_idle());
    }

    #[test]
    fn expressions_expire_and_neutral_resets() {
        let mut f = FollowerPlayout::new();
        assert_eq!(f.expression(), NEUTRAL);
        f.apply(Command::Expression {
            name: " Happy".into(),
            duration_ms: 500,
        });
        assert_eq!(f.expression(), "happy");
        run(&mut f, Duration::from_millis(462));
        assert_eq!(f.expression(), "happy");
        run(&mut f, Duration::from_millis(66));
        assert_eq!(f.expression(), NEUTRAL);

        f.apply(Command::Expression {
            name: "sad".into(),
            duration_ms: 0,
        });
        run(&mut f, Duration::from_secs(5));
        assert_eq!(f.expression(), "sad", "duration 0 holds until replaced");
        f.apply(Command::Expression {
            name: "neutral".into(),
            duration_ms: 9_000,
        });
        assert_eq!(f.expression(), NEUTRAL);
    }

    #[test]
    fn a_say_expression_shows_while_its_utterance_plays() {
        let mut f = FollowerPlayout::new();
        f.apply(say(1, Some("surprised")));
        assert_eq!(f.expression(), NEUTRAL, "not before the utterance starts");
        f.push_audio(chunk(1, tone(0.3, 0.5), true));
        f.advance(TICK);
        assert_eq!(f.expression(), "surprised");
        run(&mut f, Duration::from_millis(330));
        assert_eq!(f.expression(), NEUTRAL, "ends with the utterance");
    }

    #[test]
    fn motions_are_handed_out_once_in_order() {
        let mut f = FollowerPlayout::new();
        f.apply(Command::Motion { name: "nod".into() });
        f.apply(Command::Motion {
            name: "Wave".into(),
        });
        assert_eq!(f.take_motions(), vec!["nod", "wave"]);
        assert!(f.take_motions().is_empty());
    }

    #[test]
    fn uneven_ticks_consume_exactly_real_time() {
        let mut f = FollowerPlayout::new();
        f.push_audio(chunk(1, tone(1.0, 0.5), true));
        // 999 ticks of 1 ms never complete a block on their own, but their sum does.
        for _ in 0..999 {
            f.advance(Duration::from_millis(1));
        }
        assert!(!f.is_idle());
        f.advance(Duration::from_millis(11));
        assert!(f.is_idle());
    }

    #[test]
    fn a_long_idle_gap_is_cheap_and_keeps_the_mouth_closed() {
        let mut f = FollowerPlayout::new();
        assert_eq!(f.advance(Duration::from_secs(8 * 3600)), MouthShape::Closed);
        f.push_audio(chunk(1, tone(0.2, 0.5), true));
        assert!(f.advance(TICK).openness() > 0.5);
    }
}
