//! Push targets against a real headless OBS 29 and two local nginx-rtmp servers: both servers
//! get H.264 + AAC showing the program scene, a dead server costs only its own target (which
//! reconnects when the server is back), a target on the main stream's encoders, malformed
//! targets refused without changing anything, and no stream key anywhere it must not be.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::push_client::{self, PushClient};
use e2e::rtmp_server::RtmpServer;
use e2e::vendor_events::VendorEvents;
use e2e::{HeadlessObs, ObsOptions, PluginFiles, StreamTarget};
use obws::requests::inputs::Create;
use obws::requests::sources::TakeScreenshot;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};

const SCENE: &str = "Push Scene";
/// Opaque orange, 0xAABBGGRR: R 224, G 128, B 48.
const COLOUR_ABGR: u32 = 0xFF30_80E0;

fn secret(tag: &str) -> String {
    format!("{tag}_{}", Alphanumeric.sample_string(&mut rand::rng(), 20))
}

/// Mean colour of the program scene as OBS renders it.
async fn program_mean(client: &obws::Client) -> Result<[f64; 3]> {
    let shot = client
        .sources()
        .take_screenshot(TakeScreenshot {
            source: SCENE,
            format: "png",
            width: Some(64),
            height: Some(36),
            compression_quality: None,
        })
        .await?;
    let img = e2e::media::decode_png_base64(&shot)?;
    let rgb: Vec<u8> = img
        .pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2]])
        .collect();
    Ok(push_client::mean_rgb(&rgb))
}

/// The server got H.264 + AAC and its picture is the program's.
fn check_received(server: &RtmpServer, key: &str, program: [f64; 3]) -> Result<()> {
    let url = server.play_url(key);
    let codecs = push_client::probe_codecs(&url)?;
    ensure!(
        codecs.iter().any(|c| c == "h264") && codecs.iter().any(|c| c == "aac"),
        "port {}: codecs {codecs:?}",
        server.port()
    );
    let frame = push_client::pull_frame_mean(&url)?;
    let d = push_client::colour_distance(frame, program);
    eprintln!(
        "port {}: {codecs:?}, frame mean {frame:.0?} vs program {program:.0?} (max diff {d:.1})",
        server.port()
    );
    ensure!(
        d < 20.0,
        "pulled frame {frame:?} differs from program {program:?}"
    );
    Ok(())
}

fn names(reply: &Value) -> Vec<String> {
    reply["targets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_targets_stream_reconnect_and_keep_keys_secret() -> Result<()> {
    if e2e::obs_tests_skipped("push_targets_stream_reconnect_and_keep_keys_secret") {
        return Ok(());
    }
    let mut server_a = RtmpServer::start()?;
    let server_b = RtmpServer::start()?;
    let (key_a, key_b, key_s, key_main) =
        (secret("ka"), secret("kb"), secret("ks"), secret("kmain"));
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        // The main stream goes to B, so stopping A leaves it (and the shared target) alone.
        stream: Some(StreamTarget {
            server: server_b.server_url(),
            key: key_main.clone(),
        }),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    let events = VendorEvents::connect(obs.ws_port(), obs.ws_password()).await?;
    let push = PushClient::new(&client);

    client.scenes().create(SCENE).await?;
    client
        .inputs()
        .create(Create {
            scene: SCENE,
            input: "Push Colour",
            kind: "color_source_v3",
            settings: Some(json!({ "color": COLOUR_ABGR, "width": 640, "height": 360 })),
            enabled: Some(true),
        })
        .await?;
    client.scenes().set_current_program_scene(SCENE).await?;

    // Malformed targets: refused with a clear error, nothing changes.
    let before = push.ok("list", json!({ "all": true })).await?;
    let good_a = push_client::own_target("a", &server_a.server_url(), &key_a, 640, 360, 600);
    let mut empty_key = good_a.clone();
    empty_key["key"] = json!("");
    let mut bad_kind = good_a.clone();
    bad_kind["encoder"]["kind"] = json!("gpu");
    let mut bad_url = good_a.clone();
    bad_url["server"] = json!("rtmp//127.0.0.1/live");
    for (bad, field) in [
        (empty_key, "key"),
        (bad_kind, "encoder.kind"),
        (bad_url, "server"),
    ] {
        let reply = push
            .call("set_targets", json!({ "targets": [good_a.clone(), bad] }))
            .await?;
        eprintln!("malformed → {reply}");
        ensure!(
            reply["ok"] == false && reply["code"] == "invalid_target",
            "{reply}"
        );
        let error = reply["error"].as_str().unwrap_or_default();
        ensure!(
            error.contains("target 'a'") && error.contains(field),
            "{error}"
        );
        ensure!(
            push.ok("list", json!({ "all": true })).await? == before,
            "a refused request changed the list"
        );
    }

    // `with_main`: it starts and stops with OBS's main stream, without being asked.
    let mut shared_with_main = push_client::shared_target("s", &server_b.server_url(), &key_s);
    shared_with_main["with_main"] = json!(true);
    let targets = json!({ "targets": [
        good_a,
        push_client::own_target("b", &server_b.server_url(), &key_b, 640, 360, 600),
        shared_with_main,
    ]});
    let set = push.ok("set_targets", targets).await?;
    ensure!(names(&set) == ["a", "b", "s"], "{set}");
    let hint = &set["targets"][0]["key_hint"];
    ensure!(
        *hint == format!("••••{}", &key_a[key_a.len() - 4..]),
        "hint {hint}"
    );

    // The shared target needs the main stream; a refused `start all` starts nothing.
    let reply = push.call("start", json!({ "all": true })).await?;
    ensure!(reply["code"] == "needs_main_stream", "{reply}");
    let list = push.ok("list", json!({ "all": true })).await?;
    ensure!(
        list["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "idle"),
        "{list}"
    );
    let reply = push.call("start", json!({ "name": "nope" })).await?;
    ensure!(reply["code"] == "unknown_target", "{reply}");

    for name in ["a", "b"] {
        push.ok("start", json!({ "name": name })).await?;
    }
    for name in ["a", "b"] {
        let (_, took) = push
            .wait_state(name, "live", Duration::from_secs(30))
            .await?;
        eprintln!(
            "target {name}: live {:.2} s after start",
            took.as_secs_f64()
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let program = program_mean(&client).await?;
    check_received(&server_a, &key_a, program)?;
    check_received(&server_b, &key_b, program)?;

    // Shared encoders: start the main stream, then the target riding on it.
    client.streaming().start().await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !client.streaming().status().await?.active {
        ensure!(
            std::time::Instant::now() < deadline,
            "main stream did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, took) = push
        .wait_state("s", "live", Duration::from_secs(30))
        .await?;
    eprintln!(
        "target s (shared, with_main): live {:.2} s after the main stream was active",
        took.as_secs_f64()
    );
    // Already running: a start is a no-op, not an error.
    push.ok("start", json!({ "name": "s" })).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    check_received(&server_b, &key_s, program)?;

    // A dies: only its target notices.
    server_a.stop();
    let (_, took) = push
        .wait_state("a", "reconnecting", Duration::from_secs(30))
        .await?;
    eprintln!(
        "target a: reconnecting {:.2} s after its server died",
        took.as_secs_f64()
    );
    let b1 = push.status("b").await?["bytes_sent"]
        .as_u64()
        .context("bytes")?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let b_status = push.status("b").await?;
    let b2 = b_status["bytes_sent"].as_u64().context("bytes")?;
    eprintln!("target b while A is down: {b1} → {b2} bytes, {b_status}");
    ensure!(
        b_status["state"] == "live" && b2 > b1 + 50_000,
        "b stalled: {b1} → {b2}"
    );
    ensure!(
        push.status("s").await?["state"] == "live",
        "s affected by A"
    );
    ensure!(
        client.streaming().status().await?.active,
        "main stream affected by A"
    );

    server_a.restart()?;
    let (a_status, took) = push
        .wait_state("a", "live", Duration::from_secs(60))
        .await?;
    eprintln!(
        "target a: live again {:.2} s after its server returned: {a_status}",
        took.as_secs_f64()
    );
    ensure!(a_status["reconnects"].as_u64() >= Some(1), "{a_status}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    check_received(&server_a, &key_a, program)?;

    // The main stream stopping takes its with_main target along; the rest stop on request.
    client.streaming().stop().await?;
    push.wait_state("s", "idle", Duration::from_secs(20))
        .await?;
    ensure!(
        push.status("a").await?["state"] == "live",
        "a stopped with the main stream"
    );
    let stopped = push.ok("stop", json!({ "all": true })).await?;
    ensure!(names(&stopped) == ["a", "b", "s"], "{stopped}");
    for name in ["a", "b"] {
        push.wait_state(name, "idle", Duration::from_secs(20))
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Events: every state change of a arrived, and none carries a key.
    let events = events.events();
    let a_states: Vec<&str> = events
        .iter()
        .filter(|e| e.vendor == push_client::VENDOR && e.event_type == "target_state")
        .filter(|e| e.data["name"] == "a")
        .filter_map(|e| e.data["state"].as_str())
        .collect();
    eprintln!("{} vendor events; a went {a_states:?}", events.len());
    for state in ["starting", "live", "reconnecting", "stopping", "idle"] {
        ensure!(
            a_states.contains(&state),
            "no {state} event for a: {a_states:?}"
        );
    }
    ensure!(
        events.iter().all(|e| e.data.get("reason").is_some()),
        "event without reason"
    );

    let log = obs.log_text();
    ensure!(
        log.contains("[ai-avatar] push targets: obs-websocket vendor"),
        "vendor not registered"
    );
    ensure!(
        log.contains("[ai-avatar] push target 'a'"),
        "no push log lines"
    );
    let stdout = std::fs::read_to_string(obs.home().join("obs.stdout.log")).unwrap_or_default();
    let stderr = std::fs::read_to_string(obs.home().join("obs.stderr.log")).unwrap_or_default();
    let texts: Vec<(String, String)> = [
        ("OBS log", log),
        ("OBS stdout", stdout),
        ("OBS stderr", stderr),
    ]
    .into_iter()
    .map(|(what, text)| (what.to_string(), text))
    .chain(
        push.replies()
            .into_iter()
            .map(|r| ("a vendor reply".to_string(), r)),
    )
    .chain(
        events
            .iter()
            .map(|e| ("a vendor event".to_string(), e.raw.clone())),
    )
    .collect();
    for key in [&key_a, &key_b, &key_s] {
        for (what, text) in &texts {
            ensure!(
                !text.contains(key.as_str()),
                "a stream key appears in {what}"
            );
        }
    }
    eprintln!("no key in {} texts (logs, replies, events)", texts.len());

    drop(events);
    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}

/// An `srt://` target (OBS's MPEG-TS muxer) reaches an SRT listener with H.264 + AAC, and its
/// stream id (the key) stays out of OBS's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_target_streams_and_keeps_its_stream_id_secret() -> Result<()> {
    if e2e::obs_tests_skipped("srt_target_streams_and_keeps_its_stream_id_secret") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let port = e2e::free_port()?;
    let received = dir.path().join("srt.ts");
    // ffmpeg as the SRT "platform": listens, copies 4 s of whatever arrives into a file.
    let mut listener = std::process::Command::new("timeout")
        .args(["60", "ffmpeg", "-v", "error", "-y"])
        .arg("-i")
        .arg(format!("srt://127.0.0.1:{port}?mode=listener"))
        .args(["-c", "copy", "-t", "4", "-f", "mpegts"])
        .arg(&received)
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("spawning the ffmpeg SRT listener")?;
    let key = secret("srtid");
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    let push = PushClient::new(&client);
    let mut target = push_client::own_target(
        "srt",
        &format!("srt://127.0.0.1:{port}"),
        &key,
        640,
        360,
        600,
    );
    target["key"] = json!(key);
    push.ok("set_targets", json!({ "targets": [target] }))
        .await?;
    push.ok("start", json!({ "name": "srt" })).await?;
    let (status, took) = push
        .wait_state("srt", "live", Duration::from_secs(30))
        .await?;
    eprintln!(
        "srt target live {:.2} s after start: {status}",
        took.as_secs_f64()
    );
    ensure!(status["protocol"] == "srt", "{status}");

    let listener_status = tokio::task::spawn_blocking(move || listener.wait()).await??;
    ensure!(
        listener_status.success(),
        "ffmpeg SRT listener: {listener_status}"
    );
    let streams = e2e::media::probe_streams(&received)?;
    let codecs: Vec<&str> = streams.iter().map(|s| s.codec_name.as_str()).collect();
    eprintln!("SRT listener received {codecs:?}");
    ensure!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{codecs:?}"
    );

    push.ok("stop", json!({ "all": true })).await?;
    push.wait_state("srt", "idle", Duration::from_secs(20))
        .await?;
    let log = obs.log_text();
    ensure!(
        log.contains("[ai-avatar] push target 'srt'"),
        "no push log lines"
    );
    ensure!(
        !log.contains(&key),
        "the SRT stream id appears in OBS's log"
    );
    for reply in push.replies() {
        ensure!(
            !reply.contains(&key),
            "the SRT stream id appears in a reply"
        );
    }
    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}

/// A target whose server is down when it starts fails, is retried by the plugin (libobs only
/// reconnects outputs that were live) and goes live once the server is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_started_against_a_dead_server_goes_live_when_it_appears() -> Result<()> {
    if e2e::obs_tests_skipped("a_target_started_against_a_dead_server_goes_live_when_it_appears") {
        return Ok(());
    }
    let mut server = RtmpServer::start()?;
    server.stop();
    let obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    let push = PushClient::new(&client);
    let key = secret("kdead");
    let target = push_client::own_target("late", &server.server_url(), &key, 320, 180, 300);
    push.ok("set_targets", json!({ "targets": [target] }))
        .await?;
    push.ok("start", json!({ "name": "late" })).await?;
    let (failed, _) = push
        .wait_state("late", "failed", Duration::from_secs(20))
        .await?;
    eprintln!("server down: {failed}");
    ensure!(failed["last_error"] != "", "{failed}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart()?;
    let (live, took) = push
        .wait_state("late", "live", Duration::from_secs(30))
        .await?;
    eprintln!(
        "live {:.2} s after the server appeared: {live}",
        took.as_secs_f64()
    );
    ensure!(
        live["reconnects"].as_u64() >= Some(1) && live["last_error"] == "",
        "{live}"
    );
    push.ok("stop", json!({ "all": true })).await?;
    push.wait_state("late", "idle", Duration::from_secs(20))
        .await?;
    ensure!(
        !obs.log_text().contains(&key),
        "the key appears in OBS's log"
    );
    e2e::disconnect(client).await;
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}
