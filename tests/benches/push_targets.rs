//! What a push target costs: OBS's process CPU over 20 s with the main stream alone, plus one
//! target on the main stream's encoders, plus one target with its own x264 (veryfast, 720p30);
//! the time from `start` to `live`; and the time from a dead server's return to `live` again.
//!
//! `cargo bench -p e2e --bench push_targets` (needs OBS, Xvfb, nginx with its RTMP module).
//! Canvas 1280x720@30, empty (the encoders' floor cost); with `PUSH_BENCH_MOTION=1` it shows a
//! looping moving test pattern (ffmpeg's testsrc2) so x264 has real work, which needs more
//! than two cores to leave headroom. The main stream is x264 ultrafast 800 kbit/s (the
//! harness's profile).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use e2e::push_client::{self, PushClient};
use e2e::rtmp_server::RtmpServer;
use e2e::{HeadlessObs, ObsOptions, PluginFiles, StreamTarget};
use serde_json::json;

const WINDOW: Duration = Duration::from_secs(20);
/// `sysconf(_SC_CLK_TCK)` on every Linux OBS runs on.
const CLK_TCK: f64 = 100.0;

/// utime + stime of `pid` in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok((f[11].parse::<f64>()? + f[12].parse::<f64>()?) / CLK_TCK)
}

/// Share of one core OBS used over [`WINDOW`].
async fn cpu_over_window(pid: u32) -> Result<f64> {
    let (c0, t0) = (cpu_secs(pid)?, Instant::now());
    tokio::time::sleep(WINDOW).await;
    Ok((cpu_secs(pid)? - c0) / t0.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let main_server = RtmpServer::start()?;
    let mut target_server = RtmpServer::start()?;
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        width: 1280,
        height: 720,
        stream: Some(StreamTarget {
            server: main_server.server_url(),
            key: "main".into(),
        }),
        ..ObsOptions::default()
    })
    .await?;
    let pid = obs.obs_pid().context("pid")?;
    let client = obs.connect().await?;
    if std::env::var_os("PUSH_BENCH_MOTION").is_some_and(|v| v == "1") {
        show_moving_pattern(&client, &obs.home().join("pattern.mp4")).await?;
    }

    let push = PushClient::new(&client);
    let url = target_server.server_url();
    push.ok(
        "set_targets",
        json!({ "targets": [
            push_client::shared_target("shared", &url, "bench-shared"),
            {
                "name": "own", "server": url, "key": "bench-own",
                "encoder": { "kind": "own", "width": 1280, "height": 720,
                             "bitrate_kbps": 2500, "keyint_secs": 2, "preset": "veryfast" },
            },
        ]}),
    )
    .await?;
    client.streaming().start().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let base = cpu_over_window(pid).await?;
    println!(
        "main stream only:            {:5.1} % of a core",
        base * 100.0
    );

    for name in ["shared", "own"] {
        push.ok("start", json!({ "name": name })).await?;
        let (_, took) = push
            .wait_state(name, "live", Duration::from_secs(30))
            .await?;
        println!(
            "start → live ({name:6}):       {:5.0} ms",
            took.as_secs_f64() * 1000.0
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu = cpu_over_window(pid).await?;
        let status = push.status(name).await?;
        println!(
            "+1 {name:6} target:            {:5.1} % (+{:.1} points), {:.0} kbit/s, {} dropped",
            cpu * 100.0,
            (cpu - base) * 100.0,
            status["bitrate_kbps_now"].as_f64().unwrap_or(0.0),
            status["frames_dropped"]
        );
        push.ok("stop", json!({ "name": name })).await?;
        push.wait_state(name, "idle", Duration::from_secs(20))
            .await?;
    }

    push.ok("start", json!({ "name": "shared" })).await?;
    push.wait_state("shared", "live", Duration::from_secs(30))
        .await?;
    target_server.stop();
    push.wait_state("shared", "reconnecting", Duration::from_secs(30))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let back = Instant::now();
    target_server.restart()?;
    push.wait_state("shared", "live", Duration::from_secs(60))
        .await?;
    println!(
        "server back → live:          {:5.0} ms (libobs retries after 2 s, then ×1.5 each)",
        back.elapsed().as_secs_f64() * 1000.0
    );

    push.ok("stop", json!({ "all": true })).await?;
    client.streaming().stop().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}

/// A 10 s clip of ffmpeg's moving test pattern, looping on program.
async fn show_moving_pattern(client: &obws::Client, clip: &std::path::Path) -> Result<()> {
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
        ])
        .args([
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(clip)
        .status()?;
    anyhow::ensure!(made.success(), "ffmpeg could not make the test pattern");
    client.scenes().create("Bench").await?;
    client
        .inputs()
        .create(obws::requests::inputs::Create {
            scene: "Bench",
            input: "Pattern",
            kind: "ffmpeg_source",
            settings: Some(json!({ "local_file": clip, "is_local_file": true, "looping": true })),
            enabled: Some(true),
        })
        .await?;
    client.scenes().set_current_program_scene("Bench").await?;
    Ok(())
}
