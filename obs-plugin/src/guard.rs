//! Keeping Rust panics inside Rust.
//!
//! Unwinding out of an `extern "C"` function aborts the process, i.e. a bug in this plugin
//! would take the user's whole OBS (and their live stream) down. Every callback OBS calls into
//! and every background thread body therefore runs inside [`catch`].

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::log::log_error;

/// Runs `f`; if it panics, logs the panic and returns `fallback` instead.
///
/// `AssertUnwindSafe` is acceptable here because after a panic the callers either return a
/// neutral value to OBS or discard the state the closure was working on.
pub fn catch<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            log_error!(
                "internal error in {what}: {}",
                panic_message(payload.as_ref())
            );
            fallback
        }
    }
}

/// Best-effort text of a panic payload (`panic!` produces `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "unknown panic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback_value() {
        let value = catch("test", 7, || -> i32 { panic!("boom") });
        assert_eq!(value, 7);
        assert_eq!(catch("test", 0, || 3), 3);
    }
}
