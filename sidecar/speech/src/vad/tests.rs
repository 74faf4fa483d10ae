//! The checks on real audio: speech from the real espeak-ng, the real Silero model from
//! `models/` (installed by scripts/install-models.sh, which CI runs: a missing model fails
//! these tests with that hint instead of skipping them), and the broken clips engines produce.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;
use crate::audio::resample;
use crate::{RawAudio, SpeechError};

/// Real espeak-ng speech (mono f32 at its native 22 050 Hz).
pub(crate) fn espeak(text: &str, voice: &str) -> RawAudio {
    let wav = crate::espeak::run_with_stdin("espeak-ng", &["-v", voice, "--stdout"], text)
        .expect("espeak-ng must be installed (scripts/install-deps.sh)");
    crate::espeak::decode_streamed_wav(wav).unwrap()
}

fn chinese_speech() -> RawAudio {
    static CLIP: OnceLock<RawAudio> = OnceLock::new();
    CLIP.get_or_init(|| {
        espeak(
            "感谢小明送的小心心，太开心了！欢迎来到直播间。",
            "cmn-latn-pinyin",
        )
    })
    .clone()
}

fn noise(seconds: f32, rate: u32, dbfs: f32, seed: u64) -> RawAudio {
    let mut rng = StdRng::seed_from_u64(seed);
    // Uniform noise in [-a, a] has RMS a/√3.
    let a = 10f32.powf(dbfs / 20.0) * 3f32.sqrt();
    let samples = (0..(seconds * rate as f32) as usize)
        .map(|_| rng.random_range(-a..=a))
        .collect();
    RawAudio { samples, rate }
}

/// The real Silero model: required here.
fn silero_path() -> PathBuf {
    crate::onnx::locate_model(&VadConfig::default().silero_model).unwrap_or_else(|e| panic!("{e}"))
}

fn checks() -> AudioChecks {
    AudioChecks::new(VadConfig {
        silero_model: silero_path(),
        silero_required: true,
        ..VadConfig::default()
    })
}

fn rejected(checks: &AudioChecks, audio: &RawAudio) -> (String, CheckReport) {
    let report = checks.inspect(audio).expect("checks ran");
    match &report.verdict {
        Verdict::Reject(reason) => (reason.clone(), report),
        Verdict::Pass => panic!("clip passed but must not air: {report:#?}"),
    }
}

#[test]
fn real_speech_passes_every_detector() {
    let checks = checks();
    let speech = chinese_speech();
    assert!(speech.duration_ms() > 2_000, "{}", speech.duration_ms());
    let report = checks.check(&speech).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.primary, Some(Detector::Webrtc));
    for detector in [Detector::Webrtc, Detector::Energy, Detector::Silero] {
        let ratio = report.run(detector).voiced_ratio().unwrap();
        assert!(ratio > 0.4, "{detector}: {ratio} in {report:#?}");
    }
    // The same speech quietly (−25 dB) and at another rate still airs: the checks judge
    // speech, not level or format.
    let quiet = RawAudio {
        samples: speech.samples.iter().map(|s| s * 0.056).collect(),
        rate: speech.rate,
    };
    checks
        .check(&quiet)
        .unwrap_or_else(|e| panic!("quiet: {e}"));
    let at_48k = RawAudio {
        samples: resample(&speech.samples, speech.rate, 48_000).unwrap(),
        rate: 48_000,
    };
    checks
        .check(&at_48k)
        .unwrap_or_else(|e| panic!("48 kHz: {e}"));
    // Speech over a steady −30 dBFS hiss (SNR ≈ 12 dB) is still speech: the noise check must
    // not take it for noise.
    let hiss = noise(
        speech.duration_ms() as f32 / 1000.0 + 0.1,
        speech.rate,
        -30.0,
        9,
    );
    let noisy = RawAudio {
        samples: speech
            .samples
            .iter()
            .zip(&hiss.samples)
            .map(|(s, n)| s + n)
            .collect(),
        rate: speech.rate,
    };
    let report = checks
        .check(&noisy)
        .unwrap_or_else(|e| panic!("noisy: {e}"));
    assert!(report.format.noise_ratio > 0.3, "{report:#?}");
    // English from espeak too.
    checks
        .check(&espeak(
            "Thank you so much for the gift, that was very kind of you!",
            "en-us",
        ))
        .unwrap_or_else(|e| panic!("english: {e}"));
}

#[test]
fn silence_and_noise_floors_are_rejected() {
    let checks = checks();
    // Near-silence (dither at −80 dBFS), room tone at −45 dBFS, and white noise at −20 dBFS
    // (an engine answering with hiss).
    let (reason, _) = rejected(&checks, &noise(2.0, 22_050, -80.0, 1));
    assert!(reason.contains("silent"), "{reason}");
    let (reason, report) = rejected(&checks, &noise(2.0, 22_050, -45.0, 2));
    assert!(
        reason.contains("noise") || reason.contains("voiced"),
        "{reason}"
    );
    assert!(report.format.noise_ratio > 0.9, "{report:#?}");
    let (reason, report) = rejected(&checks, &noise(2.0, 22_050, -20.0, 3));
    assert!(reason.contains("broadband noise"), "{reason}");
    assert!(report.format.noise_ratio > 0.9, "{report:#?}");
}

#[test]
fn white_noise_is_not_speech_to_any_trained_detector() {
    // Without the format check (which catches it first), the detectors on their own: Silero
    // hears no speech in white noise; the energy detector sees a flat level.
    let clip = noise(2.0, ANALYSIS_RATE, -20.0, 4);
    let silero = super::silero::Silero::load(&silero_path()).unwrap();
    let run = silero.voiced_ratio(&clip.samples, 0.5);
    assert!(run.voiced_ratio().unwrap() < 0.05, "{run:?}");
    let run = energy::voiced_ratio(&clip.samples);
    assert!(run.voiced_ratio().unwrap() < 0.05, "{run:?}");
}

#[test]
fn all_zero_nan_short_and_empty_clips_are_rejected() {
    let checks = checks();
    let zeros = RawAudio {
        samples: vec![0.0; 44_100],
        rate: 22_050,
    };
    assert!(rejected(&checks, &zeros).0.contains("zero"));
    let mut nan = chinese_speech();
    nan.samples[1_000] = f32::NAN;
    nan.samples[2_000] = f32::INFINITY;
    assert!(rejected(&checks, &nan).0.contains("2 NaN or infinite"));
    let mut short = chinese_speech();
    short.samples.truncate(short.rate as usize / 20);
    short.samples[10] = 0.5;
    assert!(rejected(&checks, &short).0.contains("too short"));
    assert!(rejected(&checks, &RawAudio::default())
        .0
        .contains("sample rate"));
    let empty = RawAudio {
        samples: vec![],
        rate: 16_000,
    };
    assert!(rejected(&checks, &empty).0.contains("no samples"));
    // check() turns a rejection into the error the rotation retries on.
    assert!(matches!(
        checks.check(&zeros),
        Err(SpeechError::Rejected(_))
    ));
}

/// A float32 stream read as int16: each sample becomes two, the low mantissa bits (uniform
/// noise) and sign + exponent (≈ ±0.47).
fn float_read_as_int16(clip: &RawAudio) -> RawAudio {
    let bytes: Vec<u8> = clip.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let samples = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0)
        .collect();
    RawAudio {
        samples,
        rate: clip.rate,
    }
}

#[test]
fn float_pcm_read_as_int_is_rejected() {
    let checks = checks();
    let mangled = float_read_as_int16(&chinese_speech());
    let (reason, report) = rejected(&checks, &mangled);
    assert!(reason.contains("float PCM read as integers"), "{reason}");
    assert!(report.format.garbage_ratio > 0.9, "{report:#?}");
    // The detectors are not consulted: the format check is both sufficient and cheaper.
    assert_eq!(report.webrtc, DetectorRun::NotRun);
}

#[test]
fn one_blip_in_seconds_of_silence_is_rejected() {
    let checks = checks();
    let blip = espeak("a", "en-us");
    let trimmed = crate::audio::trim_silence(&blip.samples, blip.rate).to_vec();
    let mut samples = noise(3.0, blip.rate, -70.0, 5).samples;
    let at = samples.len() / 2;
    let blip_len = trimmed.len().min(blip.rate as usize * 15 / 100);
    for (dst, src) in samples[at..].iter_mut().zip(&trimmed[..blip_len]) {
        *dst += src;
    }
    let clip = RawAudio {
        samples,
        rate: blip.rate,
    };
    let (reason, report) = rejected(&checks, &clip);
    assert!(reason.contains("webrtc-vad"), "{reason}");
    let ratio = report.webrtc.voiced_ratio().unwrap();
    assert!(ratio < 0.10, "{report:#?}");
}

#[test]
fn clipping_and_dc_offset_are_rejected() {
    let checks = checks();
    let speech = chinese_speech();
    let clipped = RawAudio {
        samples: speech
            .samples
            .iter()
            .map(|s| (s * 20.0).clamp(-1.0, 1.0))
            .collect(),
        rate: speech.rate,
    };
    assert!(rejected(&checks, &clipped).0.contains("clipped"));
    let offset = RawAudio {
        samples: speech.samples.iter().map(|s| s * 0.3 + 0.5).collect(),
        rate: speech.rate,
    };
    assert!(rejected(&checks, &offset).0.contains("DC offset"));
    let overrange = RawAudio {
        samples: speech.samples.iter().map(|s| s * 32_768.0).collect(),
        rate: speech.rate,
    };
    assert!(rejected(&checks, &overrange).0.contains("outside [-1, 1]"));
}

#[test]
fn energy_detector_decides_when_webrtc_is_off() {
    let checks = AudioChecks::new(VadConfig {
        webrtc: false,
        silero: false,
        ..VadConfig::default()
    });
    let report = checks
        .check(&chinese_speech())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.primary, Some(Detector::Energy));
    assert_eq!(report.silero, DetectorRun::NotRun);
    assert!(report.energy.voiced_ratio().unwrap() > 0.4, "{report:#?}");
    // Low-level hum (steady, so no frame rises above the clip's own floor).
    let hum = RawAudio {
        samples: (0..44_100)
            .map(|i| 0.05 * (i as f32 * std::f32::consts::TAU * 100.0 / 22_050.0).sin())
            .collect(),
        rate: 22_050,
    };
    let (reason, report) = rejected(&checks, &hum);
    assert!(reason.contains("energy detector"), "{reason}");
    assert_eq!(report.energy.voiced_ratio(), Some(0.0));
}

#[test]
fn missing_silero_is_reported_or_refused_as_configured() {
    let missing = PathBuf::from("models/not-installed-silero.onnx");
    let optional = AudioChecks::new(VadConfig {
        silero_model: missing.clone(),
        ..VadConfig::default()
    });
    let report = optional
        .check(&chinese_speech())
        .unwrap_or_else(|e| panic!("{e}"));
    match &report.silero {
        DetectorRun::Unavailable(why) => {
            assert!(why.contains("install-models.sh"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let required = AudioChecks::new(VadConfig {
        silero_model: missing,
        silero_required: true,
        ..VadConfig::default()
    });
    match required.check(&chinese_speech()) {
        Err(SpeechError::Unavailable { engine, detail }) => {
            assert_eq!(engine, "silero-vad");
            assert!(detail.contains("not-installed-silero.onnx"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn silero_probabilities_follow_the_speech() {
    let silero = super::silero::Silero::load(&silero_path()).unwrap_or_else(|e| panic!("{e}"));
    let speech = chinese_speech();
    let mut pcm = vec![0.0f32; ANALYSIS_RATE as usize]; // 1 s of silence first
    pcm.extend(resample(&speech.samples, speech.rate, ANALYSIS_RATE).unwrap());
    let probs = silero.probabilities(&pcm).unwrap();
    assert_eq!(probs.len(), pcm.len().div_ceil(super::silero::WINDOW));
    let lead = &probs[..25]; // the first 0.8 s
    assert!(lead.iter().all(|&p| p < 0.2), "{lead:?}");
    let max = probs[31..].iter().fold(0f32, |m, &p| m.max(p));
    assert!(max > 0.8, "{probs:?}");
}

#[test]
fn checks_are_shared_across_threads() {
    let checks = Arc::new(checks());
    let speech = chinese_speech();
    let reports: Vec<CheckReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let checks = Arc::clone(&checks);
                let speech = speech.clone();
                s.spawn(move || checks.check(&speech).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Deterministic detectors: the same clip gives the same figures on every thread.
    for r in &reports[1..] {
        assert_eq!(r.webrtc.voiced_ratio(), reports[0].webrtc.voiced_ratio());
        assert_eq!(r.silero.voiced_ratio(), reports[0].silero.voiced_ratio());
    }
}
