//! The parts of `obs-frontend-api` push targets use, resolved at run time.
//!
//! The frontend library comes with the OBS application, not with libobs: OBS run without its
//! UI (or another libobs host) has no main stream. Resolving it at run time keeps the plugin
//! loadable there (shared encoders and `with_main` then simply fail with `needs_main_stream`)
//! and spares Windows builds an import library that the OBS SDK does not always ship.

use std::ffi::c_void;
use std::sync::OnceLock;

use obs_wrapper::obs_sys::obs_output_t;

/// `enum obs_frontend_event` values (stable since OBS 27).
pub const EVENT_STREAMING_STARTED: i32 = 1;
pub const EVENT_STREAMING_STOPPING: i32 = 2;
pub const EVENT_EXIT: i32 = 17;

pub type EventCallback = unsafe extern "C" fn(event: i32, private_data: *mut c_void);

/// The resolved functions; the library handle keeps them loaded.
pub struct Frontend {
    _lib: libloading::Library,
    get_streaming_output: unsafe extern "C" fn() -> *mut obs_output_t,
    add_event_callback: unsafe extern "C" fn(EventCallback, *mut c_void),
    remove_event_callback: unsafe extern "C" fn(EventCallback, *mut c_void),
}

#[cfg(target_os = "windows")]
const LIBRARY_NAMES: &[&str] = &["obs-frontend-api.dll"];
#[cfg(target_os = "macos")]
const LIBRARY_NAMES: &[&str] = &["obs-frontend-api.dylib", "libobs-frontend-api.dylib"];
#[cfg(all(unix, not(target_os = "macos")))]
const LIBRARY_NAMES: &[&str] = &["libobs-frontend-api.so.0", "libobs-frontend-api.so"];

impl Frontend {
    fn load() -> Option<Self> {
        LIBRARY_NAMES.iter().find_map(|name| {
            // SAFETY: loading OBS's own frontend library, which the OBS process has normally
            // loaded already; its initialisers have no side effects beyond that.
            let lib = unsafe { libloading::Library::new(name) }.ok()?;
            // SAFETY: the signatures are those of obs-frontend-api.h (OBS 27+).
            unsafe {
                let get_streaming_output = *lib
                    .get::<unsafe extern "C" fn() -> *mut obs_output_t>(
                        b"obs_frontend_get_streaming_output\0",
                    )
                    .ok()?;
                let add_event_callback = *lib
                    .get::<unsafe extern "C" fn(EventCallback, *mut c_void)>(
                        b"obs_frontend_add_event_callback\0",
                    )
                    .ok()?;
                let remove_event_callback = *lib
                    .get::<unsafe extern "C" fn(EventCallback, *mut c_void)>(
                        b"obs_frontend_remove_event_callback\0",
                    )
                    .ok()?;
                Some(Self {
                    _lib: lib,
                    get_streaming_output,
                    add_event_callback,
                    remove_event_callback,
                })
            }
        })
    }

    /// OBS's main streaming output (a new reference, or null when there is none yet).
    pub fn streaming_output(&self) -> *mut obs_output_t {
        // SAFETY: plain getter; returns null without a frontend.
        unsafe { (self.get_streaming_output)() }
    }

    pub fn add_event_callback(&self, cb: EventCallback) {
        // SAFETY: registers a `'static` function without private data.
        unsafe { (self.add_event_callback)(cb, std::ptr::null_mut()) }
    }

    pub fn remove_event_callback(&self, cb: EventCallback) {
        // SAFETY: removes what `add_event_callback` registered.
        unsafe { (self.remove_event_callback)(cb, std::ptr::null_mut()) }
    }
}

/// The frontend API, if this OBS has one.
pub fn get() -> Option<&'static Frontend> {
    static FRONTEND: OnceLock<Option<Frontend>> = OnceLock::new();
    FRONTEND.get_or_init(Frontend::load).as_ref()
}
