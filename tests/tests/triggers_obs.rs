//! The streamer's triggers, end to end through a real headless OBS 29: the real sidecar binary
//! runs a recorded room against scene files written for the test, and everything is asserted
//! from the outside, on OBS's own recording (frame by frame), over obs-websocket and in the
//! sidecar's log:
//!
//! * a trigger switches the program scene and returns on time (±1 frame of its N s);
//! * an effect source shows, then hides after its `secs`;
//! * a text source shows the templated text;
//! * a source no scene file describes and OBS lacks is reported with the trigger's file:line;
//! * a trigger's line airs (a stand-in avatar plays it on the link) and a step that waits for
//!   it runs only once it has been heard.
//!
//! `E2E_DUMP_LOG=1` prints the sidecar's log at the end.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::media::{self, RgbFrame};
use e2e::{HeadlessObs, ObsOptions};

const FPS: u32 = 30;
const TOKEN: &str = "triggers-e2e-link-token";
/// `return_after_secs` and `secs` of the test's triggers.
const HOLD_SECS: f64 = 2.0;
const FLASH_SECS: f64 = 1.0;
/// When the room's comments come (after OBS has been set up).
const FIRST_COMMENT_MS: u64 = 7_000;

/// The test's own triggers, next to the shipped `show.toml`. Spotlight is a full-canvas green;
/// Flash a red box in the Main scene's top-left corner, hidden until the trigger shows it.
const TRIGGERS: &str = r#"
[[scene]]
name = "Spotlight"
[[scene.item]]
source = "Spotlight backdrop"
kind = "color"
box = [0.0, 0.0, 1.0, 1.0]
settings = { color = 4278255360, width = 1920, height = 1080 } # ABGR 0xFF00FF00: green

[[scene]]
name = "Effects"
[[scene.item]]
source = "Banner"
kind = "text"
settings = { text = "", font = { face = "cjk", size = 32, style = "Regular", flags = 0 } }

[[trigger]]
name = "spotlight"
when.comment = { keywords = ["聚光灯"] }
[[trigger.do]]
scene = "Spotlight"
return_after_secs = 2

[[trigger]]
name = "flash"
when.comment = { keywords = ["闪一下"] }
[[trigger.do]]
show_source = "Flash"
in_scene = "Main"
secs = 1
[[trigger.do]]
set_text = "Banner"
text = "{user}说：{text}"

[[trigger]]
name = "speaks"
when.comment = { keywords = ["说句话"] }
[[trigger.do]]
speak = "好的{user}，这就说"
wait_for_line = true
[[trigger.do]]
set_text = "Banner"
text = "说完了"

[[trigger]]
name = "broken reference"
when.follow = true
[[trigger.do]]
show_source = "Nowhere to be seen"
secs = 1
"#;

/// The shipped scenes with the Flash box in Main.
fn show_with_flash() -> Result<String> {
    e2e::scene_fixtures::shipped_show_with_main_items(e2e::scene_fixtures::FLASH_ITEM)
}

/// Lines (1-based) where the log may place the broken step: its `[[trigger.do]]` header or
/// its `show_source` key.
fn nowhere_lines() -> [usize; 2] {
    let at = TRIGGERS
        .lines()
        .position(|l| l.contains("Nowhere to be seen"))
        .expect("in the text")
        + 1;
    [at - 1, at]
}

fn room(dir: &Path) -> Result<std::path::PathBuf> {
    let lines = [
        serde_json::json!({"replay": {"version": 1, "room": "e2e", "platform": "douyin", "title": "triggers"}}),
        serde_json::json!({"at_ms": FIRST_COMMENT_MS, "event": {"platform": "douyin", "msg_id": "c1",
            "user": {"id": "u1", "name": "小明", "level": 1}, "type": "comment", "text": "闪一下"}}),
        serde_json::json!({"at_ms": FIRST_COMMENT_MS + 2_500, "event": {"platform": "douyin", "msg_id": "c2",
            "user": {"id": "u2", "name": "小红", "level": 1}, "type": "comment", "text": "聚光灯"}}),
        serde_json::json!({"at_ms": FIRST_COMMENT_MS + 5_000, "event": {"platform": "douyin", "msg_id": "c3",
            "user": {"id": "u3", "name": "阿杰", "level": 1}, "type": "comment", "text": "说句话"}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let path = dir.join("room.jsonl");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn is_green(f: &RgbFrame) -> bool {
    let [r, g, b] = f.mean_rgb();
    g > 200.0 && r < 60.0 && b < 60.0
}

fn flash_shown(f: &RgbFrame) -> bool {
    // The Flash box covers the top-left quarter-by-quarter of the canvas.
    let [r, g, b] = f.pixel(f.width / 10, f.height / 10);
    r > 200 && g < 60 && b < 60
}

/// First and last index of the longest run of frames where `pred` holds.
fn run_of(frames: &[RgbFrame], pred: impl Fn(&RgbFrame) -> bool) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = None;
    for (i, f) in frames.iter().enumerate() {
        match (pred(f), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if best.is_none_or(|(a, b)| i - s > b - a + 1) {
                    best = Some((s, i - 1));
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        let end = frames.len() - 1;
        if best.is_none_or(|(a, b)| end - s > b - a) {
            best = Some((s, end));
        }
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_switch_show_and_write_in_real_obs_on_time() -> Result<()> {
    if e2e::obs_tests_skipped("triggers_switch_show_and_write_in_real_obs_on_time") {
        return Ok(());
    }
    let binary = e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    let scenes = work.path().join("scenes");
    std::fs::create_dir(&scenes)?;
    std::fs::write(scenes.join("show.toml"), show_with_flash()?)?;
    std::fs::write(scenes.join("test.toml"), TRIGGERS)?;
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[obs]\nscenes_dir = {:?}\n", scenes.display().to_string()),
    )?;
    let replay = room(work.path())?;

    let obs = HeadlessObs::start(ObsOptions {
        fps: FPS,
        recording_dir: Some(work.path().join("recordings")),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    // A cut, so the frames show exactly when each switch happened.
    client.transitions().set_current("Cut").await?;
    client.recording().start().await?;

    let log_path = work.path().join("sidecar.log");
    let link_port = e2e::free_port()?;
    let mut sidecar = Command::new(binary)
        .current_dir(e2e::workspace_root())
        .args(["run", "--config"])
        .arg(&config)
        .arg("--replay")
        .arg(&replay)
        .arg("--ledger")
        .arg(work.path().join("ledger.sqlite3"))
        .args(["--obs-port", &obs.ws_port().to_string()])
        .args(["--link-bind", &format!("127.0.0.1:{link_port}")])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("AIVS_LINK_TOKEN", TOKEN)
        .env("RUST_LOG", "info,obws=warn")
        .stderr(File::create(&log_path)?)
        .spawn()
        .context("starting the sidecar")?;
    // The avatar's part on the link, heard as fast as the audio comes: it reports each line
    // played to the end, which is what a step waiting for its line waits for.
    let avatar = tokio::spawn(e2e::avatar_client::play_avatar(
        link_port,
        TOKEN,
        Duration::from_secs(60),
        |heard| {
            heard
                .iter()
                .any(|h| h.text.contains("这就说") && h.finished)
        },
    ));
    // The first two comments, the 2 s hold and some margin: the banner shows the flash's text.
    tokio::time::sleep(Duration::from_millis(FIRST_COMMENT_MS + 4_500)).await;
    let banner: serde_json::Value = client.inputs().settings("Banner").await?.settings;
    // The third comment's line, heard; then the step after it.
    let heard = tokio::time::timeout(Duration::from_secs(40), avatar).await???;
    let said = heard
        .iter()
        .find(|h| h.text.contains("这就说"))
        .context("never said")?;
    ensure!(said.text == "好的阿杰，这就说", "said {:?}", said.text);
    let banner_text = || async {
        let settings = client
            .inputs()
            .settings::<serde_json::Value>("Banner")
            .await?;
        anyhow::Ok(settings.settings)
    };
    let mut after = banner_text().await?;
    for _ in 0..50 {
        if after["text"] == "说完了" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = banner_text().await?;
    }
    let recording = e2e::headless_obs::stop_recording(&client, Duration::from_secs(20)).await?;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path)?;
    if std::env::var_os("E2E_DUMP_LOG").is_some() {
        eprintln!("--- sidecar log ---\n{log}");
    }

    // The text source shows the template filled with the viewer and their comment.
    ensure!(
        banner["text"] == "小明说：闪一下",
        "banner text: {banner}\n{log}"
    );

    // The missing source is reported naming the trigger, its file and line.
    let at = nowhere_lines().map(|n| format!("test.toml:{n}"));
    let reported = log.lines().any(|l| {
        l.contains("broken reference")
            && at.iter().any(|a| l.contains(a.as_str()))
            && l.contains("Nowhere to be seen")
    });
    ensure!(
        reported,
        "no report of the missing source at {at:?}:\n{log}"
    );

    let frames = media::extract_frames_rgb(&recording, f64::from(FPS), None)?;
    ensure!(frames.len() > 200, "only {} frames recorded", frames.len());
    let frame = 1.0 / f64::from(FPS);

    // The scene switch and its return, to the frame.
    let (first, last) = run_of(&frames, is_green).context("the program never showed Spotlight")?;
    let held = (last - first + 1) as f64 * frame;
    eprintln!("Spotlight on program for {held:.3} s (frames {first}..={last})");
    ensure!(
        (held - HOLD_SECS).abs() <= frame + 0.001,
        "Spotlight held {held:.3} s, not {HOLD_SECS} s ± 1 frame"
    );
    ensure!(
        frames[last + 1..].iter().all(|f| !is_green(f)),
        "the program went back to Spotlight"
    );

    // The effect source shows, then hides by itself.
    let (first, last) = run_of(&frames, flash_shown).context("the Flash source never showed")?;
    let shown = (last - first + 1) as f64 * frame;
    eprintln!("Flash shown for {shown:.3} s (frames {first}..={last})");
    ensure!(
        (shown - FLASH_SECS).abs() <= frame + 0.001,
        "Flash shown {shown:.3} s, not {FLASH_SECS} s ± 1 frame"
    );
    // The flash came first (its comment is earlier), and was over before the switch.
    ensure!(
        last < run_of(&frames, is_green).unwrap().0,
        "flash and spotlight out of order"
    );
    obs.stop()?;
    Ok(())
}
