//! The virtual-anchor label (Douyin's 2023-05 rule), end to end through a real headless OBS 29
//! and the real sidecar binary:
//!
//! * every scene the sidecar manages (the shipped ones, and a scene file that forgot the
//!   label) has it, visible, on top, with the exact text;
//! * a label deleted from one scene, hidden in another and its text edited comes back at the
//!   next reload (a scene file edited) and again after a reconnection (OBS frozen past the
//!   request deadline, then thawed);
//! * `check-config` says which scenes it had to add the label to, and refuses `label = false`
//!   without a reason, naming the key and its line.
//!
//! `E2E_DUMP_LOG=1` prints the sidecar's log at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::{HeadlessObs, ObsOptions};
use nix::sys::signal::Signal;
use obws::requests::scene_items::{Id as ItemId, SetEnabled};

/// The exact text the rule asks for (not read from the sidecar: the test pins it).
const LABEL_TEXT: &str = "AI 虚拟主播 · 真人运营";
const LABEL: &str = "Virtual anchor label";
/// A scene file without the label.
const FORGETFUL: &str = r#"
[[scene]]
name = "Intermission"
[[scene.item]]
source = "Intermission backdrop"
kind = "color"
box = [0.0, 0.0, 1.0, 1.0]
settings = { color = 4278190335, width = 1920, height = 1080 }
"#;

/// `[[scene]]` names of the `*.toml` files directly in `dir` (what the sidecar manages).
fn scene_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "[[scene]]" {
                let name = lines.next().context("a name after [[scene]]")?;
                let name = name.split('"').nth(1).context("name = \"…\"")?;
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// What is wrong with the label in each scene (empty: every scene has it right).
async fn label_faults(client: &obws::Client, scenes: &[String]) -> Result<Vec<String>> {
    let mut faults = Vec::new();
    for scene in scenes {
        let items = match client.scene_items().list(scene).await {
            Ok(items) => items,
            Err(_) => {
                faults.push(format!("{scene}: no such scene"));
                continue;
            }
        };
        let Some(label) = items.iter().find(|i| i.source_name == LABEL) else {
            faults.push(format!("{scene}: no label"));
            continue;
        };
        if !client.scene_items().enabled(scene, label.id).await? {
            faults.push(format!("{scene}: label hidden"));
        }
        let top = items.iter().map(|i| i.index).max().unwrap_or(0);
        if label.index != top {
            faults.push(format!("{scene}: label at {} of {top}", label.index));
        }
    }
    let settings = client
        .inputs()
        .settings::<serde_json::Value>(LABEL)
        .await
        .map(|s| s.settings["text"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    if settings != LABEL_TEXT {
        faults.push(format!("label text {settings:?}"));
    }
    Ok(faults)
}

async fn wait_for_labels(client: &obws::Client, scenes: &[String], within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let faults = label_faults(client, scenes).await?;
        if faults.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("labels not right within {within:?}: {faults:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The streamer deletes the label from `delete_in`, hides it in `hide_in` and edits its text.
async fn tamper(client: &obws::Client, delete_in: &str, hide_in: &str) -> Result<()> {
    let id = |scene| ItemId {
        scene,
        source: LABEL,
        search_offset: None,
    };
    let gone = client.scene_items().id(id(delete_in)).await?;
    client.scene_items().remove(delete_in, gone).await?;
    let hidden = client.scene_items().id(id(hide_in)).await?;
    client
        .scene_items()
        .set_enabled(SetEnabled {
            scene: hide_in,
            item_id: hidden,
            enabled: false,
        })
        .await?;
    let settings = serde_json::json!({ "text": "just a streamer" });
    client
        .inputs()
        .set_settings(obws::requests::inputs::SetSettings {
            input: LABEL,
            settings: &settings,
            overlay: Some(true),
        })
        .await?;
    Ok(())
}

fn wait_for_log(log: &Path, needle: &str, from: usize, within: Duration) -> Result<usize> {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.get(from..).and_then(|t| t.find(needle)) {
            return Ok(from + at);
        }
        if Instant::now() > deadline {
            bail!("no {needle:?} in the sidecar log within {within:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Running(Child, PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        if std::env::var_os("E2E_DUMP_LOG").is_some() {
            eprintln!("{}", std::fs::read_to_string(&self.1).unwrap_or_default());
        }
        let _ = e2e::sidecar::stop(&mut self.0);
    }
}

fn check_config(config: &Path) -> Result<std::process::Output> {
    Ok(Command::new(e2e::sidecar::binary()?)
        .current_dir(e2e::workspace_root())
        .args(["check-config", "--config"])
        .arg(config)
        .output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_label_is_in_every_scene_and_comes_back() -> Result<()> {
    if e2e::obs_tests_skipped("the_label_is_in_every_scene_and_comes_back") {
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let scenes_dir = work.path().join("scenes");
    let status = Command::new("cp")
        .arg("-r")
        .arg(e2e::workspace_root().join("scenes"))
        .arg(&scenes_dir)
        .status()?;
    ensure!(status.success(), "copying the shipped scenes");
    let shipped = scene_names(&scenes_dir)?;
    ensure!(shipped.contains(&"Main".to_string()), "{shipped:?}");
    std::fs::write(scenes_dir.join("zz-forgetful.toml"), FORGETFUL)?;
    let scenes = scene_names(&scenes_dir)?;
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[obs]\nscenes_dir = {:?}\n",
            scenes_dir.display().to_string()
        ),
    )?;

    // check-config: the forgetful scene gets the label; `label = false` alone is refused.
    let out = check_config(&config)?;
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "check-config: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        said.contains("added to scenes without it: Intermission"),
        "check-config did not report the added label:\n{said}"
    );
    let off = work.path().join("off.toml");
    std::fs::write(&off, "[room]\nspeed = 1.0\n[compliance]\nlabel = false\n")?;
    let out = check_config(&off)?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "label = false without a reason was accepted"
    );
    ensure!(
        err.contains("off.toml:4:")
            && err.contains("compliance.label")
            && err.contains("label_off_reason"),
        "the error does not name the key and line:\n{err}"
    );
    std::fs::write(
        &off,
        "[compliance]\nlabel = false\nlabel_off_reason = \"测试：平台自带标识\"\n",
    )?;
    ensure!(
        check_config(&off)?.status.success(),
        "a reason makes it valid"
    );

    let obs = HeadlessObs::start(ObsOptions::default()).await?;
    let room = work.path().join("room.jsonl");
    std::fs::write(
        &room,
        "{\"replay\": {\"version\": 1, \"room\": \"e2e\", \"platform\": \"douyin\", \"title\": \"label\"}}\n",
    )?;
    let log = work.path().join("sidecar.log");
    let link_port = e2e::free_port()?;
    let child = Command::new(e2e::sidecar::binary()?)
        .current_dir(e2e::workspace_root())
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--replay")
        .arg(&room)
        .arg("--ledger")
        .arg(work.path().join("ledger.sqlite3"))
        .args(["--obs-port", &obs.ws_port().to_string()])
        .args(["--link-bind", &format!("127.0.0.1:{link_port}")])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("AIVS_LINK_TOKEN", "compliance-e2e-token")
        .env("RUST_LOG", "info,obws=warn")
        .stderr(std::fs::File::create(&log)?)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let sidecar = Running(child, log.clone());
    let client = obs.connect().await?;

    wait_for_labels(&client, &scenes, Duration::from_secs(30)).await?;
    let text = std::fs::read_to_string(&log)?;
    ensure!(
        text.contains("virtual-anchor label ensured in every scene"),
        "{text}"
    );
    ensure!(
        text.contains("Intermission") && text.contains("no virtual-anchor label"),
        "{text}"
    );

    // A reload (a scene file edited) brings it back.
    tamper(&client, "Main", "Intermission").await?;
    ensure!(!label_faults(&client, &scenes).await?.is_empty());
    std::fs::write(
        scenes_dir.join("zz-forgetful.toml"),
        format!("{FORGETFUL}\n# edited\n"),
    )?;
    wait_for_log(&log, "rules reloaded", 0, Duration::from_secs(10))?;
    wait_for_labels(&client, &scenes, Duration::from_secs(10))
        .await
        .context("after a reload")?;

    // So does a reconnection: OBS frozen past the request deadline, then thawed.
    tamper(&client, "Celebration", "Main").await?;
    e2e::disconnect(client).await;
    let before = std::fs::read_to_string(&log)?.len();
    obs.signal(Signal::SIGSTOP)?;
    let lost = wait_for_log(&log, "lost OBS connection", before, Duration::from_secs(15));
    obs.signal(Signal::SIGCONT)?;
    let lost = lost?;
    // The reconnection's ensure reports the items it put back.
    wait_for_log(&log, "OBS scenes ensured", lost, Duration::from_secs(20))?;
    let client = obs.connect().await?;
    wait_for_labels(&client, &scenes, Duration::from_secs(10))
        .await
        .context("after a reconnection")?;

    drop(sidecar);
    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}
