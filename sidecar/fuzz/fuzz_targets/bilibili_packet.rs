//! A Bilibili WebSocket message: headers, zlib/brotli bodies with nested packets, then each
//! command's JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use aivs_ingest::bilibili::commands::CommandDecoder;
use aivs_ingest::bilibili::packet::{decode_message, Limits};

fuzz_target!(|data: &[u8]| {
    let decoded = decode_message(data, &Limits::default());
    let mut commands = CommandDecoder::new();
    for packet in &decoded.packets {
        let _ = commands.command(&packet.body);
        let _ = commands.heartbeat_reply(&packet.body);
    }
    // Raw bytes straight into the command decoder too (JSON with odd shapes).
    let _ = commands.command(data);
});
