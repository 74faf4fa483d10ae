//! The obs-websocket vendor `ai-avatar-push`: registration at run time and event emission.
//!
//! obs-websocket's C API (`obs-websocket-api.h`) is header-only inline functions over a proc
//! handler it publishes on OBS's global proc handler as `obs_websocket_api_get_ph`; this
//! module does what those inline functions do, so there is no build or link dependency on
//! obs-websocket, and OBS without it simply has no remote control of push targets.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use obs_wrapper::obs_sys::{
    obs_data_release, obs_data_t, obs_get_proc_handler, proc_handler_call, proc_handler_t,
};
use serde_json::Value;

use super::calldata::{self, CallData};
use crate::guard;
use crate::log::{log_info, log_warn};

pub const VENDOR_NAME: &CStr = c"ai-avatar-push";
/// The only event type: a target changed state.
pub const EVENT_TARGET_STATE: &CStr = c"target_state";

/// `struct obs_websocket_request_callback` (copied by obs-websocket on registration).
#[repr(C)]
struct RequestCallback {
    callback: unsafe extern "C" fn(*mut obs_data_t, *mut obs_data_t, *mut c_void),
    priv_data: *mut c_void,
}

/// obs-websocket's proc handler and our vendor handle, once registered.
static API_PH: AtomicPtr<proc_handler_t> = AtomicPtr::new(std::ptr::null_mut());
static VENDOR: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Cleared when OBS exits: obs-websocket may be shutting down, so nothing is emitted after.
static EMIT: AtomicBool = AtomicBool::new(false);

/// A request handler: `(request type, request data) → response data`.
pub type Handler = fn(&str, &Value) -> Value;

/// Registers the vendor and `types`, each answered by `handler`. Returns false (after one log
/// line) when obs-websocket is not there.
///
/// # Safety
/// Call from `obs_module_post_load` (obs-websocket registers its proc handler in its load).
pub unsafe fn register(types: &'static [&'static CStr], handler: Handler) -> bool {
    // SAFETY: libobs is initialised during post_load.
    let global = unsafe { obs_get_proc_handler() };
    if global.is_null() {
        return false;
    }
    let mut cd = CallData::new();
    // SAFETY: valid handler and calldata; an unknown proc name just returns false.
    let found = unsafe {
        proc_handler_call(
            global,
            c"obs_websocket_api_get_ph".as_ptr(),
            cd.as_mut_ptr(),
        )
    };
    let ph = cd.ptr(c"ph").cast::<proc_handler_t>();
    if !found || ph.is_null() {
        log_info!(
            "obs-websocket is not available: push targets cannot be controlled remotely \
             (they still follow the main stream)"
        );
        return false;
    }
    let mut cd = CallData::new();
    let name = VENDOR_NAME;
    cd.set_string(c"name", name);
    // SAFETY: obs-websocket's proc handler with the arguments its header passes.
    unsafe { proc_handler_call(ph, c"vendor_register".as_ptr(), cd.as_mut_ptr()) };
    let vendor = cd.ptr(c"vendor");
    if vendor.is_null() {
        log_warn!("obs-websocket refused the vendor name {name:?}; push targets are not remote-controllable");
        return false;
    }
    HANDLER.store(handler as *mut c_void, Ordering::Release);
    for ty in types {
        let cb = RequestCallback {
            callback: on_request,
            priv_data: ty.as_ptr().cast_mut().cast(),
        };
        let mut cd = CallData::new();
        cd.set_string(c"type", ty);
        // obs-websocket copies the struct before the call returns.
        cd.set_ptr(
            c"callback",
            (&cb as *const RequestCallback).cast_mut().cast(),
        );
        cd.set_ptr(c"vendor", vendor);
        // SAFETY: as above.
        unsafe { proc_handler_call(ph, c"vendor_request_register".as_ptr(), cd.as_mut_ptr()) };
        if !cd.bool(c"success") {
            log_warn!("obs-websocket did not register request {ty:?}");
        }
    }
    API_PH.store(ph, Ordering::Release);
    VENDOR.store(vendor, Ordering::Release);
    EMIT.store(true, Ordering::Release);
    log_info!("push targets: obs-websocket vendor {name:?} registered");
    true
}

/// Stops emitting events (at OBS exit; obs-websocket may be going away).
pub fn stop_emitting() {
    EMIT.store(false, Ordering::Release);
}

/// Emits a `target_state` vendor event (no-op without obs-websocket or after exit).
pub fn emit(data: &Value) {
    let (ph, vendor) = (
        API_PH.load(Ordering::Acquire),
        VENDOR.load(Ordering::Acquire),
    );
    if !EMIT.load(Ordering::Acquire) || ph.is_null() || vendor.is_null() {
        return;
    }
    let obj = calldata::json_to_obs_data(data);
    if obj.is_null() {
        return;
    }
    let mut cd = CallData::new();
    cd.set_string(c"type", EVENT_TARGET_STATE);
    cd.set_ptr(c"data", obj.cast());
    cd.set_ptr(c"vendor", vendor);
    // SAFETY: obs-websocket serialises the data before returning; we release our reference.
    unsafe {
        proc_handler_call(ph, c"vendor_event_emit".as_ptr(), cd.as_mut_ptr());
        obs_data_release(obj);
    }
}

static HANDLER: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// Called by obs-websocket on one of its worker threads for every request of our vendor;
/// `priv_data` is the request type's static C string (set in [`register`]).
unsafe extern "C" fn on_request(
    request: *mut obs_data_t,
    response: *mut obs_data_t,
    priv_data: *mut c_void,
) {
    guard::catch("push request", (), || {
        let raw = HANDLER.load(Ordering::Acquire);
        if raw.is_null() || response.is_null() || priv_data.is_null() {
            return;
        }
        // SAFETY: only ever stored from a `Handler` in `register`.
        let handler: Handler = unsafe { std::mem::transmute::<*mut c_void, Handler>(raw) };
        // SAFETY: a `&'static CStr` of `register`'s `types`.
        let ty = unsafe { CStr::from_ptr(priv_data.cast()) }.to_string_lossy();
        // SAFETY: obs-websocket's objects, valid for the duration of the call.
        let req = unsafe { calldata::obs_data_to_json(request) };
        let reply = handler(&ty, &req);
        unsafe { calldata::fill_obs_data(response, &reply) };
    });
}
