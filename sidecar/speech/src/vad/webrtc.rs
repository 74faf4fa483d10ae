//! WebRTC's GMM voice detector (libfvad through `webrtc-vad`), the primary check of seed 000:
//! 30 ms frames at 16 kHz in the most aggressive mode, and the fraction of frames it calls
//! voice.

use std::time::Instant;

use webrtc_vad::{SampleRate, Vad, VadMode};

use super::{DetectorRun, ANALYSIS_RATE};

/// 30 ms at 16 kHz: the longest frame libfvad accepts, so the fewest calls per second.
pub const FRAME: usize = ANALYSIS_RATE as usize * 30 / 1000;

fn mode(aggressiveness: u8) -> VadMode {
    match aggressiveness {
        0 => VadMode::Quality,
        1 => VadMode::LowBitrate,
        2 => VadMode::Aggressive,
        _ => VadMode::VeryAggressive,
    }
}

/// Voiced-frame ratio of 16 kHz audio. A trailing partial frame is dropped (libfvad only
/// takes whole frames). Errors when there is no whole frame or libfvad refuses a frame; the
/// caller then falls back to the energy detector.
///
/// `Vad` holds a raw C pointer and is `!Send`, so one is made per call (an allocation of a
/// few hundred bytes: negligible next to the frames) rather than shared between threads.
pub fn voiced_ratio(samples_16k: &[f32], aggressiveness: u8) -> DetectorRun {
    let start = Instant::now();
    let frames = samples_16k.len() / FRAME;
    if frames == 0 {
        return DetectorRun::Unavailable(format!(
            "webrtc-vad needs at least one 30 ms frame, got {} samples",
            samples_16k.len()
        ));
    }
    let mut vad = Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode(aggressiveness));
    let mut pcm = [0i16; FRAME];
    let mut voiced = 0usize;
    for frame in samples_16k.chunks_exact(FRAME) {
        for (dst, &s) in pcm.iter_mut().zip(frame) {
            *dst = (s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
        }
        match vad.is_voice_segment(&pcm) {
            Ok(true) => voiced += 1,
            Ok(false) => {}
            Err(()) => return DetectorRun::Unavailable("webrtc-vad rejected a 30 ms frame".into()),
        }
    }
    DetectorRun::Ran {
        voiced_ratio: voiced as f32 / frames as f32,
        frames,
        elapsed: start.elapsed(),
    }
}
