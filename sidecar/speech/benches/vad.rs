//! Cost of the audio checks: CPU milliseconds per second of audio, for each detector.
//!
//! `cargo bench -p sidecar --bench vad`
//!
//! Input: real speech from espeak-ng (Mandarin, `cmn-latn-pinyin`, 22 050 Hz, ~6 s), the
//! kind of clip every line goes through. Each stage runs on one thread; CPU time is the
//! thread's own (`/proc/thread-self/schedstat`, ns), falling back to wall time elsewhere.
//! Silero VAD runs with one intra-op thread, as `AudioChecks` does. Needs the models from
//! `scripts/install-models.sh`; also prints the Piper voice's real-time factor if installed.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use aivs_speech::audio::resample;
use aivs_speech::espeak::{decode_streamed_wav, run_with_stdin};
use aivs_speech::piper::{Piper, PiperConfig};
use aivs_speech::vad::silero::Silero;
use aivs_speech::vad::{energy, webrtc, AudioChecks, FormatStats, VadConfig, ANALYSIS_RATE};
use aivs_speech::{RawAudio, SpeechRequest};

/// This thread's CPU time so far.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU (or wall) time of `f`, per run, over enough runs to fill ~1 s.
fn measure(mut f: impl FnMut()) -> Duration {
    f(); // warm-up (first-use allocations, model caches)
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut runs = 0u32;
    while wall0.elapsed() < Duration::from_secs(1) || runs < 3 {
        f();
        runs += 1;
    }
    let spent = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => wall0.elapsed(),
    };
    spent / runs
}

fn espeak(text: &str, voice: &str) -> RawAudio {
    let wav = run_with_stdin("espeak-ng", &["-v", voice, "--stdout"], text)
        .expect("espeak-ng must be installed (scripts/install-deps.sh)");
    decode_streamed_wav(wav).unwrap()
}

fn main() {
    let clip = espeak(
        "感谢小明送的小心心，太开心了！欢迎来到直播间，喜欢主播的点个关注。",
        "cmn-latn-pinyin",
    );
    let secs = clip.samples.len() as f64 / clip.rate as f64;
    let pcm = resample(&clip.samples, clip.rate, ANALYSIS_RATE).unwrap();
    let silero =
        Silero::load(Path::new("models/silero_vad.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let checks = AudioChecks::new(VadConfig::default());
    checks.check(&clip).unwrap_or_else(|e| panic!("{e}"));

    println!(
        "VAD cost, CPU ms per second of audio ({secs:.1} s clip at {} Hz):",
        clip.rate
    );
    let per_sec = |d: Duration| d.as_secs_f64() * 1000.0 / secs;
    let rows: [(&str, Duration); 6] = [
        (
            "format checks",
            measure(|| {
                black_box(FormatStats::measure(&clip.samples, clip.rate));
            }),
        ),
        (
            "resample to 16 kHz",
            measure(|| {
                black_box(resample(&clip.samples, clip.rate, ANALYSIS_RATE).unwrap());
            }),
        ),
        (
            "webrtc-vad (mode 3)",
            measure(|| {
                black_box(webrtc::voiced_ratio(&pcm, 3));
            }),
        ),
        (
            "energy detector",
            measure(|| {
                black_box(energy::voiced_ratio(&pcm));
            }),
        ),
        (
            "Silero VAD (ONNX, 1 thread)",
            measure(|| {
                black_box(silero.voiced_ratio(&pcm, 0.5));
            }),
        ),
        (
            "whole check()",
            measure(|| {
                black_box(checks.check(&clip).unwrap());
            }),
        ),
    ];
    for (name, cost) in rows {
        println!("  {name:<28} {:>8.3} ms/s", per_sec(cost));
    }

    let voice = PiperConfig {
        model: Some("models/piper/en_US-joe-medium.onnx".into()),
        ..PiperConfig::default()
    };
    match Piper::from_config(&voice) {
        Ok(Some(piper)) => {
            let request = SpeechRequest::new(
                "Thank you so much for the gift! Welcome to the stream, everyone. \
                 Tonight we are talking about the best noodles in town.",
            );
            piper.synthesize_blocking(&request).unwrap(); // warm-up
            let (mut audio_ms, mut wall) = (0u64, Duration::ZERO);
            for _ in 0..3 {
                let start = Instant::now();
                let audio = piper.synthesize_blocking(&request).unwrap();
                wall += start.elapsed();
                audio_ms += audio.duration_ms();
            }
            println!(
                "Piper en_US-joe-medium: {audio_ms} ms of audio in {} ms, real-time factor {:.3} \
                 (wall, ONNX Runtime default threads)",
                wall.as_millis(),
                wall.as_secs_f64() * 1000.0 / audio_ms as f64
            );
        }
        Ok(None) => unreachable!("model configured"),
        Err(e) => println!("Piper not measured: {e}"),
    }
}
