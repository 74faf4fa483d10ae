//! The local default engine: `espeak-ng`, run as a child process.
//!
//! Robotic, but it needs no account, no GPU and no download, and it starts speaking in ~50 ms,
//! which makes it the right default for an unattended show and for tests. Chinese needs the
//! `cmn-latn-pinyin` voice: plain `cmn` reads Han characters through English rules.

use std::io::Write;
use std::process::{Command, Stdio};

use super::audio::{decode_wav, finish_clip, Clip};
use super::{SpeechEngine, SpeechError};
use crate::config::VoiceConfig;

pub struct Espeak {
    program: String,
    voice: String,
    rate_wpm: u32,
    loudness_dbfs: f32,
}

impl Espeak {
    pub fn new(config: &VoiceConfig) -> Self {
        Self {
            program: config.espeak_program.clone(),
            voice: config.espeak_voice.clone(),
            rate_wpm: config.rate_wpm,
            loudness_dbfs: config.loudness_dbfs,
        }
    }

    /// Runs espeak-ng and returns its WAV output.
    fn run(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        let spawn_err = |source| SpeechError::Spawn {
            program: self.program.clone(),
            source,
        };
        // Text goes through stdin, never the command line: viewer-supplied text must not be
        // able to look like an option.
        let mut child = Command::new(&self.program)
            .args([
                "-v",
                &self.voice,
                "-s",
                &self.rate_wpm.to_string(),
                "--stdout",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())
            .map_err(spawn_err)?;
        let output = child.wait_with_output().map_err(spawn_err)?;
        if !output.status.success() {
            return Err(SpeechError::Failed {
                program: self.program.clone(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output.stdout)
    }
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

impl SpeechEngine for Espeak {
    fn name(&self) -> &str {
        "espeak-ng"
    }

    fn synthesize(&self, text: &str) -> Result<Clip, SpeechError> {
        let text = clean_text(text);
        if text.is_empty() {
            return Err(SpeechError::EmptyText);
        }
        // espeak-ng --stdout writes a WAV header with unknown (0xFFFFFFFF) sizes when streaming;
        // patch them so a strict WAV reader accepts the data.
        let mut wav = self.run(&text)?;
        if wav.len() > 44 && &wav[0..4] == b"RIFF" {
            let data_len = (wav.len() - 44) as u32;
            wav[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
            wav[40..44].copy_from_slice(&data_len.to_le_bytes());
        }
        let (samples, rate) = decode_wav(&wav)?;
        finish_clip(&samples, rate, self.loudness_dbfs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_and_control_characters_are_not_read_out() {
        assert_eq!(clean_text("谢谢🎉老板\u{7}！❤️"), "谢谢老板！");
        assert_eq!(clean_text("欢迎小鹿~"), "欢迎小鹿");
        assert_eq!(clean_text("**加油** #1"), "加油 1");
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let engine = Espeak::new(&VoiceConfig {
            espeak_program: "/nonexistent/espeak".into(),
            ..Default::default()
        });
        let err = engine.synthesize("你好").unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/espeak") && err.contains("install"),
            "{err}"
        );
    }

    /// Real espeak-ng (installed by scripts/install-deps.sh).
    #[test]
    fn espeak_speaks_chinese_at_the_loudness_target() {
        let engine = Espeak::new(&VoiceConfig::default());
        let clip = engine
            .synthesize("感谢小明送的小心心，太开心了！")
            .expect("espeak-ng must be installed");
        assert!(clip.duration_ms() > 1_000, "{} ms", clip.duration_ms());
        let f: Vec<f32> = clip.samples.iter().map(|&v| v as f32 / 32767.0).collect();
        assert!((super::super::audio::rms_dbfs(&f) + 20.0).abs() < 2.0);
    }
}
