//! The `ai_avatar` input source: OBS callbacks and the per-instance state behind them.
//!
//! `obs-wrapper`'s `SourceInfoBuilder` cannot be used: it hides the raw `obs_source_t *` that
//! async output needs and cannot declare `OBS_SOURCE_ASYNC_VIDEO`. So the `obs_source_info` is
//! filled in by hand here. Every callback body runs inside [`guard::catch`].

use std::ffi::c_void;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use obs_wrapper::obs_sys::{
    obs_data_t, obs_properties_t, obs_source_info, obs_source_set_async_unbuffered, obs_source_t,
    obs_source_type_OBS_SOURCE_TYPE_INPUT, OBS_SOURCE_ASYNC_VIDEO, OBS_SOURCE_AUDIO,
    OBS_SOURCE_DO_NOT_DUPLICATE,
};
use tokio::sync::mpsc as tokio_mpsc;

use crate::clock::{ClockInput, ClockParams, ClockThread, ThreadedVideo};
use crate::ffi;
use crate::guard;
use crate::link::LinkClient;
use crate::locale;
use crate::log::{log_error, log_info};
use crate::obs_sink::ObsSink;
use crate::settings::{self, Settings};

/// The source id users and scene collections refer to.
pub const SOURCE_ID: &std::ffi::CStr = c"ai_avatar";

/// Describes the source type to OBS.
pub fn source_info() -> obs_source_info {
    obs_source_info {
        id: SOURCE_ID.as_ptr(),
        type_: obs_source_type_OBS_SOURCE_TYPE_INPUT,
        // Async video: frames are pushed from our clock thread with timestamps, like a capture
        // device, which is what lets OBS line them up with the audio. A duplicate would be a
        // second client telling the sidecar it owns the audio clock, hence DO_NOT_DUPLICATE.
        output_flags: OBS_SOURCE_ASYNC_VIDEO | OBS_SOURCE_AUDIO | OBS_SOURCE_DO_NOT_DUPLICATE,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        get_width: Some(get_width),
        get_height: Some(get_height),
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        update: Some(update),
        show: Some(show),
        hide: Some(hide),
        ..obs_source_info::default()
    }
}

/// Per-instance state. OBS calls the callbacks from several threads (UI, graphics), so it is
/// only ever accessed through `&self`.
struct AvatarSource {
    link: LinkClient,
    clock: ClockThread,
    /// For settings changes that concern the clock (size, badge).
    clock_inputs: Sender<ClockInput>,
    visible: Arc<AtomicBool>,
    width: AtomicU32,
    height: AtomicU32,
    settings: Mutex<Settings>,
}

impl AvatarSource {
    /// Starts the clock and link threads for `source`.
    ///
    /// # Safety
    /// `source` must be the OBS source this instance belongs to; it must outlive the instance.
    unsafe fn start(source: *mut obs_source_t, settings: Settings) -> std::io::Result<Self> {
        // Buffered async video is paced by the differences between frame timestamps, and its
        // clock stands still whenever no frame is queued, so every late frame (or stall of the
        // clock thread) would delay the picture for good while the audio stays placed by its
        // absolute timestamp: measured in OBS 29, a 400 ms stall left the mouth 13 frames
        // behind the voice. Unbuffered, OBS shows the newest frame at each render; since frames
        // are emitted at their own timestamp, the mouth stays within a frame of the voice.
        // SAFETY: `source` is the valid source being created.
        unsafe { obs_source_set_async_unbuffered(source, true) };
        let (inputs_tx, inputs_rx) = mpsc::channel();
        let (reports_tx, reports_rx) = tokio_mpsc::unbounded_channel();
        let visible = Arc::new(AtomicBool::new(false));
        let clock = ClockThread::spawn(ClockParams {
            // SAFETY: forwarded from the caller; `Drop` joins the clock before OBS frees it.
            // Audio leaves from the clock thread, frames from a render thread of their own.
            sink: ThreadedVideo::spawn(unsafe { ObsSink::new(source) }, unsafe {
                ObsSink::new(source)
            })?,
            config: settings.render,
            inputs: inputs_rx,
            reports: Box::new(move |report| {
                // Fails only while shutting down, when nobody listens any more.
                let _ = reports_tx.send(report);
            }),
            visible: Arc::clone(&visible),
            now_ns: ffi::now_ns,
        })?;
        let link = LinkClient::spawn(settings.link.clone(), inputs_tx.clone(), reports_rx)?;
        Ok(Self {
            link,
            clock,
            clock_inputs: inputs_tx,
            visible,
            width: AtomicU32::new(settings.render.width),
            height: AtomicU32::new(settings.render.height),
            settings: Mutex::new(settings),
        })
    }

    fn update(&self, new: Settings) {
        let mut current = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if new.link != current.link {
            log_info!("link settings changed: {:?}", new.link);
            self.link.update(new.link.clone());
        }
        if new.render != current.render {
            self.width.store(new.render.width, Ordering::Relaxed);
            self.height.store(new.render.height, Ordering::Relaxed);
            let _ = self.clock_inputs.send(ClockInput::Configure(new.render));
        }
        *current = new;
    }
}

impl Drop for AvatarSource {
    fn drop(&mut self) {
        // Link first: no new audio can arrive once it is gone. Then the clock, which must be
        // joined before OBS frees the source it outputs to.
        self.link.stop();
        self.clock.stop();
    }
}

// OBS calls the callbacks below from several threads with the same `data` pointer.
const _: () = {
    const fn assert_sync<T: Sync>() {}
    assert_sync::<AvatarSource>();
};

/// # Safety
/// `data` must be null or a pointer returned by [`create`] and not yet destroyed.
unsafe fn instance<'a>(data: *mut c_void) -> Option<&'a AvatarSource> {
    // SAFETY: per the contract above.
    unsafe { data.cast::<AvatarSource>().as_ref() }
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const c_char {
    guard::catch("get_name", SOURCE_ID.as_ptr(), || {
        locale::text_ptr(c"AIAvatar")
    })
}

unsafe extern "C" fn create(settings: *mut obs_data_t, source: *mut obs_source_t) -> *mut c_void {
    guard::catch("create", std::ptr::null_mut(), || {
        // SAFETY: OBS passes the new source's valid settings and the source itself, which
        // outlives the instance (it calls `destroy` first).
        let result = unsafe { AvatarSource::start(source, Settings::from_obs(settings)) };
        match result {
            Ok(instance) => Box::into_raw(Box::new(instance)).cast(),
            Err(e) => {
                log_error!("cannot start the AI Avatar source: {e}");
                std::ptr::null_mut()
            }
        }
    })
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    guard::catch("destroy", (), || {
        if !data.is_null() {
            // SAFETY: `data` came from `Box::into_raw` in `create`; OBS destroys it once.
            drop(unsafe { Box::from_raw(data.cast::<AvatarSource>()) });
        }
    });
}

unsafe extern "C" fn get_width(data: *mut c_void) -> u32 {
    // SAFETY: OBS passes the pointer returned by `create`.
    guard::catch("get_width", 0, || {
        unsafe { instance(data) }.map_or(0, |s| s.width.load(Ordering::Relaxed))
    })
}

unsafe extern "C" fn get_height(data: *mut c_void) -> u32 {
    // SAFETY: as in `get_width`.
    guard::catch("get_height", 0, || {
        unsafe { instance(data) }.map_or(0, |s| s.height.load(Ordering::Relaxed))
    })
}

unsafe extern "C" fn get_defaults(settings: *mut obs_data_t) {
    // SAFETY: OBS passes a valid settings object.
    guard::catch("get_defaults", (), || unsafe {
        settings::set_defaults(settings)
    });
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut obs_properties_t {
    guard::catch("get_properties", std::ptr::null_mut(), || {
        // SAFETY: `data` is null or our instance; called on OBS's UI thread.
        unsafe { settings::properties(instance(data).map(|s| s.link.status())) }
    })
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut obs_data_t) {
    guard::catch("update", (), || {
        // SAFETY: our instance and a valid settings object, both from OBS.
        if let Some(source) = unsafe { instance(data) } {
            source.update(unsafe { Settings::from_obs(settings) });
        }
    });
}

unsafe extern "C" fn show(data: *mut c_void) {
    // SAFETY: our instance, from OBS.
    guard::catch("show", (), || {
        if let Some(source) = unsafe { instance(data) } {
            source.visible.store(true, Ordering::Relaxed);
        }
    });
}

unsafe extern "C" fn hide(data: *mut c_void) {
    // SAFETY: our instance, from OBS.
    guard::catch("hide", (), || {
        if let Some(source) = unsafe { instance(data) } {
            source.visible.store(false, Ordering::Relaxed);
        }
    });
}
