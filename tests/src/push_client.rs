//! Driving the plugin's push targets (obs-websocket vendor `ai-avatar-push`) from tests and
//! benches, and reading back what an RTMP server received.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use obws::requests::general::CallVendorRequest;
use serde_json::{json, Value};

/// The plugin's vendor name.
pub const VENDOR: &str = "ai-avatar-push";

/// A client that remembers every reply's text (to check that no key ever appears in one).
pub struct PushClient<'a> {
    pub obs: &'a obws::Client,
    replies: Mutex<Vec<String>>,
}

impl<'a> PushClient<'a> {
    pub fn new(obs: &'a obws::Client) -> Self {
        Self {
            obs,
            replies: Mutex::new(Vec::new()),
        }
    }

    /// Sends one vendor request and returns its `responseData`.
    pub async fn call(&self, request_type: &str, data: Value) -> Result<Value> {
        let reply = self
            .obs
            .general()
            .call_vendor_request::<Value, Value>(CallVendorRequest {
                vendor_name: VENDOR,
                request_type,
                request_data: &data,
            })
            .await
            .with_context(|| format!("vendor request {request_type}"))?;
        self.replies
            .lock()
            .unwrap()
            .push(reply.response_data.to_string());
        Ok(reply.response_data)
    }

    /// Like [`PushClient::call`], failing unless the reply says `ok: true`.
    pub async fn ok(&self, request_type: &str, data: Value) -> Result<Value> {
        let reply = self.call(request_type, data).await?;
        if reply["ok"] != true {
            bail!("{request_type} failed: {reply}");
        }
        Ok(reply)
    }

    /// The status object of target `name`.
    pub async fn status(&self, name: &str) -> Result<Value> {
        let reply = self.ok("status", json!({ "name": name })).await?;
        Ok(reply["targets"][0].clone())
    }

    /// Polls until target `name` is in `state`; returns its status and how long it took.
    pub async fn wait_state(
        &self,
        name: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<(Value, Duration)> {
        let begin = Instant::now();
        loop {
            let status = self.status(name).await?;
            if status["state"] == state {
                return Ok((status, begin.elapsed()));
            }
            if begin.elapsed() > timeout {
                bail!("target {name} not {state} after {timeout:?}: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every reply text received so far.
    pub fn replies(&self) -> Vec<String> {
        self.replies.lock().unwrap().clone()
    }
}

/// Codec names of the streams at `url` (e.g. `["h264", "aac"]`), via ffprobe with a deadline.
pub fn probe_codecs(url: &str) -> Result<Vec<String>> {
    let out = Command::new("timeout")
        .args(["30", "ffprobe", "-v", "error", "-rw_timeout", "15000000"])
        // A reader joining a live stream may wait a whole keyframe interval for its picture.
        .args(["-analyzeduration", "10000000", "-probesize", "20000000"])
        .args(["-show_entries", "stream=codec_name", "-of", "json", url])
        .stdin(Stdio::null())
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!(
            "ffprobe {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["codec_name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// Mean RGB of one frame pulled from `url`, scaled down to 64x36.
pub fn pull_frame_mean(url: &str) -> Result<[f64; 3]> {
    let out = Command::new("timeout")
        .args(["30", "ffmpeg", "-v", "error", "-rw_timeout", "15000000"])
        .args([
            "-analyzeduration",
            "10000000",
            "-probesize",
            "20000000",
            "-i",
            url,
        ])
        .args(["-frames:v", "1", "-vf", "scale=64:36", "-pix_fmt", "rgb24"])
        .args(["-f", "rawvideo", "-"])
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg")?;
    if !out.status.success() || out.stdout.len() != 64 * 36 * 3 {
        bail!(
            "ffmpeg could not pull a frame from {url} ({} bytes): {}",
            out.stdout.len(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(mean_rgb(&out.stdout))
}

/// Mean of packed RGB24 pixels.
pub fn mean_rgb(rgb: &[u8]) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in rgb.chunks_exact(3) {
        for (s, &c) in sum.iter_mut().zip(px) {
            *s += f64::from(c);
        }
    }
    let n = (rgb.len() / 3).max(1) as f64;
    sum.map(|s| s / n)
}

/// Largest per-channel difference.
pub fn colour_distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).abs()).fold(0.0, f64::max)
}

/// An own-encoder target definition for `set_targets`.
pub fn own_target(name: &str, server: &str, key: &str, w: u32, h: u32, kbps: u32) -> Value {
    json!({
        "name": name, "server": server, "key": key,
        "encoder": { "kind": "own", "width": w, "height": h, "bitrate_kbps": kbps,
                     "keyint_secs": 1, "preset": "ultrafast" },
        "audio_bitrate_kbps": 96,
    })
}

/// A target on the main stream's encoders.
pub fn shared_target(name: &str, server: &str, key: &str) -> Value {
    json!({ "name": name, "server": server, "key": key, "encoder": { "kind": "shared" } })
}
