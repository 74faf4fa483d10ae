//! End-to-end harness for the AI virtual streamer.
//!
//! - [`headless_obs`] runs a real OBS Studio under Xvfb with a private configuration and an
//!   authenticated obs-websocket, for tests and for the demo script (`headless-obs` binary).
//! - [`lipsync`] reads the avatar's mouth back out of screenshots and recorded frames.
//! - [`soak`] runs the real sidecar under a sustained room and samples it from the outside.
//! - [`http_stub`] is the little HTTP/1.1 the stand-ins of internet services (`fake_*`) speak.
//! - [`rtmp_server`] runs private nginx-rtmp servers; [`push_client`] drives the plugin's push
//!   targets and reads back what a server received; [`vendor_events`] collects vendor events.
//! - [`media`] inspects what OBS produced: recordings (via `ffmpeg`/`ffprobe`) and
//!   obs-websocket screenshots.
//!
//! OBS-based tests are only ever skipped on request ([`obs_tests_skipped`]): a machine without
//! OBS must fail loudly rather than pass without testing anything.

pub mod avatar_client;
pub mod browser;
pub mod fake_barrage_grab;
pub mod fake_bilibili;
pub mod fake_douyin;
pub mod fake_edge_tts;
pub mod fake_gpt_sovits;
pub mod fake_open_platform;
pub mod fake_openai;
// Xvfb, process groups and signals: the headless OBS runs on Unix only. The rest of the
// harness (stand-ins, probes, paths) builds everywhere.
#[cfg(unix)]
pub mod headless_obs;
pub mod http_stub;
pub mod lipsync;
pub mod media;
pub mod paths;
pub mod protobuf_writer;
pub mod push_client;
pub mod rtmp_server;
pub mod scene_fixtures;
pub mod sidecar;
pub mod soak;
pub mod vendor_events;

#[cfg(unix)]
pub use headless_obs::{
    disconnect, is_auth_failure, pid_alive, process_group_alive, stop_recording, HeadlessObs,
    ObsOptions, PluginFiles, StreamTarget, DEFAULT_SCENE,
};
pub use paths::{free_port, target_dir, workspace_root};

/// Environment variable that, set to `1`, skips every test that needs a real OBS.
pub const SKIP_OBS_ENV: &str = "E2E_SKIP_OBS";

/// `true` when `E2E_SKIP_OBS=1`; prints a notice so a skipped run is visible in the output.
///
/// Use at the top of OBS-based tests: `if e2e::obs_tests_skipped("my_test") { return Ok(()); }`.
pub fn obs_tests_skipped(test_name: &str) -> bool {
    let skipped = std::env::var_os(SKIP_OBS_ENV).is_some_and(|v| v == "1");
    if skipped {
        eprintln!("SKIPPED {test_name}: {SKIP_OBS_ENV}=1");
    }
    skipped
}

/// The shipped `scenes/` directory as a TOML string, for `[obs] scenes_dir` in a test's
/// config: the sidecar resolves relative paths against the config file's directory, and test
/// configs live in temporary directories.
pub fn shipped_scenes_toml() -> String {
    format!(
        "{:?}",
        workspace_root().join("scenes").display().to_string()
    )
}
