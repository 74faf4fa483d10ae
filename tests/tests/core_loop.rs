//! The core loop, end to end, on real parts: a private headless OBS 29 with the freshly built
//! AI Avatar plugin, the sidecar binary on a short recorded room, espeak-ng speech, SQLite.
//! Everything is asserted from the outside — obs-websocket screenshots and state, the recording
//! OBS wrote, and the ledger file — never from the sidecar's own account of what it did.
//!
//! Needs `cargo build --workspace` first (scripts/test.sh does it): the test loads
//! `target/debug/libai_avatar.so` into OBS and runs `target/debug/sidecar`.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use e2e::lipsync::{correlation, frame_mouth_openness, item_canvas_box, level_at, mouth_openness};
use e2e::media;
use e2e::{HeadlessObs, ObsOptions, PluginFiles};
use obws::requests::sources::TakeScreenshot;

const AVATAR: &str = "AI Avatar";
const MAIN: &str = "Main";
const CELEBRATION: &str = "Celebration";
const GIFT_TEXT: &str = "Latest gift";
const REPLAY: &str = "tests/data/short-room.jsonl";
/// One new gift, played by a second sidecar run against the same OBS and ledger.
const RESTART_REPLAY: &str = "tests/data/restart-room.jsonl";
/// The big gift of the short room (tier 4) and when it arrives in the replay.
const BIG_GIFT: &str = "嘉年华";
const BIG_GIFT_AT_MS: u64 = 18_600;

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Sample {
    at_ms: u64,
    scene: String,
    mouth: f32,
    gift_text: String,
}

#[derive(Debug)]
struct Aired {
    start_ms: u64,
    end_ms: u64,
    text: String,
}

/// The sidecar on `replay` against this OBS and `ledger`, until the replay has aired.
fn sidecar_command(replay: &str, ledger: &Path, obs: &HeadlessObs) -> Result<Command> {
    let mut command = Command::new(sidecar_binary()?);
    command
        .current_dir(e2e::workspace_root())
        .args([
            "run",
            "--config",
            "config/default.toml",
            "--replay",
            replay,
            "--exit-when-done",
        ])
        .args([
            "--ledger",
            ledger.to_str().context("ledger path is not UTF-8")?,
        ])
        .args(["--obs-port", &obs.ws_port().to_string()])
        .args(["--link-bind", &format!("127.0.0.1:{}", e2e::free_port()?)])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("RUST_LOG", "info,obws=warn");
    Ok(command)
}

fn sidecar_binary() -> Result<PathBuf> {
    let path = e2e::target_dir().join("debug/sidecar");
    ensure!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_room_drives_avatar_voice_and_scenes_in_real_obs() -> Result<()> {
    if e2e::obs_tests_skipped("replayed_room_drives_avatar_voice_and_scenes_in_real_obs") {
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let rec_dir = work.path().join("recordings");
    std::fs::create_dir_all(&rec_dir)?;
    let obs = HeadlessObs::start(ObsOptions {
        recording_dir: Some(rec_dir.clone()),
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    ensure!(
        obs.log_text().contains("ai-avatar"),
        "plugin not loaded:\n{}",
        obs.diagnostics()
    );
    let client = obs.connect().await?;

    let ledger = work.path().join("ledger.sqlite3");
    let started_ms = wall_ms();
    let mut sidecar = sidecar_command(REPLAY, &ledger, &obs)?
        .arg("--record")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the sidecar")?;

    // Watch OBS from the outside while the show runs.
    let mut samples = Vec::new();
    let mut recording_started_ms = None;
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(status) = sidecar.try_wait()? {
            ensure!(status.success(), "sidecar exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = sidecar.kill();
            bail!("the show did not finish in time:\n{}", obs.diagnostics());
        }
        if let Ok(sample) = observe(&client).await {
            samples.push(sample);
        }
        if recording_started_ms.is_none() {
            if let Ok(status) = client.recording().status().await {
                if status.active {
                    // Wall time of the recording's first frame, from OBS's own duration counter.
                    recording_started_ms =
                        Some(wall_ms() - status.duration.whole_milliseconds() as u64);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let output = sidecar.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let log = String::from_utf8_lossy(&output.stderr).to_string();
    let recording = PathBuf::from(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("recording: "))
            .context(format!("no recording path:\n{stdout}\n{log}"))?,
    );
    // The sidecar asked OBS to stop; wait until the file is finalised.
    wait_for_finished_file(&client, &recording).await?;
    let aired = read_airtime(&ledger)?;
    ensure!(aired.len() >= 4, "too few lines aired: {aired:?}\n{log}");
    let first_speech = aired.iter().map(|a| a.start_ms).min().unwrap();

    // 1. The avatar is visible and drawn by the plugin.
    let shot = avatar_screenshot(&client).await?;
    let opaque =
        shot.pixels().filter(|p| p[3] > 200).count() as f32 / (shot.width() * shot.height()) as f32;
    ensure!(
        opaque > 0.2,
        "avatar barely visible: {:.0}% opaque",
        opaque * 100.0
    );

    // 2. The mouth is closed in silence and opens while the avatar speaks.
    let before_speech: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_ms + 300 < first_speech)
        .collect();
    ensure!(
        !before_speech.is_empty(),
        "no screenshot before the first line"
    );
    ensure!(
        before_speech.iter().all(|s| s.mouth < 0.01),
        "mouth open in silence"
    );
    let speaking = |s: &&Sample| {
        aired
            .iter()
            .any(|a| s.at_ms > a.start_ms + 400 && s.at_ms + 400 < a.end_ms)
    };
    let during: Vec<f32> = samples.iter().filter(speaking).map(|s| s.mouth).collect();
    let open_share =
        during.iter().filter(|m| **m > 0.05).count() as f32 / during.len().max(1) as f32;
    ensure!(
        during.len() >= 5 && open_share > 0.4,
        "mouth rarely open while speaking: {open_share:.2} of {during:?}"
    );

    // 3. The big gift switches the program to Celebration, which shows that gift, then returns.
    let big_gift_ms = started_ms + BIG_GIFT_AT_MS;
    let first_celebration = samples
        .iter()
        .position(|s| s.scene == CELEBRATION)
        .context("never celebrated")?;
    ensure!(
        samples[first_celebration].at_ms + 500 >= big_gift_ms,
        "celebrated before the big gift"
    );
    ensure!(
        samples[first_celebration..]
            .iter()
            .any(|s| s.scene == CELEBRATION && s.gift_text.contains(BIG_GIFT)),
        "latest-gift text never showed {BIG_GIFT}"
    );
    ensure!(
        samples[first_celebration..].iter().any(|s| s.scene == MAIN),
        "never returned to {MAIN}"
    );
    let first_main = samples
        .iter()
        .position(|s| s.scene == MAIN)
        .context("never on the main scene")?;
    ensure!(
        samples[first_main].at_ms < first_speech,
        "the show spoke before switching to {MAIN}"
    );
    ensure!(
        samples[first_main..first_celebration]
            .iter()
            .all(|s| s.scene == MAIN),
        "left {MAIN} before the big gift"
    );

    // 4. The recording's audio carries the voice exactly where lines were aired.
    let rec_start = recording_started_ms.context("recording never became active")?;
    check_recording_audio(&recording, rec_start, &aired)?;
    // 5. In the recording, the mouth moves with the voice (lip-sync on the program output).
    check_recording_lipsync(&client, &recording, rec_start, &aired).await?;

    // 6. The ledger holds exactly the replay's gifts, each once, each thanked.
    check_ledger(&ledger)?;
    ensure!(
        !log.contains(obs.ws_password()),
        "the OBS password leaked into the log"
    );

    // 7. A restarted sidecar against the same OBS and ledger: scenes are already in place (no
    //    duplicate scene, input or item), old gifts are not thanked again, the new one is.
    let layout_before = scene_layout(&client).await?;
    let gift_lines_before = count_gift_lines(&ledger)?;
    let rerun = sidecar_command(RESTART_REPLAY, &ledger, &obs)?.output()?;
    let rerun_log = String::from_utf8_lossy(&rerun.stderr);
    ensure!(rerun.status.success(), "second run failed:\n{rerun_log}");
    ensure!(
        rerun_log.contains("OBS scenes already in place"),
        "second run changed the scenes:\n{rerun_log}"
    );
    ensure!(
        scene_layout(&client).await? == layout_before,
        "second run altered the scene layout"
    );
    ensure!(
        count_gift_lines(&ledger)? == gift_lines_before + 1,
        "gifts of the first run were thanked again, or the new one was not"
    );
    e2e::disconnect(client).await;
    obs.stop()?;
    Ok(())
}

/// Every scene with its items' source names, and every input name: the shape a duplicate
/// would show up in.
async fn scene_layout(client: &obws::Client) -> Result<Vec<String>> {
    let mut layout = Vec::new();
    for scene in client.scenes().list().await?.scenes {
        for item in client.scene_items().list(&scene.name).await? {
            layout.push(format!("{}/{}", scene.name, item.source_name));
        }
    }
    layout.extend(
        client
            .inputs()
            .list(None)
            .await?
            .into_iter()
            .map(|i| format!("input:{}", i.name)),
    );
    layout.sort();
    let mut unique = layout.clone();
    unique.dedup();
    ensure!(unique == layout, "duplicates in OBS: {layout:?}");
    Ok(layout)
}

fn count_gift_lines(ledger: &Path) -> Result<i64> {
    let conn = rusqlite::Connection::open(ledger)?;
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM airtime WHERE kind = 'gift' AND interrupted = 0",
        [],
        |r| r.get(0),
    )?)
}

async fn observe(client: &obws::Client) -> Result<Sample> {
    let scene = client.scenes().current_program_scene().await?;
    let shot = avatar_screenshot(client).await?;
    let (w, h) = shot.dimensions();
    let mouth = mouth_openness(
        |x, y| {
            let p = shot.get_pixel(x, y).0;
            [p[0], p[1], p[2]]
        },
        w,
        h,
    );
    let settings = client
        .inputs()
        .settings::<serde_json::Value>(GIFT_TEXT)
        .await?;
    let gift_text = settings.settings["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Sample {
        at_ms: wall_ms(),
        scene,
        mouth,
        gift_text,
    })
}

async fn avatar_screenshot(client: &obws::Client) -> Result<image::RgbaImage> {
    let png = client
        .sources()
        .take_screenshot(TakeScreenshot {
            source: AVATAR,
            format: "png",
            width: Some(256),
            height: Some(256),
            compression_quality: None,
        })
        .await?;
    media::decode_png_base64(&png)
}

async fn wait_for_finished_file(client: &obws::Client, path: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .recording()
        .status()
        .await
        .map(|s| s.active)
        .unwrap_or(false)
        || media::probe_duration(path).is_err()
    {
        ensure!(
            Instant::now() < deadline,
            "recording {} never finalised",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn read_airtime(ledger: &Path) -> Result<Vec<Aired>> {
    let conn = rusqlite::Connection::open(ledger)?;
    let mut stmt =
        conn.prepare("SELECT started_ms, ended_ms, text FROM airtime ORDER BY started_ms")?;
    let rows = stmt.query_map([], |r| {
        Ok(Aired {
            start_ms: r.get::<_, i64>(0)? as u64,
            end_ms: r.get::<_, i64>(1)? as u64,
            text: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Voice where lines aired, silence elsewhere. The airtime log is wall-clock; the recording's
/// zero is `rec_start` (from OBS's duration counter, ±one poll). The remaining fixed offset
/// (audio buffering, encoder delay) is found by a small search and must itself be small.
fn check_recording_audio(recording: &Path, rec_start: u64, aired: &[Aired]) -> Result<()> {
    const RATE: u32 = 16_000;
    const WIN: f64 = 0.05;
    let audio = media::extract_audio_mono_f32(recording, RATE)?;
    let levels = media::rms_windows(&audio, RATE, WIN);
    let win_ms = (WIN * 1000.0) as i64;
    let expected = |t_ms: i64| {
        aired.iter().any(|a| {
            t_ms >= (a.start_ms as i64 - rec_start as i64)
                && t_ms < (a.end_ms as i64 - rec_start as i64)
        })
    };
    let voiced = |db: f32| db > -45.0;
    let score = |offset: i64| -> usize {
        levels
            .iter()
            .enumerate()
            .filter(|(i, db)| expected(*i as i64 * win_ms - offset) == voiced(**db))
            .count()
    };
    let offset = (-500..=1000).step_by(10).max_by_key(|o| score(*o)).unwrap();
    eprintln!("recording audio aligned at {offset} ms after the airtime log");
    for a in aired {
        let (s, e) = (
            (a.start_ms - rec_start) as i64 + offset,
            (a.end_ms - rec_start) as i64 + offset,
        );
        let idx = |t: i64| (t.max(0) / win_ms) as usize;
        let span = &levels[idx(s).min(levels.len())..idx(e).min(levels.len())];
        let v = span.iter().filter(|db| voiced(**db)).count();
        eprintln!(
            "  aired {s:>6}..{e:>6} ms  voiced {v:>3}/{:<3} {}",
            span.len(),
            a.text
        );
    }
    let margin = 250;
    let (mut in_speech, mut in_speech_voiced, mut in_gap, mut in_gap_silent) = (0, 0, 0, 0);
    for (i, db) in levels.iter().enumerate() {
        let t = i as i64 * win_ms - offset;
        let near_edge = aired.iter().any(|a| {
            let (s, e) = (
                a.start_ms as i64 - rec_start as i64,
                a.end_ms as i64 - rec_start as i64,
            );
            (t - s).abs() < margin || (t - e).abs() < margin
        });
        if near_edge {
            continue;
        }
        if expected(t) {
            in_speech += 1;
            in_speech_voiced += voiced(*db) as usize;
        } else {
            in_gap += 1;
            in_gap_silent += (*db < -55.0) as usize;
        }
    }
    eprintln!("speech windows voiced {in_speech_voiced}/{in_speech}, gap windows silent {in_gap_silent}/{in_gap}");
    ensure!(
        offset.abs() <= 600,
        "audio {offset} ms away from when it was scheduled"
    );
    ensure!(
        in_speech > 40 && in_speech_voiced as f32 / in_speech as f32 > 0.6,
        "voice missing in the recording"
    );
    ensure!(
        in_gap > 20 && in_gap_silent as f32 / in_gap as f32 > 0.95,
        "sound where nothing was aired"
    );
    Ok(())
}

/// Extracts the avatar's mouth from the recorded program video and checks it opens with the
/// recorded voice (correlation of mouth openness with audio level across the Main-scene part).
async fn check_recording_lipsync(
    client: &obws::Client,
    recording: &Path,
    rec_start: u64,
    aired: &[Aired],
) -> Result<()> {
    let crop = item_canvas_box(client, MAIN, AVATAR).await?;
    let frames = media::extract_frames_rgb(recording, 30.0, Some(crop))?;
    const RATE: u32 = 16_000;
    let audio = media::extract_audio_mono_f32(recording, RATE)?;
    // Only the part before the celebration: there the avatar sits elsewhere on the canvas.
    let celebration_ms = aired
        .iter()
        .find(|a| a.text.contains(BIG_GIFT))
        .map_or(u64::MAX, |a| a.start_ms.saturating_sub(rec_start));
    let before: Vec<_> = frames
        .iter()
        .filter(|f| ((f.t * 1000.0) as u64) + 1500 < celebration_ms)
        .collect();
    let mouth: Vec<f32> = before.iter().map(|f| frame_mouth_openness(f)).collect();
    let level: Vec<f32> = before
        .iter()
        .map(|f| level_at(&audio, RATE, f.t, 30.0))
        .collect();
    let mean_where = |pred: &dyn Fn(f32) -> bool| {
        let v: Vec<f32> = mouth
            .iter()
            .zip(&level)
            .filter(|(_, l)| pred(**l))
            .map(|(m, _)| *m)
            .collect();
        (
            v.iter().sum::<f32>() / v.len().max(1) as f32,
            v.iter().filter(|m| **m > 0.02).count(),
            v.len(),
        )
    };
    eprintln!(
        "mouth openness: voiced frames {:?}, silent frames {:?} (mean, open, n)",
        mean_where(&|l| l > -35.0),
        mean_where(&|l| l < -60.0)
    );
    if let Ok(dir) = std::env::var("E2E_DUMP_FRAMES") {
        for (i, f) in before.iter().enumerate().step_by(15) {
            let img = image::RgbImage::from_raw(f.width, f.height, f.data.clone()).unwrap();
            img.save(format!("{dir}/frame{i:04}_{:.0}db.png", level[i]))
                .ok();
        }
    }
    ensure!(
        mouth.len() > 60,
        "too few frames before the celebration ({})",
        mouth.len()
    );
    ensure!(
        mouth.iter().any(|m| *m > 0.05),
        "mouth never open in the recording (crop {crop:?})"
    );
    let (best_lag, best_r) = (-6i32..=6)
        .map(|lag| (lag, correlation(&mouth, &level, lag)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    eprintln!(
        "recording lip-sync: r = {best_r:.2} at mouth lag {} ms (30 fps)",
        best_lag * 33
    );
    ensure!(
        best_r > 0.5,
        "mouth does not follow the voice (r = {best_r:.2})"
    );
    ensure!(
        best_lag.abs() <= 2,
        "mouth {} ms off the voice",
        best_lag * 33
    );
    Ok(())
}

fn check_ledger(ledger: &Path) -> Result<()> {
    let replay = std::fs::read_to_string(e2e::workspace_root().join(REPLAY))?;
    let mut expected: Vec<String> = replay
        .lines()
        .filter(|l| l.contains("\"type\":\"gift\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["msg_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let deliveries = expected.len();
    expected.sort();
    expected.dedup();
    ensure!(
        deliveries > expected.len(),
        "the short room should contain a duplicate delivery"
    );
    let conn = rusqlite::Connection::open(ledger)?;
    let mut stmt = conn.prepare("SELECT msg_id, aired_text FROM gifts ORDER BY msg_id")?;
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    ensure!(
        rows.iter().map(|r| &r.0).eq(expected.iter()),
        "ledger {rows:?} != replay gifts {expected:?}"
    );
    for (id, aired) in rows {
        ensure!(
            aired.is_some_and(|t| !t.starts_with("(voice failed)")),
            "gift {id} not thanked on air"
        );
    }
    Ok(())
}
