//! Push targets from the sidecar's side, end to end: the real sidecar binary with a `[[push]]`
//! target in its config runs a recorded room against a real headless OBS 29 with the freshly
//! built plugin and a private nginx-rtmp server. The sidecar hands the target to the plugin
//! when it connects (key from the environment), a trigger starts it (`start_stream`),
//! `sidecar stream list` sees it live while nginx receives H.264 + AAC, `sidecar stream stop`
//! stops it, the end-of-show summary reports it, and the key is in no log, output or reply.
//!
//! `E2E_DUMP_LOG=1` prints the sidecar's log at the end.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::push_client;
use e2e::rtmp_server::RtmpServer;
use e2e::{HeadlessObs, ObsOptions, PluginFiles};

const TOKEN: &str = "push-sidecar-e2e-link-token";
/// When the comment that starts the target comes, and when the room ends.
const START_MS: u64 = 5_000;
const END_MS: u64 = 40_000;

const TRIGGERS: &str = r#"
[[trigger]]
name = "go live on bili"
when.comment = { keywords = ["开推"] }
[[trigger.do]]
start_stream = "bili"
"#;

fn write_setup(dir: &Path, server: &str, obs_port: u16) -> Result<std::path::PathBuf> {
    let scenes = dir.join("scenes");
    std::fs::create_dir_all(&scenes)?;
    std::fs::copy(
        e2e::workspace_root().join("scenes/show.toml"),
        scenes.join("show.toml"),
    )?;
    std::fs::write(scenes.join("push.toml"), TRIGGERS)?;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[obs]\nport = {obs_port}\nscenes_dir = {scenes:?}\n\n\
             [[push]]\nname = \"bili\"\nserver = {server:?}\nkey_env = \"AIVS_E2E_PUSH_KEY\"\n\
             preset = \"bilibili\"\nwidth = 640\nheight = 360\nbitrate_kbps = 800\nwith_main = false\n",
            scenes = scenes.display().to_string(),
        ),
    )?;
    let lines = [
        serde_json::json!({"replay": {"version": 1, "room": "e2e", "platform": "douyin", "title": "push"}}),
        serde_json::json!({"at_ms": START_MS, "event": {"platform": "douyin", "msg_id": "c1",
            "user": {"id": "u1", "name": "小明", "level": 1}, "type": "comment", "text": "开推"}}),
        serde_json::json!({"at_ms": END_MS, "event": {"platform": "douyin", "msg_id": "l1",
            "user": {"id": "u2", "name": "小红", "level": 1}, "type": "like", "count": 1}}),
    ];
    std::fs::write(
        dir.join("room.jsonl"),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )?;
    Ok(config)
}

/// `sidecar stream ARGS… --config CONFIG`, with the OBS password and the key in its
/// environment as a streamer's shell would have them.
fn stream_cli(config: &Path, obs: &HeadlessObs, key: &str, args: &[&str]) -> Result<Output> {
    let out = Command::new(e2e::sidecar::binary()?)
        .current_dir(e2e::workspace_root())
        .arg("stream")
        .args(args)
        .arg("--config")
        .arg(config)
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("AIVS_E2E_PUSH_KEY", key)
        .env("RUST_LOG", "info,obws=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .context("running sidecar stream")?;
    ensure!(
        out.status.success(),
        "sidecar stream {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// The state `sidecar stream list` prints for `bili`.
fn listed_state(out: &Output) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("bili"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_hands_targets_over_a_trigger_starts_one_and_the_key_stays_secret() -> Result<()>
{
    if e2e::obs_tests_skipped("the_sidecar_hands_targets_over_a_trigger_starts_one") {
        return Ok(());
    }
    let binary = e2e::sidecar::binary()?;
    let key = format!("bili_live_{:016x}", rand::random::<u64>());
    let nginx = RtmpServer::start()?;
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    let work = tempfile::tempdir()?;
    let config = write_setup(work.path(), &nginx.server_url(), obs.ws_port())?;
    let log_path = work.path().join("sidecar.log");
    let stdout_path = work.path().join("sidecar.out");
    let mut sidecar = Command::new(binary)
        .current_dir(e2e::workspace_root())
        .args(["run", "--exit-when-done", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(work.path().join("room.jsonl"))
        .arg("--ledger")
        .arg(work.path().join("ledger.sqlite3"))
        .args(["--link-bind", &format!("127.0.0.1:{}", e2e::free_port()?)])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("AIVS_LINK_TOKEN", TOKEN)
        .env("AIVS_E2E_PUSH_KEY", &key)
        .env("RUST_LOG", "info,obws=warn")
        .env("NO_COLOR", "1")
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&log_path)?)
        .spawn()
        .context("starting the sidecar")?;
    let mut cli_outputs = Vec::new();

    let outcome = async {
        // Handed over when the sidecar connected; not started (with_main = false).
        tokio::time::sleep(Duration::from_millis(START_MS - 2_000)).await;
        let before = stream_cli(&config, &obs, &key, &["list"])?;
        let state = listed_state(&before);
        cli_outputs.push(before);
        ensure!(
            state.as_deref() == Some("idle"),
            "before the trigger: {state:?}"
        );
        // The comment's trigger starts it.
        let deadline = Instant::now() + Duration::from_secs(25);
        loop {
            let out = stream_cli(&config, &obs, &key, &["list"])?;
            let state = listed_state(&out);
            cli_outputs.push(out);
            if state.as_deref() == Some("live") {
                break;
            }
            if Instant::now() > deadline {
                bail!("never live after the trigger: {state:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let codecs = push_client::probe_codecs(&nginx.play_url(&key))?;
        eprintln!("nginx receives {codecs:?}");
        ensure!(
            codecs.iter().any(|c| c == "h264") && codecs.iter().any(|c| c == "aac"),
            "codecs {codecs:?}"
        );
        // Stopped from the command line.
        let stopped = stream_cli(&config, &obs, &key, &["stop", "bili"])?;
        cli_outputs.push(stopped);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = stream_cli(&config, &obs, &key, &["list"])?;
            let state = listed_state(&out);
            cli_outputs.push(out);
            if state.as_deref() == Some("idle") {
                break;
            }
            if Instant::now() > deadline {
                bail!("still {state:?} after stop");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }
    .await;

    let status = tokio::task::spawn_blocking(move || sidecar.wait()).await??;
    let log = std::fs::read_to_string(&log_path)?;
    let stdout = std::fs::read_to_string(&stdout_path)?;
    if std::env::var_os("E2E_DUMP_LOG").is_some() {
        eprintln!("--- sidecar log ---\n{log}\n--- stdout ---\n{stdout}");
    }
    outcome.map_err(|e| anyhow::anyhow!("{e:#}\n--- sidecar log ---\n{log}"))?;
    ensure!(status.success(), "sidecar exited with {status}:\n{log}");
    // The end-of-show summary names the target and its state.
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("push: bili"))
        .with_context(|| format!("no push line in the summary:\n{stdout}"))?;
    eprintln!("{summary}");
    // The sidecar logs each change it sees (it looks every 5 s, so a short live spell may fall
    // between two looks; the trigger's start is answered at once).
    ensure!(
        log.lines()
            .any(|l| l.contains("push target state") && l.contains("to=starting")),
        "the state changes were not logged:\n{log}"
    );
    // The key: nowhere but in the environment it came from.
    let obs_log = obs.log_text();
    let mut texts = vec![
        ("sidecar log", log.clone()),
        ("sidecar stdout", stdout.clone()),
        ("OBS log", obs_log),
    ];
    for out in &cli_outputs {
        texts.push(("stream stdout", String::from_utf8_lossy(&out.stdout).into()));
        texts.push(("stream stderr", String::from_utf8_lossy(&out.stderr).into()));
    }
    for (what, text) in &texts {
        ensure!(!text.contains(&key), "the stream key is in the {what}");
    }
    eprintln!("key absent from {} texts", texts.len());
    obs.stop()?;
    Ok(())
}
