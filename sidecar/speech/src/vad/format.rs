//! Format and sanity checks on the engine's own samples (before resampling, which would smear
//! the evidence): the failures seen from real engines that no voice detector is needed for.
//!
//! * non-finite samples (a NaN from a model poisons every later gain stage);
//! * all zeros / silence (GPT-SoVITS returning an empty tensor as zeros);
//! * samples outside [−1, 1] (float PCM on another scale);
//! * clipping (a run of samples pinned at full scale);
//! * a DC offset (unsigned PCM decoded as signed sits at ±0.5);
//! * float PCM read as integers: each f32 becomes two i16, the low one random mantissa bits
//!   (uniform over the full range) and the high one sign + exponent (≈ ±0.47 for any speech
//!   level), so the clip turns into loud noise of near-constant level with a zero-crossing on
//!   almost every other sample;
//! * broadband noise in general: a zero-crossing rate near 0.5 in nearly every non-silent
//!   frame, which speech (voiced frames ≈ 0.02–0.15, only fricatives higher) never shows.

use super::VadConfig;

/// Frames of this length (at the clip's own rate) for the per-frame statistics.
const FRAME_MS: u32 = 20;
/// Frames at or below this level are silence and left out of the per-frame ratios.
pub const SILENT_DBFS: f32 = -50.0;
/// |sample| at or above this counts as clipped (the last step below full scale in i16).
const CLIP_LEVEL: f32 = 32_766.0 / 32_768.0;
/// A frame this loud with this many zero crossings is integer-read float garbage.
const GARBAGE_MIN_DBFS: f32 = -12.0;
const GARBAGE_MIN_ZCR: f32 = 0.3;
/// A frame with this many zero crossings per sample is noise-like (white noise: 0.5).
const NOISE_MIN_ZCR: f32 = 0.35;

/// What the sanity checks measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormatStats {
    pub samples: usize,
    pub non_finite: usize,
    pub peak: f32,
    pub rms_dbfs: f32,
    pub dc_offset: f32,
    /// Fraction of samples at full scale.
    pub clipped_ratio: f32,
    /// Zero crossings per sample over the non-silent frames.
    pub zero_crossing_rate: f32,
    /// Non-silent 20 ms frames.
    pub loud_frames: usize,
    /// Fraction of the non-silent frames that look like float PCM read as integers.
    pub garbage_ratio: f32,
    /// Fraction of the non-silent frames that look like broadband noise.
    pub noise_ratio: f32,
}

fn dbfs(power: f64) -> f32 {
    (10.0 * power.max(1e-10).log10()) as f32
}

impl FormatStats {
    pub fn measure(samples: &[f32], rate: u32) -> Self {
        let finite = || samples.iter().copied().filter(|s| s.is_finite());
        let non_finite = samples.len() - finite().count();
        let n = (samples.len() - non_finite).max(1) as f64;
        let sum: f64 = finite().map(f64::from).sum();
        let power: f64 = finite().map(|s| f64::from(s) * f64::from(s)).sum::<f64>() / n;
        let peak = finite().fold(0f32, |m, s| m.max(s.abs()));
        let clipped = finite().filter(|s| s.abs() >= CLIP_LEVEL).count();

        let frame = ((rate * FRAME_MS / 1000) as usize).max(2);
        let (mut loud, mut garbage, mut noisy, mut crossings, mut loud_samples) = (0, 0, 0, 0, 0);
        for f in samples.chunks_exact(frame) {
            if f.iter().any(|s| !s.is_finite()) {
                continue;
            }
            let level =
                dbfs(f.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / f.len() as f64);
            if level <= SILENT_DBFS {
                continue;
            }
            let zc = f
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count();
            let zcr = zc as f32 / (f.len() - 1) as f32;
            loud += 1;
            crossings += zc;
            loud_samples += f.len() - 1;
            if level > GARBAGE_MIN_DBFS && zcr > GARBAGE_MIN_ZCR {
                garbage += 1;
            }
            if zcr > NOISE_MIN_ZCR {
                noisy += 1;
            }
        }
        let per_loud = |count: usize| {
            if loud == 0 {
                0.0
            } else {
                count as f32 / loud as f32
            }
        };
        Self {
            samples: samples.len(),
            non_finite,
            peak,
            rms_dbfs: dbfs(power),
            dc_offset: (sum / n) as f32,
            clipped_ratio: clipped as f32 / n as f32,
            zero_crossing_rate: if loud_samples == 0 {
                0.0
            } else {
                crossings as f32 / loud_samples as f32
            },
            loud_frames: loud,
            garbage_ratio: per_loud(garbage),
            noise_ratio: per_loud(noisy),
        }
    }

    /// The first reason this clip must not air, if any.
    pub fn problem(&self, rate: u32, config: &VadConfig) -> Option<String> {
        let duration_ms = if rate == 0 {
            0
        } else {
            self.samples as u64 * 1000 / u64::from(rate)
        };
        if !(8_000..=192_000).contains(&rate) {
            return Some(format!("implausible sample rate {rate} Hz"));
        }
        if self.samples == 0 {
            return Some("no samples".into());
        }
        if self.non_finite > 0 {
            return Some(format!("{} NaN or infinite samples", self.non_finite));
        }
        if self.peak == 0.0 {
            return Some(format!("all {} samples are zero", self.samples));
        }
        if duration_ms < config.min_duration_ms {
            return Some(format!(
                "too short: {duration_ms} ms < {} ms",
                config.min_duration_ms
            ));
        }
        if self.peak > 1.0 + 1e-3 {
            return Some(format!(
                "samples outside [-1, 1] (peak {:.2}): wrong sample scale",
                self.peak
            ));
        }
        if self.dc_offset.abs() > config.max_dc_offset {
            return Some(format!(
                "DC offset {:.3} > {:.3} (unsigned PCM read as signed?)",
                self.dc_offset, config.max_dc_offset
            ));
        }
        if self.rms_dbfs <= SILENT_DBFS || self.loud_frames == 0 {
            return Some(format!("silent: {:.1} dBFS RMS", self.rms_dbfs));
        }
        if self.garbage_ratio > config.max_garbage_ratio {
            return Some(format!(
                "looks like float PCM read as integers: {:.0} % of frames are full-scale noise \
                 (zero-crossing rate {:.2}, {:.1} dBFS)",
                self.garbage_ratio * 100.0,
                self.zero_crossing_rate,
                self.rms_dbfs
            ));
        }
        if self.noise_ratio > config.max_noise_ratio {
            return Some(format!(
                "broadband noise, not speech: {:.0} % of frames have a zero-crossing rate above {NOISE_MIN_ZCR}",
                self.noise_ratio * 100.0
            ));
        }
        if self.clipped_ratio > config.max_clipped_ratio {
            return Some(format!(
                "clipped: {:.2} % of samples at full scale (limit {:.2} %)",
                self.clipped_ratio * 100.0,
                config.max_clipped_ratio * 100.0
            ));
        }
        None
    }
}
