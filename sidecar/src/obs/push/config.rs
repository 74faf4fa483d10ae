//! `[[push]]`: the platforms the show is pushed to besides OBS's own stream.
//!
//! ```toml
//! [[push]]
//! name = "bilibili"
//! server = "rtmp://live-push.example/live-bvc/"
//! key_env = "AIVS_PUSH_BILIBILI_KEY"   # or key_file = "secrets/bilibili.key"
//! preset = "bilibili"                  # douyin | kuaishou | bilibili: encoder defaults
//! encoder = "own"                      # or "shared": OBS's main stream encoders
//! with_main = true                     # start and stop with OBS's main stream
//! ```
//!
//! The key never sits in the config: it comes from the environment or a file next to it, is
//! read when the targets are applied, and is never printed (`Debug` shows whether it is set).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Encoder defaults per platform (seed 002's stream settings). The frame rate is OBS's own
/// (libobs 29 cannot give one output its own rate), so a preset's fps is not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Douyin,
    Kuaishou,
    Bilibili,
}

impl Preset {
    /// (width, height, video kbps, keyframe interval s).
    pub fn defaults(self) -> (u32, u32, u32, u32) {
        match self {
            Preset::Douyin => (1920, 1080, 2500, 2),
            Preset::Kuaishou => (1920, 1080, 2000, 2),
            Preset::Bilibili => (1920, 1080, 3000, 2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// Its own x264 encoder: its own size and bitrate, more CPU.
    #[default]
    Own,
    /// OBS's main stream encoders: no extra encoding, OBS's size and bitrate, and it needs
    /// the main stream to have been started.
    Shared,
}

/// One `[[push]]` entry as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTarget {
    pub name: String,
    /// `rtmp://…`, `rtmps://…` or `srt://…` (without the key).
    pub server: String,
    /// Environment variable that holds the stream key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// File that holds the stream key (relative to the config file), trimmed.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub preset: Option<Preset>,
    #[serde(default)]
    pub encoder: EncoderKind,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    pub keyint_secs: Option<u32>,
    /// x264 preset of an own encoder.
    #[serde(default = "default_x264_preset")]
    pub x264_preset: String,
    #[serde(default = "default_audio_kbps")]
    pub audio_bitrate_kbps: u32,
    /// Start and stop with OBS's main stream (default); false: only on command.
    #[serde(default = "yes")]
    pub with_main: bool,
    /// A target that is off is not given to OBS at all.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_x264_preset() -> String {
    "veryfast".into()
}
fn default_audio_kbps() -> u32 {
    128
}
fn yes() -> bool {
    true
}

impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key itself is never here; its source is named, which is not a secret.
        f.debug_struct("PushTarget")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("key_env", &self.key_env)
            .field("key_file", &self.key_file)
            .field("preset", &self.preset)
            .field("encoder", &self.encoder)
            .field("with_main", &self.with_main)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A target as the plugin takes it (`set_targets`, see `obs-plugin/README.md`).
#[derive(Clone, PartialEq, Serialize)]
pub struct WireTarget {
    pub name: String,
    pub server: String,
    pub key: String,
    pub encoder: WireEncoder,
    pub audio_bitrate_kbps: u32,
    pub with_main: bool,
}

impl fmt::Debug for WireTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireTarget")
            .field("name", &self.name)
            .field("server", &self.server)
            .field(
                "key",
                &if self.key.is_empty() {
                    "<unset>"
                } else {
                    "<redacted>"
                },
            )
            .field("encoder", &self.encoder)
            .field("with_main", &self.with_main)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireEncoder {
    pub kind: EncoderKind,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub keyint_secs: u32,
    pub preset: String,
}

/// Why a target cannot be used (the key's value never appears in it).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("push target {0:?}: {1}")]
    Invalid(String, String),
    #[error("push target {name:?}: stream key: {why}")]
    Key { name: String, why: String },
}

impl TargetError {
    /// The target it is about.
    pub fn target(&self) -> &str {
        match self {
            TargetError::Invalid(name, _) | TargetError::Key { name, .. } => name,
        }
    }
}

impl PushTarget {
    /// Checks what can be checked without the key (config load, `check-config`).
    pub fn validate(&self) -> Result<(), TargetError> {
        let bad = |why: &str| Err(TargetError::Invalid(self.name.clone(), why.to_string()));
        if self.name.trim().is_empty() || self.name.chars().count() > 64 {
            return bad("name must be 1 to 64 characters");
        }
        let scheme = self.server.split("://").next().unwrap_or_default();
        if !self.server.contains("://") || !["rtmp", "rtmps", "srt"].contains(&scheme) {
            return bad("server must be an rtmp://, rtmps:// or srt:// URL");
        }
        if self.key_env.is_some() == self.key_file.is_some() && scheme != "srt" {
            return bad(
                "give the stream key as key_env (an environment variable) or key_file, one of them",
            );
        }
        let (w, h, kbps, keyint) = self.encoder_settings();
        if self.encoder == EncoderKind::Own {
            // The plugin's limits (obs-plugin/README.md), checked here too so a mistake is
            // reported with the config's other errors instead of at the first push.
            if !(16..=4096).contains(&w) || !(16..=4096).contains(&h) || w % 2 + h % 2 != 0 {
                return bad("width and height must be even, 16 to 4096");
            }
            if !(200..=50_000).contains(&kbps) {
                return bad("bitrate_kbps must be 200 to 50000");
            }
            if !(1..=10).contains(&keyint) {
                return bad("keyint_secs must be 1 to 10");
            }
        }
        if !(32..=320).contains(&self.audio_bitrate_kbps) {
            return bad("audio_bitrate_kbps must be 32 to 320");
        }
        Ok(())
    }

    /// (width, height, kbps, keyint): explicit keys, else the preset, else 1280×720 2500 kbps.
    pub fn encoder_settings(&self) -> (u32, u32, u32, u32) {
        let (w, h, kbps, keyint) = self.preset.map_or((1280, 720, 2500, 2), Preset::defaults);
        (
            self.width.unwrap_or(w),
            self.height.unwrap_or(h),
            self.bitrate_kbps.unwrap_or(kbps),
            self.keyint_secs.unwrap_or(keyint),
        )
    }

    /// The target with its key, read now (`config_dir` anchors a relative `key_file`).
    pub fn resolve(&self, config_dir: &Path) -> Result<WireTarget, TargetError> {
        self.validate()?;
        let key_error = |why: String| TargetError::Key {
            name: self.name.clone(),
            why,
        };
        let key = match (&self.key_env, &self.key_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| key_error(format!("environment variable {var} is not set")))?,
            (None, Some(file)) => {
                let path = config_dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|e| key_error(format!("cannot read {}: {e}", path.display())))?
            }
            (None, None) => String::new(),
        };
        let key = key.trim().to_string();
        if key.is_empty() && !self.server.starts_with("srt://") {
            return Err(key_error("it is empty".into()));
        }
        let (width, height, bitrate_kbps, keyint_secs) = self.encoder_settings();
        Ok(WireTarget {
            name: self.name.clone(),
            server: self.server.clone(),
            key,
            encoder: WireEncoder {
                kind: self.encoder,
                width,
                height,
                bitrate_kbps,
                keyint_secs,
                preset: self.x264_preset.clone(),
            },
            audio_bitrate_kbps: self.audio_bitrate_kbps,
            with_main: self.with_main,
        })
    }
}

/// Every enabled target that can be resolved, and why the others cannot (a missing key must
/// not keep the show, or the other platforms, off the air).
pub fn resolve_all(
    targets: &[PushTarget],
    config_dir: &Path,
) -> (Vec<WireTarget>, Vec<TargetError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for target in targets.iter().filter(|t| t.enabled) {
        match target.resolve(config_dir) {
            Ok(wire) => ok.push(wire),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Checks every entry, and that names are unique (the plugin and the commands address
/// targets by name). The error comes with the entry's index.
pub fn check_all(targets: &[PushTarget]) -> Result<(), (usize, TargetError)> {
    for (i, t) in targets.iter().enumerate() {
        t.validate().map_err(|e| (i, e))?;
        if targets[..i].iter().any(|o| o.name == t.name) {
            return Err((
                i,
                TargetError::Invalid(t.name.clone(), "two [[push]] targets have this name".into()),
            ));
        }
    }
    Ok(())
}

/// Trigger steps that start or stop a target the config does not have, as
/// `file:line: trigger "name": …` (checked by `check-config` and at start).
pub fn unknown_in_triggers(
    rules: &[std::sync::Arc<crate::triggers::Rule>],
    targets: &[PushTarget],
) -> Vec<String> {
    let known: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let mut errors = Vec::new();
    for rule in rules {
        for (step, line) in &rule.steps {
            if let crate::triggers::Step::Push {
                target: Some(name), ..
            } = step
            {
                if !known.contains(&name.as_str()) {
                    errors.push(format!(
                        "{}:{line}: trigger {:?}: no [[push]] target is named {name:?} (the config has: {})",
                        rule.file,
                        rule.name,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(toml_text: &str) -> PushTarget {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn presets_fill_what_is_not_written_and_keys_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.key"), "live_123_secret\n").unwrap();
        let t = target(
            "name = \"b\"\nserver = \"rtmp://127.0.0.1/live\"\nkey_file = \"b.key\"\npreset = \"bilibili\"\nbitrate_kbps = 4000\n",
        );
        let wire = t.resolve(dir.path()).unwrap();
        assert_eq!(wire.key, "live_123_secret");
        assert_eq!(
            (
                wire.encoder.width,
                wire.encoder.bitrate_kbps,
                wire.encoder.keyint_secs
            ),
            (1920, 4000, 2)
        );
        assert!(wire.with_main);
        let shown = format!("{wire:?} {t:?}");
        assert!(!shown.contains("live_123_secret"), "{shown}");
    }

    #[test]
    fn triggers_naming_a_target_the_config_lacks_are_reported_with_their_line() {
        let set = crate::triggers::TriggerSet::parse(&[(
            "scenes/t.toml".into(),
            "[[trigger]]\nname = \"go\"\nwhen.follow = true\n[[trigger.do]]\nstart_stream = \"kuaishou\"\n[[trigger.do]]\nstop_stream = \"all\"\n".into(),
        )])
        .unwrap();
        let targets = [target(
            "name = \"bilibili\"\nserver = \"rtmp://h/a\"\nkey_env = \"X\"\n",
        )];
        let errors = unknown_in_triggers(set.rules(), &targets);
        assert_eq!(
            errors,
            vec!["scenes/t.toml:4: trigger \"go\": no [[push]] target is named \"kuaishou\" (the config has: bilibili)".to_string()]
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong_without_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let no_key = target("name = \"d\"\nserver = \"rtmp://h/live\"\n");
        assert!(no_key
            .validate()
            .unwrap_err()
            .to_string()
            .contains("key_env"));
        let http = target("name = \"d\"\nserver = \"http://h/live\"\nkey_env = \"X\"\n");
        assert!(http.validate().unwrap_err().to_string().contains("rtmp://"));
        let unset = target(
            "name = \"d\"\nserver = \"rtmp://h/live\"\nkey_env = \"AIVS_TEST_SURELY_UNSET_KEY\"\n",
        );
        assert_eq!(
            unset.resolve(dir.path()).unwrap_err().to_string(),
            "push target \"d\": stream key: environment variable AIVS_TEST_SURELY_UNSET_KEY is not set"
        );
        let odd =
            target("name = \"d\"\nserver = \"rtmp://h/live\"\nkey_env = \"X\"\nwidth = 1281\n");
        assert!(odd.validate().unwrap_err().to_string().contains("even"));
        let twice = [
            target("name = \"d\"\nserver = \"rtmp://h/a\"\nkey_env = \"X\"\n"),
            target("name = \"d\"\nserver = \"rtmp://h/b\"\nkey_env = \"Y\"\n"),
        ];
        assert_eq!(check_all(&twice).unwrap_err().0, 1);
    }
}
