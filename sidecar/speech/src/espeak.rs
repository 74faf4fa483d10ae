//! The local default engine: `espeak-ng`, run as a child process.
//!
//! Robotic, but it needs no account, no GPU and no download, and it starts speaking in ~50 ms,
//! which makes it the right default for an unattended show and for tests. Chinese needs the
//! `cmn-latn-pinyin` voice: plain `cmn` reads Han characters through English rules.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;

use super::audio::decode_wav;
use super::{Prosody, RawAudio, SpeechError, SpeechRequest, TtsEngine};

/// Cheap to clone: synthesis runs on the blocking pool with its own handle.
#[derive(Clone)]
pub struct Espeak {
    inner: Arc<Settings>,
}

struct Settings {
    program: String,
    voice: String,
    rate_wpm: u32,
    /// The child is killed past this (the rotation's attempt deadline).
    deadline: Duration,
    /// `espeak-ng --version`, asked once (part of the audio cache key).
    version: OnceLock<String>,
}

/// What the engine needs to know (from `[voice]`: `VoiceConfig::espeak_options`).
#[derive(Debug, Clone)]
pub struct EspeakOptions {
    pub program: String,
    pub voice: String,
    pub rate_wpm: u32,
    /// The child is killed past this; `None`: the default [`CHILD_DEADLINE`].
    pub deadline: Option<Duration>,
}

impl Espeak {
    pub fn new(options: EspeakOptions) -> Self {
        Self {
            inner: Arc::new(Settings {
                program: options.program,
                voice: options.voice,
                rate_wpm: options.rate_wpm,
                deadline: options.deadline.unwrap_or(CHILD_DEADLINE),
                version: OnceLock::new(),
            }),
        }
    }

    /// Synthesises on the calling thread (blocking): clean → espeak-ng → decoded samples.
    pub fn synthesize_blocking(&self, request: &SpeechRequest) -> Result<RawAudio, SpeechError> {
        let text = clean_text(&request.text);
        if text.is_empty() {
            return Err(SpeechError::EmptyText);
        }
        let voice = request.voice.as_deref().unwrap_or(&self.inner.voice);
        decode_streamed_wav(self.inner.run(&text, voice, request.prosody)?)
    }
}

impl Settings {
    /// Runs espeak-ng and returns its WAV output.
    fn run(&self, text: &str, voice: &str, prosody: Prosody) -> Result<Vec<u8>, SpeechError> {
        // Prosody: rate scales words per minute (espeak accepts 80–450); pitch is 0–99 around
        // 50, about 4 steps per semitone.
        let wpm = (self.rate_wpm as f32 * prosody.rate.clamp(0.5, 2.0)).round() as u32;
        let pitch = (50.0 + prosody.pitch_semitones * 4.0)
            .clamp(0.0, 99.0)
            .round() as u32;
        let wpm = wpm.clamp(80, 450).to_string();
        let pitch = pitch.to_string();
        run_with_stdin_within(
            &self.program,
            &["-v", voice, "-s", &wpm, "-p", &pitch, "--stdout"],
            text,
            self.deadline,
        )
    }
}

/// Decodes espeak-ng's `--stdout` output. It writes a WAV header with unknown (0xFFFFFFFF)
/// sizes when streaming; they are patched so a strict WAV reader accepts the data.
pub fn decode_streamed_wav(mut wav: Vec<u8>) -> Result<RawAudio, SpeechError> {
    if wav.len() > 44 && &wav[0..4] == b"RIFF" {
        let data_len = (wav.len() - 44) as u32;
        wav[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
        wav[40..44].copy_from_slice(&data_len.to_le_bytes());
    }
    let (samples, rate) = decode_wav(&wav)?;
    Ok(RawAudio { samples, rate })
}

/// How long a child process started without a deadline of its own may run (Piper's
/// phonemizer; tests). espeak-ng takes the rotation's attempt deadline instead.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(5);

/// [`run_with_stdin_within`] with [`CHILD_DEADLINE`].
pub fn run_with_stdin(program: &str, args: &[&str], text: &str) -> Result<Vec<u8>, SpeechError> {
    run_with_stdin_within(program, args, text, CHILD_DEADLINE)
}

/// Runs `program args…` with `text` on stdin and returns its stdout. Text goes through stdin,
/// never the command line: viewer-supplied text must not be able to look like an option. Shared
/// by the espeak-ng voice and Piper's espeak-ng phonemizer.
///
/// A child still running at `deadline` is killed (and reaped) and the call fails with
/// [`SpeechError::Timeout`]: a wedged espeak-ng must not hold a blocking-pool thread, nor pile
/// up processes, for the rest of the night. stdout and stderr are drained on their own threads
/// meanwhile, so a child writing more than a pipe holds never deadlocks against the wait.
pub fn run_with_stdin_within(
    program: &str,
    args: &[&str],
    text: &str,
    deadline: Duration,
) -> Result<Vec<u8>, SpeechError> {
    let spawn_err = |source| SpeechError::Spawn {
        program: program.to_string(),
        source,
    };
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    // A clause is far smaller than a pipe's buffer: this write never waits on the child.
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes());
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status = loop {
        match child.try_wait().map_err(spawn_err)? {
            Some(status) => break status,
            None if started.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SpeechError::Timeout {
                    engine: program.to_string(),
                    secs: deadline.as_secs_f64(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    written.map_err(spawn_err)?;
    let stdout = stdout.join().unwrap_or_default();
    if !status.success() {
        return Err(SpeechError::Failed {
            program: program.to_string(),
            status,
            stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default())
                .trim()
                .to_string(),
        });
    }
    Ok(stdout)
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Drops what a speech engine should not read out: control characters, emoji and symbols that
/// espeak would spell out by name ("~" becomes "tilde", "#" "hash"…). Decorative tildes and
/// similar marks carry tone in chat, not words.
pub fn clean_text(text: &str) -> String {
    const SPELLED_OUT: &[char] = &[
        '~', '～', '*', '#', '@', '^', '_', '|', '<', '>', '=', '+', '\\', '/', '`', '"', '＃',
        '＊',
    ];
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_control())
        .filter(|c| {
            let cp = *c as u32;
            !(0x1F000..=0x1FAFF).contains(&cp) && !(0x2600..=0x27BF).contains(&cp) && cp != 0xFE0F
        })
        .map(|c| if SPELLED_OUT.contains(&c) { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl TtsEngine for Espeak {
    fn name(&self) -> &str {
        "espeak-ng"
    }

    fn voices(&self) -> Vec<String> {
        vec![self.inner.voice.clone()]
    }

    fn version(&self) -> String {
        self.inner
            .version
            .get_or_init(|| {
                Command::new(&self.inner.program)
                    .arg("--version")
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "espeak-ng (version unknown)".into())
            })
            .clone()
    }

    fn synthesize<'a>(
        &'a self,
        request: &'a SpeechRequest,
    ) -> BoxFuture<'a, Result<RawAudio, SpeechError>> {
        let engine = self.clone();
        let request = request.clone();
        super::engine::on_blocking_pool("espeak-ng", move || engine.synthesize_blocking(&request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_child_past_its_deadline_is_killed_and_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let started = Instant::now();
        let err = run_with_stdin_within("sh", &["-c", &script], "", Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(err, SpeechError::Timeout { .. }), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
        assert!(!alive, "the child {pid} was left running");
    }

    #[test]
    fn a_child_that_writes_a_lot_is_read_whole() {
        let out = run_with_stdin_within(
            "sh",
            &["-c", "head -c 300000 /dev/zero"],
            "",
            CHILD_DEADLINE,
        )
        .unwrap();
        assert_eq!(out.len(), 300_000);
    }

    #[test]
    fn emoji_and_control_characters_are_not_read_out() {
        assert_eq!(clean_text("谢谢🎉老板\u{7}！❤️"), "谢谢老板！");
        assert_eq!(clean_text("欢迎小鹿~"), "欢迎小鹿");
        assert_eq!(clean_text("**加油** #1"), "加油 1");
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let engine = Espeak::new(
            crate::VoiceConfig {
                espeak_program: "/nonexistent/espeak".into(),
                ..Default::default()
            }
            .espeak_options(),
        );
        let err = engine
            .synthesize_blocking(&SpeechRequest::new("你好"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/espeak") && err.contains("install"),
            "{err}"
        );
    }

    /// Real espeak-ng (installed by scripts/install-deps.sh).
    #[tokio::test]
    async fn espeak_speaks_chinese_and_follows_the_prosody() {
        let engine = Espeak::new(crate::VoiceConfig::default().espeak_options());
        let mut request = SpeechRequest::new("感谢小明送的小心心，太开心了！");
        let normal = engine
            .synthesize(&request)
            .await
            .expect("espeak-ng must be installed");
        assert!(normal.duration_ms() > 1_000, "{} ms", normal.duration_ms());
        assert!(super::super::audio::rms_dbfs(&normal.samples) > -40.0);
        request.prosody.rate = 1.5;
        let fast = engine.synthesize(&request).await.unwrap();
        assert!(
            fast.duration_ms() * 10 < normal.duration_ms() * 9,
            "{} ms at 1.5x vs {} ms",
            fast.duration_ms(),
            normal.duration_ms()
        );
        assert!(engine.version().contains("eSpeak"), "{}", engine.version());
    }
}
