//! The body of an Open Platform push (a JSON array), mapped item by item for every message
//! type, as the webhook does once the signature has been verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use aivs_ingest::open_platform::payload::{map_item, GiftNames, MsgType};

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return;
    };
    let names = GiftNames::default();
    for kind in [MsgType::Gift, MsgType::Comment, MsgType::Like, MsgType::Fansclub] {
        for item in &items {
            let _ = map_item(kind, item, &names);
        }
    }
});
