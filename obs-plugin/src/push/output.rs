//! One target's libobs objects (service, output, encoders) and the output's signals.
//!
//! Threads: the objects are created, started, stopped and released only by the push worker
//! thread (`worker.rs`). OBS delivers the output's signals on its own threads (and some, like
//! `starting`/`stopping`, synchronously inside `obs_output_start`/`obs_output_stop`), so the
//! signal callbacks touch only the target's [`Shared`] state, under its own short-lived lock,
//! which the worker never holds while it calls into libobs: no lock order to get wrong.

use std::ffi::{c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use obs_wrapper::obs_sys::{
    calldata_t, obs_audio_encoder_create, obs_data_create, obs_data_release, obs_data_set_bool,
    obs_data_set_int, obs_data_set_string, obs_data_t, obs_encoder_release, obs_encoder_set_audio,
    obs_encoder_set_scaled_size, obs_encoder_set_video, obs_encoder_t, obs_get_audio,
    obs_get_video, obs_output_active, obs_output_create, obs_output_get_congestion,
    obs_output_get_frames_dropped, obs_output_get_last_error, obs_output_get_signal_handler,
    obs_output_get_total_bytes, obs_output_get_total_frames, obs_output_release,
    obs_output_set_audio_encoder, obs_output_set_reconnect_settings, obs_output_set_service,
    obs_output_set_video_encoder, obs_output_start, obs_output_stop, obs_output_t,
    obs_service_create, obs_service_release, obs_service_t, signal_handler_connect,
    signal_handler_disconnect, video_output_get_height, video_output_get_width,
};
use serde_json::Value;

use super::calldata;
use super::config::{EncoderConfig, Protocol, TargetConfig};
use super::status::{Happening, Runtime, State};
use super::vendor;
use crate::guard;
use crate::log::{log_info, log_warn};

/// libobs reconnect settings: the first retry after this many seconds (libobs grows the delay
/// by half each further attempt, up to 15 min), and up to this many attempts before giving up.
pub const RECONNECT_RETRY_SECS: i32 = 2;
pub const RECONNECT_MAX_RETRIES: i32 = 25;

/// A target's configuration and run-time state, shared with the signal callbacks.
pub struct Shared {
    pub config: TargetConfig,
    runtime: Mutex<Runtime>,
}

impl Shared {
    pub fn new(config: TargetConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            runtime: Mutex::new(Runtime::default()),
        })
    }

    pub fn runtime(&self) -> MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> State {
        self.runtime().state
    }

    pub fn status(&self) -> Value {
        self.runtime().status(&self.config, Instant::now())
    }

    /// Applies `what` and, if the state changed, logs it and emits a `target_state` event.
    pub fn notify(&self, what: Happening) {
        let now = Instant::now();
        let (reason, mut status) = {
            let mut rt = self.runtime();
            let Some(reason) = rt.apply(what, now) else {
                return;
            };
            (reason, rt.status(&self.config, now))
        };
        // Built without the key; the reason may quote OBS's error text, redact it anyway.
        let reason = self.config.key.redact(&reason);
        log_info!("push target '{}': {reason}", self.config.name);
        self.emit(&mut status, &reason);
    }

    /// Emits the current status with `reason` (for changes the signals do not report).
    pub fn emit(&self, status: &mut Value, reason: &str) {
        if let Value::Object(map) = status {
            map.insert("reason".into(), Value::String(reason.to_string()));
        }
        vendor::emit(status);
    }
}

/// The OBS objects of a target that has been started at least once.
pub struct Outputs {
    output: *mut obs_output_t,
    service: *mut obs_service_t,
    /// Strong references: created by us (own) or taken on the main stream's (shared).
    video: *mut obs_encoder_t,
    audio: *mut obs_encoder_t,
    /// `Arc::into_raw` of the target's [`Shared`], the signal callbacks' private data.
    signal_data: *const Shared,
}

// SAFETY: libobs objects may be used from any thread; only the worker thread uses these.
unsafe impl Send for Outputs {}

const SIGNALS: [(&CStr, unsafe extern "C" fn(*mut c_void, *mut calldata_t)); 5] = [
    (c"start", on_start),
    (c"stopping", on_stopping),
    (c"stop", on_stop),
    (c"reconnect", on_reconnect),
    (c"reconnect_success", on_reconnect_success),
];

/// An `obs_data_t` we own, released on drop.
struct Data(*mut obs_data_t);

impl Data {
    fn new() -> Self {
        // SAFETY: plain constructor.
        Self(unsafe { obs_data_create() })
    }
    fn string(&self, key: &CStr, value: &str) {
        let value = CString::new(value).unwrap_or_default();
        // SAFETY: valid object, NUL-terminated strings (OBS copies them).
        unsafe { obs_data_set_string(self.0, key.as_ptr(), value.as_ptr()) };
    }
    fn int(&self, key: &CStr, value: i64) {
        // SAFETY: valid object.
        unsafe { obs_data_set_int(self.0, key.as_ptr(), value) };
    }
    fn bool(&self, key: &CStr, value: bool) {
        // SAFETY: valid object.
        unsafe { obs_data_set_bool(self.0, key.as_ptr(), value) };
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: our reference.
        unsafe { obs_data_release(self.0) };
    }
}

fn cstring(text: String) -> CString {
    CString::new(text).unwrap_or_default()
}

impl Outputs {
    /// Creates the service, the output and (own encoder) the encoders; shared targets get
    /// their encoders from [`Outputs::set_encoders`] before each start.
    pub fn create(shared: &Arc<Shared>) -> Result<Self, String> {
        let cfg = &shared.config;
        let service_settings = Data::new();
        service_settings.string(c"server", &cfg.server);
        service_settings.string(c"key", cfg.key.expose());
        service_settings.bool(c"use_auth", false);
        let label = |what: &str| cstring(format!("ai-avatar push: {} ({what})", cfg.name));
        let output_id = match cfg.protocol {
            Protocol::Rtmp | Protocol::Rtmps => c"rtmp_output",
            // OBS streams SRT through its MPEG-TS muxer; the key is the stream id.
            Protocol::Srt => c"ffmpeg_mpegts_muxer",
        };
        // SAFETY: plain constructors; OBS copies names and settings.
        let mut this = unsafe {
            Self {
                service: obs_service_create(
                    c"rtmp_custom".as_ptr(),
                    label("service").as_ptr(),
                    service_settings.0,
                    ptr::null_mut(),
                ),
                output: obs_output_create(
                    output_id.as_ptr(),
                    cstring(format!("ai-avatar push: {}", cfg.name)).as_ptr(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ),
                video: ptr::null_mut(),
                audio: ptr::null_mut(),
                signal_data: ptr::null(),
            }
        };
        if this.service.is_null() || this.output.is_null() {
            return Err("OBS could not create the streaming output".into());
        }
        // SAFETY: valid objects created above.
        unsafe {
            obs_output_set_service(this.output, this.service);
            obs_output_set_reconnect_settings(
                this.output,
                RECONNECT_MAX_RETRIES,
                RECONNECT_RETRY_SECS,
            );
        }
        if let EncoderConfig::Own(enc) = &cfg.encoder {
            let video = Data::new();
            video.int(c"bitrate", i64::from(enc.bitrate_kbps));
            video.string(c"rate_control", "CBR");
            video.int(c"keyint_sec", i64::from(enc.keyint_secs));
            video.string(c"preset", &enc.preset);
            let audio = Data::new();
            audio.int(c"bitrate", i64::from(enc.audio_bitrate_kbps));
            // SAFETY: plain constructors and setters on the new encoders (inactive).
            unsafe {
                let v = obs_video_encoder_create_checked(&label("video"), video.0);
                let a = obs_audio_encoder_create(
                    c"ffmpeg_aac".as_ptr(),
                    label("audio").as_ptr(),
                    audio.0,
                    0,
                    ptr::null_mut(),
                );
                this.set_encoders(v, a);
                if v.is_null() || a.is_null() {
                    return Err("OBS could not create the x264/AAC encoders".into());
                }
                let canvas = obs_get_video();
                // Scaling only when the size differs from OBS's output: an encoder at the
                // output size needs no scaler of its own.
                if (
                    video_output_get_width(canvas),
                    video_output_get_height(canvas),
                ) != (enc.width, enc.height)
                {
                    obs_encoder_set_scaled_size(v, enc.width, enc.height);
                }
                obs_encoder_set_video(v, canvas);
                obs_encoder_set_audio(a, obs_get_audio());
            }
        }
        let data = Arc::into_raw(Arc::clone(shared));
        this.signal_data = data;
        // SAFETY: the output's own signal handler; `data` stays valid until `Drop` has
        // disconnected every callback.
        unsafe {
            let handler = obs_output_get_signal_handler(this.output);
            for (name, cb) in SIGNALS {
                signal_handler_connect(handler, name.as_ptr(), Some(cb), data.cast_mut().cast());
            }
        }
        Ok(this)
    }

    /// Replaces the encoders, taking ownership of the references passed in.
    ///
    /// # Safety
    /// The output must not be active; the pointers must be null or strong references.
    pub unsafe fn set_encoders(&mut self, video: *mut obs_encoder_t, audio: *mut obs_encoder_t) {
        // SAFETY: per the contract; the old references are ours to release.
        unsafe {
            obs_output_set_video_encoder(self.output, video);
            obs_output_set_audio_encoder(self.output, audio, 0);
            obs_encoder_release(self.video);
            obs_encoder_release(self.audio);
        }
        self.video = video;
        self.audio = audio;
    }

    pub fn is_active(&self) -> bool {
        // SAFETY: valid output.
        unsafe { obs_output_active(self.output) }
    }

    /// Starts the output; the state follows from its signals. Errors are redacted.
    pub fn start(&self, shared: &Shared) -> Result<(), String> {
        // SAFETY: valid output with service and encoders set.
        if unsafe { obs_output_start(self.output) } {
            return Ok(());
        }
        Err(shared.config.key.redact(
            &self
                .last_error()
                .unwrap_or_else(|| "OBS could not start the output".into()),
        ))
    }

    /// Asks the output to stop (it flushes and then signals `stop`).
    pub fn stop(&self) {
        // SAFETY: valid output; stopping an inactive output is harmless.
        unsafe { obs_output_stop(self.output) };
    }

    fn last_error(&self) -> Option<String> {
        // SAFETY: valid output; the string belongs to it.
        unsafe { last_error(self.output) }
    }

    /// Reads the output's counters into the target's runtime.
    pub fn sample(&self, shared: &Shared) {
        // SAFETY: plain getters on a valid output.
        let (bytes, frames, dropped, congestion) = unsafe {
            (
                obs_output_get_total_bytes(self.output),
                obs_output_get_total_frames(self.output).max(0) as u64,
                obs_output_get_frames_dropped(self.output).max(0) as u64,
                f64::from(obs_output_get_congestion(self.output)),
            )
        };
        shared
            .runtime()
            .sample(Instant::now(), bytes, frames, dropped, congestion);
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        // SAFETY: disconnecting waits for a callback in progress (libobs holds the signal's
        // lock while calling), so once done nothing uses `signal_data` and it can go. Releasing
        // an active output force-stops it first.
        unsafe {
            if !self.output.is_null() {
                let handler = obs_output_get_signal_handler(self.output);
                if !self.signal_data.is_null() {
                    for (name, cb) in SIGNALS {
                        signal_handler_disconnect(
                            handler,
                            name.as_ptr(),
                            Some(cb),
                            self.signal_data.cast_mut().cast(),
                        );
                    }
                }
                obs_output_release(self.output);
            }
            obs_service_release(self.service);
            obs_encoder_release(self.video);
            obs_encoder_release(self.audio);
            if !self.signal_data.is_null() {
                drop(Arc::from_raw(self.signal_data));
            }
        }
    }
}

/// `obs_video_encoder_create("obs_x264", ...)`, logging when the encoder type is missing.
///
/// # Safety
/// libobs initialised; `settings` valid.
unsafe fn obs_video_encoder_create_checked(
    name: &CStr,
    settings: *mut obs_data_t,
) -> *mut obs_encoder_t {
    // SAFETY: per the caller.
    let enc = unsafe {
        obs_wrapper::obs_sys::obs_video_encoder_create(
            c"obs_x264".as_ptr(),
            name.as_ptr(),
            settings,
            ptr::null_mut(),
        )
    };
    if enc.is_null() {
        log_warn!("the obs_x264 encoder is not available in this OBS");
    }
    enc
}

/// # Safety
/// `output` must be valid.
unsafe fn last_error(output: *mut obs_output_t) -> Option<String> {
    // SAFETY: per the caller.
    let p = unsafe { obs_output_get_last_error(output) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by the output.
    let text = unsafe { CStr::from_ptr(p) }
        .to_string_lossy()
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// # Safety
/// `data` is the `signal_data` of a connected [`Outputs`].
unsafe fn with_shared(what: &str, data: *mut c_void, f: impl FnOnce(&Shared)) {
    guard::catch(what, (), || {
        // SAFETY: kept alive until every callback is disconnected (see `Drop`).
        if let Some(shared) = unsafe { data.cast::<Shared>().as_ref() } {
            f(shared);
        }
    });
}

unsafe extern "C" fn on_start(data: *mut c_void, _cd: *mut calldata_t) {
    // SAFETY: per `with_shared`.
    unsafe { with_shared("output start", data, |s| s.notify(Happening::Started)) };
}

unsafe extern "C" fn on_stopping(data: *mut c_void, _cd: *mut calldata_t) {
    // SAFETY: per `with_shared`.
    unsafe { with_shared("output stopping", data, |s| s.notify(Happening::Stopping)) };
}

unsafe extern "C" fn on_stop(data: *mut c_void, cd: *mut calldata_t) {
    // SAFETY: per `with_shared`; the calldata holds the signal's `output` and `code`.
    unsafe {
        let code = calldata::get_int(cd, c"code").unwrap_or(0);
        let output = calldata::get_ptr(cd, c"output").cast::<obs_output_t>();
        let error = if output.is_null() {
            None
        } else {
            last_error(output)
        };
        with_shared("output stop", data, |s| {
            let error = error.map(|e| s.config.key.redact(&e));
            s.notify(Happening::Stopped { code, error });
        });
    }
}

unsafe extern "C" fn on_reconnect(data: *mut c_void, cd: *mut calldata_t) {
    // SAFETY: per `with_shared`.
    unsafe {
        let timeout_secs = calldata::get_int(cd, c"timeout_sec").unwrap_or(0);
        with_shared("output reconnect", data, |s| {
            s.notify(Happening::Reconnect { timeout_secs })
        });
    }
}

unsafe extern "C" fn on_reconnect_success(data: *mut c_void, _cd: *mut calldata_t) {
    // SAFETY: per `with_shared`.
    unsafe {
        with_shared("output reconnected", data, |s| {
            s.notify(Happening::Reconnected)
        })
    };
}
