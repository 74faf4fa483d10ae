//! Hand-written libobs declarations that the bundled `obs-sys` bindings get wrong or lack.
//!
//! `obs-wrapper` 0.4.1 ships bindings generated from libobs **25**. Almost everything this
//! plugin uses is ABI-stable since then, with one exception that matters a lot: the async video
//! frame. OBS 28 added `flags` and `trc` to `struct obs_source_frame2` (and reworked
//! `struct obs_source_frame`), so passing the bundled struct to OBS 28+ leaves those fields as
//! whatever padding bytes happened to be there. We therefore declare the OBS 28+ layout
//! ourselves, copied field by field from `obs.h` of OBS 29, and check its size and offsets
//! at compile time against numbers measured with gcc on that header:
//!
//! ```text
//! sizeof(struct obs_source_frame2) = 216, align 8 (x86_64 Linux, OBS 29.0.2 headers)
//! linesize 64, width 96, height 100, timestamp 104, format 112, range 116,
//! color_matrix 120, color_range_min 184, color_range_max 196, flip 208, flags 209, trc 210
//! ```
//!
//! The same layout holds on 64-bit Windows and macOS (no `long`s, same alignment rules).
//! A few functions outside the bundled headers (`util/platform.h`) and newer property
//! helpers are declared here as well; all of them exist in every OBS from 28 on.

#![allow(non_camel_case_types)]

use obs_wrapper::obs_sys::{obs_module_t, obs_property_t, obs_source_t};

/// `MAX_AV_PLANES` in `media-io/media-io-defs.h`.
pub const MAX_AV_PLANES: usize = 8;

/// `enum video_format` value `VIDEO_FORMAT_RGBA` (`media-io/video-io.h`): 8-bit R,G,B,A.
pub const VIDEO_FORMAT_RGBA: u32 = 6;
/// `enum video_range_type` value `VIDEO_RANGE_FULL` (`media-io/video-io.h`).
pub const VIDEO_RANGE_FULL: u32 = 2;
/// `enum obs_text_type` value `OBS_TEXT_INFO` (`obs-properties.h`, OBS 28+): a read-only
/// informational line in the properties dialog. The bundled libobs-25 bindings predate it.
pub const OBS_TEXT_INFO: u32 = 3;
/// `enum obs_text_info_type` value `OBS_TEXT_INFO_WARNING`.
pub const OBS_TEXT_INFO_WARNING: u32 = 1;

/// `struct obs_source_frame2` as of OBS 28+ (see the module docs for why it is redeclared).
///
/// C enums are `int`-sized on every platform OBS supports, hence `u32` for `format`/`range`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct obs_source_frame2 {
    pub data: [*mut u8; MAX_AV_PLANES],
    pub linesize: [u32; MAX_AV_PLANES],
    pub width: u32,
    pub height: u32,
    pub timestamp: u64,
    /// `enum video_format`
    pub format: u32,
    /// `enum video_range_type`
    pub range: u32,
    pub color_matrix: [f32; 16],
    pub color_range_min: [f32; 3],
    pub color_range_max: [f32; 3],
    pub flip: bool,
    /// `OBS_SOURCE_FRAME_*` flags (OBS 28+).
    pub flags: u8,
    /// `enum video_trc` (OBS 28+); 0 = default (sRGB for 8-bit RGB frames).
    pub trc: u8,
}

// Compile-time layout check against the gcc measurements above. OBS 28+ only ships 64-bit
// builds, so the check is limited to 64-bit targets.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<obs_source_frame2>() == 216);
    assert!(align_of::<obs_source_frame2>() == 8);
    assert!(offset_of!(obs_source_frame2, linesize) == 64);
    assert!(offset_of!(obs_source_frame2, width) == 96);
    assert!(offset_of!(obs_source_frame2, height) == 100);
    assert!(offset_of!(obs_source_frame2, timestamp) == 104);
    assert!(offset_of!(obs_source_frame2, format) == 112);
    assert!(offset_of!(obs_source_frame2, range) == 116);
    assert!(offset_of!(obs_source_frame2, color_matrix) == 120);
    assert!(offset_of!(obs_source_frame2, color_range_min) == 184);
    assert!(offset_of!(obs_source_frame2, color_range_max) == 196);
    assert!(offset_of!(obs_source_frame2, flip) == 208);
    assert!(offset_of!(obs_source_frame2, flags) == 209);
    assert!(offset_of!(obs_source_frame2, trc) == 210);
};

extern "C" {
    /// Queues one async video frame; OBS copies the pixels before returning.
    pub fn obs_source_output_video2(source: *mut obs_source_t, frame: *const obs_source_frame2);
    /// libobs' monotonic clock, the time base of every audio/video timestamp in OBS.
    pub fn os_gettime_ns() -> u64;
    /// Marks an `OBS_TEXT_INFO` property as normal/warning/error (OBS 28+).
    pub fn obs_property_text_set_info_type(prop: *mut obs_property_t, info_type: u32);
    /// This module's handle. Defined by `obs_register_module!` in `plugin.rs` and exported
    /// under this C name (as obs-module.h declares it for C plugins); declared here so the
    /// locale can ask for it without depending on the plugin's registration.
    pub fn obs_current_module() -> *mut obs_module_t;
}

/// Convenience: the current libobs time in nanoseconds.
pub fn now_ns() -> u64 {
    // SAFETY: a plain function call without arguments; libobs is loaded whenever the
    // module is (the cdylib links it), and the clock needs no initialisation.
    unsafe { os_gettime_ns() }
}
