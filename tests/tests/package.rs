//! The release archive, installed and run the way a streamer would: `scripts/package.sh`
//! packages the debug build, the archive is unpacked, OBS loads the plugin *from the archive*
//! (a private headless OBS, its per-user plugin folder), and the show runs with the archive's
//! `start` script from an unrelated working directory. What counts is asserted from outside:
//! OBS's log, and the ledger the packaged config put next to itself.
//!
//! Needs the debug plugin, sidecar and live2d-bridge built (`cargo build --workspace`, as
//! scripts/test.sh does), OBS and Xvfb.

#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::{HeadlessObs, ObsOptions, PluginFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linux_archive_installs_into_obs_and_runs_the_demo_from_anywhere() -> Result<()> {
    if e2e::obs_tests_skipped("the_linux_archive_installs_into_obs_and_runs_the_demo_from_anywhere")
    {
        return Ok(());
    }
    // The sidecar as the harness builds it (the other binaries come from `cargo build`).
    e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    let out = work.path().join("dist");
    let package = Command::new(e2e::workspace_root().join("scripts/package.sh"))
        .args(["--profile", "debug", "--no-build", "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", e2e::target_dir())
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/package.sh")?;
    ensure!(package.status.success(), "package.sh failed");
    let archive = String::from_utf8(package.stdout)?
        .lines()
        .last()
        .context("package.sh printed no archive path")?
        .to_string();
    ensure!(archive.ends_with(".tar.gz"), "not a tar.gz: {archive}");

    let unpacked = work.path().join("unpacked");
    std::fs::create_dir_all(&unpacked)?;
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&unpacked)
        .args(["-xzf", &archive])
        .status()?;
    ensure!(tar.success(), "tar could not extract {archive}");
    let root = std::fs::read_dir(&unpacked)?
        .next()
        .context("empty archive")??
        .path();
    let plugin = root.join("obs-plugins/ai-avatar");
    let sidecar_dir = root.join("sidecar");
    for file in [
        "bin/64bit/ai-avatar.so",
        "data/locale/en-US.ini",
        "../../sidecar/sidecar",
        "../../sidecar/live2d-bridge",
        "../../sidecar/config.toml",
        "../../sidecar/start",
        "../../sidecar/scenes/show.toml",
        "../../LICENSES/GPL-2.0.txt",
    ] {
        ensure!(plugin.join(file).is_file(), "the archive lacks {file}");
    }

    // The starter folder checks out from another working directory, and `init` never
    // overwrites it.
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    let check = Command::new(sidecar_dir.join("sidecar"))
        .current_dir(&elsewhere)
        .arg("check-config")
        .arg("--config")
        .arg(sidecar_dir.join("config.toml"))
        .output()?;
    ensure!(
        check.status.success(),
        "check-config failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let again = Command::new(sidecar_dir.join("sidecar"))
        .current_dir(&elsewhere)
        .arg("init")
        .arg(&sidecar_dir)
        .env("RUST_BACKTRACE", "0")
        .output()?;
    let refusal = String::from_utf8_lossy(&again.stderr);
    ensure!(
        !again.status.success() && refusal.contains("config.toml") && refusal.contains("--force"),
        "a second init did not refuse: {refusal}"
    );

    // OBS gets the archive's plugin folder, as a user copies it into
    // ~/.config/obs-studio/plugins/ (the harness installs it into its private HOME).
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles {
            so: plugin.join("bin/64bit/ai-avatar.so"),
            data_dir: plugin.join("data"),
        }),
        ..ObsOptions::default()
    })
    .await?;
    let log = obs.log_text();
    ensure!(
        log.contains("ai-avatar"),
        "OBS did not load the archive's plugin:\n{}",
        obs.diagnostics()
    );

    // Another working directory: every path must come from the config's own folder.
    let show_log = work.path().join("show.log");
    let mut show = Command::new(sidecar_dir.join("start"))
        .current_dir(&elsewhere)
        .args(["--exit-when-done", "--speed", "4"])
        .args(["--obs-port", &obs.ws_port().to_string()])
        .args(["--link-bind", &format!("127.0.0.1:{}", e2e::free_port()?)])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("RUST_LOG", "info,obws=warn")
        .stdout(std::fs::File::create(work.path().join("show.out"))?)
        .stderr(std::fs::File::create(&show_log)?)
        .spawn()
        .context("starting the packaged show")?;
    let deadline = Instant::now() + Duration::from_secs(360);
    loop {
        if let Some(status) = show.try_wait()? {
            ensure!(
                status.success(),
                "the packaged show exited with {status}:\n{}",
                tail(&show_log)
            );
            break;
        }
        if Instant::now() > deadline {
            e2e::sidecar::stop(&mut show)?;
            bail!(
                "the packaged show did not finish in time:\n{}",
                tail(&show_log)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let ledger = sidecar_dir.join("data/ledger.sqlite3");
    ensure!(
        ledger.is_file(),
        "no ledger next to the packaged config ({}):\n{}",
        ledger.display(),
        tail(&show_log)
    );
    ensure!(
        !elsewhere.join("data").exists(),
        "the show wrote into its working directory"
    );
    let thanks = e2e::sidecar::ledger_thanks(&ledger, "douyin");
    let aired = thanks.values().filter(|t| t.is_some()).count();
    ensure!(
        !thanks.is_empty() && aired > 0,
        "the avatar thanked no gift ({} recorded):\n{}",
        thanks.len(),
        tail(&show_log)
    );
    eprintln!(
        "packaged show: {aired} of {} gifts thanked on air",
        thanks.len()
    );
    obs.stop()?;
    Ok(())
}

fn tail(log: &Path) -> String {
    let text = e2e::sidecar::read_log(log);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
