//! A Douyin WebSocket message, whatever its bytes: PushFrame → gzip (capped) → Response →
//! messages → events must never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use aivs_ingest::douyin::frame::decode_frame_to_events;
use aivs_ingest::douyin::normalize::Normalizer;

fuzz_target!(|data: &[u8]| {
    // A small payload cap keeps each run fast; the cap logic is what is under test.
    let mut normalizer = Normalizer::with_limits(256 * 1024, 1024);
    let _ = decode_frame_to_events(data, &mut normalizer);
});
