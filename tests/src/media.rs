//! Inspecting what OBS produced: recordings through `ffmpeg`/`ffprobe` subprocesses (the
//! tools every CI image with OBS already has, and that read every container OBS writes), and
//! obs-websocket screenshots.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, ensure, Context, Result};
use base64::Engine as _;
use serde::Deserialize;

/// dBFS reported for a window of digital silence (instead of minus infinity).
pub const SILENCE_DBFS: f32 = -120.0;

/// One decoded video frame, tightly packed RGB24.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbFrame {
    /// Presentation time in seconds from the start of the extracted range (`index / fps`).
    pub t: f64,
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row-major.
    pub data: Vec<u8>,
}

impl RgbFrame {
    /// The pixel at (`x`, `y`).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel out of bounds");
        let i = ((y * self.width + x) * 3) as usize;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Average colour over the whole frame.
    pub fn mean_rgb(&self) -> [f64; 3] {
        let mut sum = [0u64; 3];
        for px in self.data.chunks_exact(3) {
            for (s, &c) in sum.iter_mut().zip(px) {
                *s += u64::from(c);
            }
        }
        let n = (self.data.len() / 3).max(1) as f64;
        sum.map(|s| s as f64 / n)
    }
}

/// One stream of a media file, as `ffprobe` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamInfo {
    pub index: u32,
    /// `"video"`, `"audio"`, ...
    pub codec_type: String,
    /// e.g. `"h264"`, `"aac"`.
    #[serde(default)]
    pub codec_name: String,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub sample_rate: Option<String>,
    #[serde(default)]
    pub channels: Option<u32>,
}

/// Runs a tool to completion and returns its stdout, turning a missing executable or a
/// failure into an error that says what to do / what the tool printed.
fn run_capture(program: &str, args: &[&str]) -> Result<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("`{program}` not found: install ffmpeg (scripts/install-deps.sh)")
            } else {
                anyhow!(e).context(format!("spawning {program}"))
            }
        })?;
    // Drain stderr on a thread: decoding a long recording can fill the stderr pipe while we
    // are still reading stdout, which would deadlock both sides.
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut stdout)?;
    let status = child.wait()?;
    let stderr = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "{program} {} failed ({status}): {}",
            args.join(" "),
            stderr.trim()
        );
    }
    Ok(stdout)
}

fn path_arg(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", path.display()))
}

/// Container duration in seconds.
pub fn probe_duration(path: &Path) -> Result<f64> {
    let out = run_capture(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=noprint_wrappers=1:nokey=1",
            path_arg(path)?,
        ],
    )?;
    let text = String::from_utf8_lossy(&out);
    text.trim()
        .parse()
        .with_context(|| format!("ffprobe gave no duration for {}: {text:?}", path.display()))
}

/// All streams in a media file.
pub fn probe_streams(path: &Path) -> Result<Vec<StreamInfo>> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        streams: Vec<StreamInfo>,
    }
    let out = run_capture(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=index,codec_type,codec_name,width,height,sample_rate,channels",
            "-of",
            "json",
            path_arg(path)?,
        ],
    )?;
    let probe: Probe = serde_json::from_slice(&out).context("parsing ffprobe JSON")?;
    Ok(probe.streams)
}

/// The first audio stream, downmixed to mono and resampled to `rate` Hz, as f32 samples.
pub fn extract_audio_mono_f32(path: &Path, rate: u32) -> Result<Vec<f32>> {
    let rate = rate.to_string();
    let out = run_capture(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path_arg(path)?,
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            &rate,
            "-f",
            "f32le",
            "-",
        ],
    )?;
    Ok(out
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Video frames sampled at `fps`, optionally cropped to `(x, y, w, h)`, as RGB24.
pub fn extract_frames_rgb(
    path: &Path,
    fps: f64,
    crop: Option<(u32, u32, u32, u32)>,
) -> Result<Vec<RgbFrame>> {
    // Recordings are 4:2:0: ffmpeg rounds a crop to even sizes and offsets, and a frame of a
    // different width than expected would skew every row. Round here, so both sides agree.
    let crop = crop.map(|(x, y, w, h)| (x & !1, y & !1, w & !1, h & !1));
    ensure!(fps > 0.0, "fps must be positive");
    let (width, height) = match crop {
        Some((_, _, w, h)) => (w, h),
        None => {
            let video = probe_streams(path)?
                .into_iter()
                .find(|s| s.codec_type == "video")
                .ok_or_else(|| anyhow!("{} has no video stream", path.display()))?;
            match (video.width, video.height) {
                (Some(w), Some(h)) => (w, h),
                _ => bail!("ffprobe reported no frame size for {}", path.display()),
            }
        }
    };
    ensure!(width > 0 && height > 0, "empty frame size {width}x{height}");
    let mut filter = format!("fps={fps}");
    if let Some((x, y, w, h)) = crop {
        filter.push_str(&format!(",crop={w}:{h}:{x}:{y}"));
    }
    let out = run_capture(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path_arg(path)?,
            "-map",
            "0:v:0",
            "-vf",
            &filter,
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
    )?;
    let frame_len = (width * height * 3) as usize;
    Ok(out
        .chunks_exact(frame_len)
        .enumerate()
        .map(|(i, data)| RgbFrame {
            t: i as f64 / fps,
            width,
            height,
            data: data.to_vec(),
        })
        .collect())
}

/// RMS level in dBFS (a full-scale square wave is 0 dBFS, a full-scale sine about -3 dBFS)
/// of consecutive `window_s`-second windows. A trailing partial window is dropped so that every
/// value covers the same duration; digital silence reads [`SILENCE_DBFS`].
pub fn rms_windows(samples: &[f32], rate: u32, window_s: f64) -> Vec<f32> {
    let window = (f64::from(rate) * window_s).round() as usize;
    if window == 0 {
        return Vec::new();
    }
    samples
        .chunks_exact(window)
        .map(|chunk| {
            let mean_square = chunk
                .iter()
                .map(|&s| f64::from(s) * f64::from(s))
                .sum::<f64>()
                / window as f64;
            let db = 10.0 * mean_square.log10(); // 20*log10(sqrt(ms))
            (db as f32).max(SILENCE_DBFS)
        })
        .collect()
}

/// Decodes a PNG given as base64, with or without the `data:image/png;base64,` prefix that
/// obs-websocket's `GetSourceScreenshot` puts in front.
pub fn decode_png_base64(s: &str) -> Result<image::RgbaImage> {
    let payload = match s.strip_prefix("data:") {
        Some(rest) => rest
            .split_once(',')
            .map(|(_, data)| data)
            .ok_or_else(|| anyhow!("data URL without a comma"))?,
        None => s,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .context("decoding base64 screenshot")?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .context("decoding PNG screenshot")?;
    Ok(img.to_rgba8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f64, amplitude: f32) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                amplitude * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            })
            .collect()
    }

    #[test]
    fn rms_of_tone_then_silence() {
        let rate = 16_000;
        let mut samples = tone(rate, 1.0, 1.0);
        samples.extend(std::iter::repeat_n(0.0, rate as usize));
        // Half a window extra, which must be dropped.
        samples.extend(std::iter::repeat_n(0.5, rate as usize / 20));

        let levels = rms_windows(&samples, rate, 0.1);
        assert_eq!(levels.len(), 20);
        for &db in &levels[..10] {
            // Full-scale sine: 20*log10(1/sqrt(2)) = -3.01 dBFS.
            assert!((db + 3.01).abs() < 0.05, "tone window at {db} dBFS");
        }
        for &db in &levels[10..] {
            assert_eq!(db, SILENCE_DBFS);
        }
    }

    #[test]
    fn rms_scales_with_amplitude() {
        let levels = rms_windows(&tone(48_000, 0.5, 0.1), 48_000, 0.25);
        assert_eq!(levels.len(), 2);
        for db in levels {
            assert!((db + 23.01).abs() < 0.05, "{db}");
        }
    }

    #[test]
    fn rms_with_zero_window_is_empty() {
        assert!(rms_windows(&[0.1; 10], 16_000, 0.0).is_empty());
    }

    fn png_base64(img: &image::RgbaImage) -> String {
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    }

    #[test]
    fn decodes_screenshot_data_url() {
        let img = image::RgbaImage::from_fn(8, 4, |x, _| {
            if x < 4 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 255, 128])
            }
        });
        let url = format!("data:image/png;base64,{}", png_base64(&img));
        let decoded = decode_png_base64(&url).unwrap();
        assert_eq!(decoded, img);
        // The bare base64 form works too.
        assert_eq!(decode_png_base64(&png_base64(&img)).unwrap(), img);
    }

    #[test]
    fn rejects_garbage_screenshot() {
        assert!(decode_png_base64("data:image/png;base64,not*base64").is_err());
        assert!(decode_png_base64("data:image/png;base64").is_err());
        // Valid base64, but not a PNG.
        assert!(decode_png_base64("aGVsbG8=").is_err());
    }

    #[test]
    fn frame_pixel_and_mean() {
        let frame = RgbFrame {
            t: 0.0,
            width: 2,
            height: 1,
            data: vec![255, 0, 0, 0, 0, 255],
        };
        assert_eq!(frame.pixel(1, 0), [0, 0, 255]);
        assert_eq!(frame.mean_rgb(), [127.5, 0.0, 127.5]);
    }
}
