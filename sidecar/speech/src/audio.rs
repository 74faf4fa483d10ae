//! Audio middleware: what every clip goes through before it may air.

use avatar_link::SAMPLE_RATE;
use rubato::{FftFixedIn, Resampler};

use super::SpeechError;

/// A finished clip: 48 kHz mono i16, loudness-normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub samples: Vec<i16>,
}

impl Clip {
    pub fn duration_ms(&self) -> u32 {
        avatar_link::samples_to_ms(self.samples.len())
    }
}

/// Below this RMS a clip is treated as silence (an engine returning zeros or noise floor).
const SILENT_DBFS: f32 = -50.0;
/// Leading/trailing audio below this level is trimmed.
const TRIM_DBFS: f32 = -45.0;
/// Peaks are kept under this after gain (headroom against clipping on a loud syllable).
const PEAK_CEILING: f32 = 0.95;

/// Decodes a WAV file (any rate, int16/int32/float32, mono or multi-channel) to mono f32.
pub fn decode_wav(bytes: &[u8]) -> Result<(Vec<f32>, u32), SpeechError> {
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| SpeechError::BadAudio(format!("not a WAV file: {e}")))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>(),
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
        (format, bits) => {
            return Err(SpeechError::BadAudio(format!(
                "unsupported WAV sample format {format:?}/{bits}"
            )))
        }
    }
    .map_err(|e| SpeechError::BadAudio(format!("truncated WAV data: {e}")))?;
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// RMS level in dBFS of a whole signal.
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    avatar_link::lipsync::rms_dbfs(samples)
}

/// Cuts leading and trailing near-silence (10 ms granularity), keeping 30 ms of margin.
pub fn trim_silence(samples: &[f32], rate: u32) -> &[f32] {
    let block = (rate / 100).max(1) as usize;
    let loud = |b: &[f32]| rms_dbfs(b) > TRIM_DBFS;
    let blocks: Vec<&[f32]> = samples.chunks(block).collect();
    let Some(first) = blocks.iter().position(|b| loud(b)) else {
        return &samples[..0];
    };
    let last = blocks.iter().rposition(|b| loud(b)).unwrap_or(first);
    let margin = 3;
    let start = first.saturating_sub(margin) * block;
    let end = ((last + 1 + margin) * block).min(samples.len());
    &samples[start..end]
}

/// Scales to `target_dbfs` RMS, then limits peaks to [`PEAK_CEILING`] (seed 000: −20 dBFS).
pub fn normalize_loudness(samples: &mut [f32], target_dbfs: f32) {
    let current = rms_dbfs(samples);
    if current <= SILENT_DBFS {
        return;
    }
    let mut gain = 10f32.powf((target_dbfs - current) / 20.0);
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak * gain > PEAK_CEILING {
        gain = PEAK_CEILING / peak;
    }
    samples.iter_mut().for_each(|s| *s *= gain);
}

/// Band-limited resampling (FFT based) to `to` Hz.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, SpeechError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let bad = |e: &dyn std::fmt::Display| {
        SpeechError::BadAudio(format!("resampling {from}→{to} Hz: {e}"))
    };
    let chunk = 1024;
    let mut resampler =
        FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1).map_err(|e| bad(&e))?;
    let expected = (samples.len() as u64 * to as u64 / from as u64) as usize;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + chunk * 3);
    let mut pos = 0;
    while pos + resampler.input_frames_next() <= samples.len() {
        let n = resampler.input_frames_next();
        let frames = resampler
            .process(&[&samples[pos..pos + n]], None)
            .map_err(|e| bad(&e))?;
        out.extend_from_slice(&frames[0]);
        pos += n;
    }
    // A length that is a whole number of chunks leaves nothing over: rubato refuses an empty
    // partial chunk (it wants `None` for "no more input" instead).
    let rest = &samples[pos..];
    if !rest.is_empty() {
        let frames = resampler
            .process_partial(Some(&[rest]), None)
            .map_err(|e| bad(&e))?;
        out.extend_from_slice(&frames[0]);
    }
    // Flush the filter's tail until the delayed signal is fully out.
    while out.len() < expected + delay {
        let frames = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| bad(&e))?;
        out.extend_from_slice(&frames[0]);
    }
    Ok(out[delay..delay + expected].to_vec())
}

/// The whole post-synthesis chain: trim → reject silence → loudness → 48 kHz → i16.
pub fn finish_clip(samples: &[f32], rate: u32, target_dbfs: f32) -> Result<Clip, SpeechError> {
    if rate == 0 {
        return Err(SpeechError::BadAudio("sample rate 0".into()));
    }
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(SpeechError::BadAudio("NaN or infinite samples".into()));
    }
    let trimmed = trim_silence(samples, rate);
    let level = rms_dbfs(trimmed);
    if trimmed.len() < (rate / 20) as usize || level <= SILENT_DBFS {
        return Err(SpeechError::BadAudio(format!(
            "clip is silent or too short ({} ms at {level:.1} dBFS)",
            trimmed.len() as u64 * 1000 / rate as u64
        )));
    }
    let mut resampled = resample(trimmed, rate, SAMPLE_RATE)?;
    normalize_loudness(&mut resampled, target_dbfs);
    let samples = resampled
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16)
        .collect();
    Ok(Clip { samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_chunk_lengths_resample_too() {
        for len in [1024, 2048, 1024 * 7, 1000, 1] {
            let tone: Vec<f32> = (0..len).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
            let out = resample(&tone, 22_050, 16_000).unwrap();
            assert_eq!(out.len(), len * 16_000 / 22_050, "length {len}");
        }
    }

    fn tone(freq: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| amp * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn loudness_lands_on_target() {
        let mut s = tone(220.0, 48_000, 0.5, 0.01);
        normalize_loudness(&mut s, -20.0);
        assert!((rms_dbfs(&s) + 20.0).abs() < 0.1, "{}", rms_dbfs(&s));
    }

    #[test]
    fn peaks_are_limited() {
        let mut s = vec![0.0; 1000];
        s[10] = 1.0; // a click on near silence: gain would explode it
        s[20] = 0.001;
        normalize_loudness(&mut s, -20.0);
        assert!(s.iter().all(|v| v.abs() <= PEAK_CEILING + 1e-6));
    }

    #[test]
    fn resampling_keeps_length_and_pitch() {
        let s = tone(440.0, 22_050, 1.0, 0.5);
        let out = resample(&s, 22_050, 48_000).unwrap();
        assert_eq!(out.len(), 48_000);
        // Count zero crossings in the middle second-ish: 440 Hz ⇒ ~880 per second.
        let crossings = out[4_800..43_200]
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((crossings as f32 / 0.8 - 880.0).abs() < 10.0, "{crossings}");
        assert!((rms_dbfs(&out[4_800..43_200]) - rms_dbfs(&s)).abs() < 0.5);
    }

    #[test]
    fn silence_is_trimmed_and_silent_clips_rejected() {
        let mut s = vec![0.0; 22_050];
        s.extend(tone(300.0, 22_050, 0.5, 0.3));
        s.extend(vec![0.0; 22_050]);
        let trimmed = trim_silence(&s, 22_050);
        assert!(trimmed.len() < 22_050 * 6 / 10, "{}", trimmed.len());
        assert!(matches!(
            finish_clip(&vec![0.0; 22_050], 22_050, -20.0),
            Err(SpeechError::BadAudio(_))
        ));
        assert!(matches!(
            finish_clip(&[f32::NAN; 100], 22_050, -20.0),
            Err(SpeechError::BadAudio(_))
        ));
        let clip = finish_clip(&s, 22_050, -20.0).unwrap();
        let f: Vec<f32> = clip.samples.iter().map(|&v| v as f32 / 32767.0).collect();
        assert!((rms_dbfs(&f) + 20.0).abs() < 1.5, "{}", rms_dbfs(&f));
    }

    #[test]
    fn float_and_int_wavs_decode() {
        for float in [false, true] {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 16_000,
                bits_per_sample: if float { 32 } else { 16 },
                sample_format: if float {
                    hound::SampleFormat::Float
                } else {
                    hound::SampleFormat::Int
                },
            };
            let mut buf = std::io::Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
            for _ in 0..100 {
                if float {
                    w.write_sample(0.5f32).unwrap();
                    w.write_sample(0.5f32).unwrap();
                } else {
                    w.write_sample(16_384i16).unwrap();
                    w.write_sample(16_384i16).unwrap();
                }
            }
            w.finalize().unwrap();
            let (mono, rate) = decode_wav(buf.get_ref()).unwrap();
            assert_eq!((mono.len(), rate), (100, 16_000));
            assert!((mono[0] - 0.5).abs() < 1e-3);
        }
        assert!(decode_wav(b"RIFF....garbage").is_err());
    }
}
