//! Stand-in for Douyin's `frontierSign`, for end-to-end tests against `FakeDouyin`.
//!
//! The sidecar's Douyin adapter runs its signer command once per connection, writes one JSON
//! line `{"x_ms_stub": "...", "params": "...", "room_id": "...", "user_unique_id": "..."}` to
//! its stdin and reads the signature from the first line of its stdout. This program answers
//! with the signature the fake server expects (`e2e::fake_douyin::signature::sign`).
//!
//! It first checks that `x_ms_stub` really is the MD5 of the documented parameter list for the
//! given room and user, and fails loudly (exit 2, reason on stderr) when it is not: then the
//! adapter's stub is wrong, which the real signer would never tell you.
//!
//! `--wrong` prints a well-formed but wrong signature, to test how the sidecar reports a
//! signature the platform refuses.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use e2e::fake_douyin::signature;

fn main() -> ExitCode {
    let wrong = std::env::args().skip(1).any(|a| a == "--wrong");
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("fake-douyin-signer: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    let request: serde_json::Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fake-douyin-signer: stdin is not one JSON line ({e}): {line:?}");
            return ExitCode::from(2);
        }
    };
    let field = |k: &str| request.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let (stub, room_id, user) = (
        field("x_ms_stub"),
        field("room_id"),
        field("user_unique_id"),
    );
    let expected = signature::x_ms_stub(room_id, user);
    if stub != expected {
        eprintln!(
            "fake-douyin-signer: x_ms_stub {stub:?} is not MD5({:?}) = {expected:?}",
            signature::stub_params(room_id, user)
        );
        return ExitCode::from(2);
    }
    if !field("params").is_empty() && field("params") != signature::stub_params(room_id, user) {
        eprintln!(
            "fake-douyin-signer: params {:?} differ from the documented list",
            field("params")
        );
        return ExitCode::from(2);
    }
    let signature = if wrong {
        // Same shape, different value.
        signature::sign(&format!("not-{stub}"))
    } else {
        signature::sign(stub)
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{signature}")
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
