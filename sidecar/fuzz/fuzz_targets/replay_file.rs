//! A replay / recording file (JSON Lines), as `sidecar replay` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use aivs_ingest::replay::Replay;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Replay::parse(text);
    }
});
