//! Mouth openness from audio samples.
//!
//! Each output feeds the samples it is *playing right now* (not the ones it has received) into a
//! [`MouthEnvelope`], one block at a time, and reads back a [`MouthShape`]. Keeping this on the
//! playout path is what makes lip-sync follow the audio clock: a stalled or late audio buffer stalls
//! the mouth with it.
//!
//! The envelope is a peak-tracking RMS in dBFS with fast attack and slower release (a mouth opens
//! at a syllable's onset and closes more gently), then quantised with hysteresis so the mouth
//! does not flicker between two shapes around a threshold.

/// Discrete mouth shapes the built-in avatar can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MouthShape {
    Closed,
    Small,
    Medium,
    Wide,
}

impl MouthShape {
    pub const ALL: [MouthShape; 4] = [Self::Closed, Self::Small, Self::Medium, Self::Wide];

    /// Openness in 0..=1, for outputs with a continuous mouth parameter (Live2D `MouthOpen`).
    pub fn openness(self) -> f32 {
        match self {
            Self::Closed => 0.0,
            Self::Small => 0.35,
            Self::Medium => 0.7,
            Self::Wide => 1.0,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Level (dBFS) at which each shape above `Closed` starts.
const OPEN_THRESHOLDS_DB: [f32; 3] = [-42.0, -30.0, -22.0];
/// A shape is only left downwards once the level is this many dB below its threshold.
const HYSTERESIS_DB: f32 = 3.0;
/// Floor used for digital silence.
const SILENCE_DB: f32 = -96.0;

/// Attack/release envelope follower over blocks of samples.
#[derive(Debug, Clone)]
pub struct MouthEnvelope {
    level_db: f32,
    shape: MouthShape,
    attack: f32,
    release: f32,
}

impl Default for MouthEnvelope {
    fn default() -> Self {
        Self::new()
    }
}

impl MouthEnvelope {
    /// Tuned for 10 ms blocks: attack reaches the new level within one block, release
    /// takes ~60 ms, about the time a mouth needs to close between syllables.
    pub fn new() -> Self {
        Self {
            level_db: SILENCE_DB,
            shape: MouthShape::Closed,
            attack: 0.9,
            release: 0.3,
        }
    }

    /// Feeds one block of samples in -1..=1 (typically 10 ms) and returns the resulting shape.
    pub fn push_block(&mut self, samples: &[f32]) -> MouthShape {
        let block_db = rms_dbfs(samples);
        let coeff = if block_db > self.level_db {
            self.attack
        } else {
            self.release
        };
        self.level_db += (block_db - self.level_db) * coeff;
        self.shape = quantise(self.level_db, self.shape);
        self.shape
    }

    /// Current smoothed level in dBFS.
    pub fn level_db(&self) -> f32 {
        self.level_db
    }

    pub fn shape(&self) -> MouthShape {
        self.shape
    }

    /// Closes the mouth at once (used when playback stops).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

fn quantise(level_db: f32, current: MouthShape) -> MouthShape {
    let mut target = MouthShape::Closed;
    for (i, threshold) in OPEN_THRESHOLDS_DB.iter().enumerate() {
        if level_db >= *threshold {
            target = MouthShape::ALL[i + 1];
        }
    }
    if target >= current {
        return target;
    }
    // Going down: stay in the current shape until clearly below its threshold.
    let current_threshold = OPEN_THRESHOLDS_DB[current.index() - 1];
    if level_db > current_threshold - HYSTERESIS_DB {
        current
    } else {
        target
    }
}

/// RMS of `samples` in dBFS (full-scale sine ≈ −3 dBFS); [`SILENCE_DB`] for silence.
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return SILENCE_DB;
    }
    let mean_square = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
    if mean_square <= 1e-10 {
        SILENCE_DB
    } else {
        (10.0 * mean_square.log10()).max(SILENCE_DB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32, n: usize) -> Vec<f32> {
        (0..n).map(|i| amplitude * (i as f32 * 0.1).sin()).collect()
    }

    #[test]
    fn silence_keeps_the_mouth_closed() {
        let mut env = MouthEnvelope::new();
        for _ in 0..50 {
            assert_eq!(env.push_block(&[0.0; 480]), MouthShape::Closed);
        }
    }

    #[test]
    fn louder_speech_opens_the_mouth_wider() {
        let shapes: Vec<MouthShape> = [0.02, 0.06, 0.3]
            .iter()
            .map(|a| {
                let mut env = MouthEnvelope::new();
                (0..5)
                    .map(|_| env.push_block(&tone(*a, 480)))
                    .last()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            shapes,
            vec![MouthShape::Small, MouthShape::Medium, MouthShape::Wide]
        );
    }

    #[test]
    fn mouth_opens_within_one_block_and_closes_within_a_tenth_of_a_second() {
        let mut env = MouthEnvelope::new();
        assert!(env.push_block(&tone(0.3, 480)) >= MouthShape::Medium);
        let closed_after = (1..=20).find(|_| env.push_block(&[0.0; 480]) == MouthShape::Closed);
        assert!(
            matches!(closed_after, Some(n) if n <= 10),
            "closed after {closed_after:?} blocks"
        );
    }

    #[test]
    fn hysteresis_prevents_flicker_at_a_threshold() {
        let mut env = MouthEnvelope::new();
        // Hover just around the Small/Medium threshold (-30 dBFS); amplitude 0.045 sine ≈ -30 dB.
        let shapes: Vec<_> = (0..40)
            .map(|i| env.push_block(&tone(if i % 2 == 0 { 0.046 } else { 0.042 }, 480)))
            .collect();
        let changes = shapes.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes <= 2, "{shapes:?}");
    }
}
