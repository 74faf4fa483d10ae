//! A trigger's `sound_file` mixed into the avatar's voice, end to end: the real sidecar binary
//! runs a recorded room against a real headless OBS 29 with the freshly built AI Avatar plugin,
//! and the sound is found in OBS's own recording, through the plugin's audio (no media source
//! plays it): once per firing, whole, and `volume_db` softer when a trigger asks for it
//! (measured against the same file at 0 dB in the same recording, so OBS's mixing and the
//! downmix cancel out).
//!
//! The test's sound is a pure 3 kHz tone, so it can be told from speech and silence window by
//! window (its share of a window's energy at 3 kHz is ~1 where it plays alone).
//!
//! `E2E_DUMP_LOG=1` prints the sidecar's log at the end.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{media, HeadlessObs, ObsOptions, PluginFiles};

const TOKEN: &str = "voice-sound-e2e-link-token";
const TONE_HZ: f64 = 3_000.0;
const TONE_SECS: f64 = 0.8;
/// Peak of the tone in the file, and the second trigger's `volume_db`.
const TONE_PEAK: f64 = 0.5;
const VOLUME_DB: f64 = -6.0;
/// When the room's likes reach the milestone (after OBS has been set up), and when its
/// viewer count does, 2 s later.
const MILESTONE_MS: u64 = 6_000;
const VIEWERS_MS: u64 = 8_000;

/// A like milestone and a viewer-count milestone: events that air no line of their own, so
/// the tones play alone.
const TRIGGERS: &str = r#"
[[trigger]]
name = "chime"
when.likes_every = 20
[[trigger.do]]
sound_file = "sounds/tone.wav"

[[trigger]]
name = "soft chime"
when.viewers_reach = [100]
[[trigger.do]]
sound_file = "sounds/tone.wav"
volume_db = -6
"#;

/// A 44.1 kHz stereo file (neither the link's rate nor its channel count, so the sidecar's
/// conversion is exercised too).
fn write_tone(path: &Path) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let n = (TONE_SECS * 44_100.0) as u32;
    for i in 0..n {
        let t = f64::from(i) / 44_100.0;
        let v = ((t * TONE_HZ * std::f64::consts::TAU).sin() * TONE_PEAK * 32767.0) as i16;
        w.write_sample(v)?;
        w.write_sample(v)?;
    }
    w.finalize()?;
    Ok(())
}

/// (share of the window's energy in the `hz` bin, RMS in dBFS) of one window.
fn tone_share(window: &[f32], rate: u32, hz: f64) -> (f64, f64) {
    let n = window.len() as f64;
    let w = std::f64::consts::TAU * hz / f64::from(rate);
    let (mut re, mut im, mut energy) = (0.0, 0.0, 0.0);
    for (i, &x) in window.iter().enumerate() {
        let x = f64::from(x);
        re += x * (w * i as f64).cos();
        im -= x * (w * i as f64).sin();
        energy += x * x;
    }
    let mean_square = energy / n;
    if mean_square < 1e-10 {
        return (0.0, -200.0);
    }
    let tone_power = 2.0 * (re * re + im * im) / (n * n);
    (tone_power / mean_square, 10.0 * mean_square.log10())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_file_is_mixed_into_the_avatars_voice_in_obs() -> Result<()> {
    if e2e::obs_tests_skipped("a_sound_file_is_mixed_into_the_avatars_voice_in_obs") {
        return Ok(());
    }
    let binary = e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    let scenes = work.path().join("scenes");
    std::fs::create_dir_all(scenes.join("sounds"))?;
    std::fs::copy(
        e2e::workspace_root().join("scenes/show.toml"),
        scenes.join("show.toml"),
    )?;
    std::fs::write(scenes.join("test.toml"), TRIGGERS)?;
    write_tone(&scenes.join("sounds/tone.wav"))?;
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[obs]\nscenes_dir = {:?}\n", scenes.display().to_string()),
    )?;
    let replay = work.path().join("room.jsonl");
    let lines = [
        serde_json::json!({"replay": {"version": 1, "room": "e2e", "platform": "douyin", "title": "sound"}}),
        serde_json::json!({"at_ms": MILESTONE_MS, "event": {"platform": "douyin", "msg_id": "l1",
            "user": {"id": "u1", "name": "小明", "level": 1}, "type": "like", "count": 20}}),
        serde_json::json!({"at_ms": VIEWERS_MS, "event": {"platform": "douyin", "msg_id": "v1",
            "type": "viewer_stats", "online": 150, "total": 400}}),
        // Keeps the room open while the sound plays out.
        serde_json::json!({"at_ms": VIEWERS_MS + 3_000, "event": {"platform": "douyin", "msg_id": "l2",
            "user": {"id": "u2", "name": "小红", "level": 1}, "type": "like", "count": 1}}),
    ];
    std::fs::write(
        &replay,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )?;

    let obs = HeadlessObs::start(ObsOptions {
        recording_dir: Some(work.path().join("recordings")),
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    client.recording().start().await?;

    let log_path = work.path().join("sidecar.log");
    let status = tokio::task::spawn_blocking({
        let (config, replay, ledger) = (config.clone(), replay.clone(), work.path().join("l.db"));
        let (port, password) = (obs.ws_port(), obs.ws_password().to_string());
        let log = File::create(&log_path)?;
        move || {
            Command::new(binary)
                .current_dir(e2e::workspace_root())
                .args(["run", "--exit-when-done", "--config"])
                .arg(&config)
                .arg("--replay")
                .arg(&replay)
                .arg("--ledger")
                .arg(&ledger)
                .args(["--obs-port", &port.to_string()])
                .args(["--link-bind", &format!("127.0.0.1:{}", e2e::free_port()?)])
                .env("AIVS_OBS_PASSWORD", password)
                .env("AIVS_LINK_TOKEN", TOKEN)
                .env("RUST_LOG", "info,obws=warn,sidecar::outputs=debug")
                .stderr(log)
                .status()
                .context("running the sidecar")
        }
    });
    let status = tokio::time::timeout(Duration::from_secs(90), status)
        .await
        .context("the sidecar did not finish the room")???;
    let log = std::fs::read_to_string(&log_path)?;
    if std::env::var_os("E2E_DUMP_LOG").is_some() {
        eprintln!("--- sidecar log ---\n{log}");
    }
    ensure!(status.success(), "sidecar exited with {status}:\n{log}");
    ensure!(
        log.contains("voice sound sent"),
        "the trigger never sent its sound:\n{log}"
    );
    // The sound is over when the room is; leave OBS a moment to write it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recording = e2e::headless_obs::stop_recording(&client, Duration::from_secs(20)).await?;
    obs.stop()?;

    const RATE: u32 = 16_000;
    const WINDOW: usize = RATE as usize / 50; // 20 ms: 3 kHz falls on a bin
    let audio = media::extract_audio_mono_f32(&recording, RATE)?;
    let windows: Vec<(f64, f64)> = audio
        .chunks_exact(WINDOW)
        .map(|w| tone_share(w, RATE, TONE_HZ))
        .collect();
    let toned: Vec<usize> = (0..windows.len()).filter(|&i| windows[i].0 > 0.9).collect();
    ensure!(
        !toned.is_empty(),
        "no 3 kHz tone in {:.1} s of recording:\n{log}",
        audio.len() as f64 / f64::from(RATE)
    );
    // Runs of tone windows (a gap of more than 2 windows starts a new one).
    let mut runs: Vec<Vec<usize>> = vec![vec![toned[0]]];
    for &i in &toned[1..] {
        let run = runs.last_mut().expect("one run");
        if i - run[run.len() - 1] > 3 {
            runs.push(vec![i]);
        } else {
            run.push(i);
        }
    }
    let described: Vec<(f64, f64, f64)> = runs
        .iter()
        .map(|run| {
            let (first, last) = (run[0], run[run.len() - 1]);
            let level = run.iter().map(|&i| windows[i].1).sum::<f64>() / run.len() as f64;
            (first as f64 * 0.02, (last - first + 1) as f64 * 0.02, level)
        })
        .collect();
    for (at, secs, level) in &described {
        eprintln!("tone at {at:.2} s for {secs:.2} s, {level:.1} dBFS");
    }
    ensure!(
        described.len() == 2,
        "expected the tone twice (two firings), heard {described:?}"
    );
    // Whole each time: as long as the file (±2 windows), none of it missing.
    for (run, (_, secs, _)) in runs.iter().zip(&described) {
        ensure!(
            (secs - TONE_SECS).abs() <= 0.041,
            "a tone lasted {secs:.2} s, the file {TONE_SECS} s"
        );
        let span = run[run.len() - 1] - run[0] + 1;
        ensure!(
            run.len() + 2 >= span,
            "a tone has gaps: {} of {span} windows",
            run.len()
        );
    }
    // In order, 2 s apart like their events, and the second VOLUME_DB softer.
    let apart = described[1].0 - described[0].0;
    ensure!(
        (apart - (VIEWERS_MS - MILESTONE_MS) as f64 / 1000.0).abs() < 0.3,
        "the tones came {apart:.2} s apart"
    );
    let softer = described[1].2 - described[0].2;
    ensure!(
        (softer - VOLUME_DB).abs() <= 1.0,
        "the soft chime is {softer:+.1} dB from the full one, not {VOLUME_DB:+.1} dB"
    );
    // The full one near the file's own level (a sine of peak p has an RMS of p/√2); OBS's
    // mono-to-stereo mixing may add up to 3 dB.
    let file_level = 20.0 * (TONE_PEAK / 2f64.sqrt()).log10();
    ensure!(
        (described[0].2 - file_level - 1.5).abs() <= 2.5,
        "the tone is at {:.1} dBFS, the file at {file_level:.1}",
        described[0].2
    );
    Ok(())
}
