//! The WebSocket URL's `signature` parameter, as the fake checks it.
//!
//! Douyin signs `X-MS-STUB` (an MD5 over fixed connection parameters) with the site's
//! obfuscated `frontierSign` JavaScript. The sidecar keeps that step pluggable: it computes the
//! stub itself and asks an external signer command for the signature. Tests give it the
//! `fake-douyin-signer` binary, which signs with [`sign`]; the fake server recomputes the stub
//! from the URL's `room_id` and `user_unique_id` and expects exactly that signature. So a
//! sidecar that builds the stub from the wrong fields, or does not pass the signer's answer on
//! untouched, is refused like the real service refuses it.

use md5::{Digest, Md5};

/// Shared between the fake signer and the fake server only; nothing real is signed with it.
const TEST_SECRET: &str = "fake-douyin-frontier-sign-v1";

/// The `webcast_sdk_version` the stub (and the URL) must carry.
pub const SDK_VERSION: &str = "1.0.14-beta.0";

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The string whose MD5 is `X-MS-STUB` (protocols.md §1).
pub fn stub_params(room_id: &str, user_unique_id: &str) -> String {
    format!(
        "live_id=1,aid=6383,version_code=180800,webcast_sdk_version={SDK_VERSION},\
         room_id={room_id},sub_room_id=,sub_channel_id=,did_rule=3,\
         user_unique_id={user_unique_id},device_platform=web,device_type=,ac=,identity=audience"
    )
}

/// `X-MS-STUB`: MD5 hex of [`stub_params`].
pub fn x_ms_stub(room_id: &str, user_unique_id: &str) -> String {
    md5_hex(stub_params(room_id, user_unique_id).as_bytes())
}

/// The stand-in for `frontierSign(X-MS-STUB)`: deterministic, different for every stub.
pub fn sign(x_ms_stub: &str) -> String {
    md5_hex(format!("{TEST_SECRET}|{x_ms_stub}").as_bytes())
}

/// The signature the server expects for a URL with these parameters.
pub fn expected_signature(room_id: &str, user_unique_id: &str) -> String {
    sign(&x_ms_stub(room_id, user_unique_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_is_the_md5_of_the_documented_parameter_list() {
        assert_eq!(
            stub_params("7", "42"),
            "live_id=1,aid=6383,version_code=180800,webcast_sdk_version=1.0.14-beta.0,\
             room_id=7,sub_room_id=,sub_channel_id=,did_rule=3,user_unique_id=42,\
             device_platform=web,device_type=,ac=,identity=audience"
        );
        // MD5 of the empty string, to pin the hex formatting.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(x_ms_stub("7", "42").len(), 32);
    }

    #[test]
    fn signatures_depend_on_room_and_user() {
        let a = expected_signature("7312345678901234567", "7300000000000000001");
        assert_eq!(
            a,
            sign(&x_ms_stub("7312345678901234567", "7300000000000000001"))
        );
        assert_ne!(
            a,
            expected_signature("7312345678901234568", "7300000000000000001")
        );
        assert_ne!(
            a,
            expected_signature("7312345678901234567", "7300000000000000002")
        );
    }
}
