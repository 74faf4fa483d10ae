//! The harness itself, against a real headless OBS (no plugin): authentication, scene
//! creation, screenshots, recording, and that no process outlives the harness.
//!
//! Skipped only with `E2E_SKIP_OBS=1`; a machine without OBS/Xvfb fails these tests.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::media::{self, SILENCE_DBFS};
use e2e::{HeadlessObs, ObsOptions};
use obws::requests::inputs::Create;
use obws::requests::sources::TakeScreenshot;

const SCENE: &str = "E2E Scene";
const COLOR_INPUT: &str = "E2E Red";
/// OBS colours are 0xAABBGGRR: opaque pure red.
const RED_ABGR: u32 = 0xFF00_00FF;

fn assert_all_gone(obs_pid: u32, xvfb_pid: Option<u32>) {
    // OBS runs in its own process group whose id is its pid.
    assert!(
        !e2e::pid_alive(obs_pid),
        "OBS (pid {obs_pid}) still running"
    );
    assert!(
        !e2e::process_group_alive(obs_pid),
        "processes left in OBS's process group {obs_pid}"
    );
    if let Some(pid) = xvfb_pid {
        assert!(!e2e::pid_alive(pid), "Xvfb (pid {pid}) still running");
    }
}

fn is_red(px: [u8; 3]) -> bool {
    px[0] > 200 && px[1] < 50 && px[2] < 50
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_roundtrip_auth_scene_screenshot_recording() -> Result<()> {
    if e2e::obs_tests_skipped("obs_roundtrip_auth_scene_screenshot_recording") {
        return Ok(());
    }
    let rec_dir = tempfile::tempdir()?;
    let obs = HeadlessObs::start(ObsOptions {
        recording_dir: Some(rec_dir.path().to_path_buf()),
        ..ObsOptions::default()
    })
    .await?;
    eprintln!(
        "OBS ready in {:.2} s (port {}, display {})",
        obs.startup_time().as_secs_f64(),
        obs.ws_port(),
        obs.display()
    );
    let obs_pid = obs.obs_pid().context("OBS pid")?;
    let xvfb_pid = obs.xvfb_pid();

    // A wrong password must be refused with obs-websocket's "authentication failed" close.
    let wrong = obws::Client::connect("127.0.0.1", obs.ws_port(), Some("not-the-password")).await;
    let err = wrong
        .err()
        .expect("obs-websocket accepted a wrong password");
    assert!(
        e2e::is_auth_failure(&err),
        "wrong password failed in an unexpected way: {err:?}"
    );

    let client = obs.connect().await?;
    let version = client.general().version().await?;
    eprintln!(
        "OBS {} / obs-websocket {}",
        version.obs_version, version.obs_web_socket_version
    );
    assert!(client
        .scenes()
        .list()
        .await?
        .scenes
        .iter()
        .any(|s| s.name == e2e::DEFAULT_SCENE));

    // A scene filled with a red colour source, on program so that it is what gets recorded.
    client.scenes().create(SCENE).await?;
    client
        .inputs()
        .create(Create {
            scene: SCENE,
            input: COLOR_INPUT,
            kind: "color_source_v3",
            settings: Some(serde_json::json!({
                "color": RED_ABGR,
                "width": 640,
                "height": 360,
            })),
            enabled: Some(true),
        })
        .await?;
    client.scenes().set_current_program_scene(SCENE).await?;

    let shot = client
        .sources()
        .take_screenshot(TakeScreenshot {
            source: SCENE,
            format: "png",
            width: Some(160),
            height: Some(90),
            compression_quality: None,
        })
        .await?;
    let img = media::decode_png_base64(&shot)?;
    assert_eq!(img.dimensions(), (160, 90));
    let center = img.get_pixel(80, 45).0;
    assert!(
        is_red([center[0], center[1], center[2]]),
        "screenshot centre is {center:?}, expected red"
    );

    client.recording().start().await?;
    // Long enough for several keyframe-independent seconds of both streams.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recording = e2e::stop_recording(&client, Duration::from_secs(15)).await?;
    let recording = recording.as_path();
    eprintln!("recording: {}", recording.display());
    check_recording(recording, rec_dir.path())?;

    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    assert_all_gone(obs_pid, xvfb_pid);
    Ok(())
}

/// The recording is an MKV in the configured directory with H.264 video showing the red scene
/// and an AAC track that is silent (the scene has no audio source).
fn check_recording(recording: &Path, rec_dir: &Path) -> Result<()> {
    ensure!(recording.is_file(), "{} missing", recording.display());
    ensure!(
        recording.parent() == Some(std::fs::canonicalize(rec_dir)?.as_path()),
        "recording {} is not in {}",
        recording.display(),
        rec_dir.display()
    );
    ensure!(
        recording.extension().is_some_and(|e| e == "mkv"),
        "recording {} is not .mkv",
        recording.display()
    );
    let streams = media::probe_streams(recording)?;
    let video = streams.iter().find(|s| s.codec_type == "video");
    let audio = streams.iter().find(|s| s.codec_type == "audio");
    ensure!(
        video.is_some_and(|v| v.codec_name == "h264" && v.width == Some(640)),
        "no 640-wide H.264 video stream: {streams:?}"
    );
    ensure!(audio.is_some(), "no audio stream: {streams:?}");

    let duration = media::probe_duration(recording)?;
    ensure!(
        (2.0..10.0).contains(&duration),
        "recording lasts {duration} s"
    );

    let frames = media::extract_frames_rgb(recording, 2.0, Some((280, 140, 80, 80)))?;
    ensure!(frames.len() >= 3, "only {} frames decoded", frames.len());
    for frame in &frames {
        let [r, g, b] = frame.mean_rgb();
        ensure!(
            r > 200.0 && g < 50.0 && b < 50.0,
            "frame at {:.1} s is not red: {:?}",
            frame.t,
            [r, g, b]
        );
    }

    let samples = media::extract_audio_mono_f32(recording, 16_000)?;
    ensure!(
        samples.len() as f64 >= 16_000.0 * 1.5,
        "only {} audio samples",
        samples.len()
    );
    let levels = media::rms_windows(&samples, 16_000, 0.5);
    ensure!(
        levels.iter().all(|&db| db <= SILENCE_DBFS + 40.0),
        "expected silence, got {levels:?} dBFS"
    );
    Ok(())
}

/// Dropping the harness while a test panics must still take OBS and Xvfb down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_test_does_not_leak_processes() -> Result<()> {
    if e2e::obs_tests_skipped("panicking_test_does_not_leak_processes") {
        return Ok(());
    }
    let obs = HeadlessObs::start(ObsOptions::default()).await?;
    let obs_pid = obs.obs_pid().context("OBS pid")?;
    let xvfb_pid = obs.xvfb_pid();
    assert!(e2e::pid_alive(obs_pid));

    let task = tokio::task::spawn_blocking(move || {
        let _obs = obs;
        panic!("simulated test failure");
    });
    assert!(task.await.is_err_and(|e| e.is_panic()));
    assert_all_gone(obs_pid, xvfb_pid);
    Ok(())
}

/// When OBS dies during startup, `start` fails promptly and says so instead of waiting for the
/// full timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_reports_an_obs_that_exits() -> Result<()> {
    if e2e::obs_tests_skipped("start_reports_an_obs_that_exits") {
        return Ok(());
    }
    let begin = std::time::Instant::now();
    let err = HeadlessObs::start(ObsOptions {
        obs_binary: "false".into(),
        startup_timeout: Duration::from_secs(30),
        ..ObsOptions::default()
    })
    .await
    .expect_err("`false` is not OBS");
    let msg = format!("{err:#}");
    assert!(msg.contains("OBS exited"), "unexpected error: {msg}");
    assert!(
        begin.elapsed() < Duration::from_secs(20),
        "took {:?}",
        begin.elapsed()
    );
    Ok(())
}
