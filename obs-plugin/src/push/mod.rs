//! Push targets: extra streaming outputs next to OBS's main stream, owned by the plugin and
//! controlled through the obs-websocket vendor `ai-avatar-push` (see the README for the API).
//!
//! * [`config`]: a target's settings and their validation (pure);
//! * [`status`]: the state machine fed by the output's signals, counters, bitrate (pure);
//! * `requests`: request shapes, error codes, replies (pure);
//! * `output`: one target's OBS service, output and encoders, and its signal callbacks;
//! * `worker`: the thread that owns all targets and runs every request;
//! * `vendor`, `frontend`, `calldata`: obs-websocket and obs-frontend-api, found at run time.

mod calldata;
pub mod config;
mod frontend;
mod output;
mod requests;
pub mod status;
mod vendor;
mod worker;

use std::ffi::c_void;

use crate::guard;
use crate::log::{log_info, log_warn};

/// Starts the push worker, registers the vendor requests and follows the main stream.
///
/// # Safety
/// Call from `obs_module_post_load`.
pub unsafe fn init() {
    if let Err(e) = worker::spawn() {
        log_warn!("push targets unavailable: cannot start their thread: {e}");
        return;
    }
    // SAFETY: forwarded from the caller (post_load).
    unsafe { vendor::register(requests::REQUEST_TYPES, worker::request) };
    match frontend::get() {
        Some(f) => f.add_event_callback(on_frontend_event),
        None => {
            log_info!("push targets: no OBS frontend API, so no shared encoders and no with_main")
        }
    }
}

/// Releases everything (module unload; normally already done at the frontend's exit event).
pub fn unload() {
    vendor::stop_emitting();
    worker::shutdown();
    if let Some(f) = frontend::get() {
        f.remove_event_callback(on_frontend_event);
    }
}

unsafe extern "C" fn on_frontend_event(event: i32, _private: *mut c_void) {
    guard::catch("frontend event", (), || match event {
        frontend::EVENT_STREAMING_STARTED => worker::main_started(),
        frontend::EVENT_STREAMING_STOPPING => worker::main_stopping(),
        frontend::EVENT_EXIT => {
            // obs-websocket may already be winding down: no more events, then release every
            // output while libobs is fully alive (module unload comes much later).
            vendor::stop_emitting();
            worker::shutdown();
        }
        _ => {}
    });
}
