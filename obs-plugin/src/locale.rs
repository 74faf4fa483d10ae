//! Translations: the C plugin macro `OBS_MODULE_USE_DEFAULT_LOCALE`, in Rust.
//!
//! OBS calls `obs_module_set_locale` right after loading the module (and again if the user
//! changes the UI language), and `obs_module_free_locale` on unload. Strings come from
//! `data/locale/<locale>.ini`, with `en-US.ini` as the fallback for missing keys.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::sync::Mutex;

use obs_wrapper::obs_sys::{
    lookup_t, obs_module_load_locale, text_lookup_destroy, text_lookup_getstr,
};

use crate::guard;

/// The loaded lookup table. Raw pointer wrapped so it can live in a `static`.
struct Lookup(*mut lookup_t);

// SAFETY: libobs' text lookup is immutable after loading and only read through
// `text_lookup_getstr`; the pointer itself is guarded by the mutex below.
unsafe impl Send for Lookup {}

static LOOKUP: Mutex<Option<Lookup>> = Mutex::new(None);

/// # Safety
/// Called by OBS with a NUL-terminated locale name (e.g. `zh-CN`), after `obs_module_set_pointer`.
#[no_mangle]
pub unsafe extern "C" fn obs_module_set_locale(locale: *const c_char) {
    guard::catch("obs_module_set_locale", (), || {
        let mut lookup = LOOKUP.lock().unwrap_or_else(|e| e.into_inner());
        free(&mut lookup);
        // SAFETY: `obs_current_module` is valid once OBS has called `obs_module_set_pointer`,
        // which it always does before any locale call; the strings are valid C strings.
        let table = unsafe {
            obs_module_load_locale(crate::ffi::obs_current_module(), c"en-US".as_ptr(), locale)
        };
        *lookup = (!table.is_null()).then_some(Lookup(table));
    });
}

/// # Safety
/// Called by OBS when the module is unloaded.
#[no_mangle]
pub unsafe extern "C" fn obs_module_free_locale() {
    guard::catch("obs_module_free_locale", (), || {
        free(&mut LOOKUP.lock().unwrap_or_else(|e| e.into_inner()));
    });
}

fn free(lookup: &mut Option<Lookup>) {
    if let Some(Lookup(table)) = lookup.take() {
        // SAFETY: the table came from `obs_module_load_locale` and is dropped exactly once.
        unsafe { text_lookup_destroy(table) };
    }
}

/// The translated string for `key`, as a pointer owned by the lookup table (valid until the
/// module unloads), or `key` itself if there is no translation, like `obs_module_text`.
/// Meant for callbacks such as `get_name` whose result OBS does not copy.
pub fn text_ptr(key: &'static CStr) -> *const c_char {
    let lookup = LOOKUP.lock().unwrap_or_else(|e| e.into_inner());
    lookup_in(lookup.as_ref(), key)
}

/// The translated string for `key`, copied (for APIs that copy anyway, e.g. properties).
pub fn text(key: &'static CStr) -> CString {
    // Hold the lock while copying so a concurrent `obs_module_set_locale` cannot free the
    // table under us.
    let lookup = LOOKUP.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: `lookup_in` returns `key` or a NUL-terminated string owned by the locked table.
    unsafe { CStr::from_ptr(lookup_in(lookup.as_ref(), key)) }.to_owned()
}

fn lookup_in(lookup: Option<&Lookup>, key: &'static CStr) -> *const c_char {
    let Some(Lookup(table)) = lookup else {
        return key.as_ptr();
    };
    let mut out: *const c_char = std::ptr::null();
    // SAFETY: `table` is a live lookup table, `key` a valid C string, `out` a valid out-pointer.
    let found = unsafe { text_lookup_getstr(*table, key.as_ptr(), &mut out) };
    if found && !out.is_null() {
        out
    } else {
        key.as_ptr()
    }
}
