//! Logging into the OBS log file (`blog`), or to stderr when the code runs outside OBS.
//!
//! Every line is prefixed with `[ai-avatar]` so users can grep their OBS log. The pure-Rust
//! parts (playout, clock, renderer) log through here too; in unit tests and benches there is no
//! libobs to talk to, so [`set_obs_logging`] is only switched on by the module's load hook.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use obs_wrapper::obs_sys::{blog, LOG_ERROR, LOG_INFO, LOG_WARNING};

/// Set once libobs is known to be initialised (module load) and cleared on unload.
static OBS_LOGGING: AtomicBool = AtomicBool::new(false);

/// Severity of a log line, mapped onto OBS's `LOG_*` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

impl Level {
    fn obs_level(self) -> i32 {
        // The bindgen constants are `u32`-typed; the values (100/200/300) fit any int.
        let level = match self {
            Level::Error => LOG_ERROR,
            Level::Warning => LOG_WARNING,
            Level::Info => LOG_INFO,
        };
        level as i32
    }
}

/// Routes log lines to `blog` (true) or stderr (false).
pub fn set_obs_logging(enabled: bool) {
    OBS_LOGGING.store(enabled, Ordering::Release);
}

/// Writes one line. Never panics: the message may contain anything, including NUL bytes.
pub fn write(level: Level, message: &str) {
    if !OBS_LOGGING.load(Ordering::Acquire) {
        eprintln!("[ai-avatar] {level:?}: {message}");
        return;
    }
    // A NUL inside user-controlled text (a URL, a server's error message) would make
    // `CString::new` fail; replace it instead of dropping the whole line.
    let line = CString::new(format!("[ai-avatar] {message}").replace('\0', "\u{FFFD}"))
        .unwrap_or_default();
    // SAFETY: the format string is a static "%s" and the single vararg is a valid,
    // NUL-terminated C string that outlives the call. Passing the message as an argument
    // (not as the format) keeps a stray `%` in it harmless.
    unsafe { blog(level.obs_level(), c"%s".as_ptr(), line.as_ptr()) };
}

/// `log_info!("x = {}", x)`: an informational line.
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &format!($($arg)*)) };
}
/// `log_warn!(...)`: something went wrong but the source keeps working.
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warning, &format!($($arg)*)) };
}
/// `log_error!(...)`: a failure the user should know about.
macro_rules! log_error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &format!($($arg)*)) };
}

pub(crate) use {log_error, log_info, log_warn};
