//! Audio → mouth delay, measured on what OBS actually outputs.
//!
//! `cargo build --release -p obs-plugin && cargo bench -p e2e --bench lipsync_delay`
//!
//! A private headless OBS loads the built plugin; this program plays the sidecar's part on the
//! real avatar link and sends one utterance of 20 tone bursts (400 ms on, 600–695 ms off). OBS
//! records its program output; from the recording we take, for each burst, the audio onset
//! (5 ms resolution) and the first video frame whose mouth is open, and the same for the release.
//! The delay is mouth-time minus audio-time (positive: mouth late). Frames are 33 ms apart at
//! 30 fps, so single delays are quantised; the mean over the bursts is not.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use avatar_link::{AudioChunk, Command, Report, SAMPLE_RATE};
use e2e::lipsync::{frame_mouth_openness, item_canvas_box};
use e2e::{media, HeadlessObs, ObsOptions, PluginFiles};
use futures_util::{SinkExt, StreamExt};
use obws::requests::inputs::Create;
use obws::requests::scene_items::{Bounds, Id as ItemId, SceneItemTransform, SetTransform};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const SCENE: &str = "Lipsync bench";
const AVATAR: &str = "Bench avatar";
const BURSTS: usize = 20;
const ON_MS: usize = 400;
const OFF_MS: usize = 600;
const LEAD_MS: usize = 1_000;

fn bursts() -> Vec<i16> {
    let ms = |n: usize| n * SAMPLE_RATE as usize / 1000;
    let mut pcm = vec![0i16; ms(LEAD_MS)];
    for burst in 0..BURSTS {
        pcm.extend((0..ms(ON_MS)).map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            (0.3 * (std::f32::consts::TAU * 220.0 * t).sin() * i16::MAX as f32) as i16
        }));
        // Gaps of 600..=695 ms in 5 ms steps (not a whole number of 33 ms frames): onsets land
        // at every phase of the frame interval instead of always the same one.
        pcm.extend(std::iter::repeat_n(
            0i16,
            ms(OFF_MS + (burst * 5 * 7) % 100),
        ));
    }
    pcm
}

#[tokio::main]
async fn main() -> Result<()> {
    let profile = std::env::var("PLUGIN_PROFILE").unwrap_or_else(|_| "release".into());
    let rec_dir = tempfile::tempdir()?;
    let obs = HeadlessObs::start(ObsOptions {
        recording_dir: Some(rec_dir.path().to_path_buf()),
        plugin: Some(PluginFiles::from_workspace(&profile)?),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let token = "bench-token";
    client.scenes().create(SCENE).await?;
    client.scenes().set_current_program_scene(SCENE).await?;
    let settings = serde_json::json!({
        "link_url": format!("ws://127.0.0.1:{port}/avatar"), "link_token": token, "width": 512, "height": 512,
    });
    client
        .inputs()
        .create(Create {
            scene: SCENE,
            input: AVATAR,
            kind: "ai_avatar",
            settings: Some(settings),
            enabled: Some(true),
        })
        .await?;
    let item = client
        .scene_items()
        .id(ItemId {
            scene: SCENE,
            source: AVATAR,
            search_offset: None,
        })
        .await?;
    let video = client.config().video_settings().await?;
    let transform = SceneItemTransform {
        bounds: Some(Bounds {
            r#type: Some(obws::common::BoundsType::ScaleInner),
            width: Some(video.base_width as f32),
            height: Some(video.base_height as f32),
            ..Default::default()
        }),
        ..Default::default()
    };
    client
        .scene_items()
        .set_transform(SetTransform {
            scene: SCENE,
            item_id: item,
            transform,
        })
        .await?;

    // Be the sidecar: accept the plugin's connection. (The real link server checks the token;
    // this stand-in only needs the audio path.)
    let (stream, _) = tokio::time::timeout(Duration::from_secs(15), listener.accept())
        .await
        .context("plugin never connected")??;
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (mut tx, mut rx) = ws.split();
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.contains("hello") => {}
        other => bail!("expected the plugin's hello, got {other:?}"),
    }
    client.recording().start().await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let say = Command::Say {
        utterance: 1,
        priority: 5,
        text: "bursts".into(),
        expression: None,
    };
    tx.send(Message::text(serde_json::to_string(&say)?)).await?;
    let pcm = bursts();
    let chunks: Vec<&[i16]> = pcm.chunks(SAMPLE_RATE as usize / 10).collect();
    for (i, c) in chunks.iter().enumerate() {
        let chunk = AudioChunk {
            utterance: 1,
            last: i + 1 == chunks.len(),
            samples: c.to_vec(),
        };
        tx.send(Message::binary(chunk.encode())).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), rx.next())
            .await
            .context("no Finished report")?;
        if let Some(Ok(Message::Text(t))) = msg {
            if let Ok(Report::Finished { .. }) = serde_json::from_str(&t) {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let recording = e2e::stop_recording(&client, Duration::from_secs(20)).await?;
    let crop = item_canvas_box(&client, SCENE, AVATAR).await?;
    e2e::disconnect(client).await;
    obs.stop()?;

    const RATE: u32 = 16_000;
    let audio = media::extract_audio_mono_f32(&recording, RATE)?;
    let levels = media::rms_windows(&audio, RATE, 0.005);
    let frames = media::extract_frames_rgb(&recording, 30.0, Some(crop))?;
    let open: Vec<(f64, bool)> = frames
        .iter()
        .map(|f| (f.t, frame_mouth_openness(f) > 0.02))
        .collect();

    // Audio onsets/releases: transitions of the 5 ms level across −30 dBFS.
    let mut edges = Vec::new();
    for i in 1..levels.len() {
        let (was, is) = (levels[i - 1] > -30.0, levels[i] > -30.0);
        if was != is {
            edges.push((i as f64 * 0.005, is));
        }
    }
    let mut onset = Vec::new();
    let mut release = Vec::new();
    for (t, rising) in edges {
        // The first frame (at or after t - 100 ms) whose mouth state matches the new audio state.
        if let Some((ft, _)) = open.iter().find(|(ft, o)| *ft >= t - 0.1 && *o == rising) {
            let delay = (ft - t) * 1000.0;
            if rising {
                onset.push(delay)
            } else {
                release.push(delay)
            }
        }
    }
    if onset.len() < BURSTS / 2 {
        bail!(
            "found {} onsets in the recording, expected {BURSTS}",
            onset.len()
        );
    }
    println!(
        "audio -> mouth delay on OBS's recorded output ({} bursts, 30 fps, 5 ms audio windows)",
        onset.len()
    );
    report("mouth opens after audio onset", &mut onset);
    report("mouth closes after audio release", &mut release);
    Ok(())
}

fn report(what: &str, delays: &mut [f64]) {
    delays.sort_by(|a, b| a.total_cmp(b));
    let mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
    let pct = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {what:<34} mean {mean:>6.1} ms   p50 {:>6.1}   p95 {:>6.1}   min {:>6.1}   max {:>6.1}",
        pct(0.5),
        pct(0.95),
        delays[0],
        delays[delays.len() - 1]
    );
}
