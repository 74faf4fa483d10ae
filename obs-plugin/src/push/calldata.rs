//! `calldata_t` helpers and JSON ↔ `obs_data_t` conversion.
//!
//! libobs declares `calldata_set_ptr`, `calldata_get_int` & co. `static inline` in
//! `callback/calldata.h`, so they are not in the library and not in the bindings; these are
//! their equivalents on top of the exported `calldata_set_data` / `calldata_get_data`.

use std::ffi::{c_void, CStr, CString};
use std::ptr;

use obs_wrapper::obs_sys::{
    bfree, calldata_get_data, calldata_set_data, calldata_t, obs_data_apply,
    obs_data_create_from_json, obs_data_get_json, obs_data_release, obs_data_t,
};

/// An owned, initially empty `calldata_t` (freed on drop, as `calldata_free` would).
pub struct CallData(pub calldata_t);

impl CallData {
    pub fn new() -> Self {
        Self(calldata_t {
            stack: ptr::null_mut(),
            size: 0,
            capacity: 0,
            fixed: false,
        })
    }

    pub fn as_mut_ptr(&mut self) -> *mut calldata_t {
        &mut self.0
    }

    pub fn set_ptr(&mut self, name: &CStr, value: *mut c_void) {
        // SAFETY: copies the pointer's bytes into the calldata stack (what calldata_set_ptr does).
        unsafe {
            calldata_set_data(
                &mut self.0,
                name.as_ptr(),
                (&value as *const *mut c_void).cast(),
                size_of::<*mut c_void>() as _,
            )
        };
    }

    pub fn set_string(&mut self, name: &CStr, value: &CStr) {
        let bytes = value.to_bytes_with_nul();
        // SAFETY: copies the string including its NUL, like calldata_set_string.
        unsafe {
            calldata_set_data(
                &mut self.0,
                name.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len() as _,
            )
        };
    }

    pub fn ptr(&self, name: &CStr) -> *mut c_void {
        // SAFETY: `self.0` is a valid calldata.
        unsafe { get_ptr(&self.0, name) }
    }

    pub fn bool(&self, name: &CStr) -> bool {
        let mut out = false;
        // SAFETY: reads at most one byte into `out`; C's bool is one byte.
        unsafe {
            calldata_get_data(
                &self.0,
                name.as_ptr(),
                (&mut out as *mut bool).cast(),
                size_of::<bool>() as _,
            )
        };
        out
    }
}

impl Drop for CallData {
    fn drop(&mut self) {
        if !self.0.fixed && !self.0.stack.is_null() {
            // SAFETY: the stack was allocated by libobs' calldata functions with bmalloc.
            unsafe { bfree(self.0.stack.cast()) };
        }
    }
}

/// `calldata_ptr`.
///
/// # Safety
/// `cd` must be a valid calldata.
pub unsafe fn get_ptr(cd: *const calldata_t, name: &CStr) -> *mut c_void {
    let mut out: *mut c_void = ptr::null_mut();
    // SAFETY: per the caller; writes exactly one pointer.
    unsafe {
        calldata_get_data(
            cd,
            name.as_ptr(),
            (&mut out as *mut *mut c_void).cast(),
            size_of::<*mut c_void>() as _,
        )
    };
    out
}

/// `calldata_int` (a `long long`), or `None` when the signal did not carry it.
///
/// # Safety
/// `cd` must be a valid calldata.
pub unsafe fn get_int(cd: *const calldata_t, name: &CStr) -> Option<i64> {
    let mut out: i64 = 0;
    // SAFETY: per the caller; writes exactly one long long.
    let found = unsafe {
        calldata_get_data(
            cd,
            name.as_ptr(),
            (&mut out as *mut i64).cast(),
            size_of::<i64>() as _,
        )
    };
    found.then_some(out)
}

/// The JSON text of an `obs_data_t` (OBS serialises it), parsed.
///
/// # Safety
/// `data` must be null or a valid `obs_data_t`.
pub unsafe fn obs_data_to_json(data: *mut obs_data_t) -> serde_json::Value {
    if data.is_null() {
        return serde_json::Value::Object(Default::default());
    }
    // SAFETY: valid object; the returned string belongs to it and lives until its next change.
    let text = unsafe {
        let p = obs_data_get_json(data);
        if p.is_null() {
            return serde_json::Value::Object(Default::default());
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

/// A new `obs_data_t` holding `value` (an object), or null if OBS cannot parse it.
/// The caller owns the reference.
pub fn json_to_obs_data(value: &serde_json::Value) -> *mut obs_data_t {
    let Ok(text) = CString::new(value.to_string()) else {
        return ptr::null_mut();
    };
    // SAFETY: a NUL-terminated JSON string.
    unsafe { obs_data_create_from_json(text.as_ptr()) }
}

/// Copies every field of `value` into the existing `target` (obs-websocket's response object).
///
/// # Safety
/// `target` must be a valid `obs_data_t`.
pub unsafe fn fill_obs_data(target: *mut obs_data_t, value: &serde_json::Value) {
    let data = json_to_obs_data(value);
    if !data.is_null() {
        // SAFETY: both objects are valid; `data` is ours to release.
        unsafe {
            obs_data_apply(target, data);
            obs_data_release(data);
        }
    }
}
