//! What the avatar is doing at a given instant, and the timers that decide it.
//!
//! Time here is *sample-clock* time: the clock thread advances the [`Animator`] by exactly the
//! duration of the audio it emitted, never by wall time. If audio output stalls, blinking and
//! breathing stall with it, and a frame always shows the pose belonging to its timestamp.

use std::f32::consts::{PI, TAU};
use std::str::FromStr;

use avatar_link::lipsync::MouthShape;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::MAX_HEAD_OFFSET;

/// Facial expressions the built-in avatar can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expression {
    #[default]
    Neutral,
    Happy,
    Surprised,
    Sad,
    Angry,
}

impl FromStr for Expression {
    type Err = String;

    /// Accepts the protocol's names plus a few obvious synonyms an LLM prompt might produce.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "neutral" | "default" | "calm" => Ok(Self::Neutral),
            "happy" | "joy" | "smile" | "excited" => Ok(Self::Happy),
            "surprised" | "surprise" | "shocked" => Ok(Self::Surprised),
            "sad" | "sorrow" | "upset" => Ok(Self::Sad),
            "angry" | "anger" | "annoyed" => Ok(Self::Angry),
            other => Err(format!("unknown expression {other:?}")),
        }
    }
}

/// One-shot reaction motions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Motion {
    Bounce,
    Nod,
    Shake,
    Wave,
}

impl Motion {
    /// How long the motion lasts, in seconds.
    pub fn duration(self) -> f32 {
        match self {
            Motion::Bounce => 0.6,
            Motion::Nod => 0.8,
            Motion::Shake => 1.0,
            Motion::Wave => 1.2,
        }
    }
}

impl FromStr for Motion {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "bounce" | "jump" | "hop" => Ok(Self::Bounce),
            "nod" | "yes" => Ok(Self::Nod),
            "shake" | "no" | "headshake" => Ok(Self::Shake),
            "wave" | "hello" | "bye" => Ok(Self::Wave),
            other => Err(format!("unknown motion {other:?}")),
        }
    }
}

/// The raised hand of the `wave` motion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavePose {
    /// 0 = arm down (out of frame), 1 = hand fully raised beside the face.
    pub raise: f32,
    /// Hand rotation around the wrist, degrees.
    pub angle_deg: f32,
}

/// Everything the renderer needs for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvatarFrameState {
    pub mouth: MouthShape,
    pub expression: Expression,
    /// 1 = eyes fully open, 0 = closed (blink).
    pub eye_open: f32,
    /// Head displacement in units of `min(W, H)`, each axis within ±[`MAX_HEAD_OFFSET`].
    pub head_offset: (f32, f32),
    /// Vertical body displacement (breathing), units of `min(W, H)`.
    pub body_offset: f32,
    pub wave: Option<WavePose>,
}

impl Default for AvatarFrameState {
    /// The rest pose: neutral, eyes open, mouth closed, nothing moving.
    fn default() -> Self {
        Self {
            mouth: MouthShape::Closed,
            expression: Expression::Neutral,
            eye_open: 1.0,
            head_offset: (0.0, 0.0),
            body_offset: 0.0,
            wave: None,
        }
    }
}

/// Breathing period: slow enough to read as calm breathing.
const BREATH_PERIOD: f32 = 4.0;
/// Breathing amplitude, units of `min(W, H)` (head moves a bit less than the shoulders).
const BREATH_BODY: f32 = 0.008;
const BREATH_HEAD: f32 = 0.005;
/// A blink: lids close in 60 ms, stay shut 30 ms and reopen in 60 ms (~150 ms total).
const BLINK_CLOSE: f32 = 0.06;
const BLINK_HOLD: f32 = 0.03;
const BLINK_OPEN: f32 = 0.06;
const BLINK_TOTAL: f32 = BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN;
/// Gap between the two blinks of a double blink.
const DOUBLE_BLINK_GAP: f32 = 0.1;
/// Random pause between blinks (people blink every few seconds, irregularly).
const BLINK_INTERVAL: std::ops::Range<f32> = 2.5..6.0;
/// Share of blinks that are double blinks.
const DOUBLE_BLINK_CHANCE: f64 = 0.2;

/// How long an expression lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hold {
    /// Until the sample clock reaches this time (seconds).
    Until(f64),
    /// While this utterance plays (set by `Say { expression }`).
    Utterance(u64),
    /// Until replaced.
    Forever,
}

/// Advances blink, breathing, expression and motion timers on the sample clock.
#[derive(Debug, Clone)]
pub struct Animator {
    /// Sample-clock time in seconds. f64: f32 would lose millisecond precision after hours.
    now: f64,
    rng: SmallRng,
    next_blink: f64,
    /// Start times of the current blink and, for a double blink, the second one.
    blink: Option<(f64, Option<f64>)>,
    expression: Option<(Expression, Hold)>,
    motion: Option<(Motion, f64)>,
}

impl Animator {
    /// `seed` makes blinking reproducible in tests; the plugin seeds from the OS.
    pub fn new(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let next_blink = f64::from(rng.random_range(BLINK_INTERVAL));
        Self {
            now: 0.0,
            rng,
            next_blink,
            blink: None,
            expression: None,
            motion: None,
        }
    }

    /// Sample-clock time in seconds since the animator started.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Moves time forward by `dt` seconds (one audio block).
    pub fn advance(&mut self, dt: f64) {
        self.now += dt.max(0.0);
        if let Some((start, second)) = self.blink {
            let end = second.unwrap_or(start) + f64::from(BLINK_TOTAL);
            if self.now >= end {
                self.blink = None;
            }
        }
        if self.blink.is_none() && self.now >= self.next_blink {
            let second = self
                .rng
                .random_bool(DOUBLE_BLINK_CHANCE)
                .then_some(self.now + f64::from(BLINK_TOTAL + DOUBLE_BLINK_GAP));
            self.blink = Some((self.now, second));
            let pause = f64::from(self.rng.random_range(BLINK_INTERVAL));
            self.next_blink = second.unwrap_or(self.now) + f64::from(BLINK_TOTAL) + pause;
        }
        if let Some((_, Hold::Until(end))) = self.expression {
            if self.now >= end {
                self.expression = None;
            }
        }
        if let Some((motion, start)) = self.motion {
            if self.now - start >= f64::from(motion.duration()) {
                self.motion = None;
            }
        }
    }

    /// Shows `expression` for `duration_ms` (0 = until replaced). `Neutral` clears any
    /// expression, as the protocol specifies.
    pub fn set_expression(&mut self, expression: Expression, duration_ms: u32) {
        self.expression = match (expression, duration_ms) {
            (Expression::Neutral, _) => None,
            (e, 0) => Some((e, Hold::Forever)),
            (e, ms) => Some((e, Hold::Until(self.now + f64::from(ms) / 1000.0))),
        };
    }

    /// Shows `expression` while `utterance` plays.
    pub fn set_utterance_expression(&mut self, expression: Expression, utterance: u64) {
        self.expression = Some((expression, Hold::Utterance(utterance)));
    }

    /// Ends an expression that was tied to `utterance` (an explicit, later one stays).
    pub fn utterance_finished(&mut self, utterance: u64) {
        if matches!(self.expression, Some((_, Hold::Utterance(u))) if u == utterance) {
            self.expression = None;
        }
    }

    /// Starts a motion, replacing one still running.
    pub fn start_motion(&mut self, motion: Motion) {
        self.motion = Some((motion, self.now));
    }

    /// The expression currently shown.
    pub fn expression(&self) -> Expression {
        self.expression.map_or(Expression::Neutral, |(e, _)| e)
    }

    /// The pose at the current time, with the given mouth.
    pub fn frame_state(&self, mouth: MouthShape) -> AvatarFrameState {
        let breath = (TAU * (self.now % f64::from(BREATH_PERIOD)) as f32 / BREATH_PERIOD).sin();
        let (motion_dx, motion_dy, wave) = self.motion_pose();
        let clamp = |v: f32| v.clamp(-MAX_HEAD_OFFSET, MAX_HEAD_OFFSET);
        AvatarFrameState {
            mouth,
            expression: self.expression(),
            eye_open: self.eye_openness(),
            head_offset: (clamp(motion_dx), clamp(motion_dy + BREATH_HEAD * breath)),
            body_offset: BREATH_BODY * breath,
            wave,
        }
    }

    fn eye_openness(&self) -> f32 {
        let Some((start, second)) = self.blink else {
            return 1.0;
        };
        let lid = |t: f64| -> f32 {
            let t = (self.now - t) as f32;
            if !(0.0..BLINK_TOTAL).contains(&t) {
                1.0
            } else if t < BLINK_CLOSE {
                1.0 - t / BLINK_CLOSE
            } else if t < BLINK_CLOSE + BLINK_HOLD {
                0.0
            } else {
                (t - BLINK_CLOSE - BLINK_HOLD) / BLINK_OPEN
            }
        };
        second.map_or(lid(start), |s| lid(start).min(lid(s)))
    }

    /// Head offset (dx, dy) and wave pose of the running motion.
    fn motion_pose(&self) -> (f32, f32, Option<WavePose>) {
        let Some((motion, start)) = self.motion else {
            return (0.0, 0.0, None);
        };
        let p = (((self.now - start) as f32) / motion.duration()).clamp(0.0, 1.0);
        // Fades every motion in and out so it never jumps.
        let envelope = (PI * p).sin();
        match motion {
            // Two hops, the second lower.
            Motion::Bounce => (0.0, -0.018 * (TAU * p).sin().abs() * (1.0 - 0.4 * p), None),
            // Two nods: sin² has two bumps over the motion.
            Motion::Nod => (0.0, 0.016 * (TAU * p).sin().powi(2), None),
            // Three side-to-side turns.
            Motion::Shake => (0.017 * (3.0 * TAU * p).sin() * envelope, 0.0, None),
            Motion::Wave => {
                // The arm rises quickly, waves, and drops; the body sways along a little.
                let raise = (envelope * 1.6).min(1.0);
                let angle_deg = 18.0 * (2.5 * TAU * p).sin();
                (
                    0.006 * (2.5 * TAU * p).sin(),
                    0.0,
                    Some(WavePose { raise, angle_deg }),
                )
            }
        }
    }
}
