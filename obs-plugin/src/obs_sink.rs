//! The [`FrameSink`] that hands the clock's output to OBS.

use std::ptr;

use avatar_link::SAMPLE_RATE;
use obs_wrapper::obs_sys::{
    audio_format_AUDIO_FORMAT_FLOAT, obs_source_audio, obs_source_output_audio, obs_source_t,
    speaker_layout_SPEAKERS_MONO,
};

use crate::clock::FrameSink;
use crate::ffi::{
    obs_source_frame2, obs_source_output_video2, MAX_AV_PLANES, VIDEO_FORMAT_RGBA, VIDEO_RANGE_FULL,
};

/// The OBS source the clock thread outputs to.
pub struct ObsSink {
    source: *mut obs_source_t,
}

// SAFETY: libobs' output functions are thread-safe (async sources are meant to be fed from
// their own threads), and the source outlives the sink: `destroy` joins the clock thread, which
// owns the sink, before returning to OBS.
unsafe impl Send for ObsSink {}

impl ObsSink {
    /// # Safety
    /// `source` must stay valid for as long as the sink is used.
    pub unsafe fn new(source: *mut obs_source_t) -> Self {
        Self { source }
    }
}

impl FrameSink for ObsSink {
    fn audio(&mut self, block: &[f32], timestamp_ns: u64) {
        let mut data = [ptr::null(); MAX_AV_PLANES];
        data[0] = block.as_ptr().cast();
        let audio = obs_source_audio {
            data,
            frames: block.len() as u32,
            speakers: speaker_layout_SPEAKERS_MONO,
            format: audio_format_AUDIO_FORMAT_FLOAT,
            samples_per_sec: SAMPLE_RATE,
            timestamp: timestamp_ns,
        };
        // SAFETY: valid source (see `new`); OBS copies the samples before returning.
        unsafe { obs_source_output_audio(self.source, &audio) };
    }

    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64) {
        let mut data = [ptr::null_mut(); MAX_AV_PLANES];
        // OBS only reads the planes; the field is `uint8_t *` in C for historical reasons.
        data[0] = rgba.as_ptr().cast_mut();
        let mut linesize = [0; MAX_AV_PLANES];
        linesize[0] = width * 4;
        let frame = obs_source_frame2 {
            data,
            linesize,
            width,
            height,
            timestamp: timestamp_ns,
            format: VIDEO_FORMAT_RGBA,
            range: VIDEO_RANGE_FULL,
            // Unused for RGB formats; identity and full range for good measure.
            color_matrix: [
                1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            ],
            color_range_min: [0.0; 3],
            color_range_max: [1.0; 3],
            flip: false,
            flags: 0,
            trc: 0,
        };
        // SAFETY: valid source; `frame` describes `rgba`, which OBS copies before returning.
        unsafe { obs_source_output_video2(self.source, &frame) };
    }
}
