//! A DouyinBarrageGrab message (JSON envelope with a JSON document inside a string).
#![no_main]

use libfuzzer_sys::fuzz_target;
use aivs_ingest::barrage_grab::parse::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text);
    }
});
