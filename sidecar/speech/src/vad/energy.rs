//! Energy detector: the fallback when webrtc-vad cannot run (seed 000), and a cheap third
//! figure in every report.
//!
//! Method (30 ms frames at 16 kHz):
//! 1. frame level = RMS in dBFS (floored at −100 dB so digital silence has a value);
//! 2. the clip's noise floor = the 10th percentile of frame levels: every utterance has pauses
//!    (between words, before and after), and the quietest tenth of the frames is where they are;
//! 3. a frame is voiced when it is at least [`MARGIN_DB`] above that floor *and* above the
//!    absolute floor [`ABSOLUTE_FLOOR_DBFS`] (so a clip of near-silence with a slightly louder
//!    hiss never counts as speech).
//!
//! The threshold adapts to each clip, so a quiet engine and a loud one are judged alike, and a
//! clip whose level never moves (steady noise, hum, a stuck sample) has no frame above its own
//! floor and scores ~0: speech is a modulated signal, noise is not.

use std::time::Instant;

use super::{DetectorRun, ANALYSIS_RATE};

const FRAME: usize = ANALYSIS_RATE as usize * 30 / 1000;
/// Dynamic range a frame must show over the clip's floor to count as voiced. Syllables sit
/// 20–40 dB above the pauses between them; steady noise varies by 1–2 dB between frames.
pub const MARGIN_DB: f32 = 9.0;
/// Frames quieter than this are never voiced (the audio middleware's silence level).
pub const ABSOLUTE_FLOOR_DBFS: f32 = -50.0;
/// Which percentile of frame levels is taken as the noise floor.
const FLOOR_PERCENTILE: f32 = 0.10;

fn frame_dbfs(frame: &[f32]) -> f32 {
    let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
    (10.0 * power.log10()).max(-100.0)
}

/// Voiced-frame ratio of 16 kHz audio by adaptive energy threshold.
pub fn voiced_ratio(samples_16k: &[f32]) -> DetectorRun {
    let start = Instant::now();
    let levels: Vec<f32> = samples_16k.chunks_exact(FRAME).map(frame_dbfs).collect();
    if levels.is_empty() {
        return DetectorRun::Unavailable(format!(
            "the energy detector needs at least one 30 ms frame, got {} samples",
            samples_16k.len()
        ));
    }
    let mut sorted = levels.clone();
    sorted.sort_by(f32::total_cmp);
    let floor = sorted[((sorted.len() - 1) as f32 * FLOOR_PERCENTILE) as usize];
    let threshold = (floor + MARGIN_DB).max(ABSOLUTE_FLOOR_DBFS);
    let voiced = levels.iter().filter(|&&l| l > threshold).count();
    DetectorRun::Ran {
        voiced_ratio: voiced as f32 / levels.len() as f32,
        frames: levels.len(),
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(run: DetectorRun) -> f32 {
        match run {
            DetectorRun::Ran { voiced_ratio, .. } => voiced_ratio,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn modulated_signal_is_voiced_steady_one_is_not() {
        // 300 ms bursts of a 200 Hz tone separated by 200 ms of silence: 60 % "voiced".
        let mut bursts = Vec::new();
        for _ in 0..6 {
            bursts.extend((0..4_800).map(|i| 0.3 * (i as f32 * 0.0785).sin()));
            bursts.extend(std::iter::repeat_n(0.0, 3_200));
        }
        let r = ratio(voiced_ratio(&bursts));
        assert!((0.5..0.7).contains(&r), "{r}");
        // The same tone without pauses has no floor to rise above.
        let steady: Vec<f32> = (0..48_000)
            .map(|i| 0.3 * (i as f32 * 0.0785).sin())
            .collect();
        assert_eq!(ratio(voiced_ratio(&steady)), 0.0);
        // Too short for a single frame: the detector says so instead of guessing.
        assert!(matches!(
            voiced_ratio(&[0.1; 100]),
            DetectorRun::Unavailable(_)
        ));
    }
}
