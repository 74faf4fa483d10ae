//! Sidecar settings, read from TOML (`config/default.toml` documents every key).
//!
//! Errors name the file, the key path and the line: a streamer editing a config at 3 am should
//! not have to guess which of forty keys is wrong. Every field has a default, so a config file
//! only needs the keys it changes. Secrets (OBS password, link token, platform credentials) may
//! instead come from the environment (`AIVS_OBS_PASSWORD`, `AIVS_LINK_TOKEN`,
//! `AIVS_DOUYIN_APP_SECRET`, `AIVS_DOUYIN_ACCESS_TOKEN`, `AIVS_BILIBILI_KEY`) and are never
//! printed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use aivs_core::template::Template;
use aivs_core::tiers::{Tier, TierTable};

// Each section's type lives with the module that uses it; this module assembles them.
pub use crate::link::LinkConfig;
pub use crate::obs::compliance::ComplianceConfig;
pub use crate::obs::push::PushTarget;
pub use crate::obs::ObsConfig;
pub use aivs_core::rewards::{GiftsConfig, TierLines};
pub use aivs_core::rundown::{RundownConfig, RundownMode};
pub use aivs_core::scheduler::SchedulerConfig;
pub use aivs_core::script::{LinesConfig, ReplyRule};
pub use aivs_core::template::PLACEHOLDERS;
pub use aivs_ingest::{RoomConfig, SourceConfig, SourceEntry, SourceKind, SourceSection};
pub use aivs_ledger::LedgerConfig;
pub use aivs_llm::PersonaConfig;
pub use aivs_speech::{EngineKind, VoiceConfig};
pub use paths::anchor;

mod paths;
mod ranges;
mod redact;
mod sources;
mod spans;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[source]` (one source, `kind` picks it) or `[[source]]` entries (all run at once).
    pub source: SourceSection,
    pub room: RoomConfig,
    pub link: LinkConfig,
    pub obs: ObsConfig,
    pub ledger: LedgerConfig,
    pub voice: VoiceConfig,
    pub scheduler: SchedulerConfig,
    /// The streamer's character: used by templates (`{name}`) and the LLM's system prompt.
    pub persona: PersonaConfig,
    pub gifts: GiftsConfig,
    pub lines: LinesConfig,
    /// The seller's rundown: products and their 话术 from `rundown.dir` (off by default).
    pub rundown: RundownConfig,
    /// LLM replies to comments (off by default: templates answer).
    pub llm: aivs_llm::LlmConfig,
    /// ONNX Runtime (Silero VAD, Piper voices).
    pub onnx: aivs_speech::onnx::OnnxConfig,
    /// `[[push]]`: platforms the show is pushed to besides OBS's main stream.
    pub push: Vec<PushTarget>,
    /// The operator's console, `/metrics` and health checks (`crate::console`).
    pub console: crate::console::ConsoleConfig,
    /// Where logs go besides the terminal (`crate::logs`).
    pub log: crate::logs::LogConfig,
    /// The virtual-anchor label, ensured in every scene.
    pub compliance: ComplianceConfig,
}

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates; `path` names the file in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |key: String, span: Option<std::ops::Range<usize>>, message: String| {
            // Checks after deserialising know the key, not where it is: look it up.
            let span = span.or_else(|| spans::key_span(text, &key));
            let (line, column) = span.map_or((0, 0), |s| line_col(text, s.start));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                line,
                column,
                message,
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid("(syntax)".into(), e.span(), e.message().to_string()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            // A `[[source]]` entry is read kind first, which loses the place of what is wrong
            // inside it: read that entry again from the text to find its key and line.
            let entry = key
                .strip_prefix("source[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|index| index.parse().ok())
                .and_then(|index| sources::entry_error(text, index));
            if let Some((key, span, message)) = entry {
                return invalid(key, span, message);
            }
            let inner = e.into_inner();
            invalid(key, inner.span(), inner.message().to_string())
        })?;
        config
            .validate()
            .map_err(|(key, span, message)| invalid(key, span, message))?;
        // Every path from here on is relative to the config file (see `paths`).
        let base = path.parent().unwrap_or(Path::new(""));
        let mut config = config;
        paths::resolve(&mut config, text, base);
        // Extra safety word lists are read now, so a missing one is reported with the config's
        // other errors.
        config
            .llm
            .load_safety_lists(base)
            .map_err(|(span, message)| invalid("llm.safety_lists".into(), Some(span), message))?;
        Ok(config)
    }

    /// Checks what serde cannot: template syntax, tier bounds, ranges.
    fn validate(&self) -> Result<(), (String, Option<std::ops::Range<usize>>, String)> {
        ranges::check(self).map_err(|(key, message)| (key, None, message))?;
        TierTable::from_yuan(self.gifts.tier_max_yuan)
            .map_err(|e| ("gifts.tier_max_yuan".to_string(), None, e.to_string()))?;
        for (key, lines) in self.all_lines() {
            if lines.is_empty() && !key.starts_with("lines.reply") {
                return Err((key, None, "needs at least one line".into()));
            }
            for (i, line) in lines.iter().enumerate() {
                Template::parse_with_placeholders(line.get_ref(), PLACEHOLDERS)
                    .map_err(|e| (format!("{key}[{i}]"), Some(line.span()), e.to_string()))?;
            }
        }
        let s = &self.scheduler;
        if !(0.0..=1.0).contains(&s.late_progress) {
            return Err((
                "scheduler.late_progress".into(),
                None,
                "must be between 0 and 1".into(),
            ));
        }
        if s.interrupt_gap_late < s.interrupt_gap {
            return Err((
                "scheduler.interrupt_gap_late".into(),
                None,
                "must be at least scheduler.interrupt_gap".into(),
            ));
        }
        self.gifts
            .rates
            .validate()
            .map_err(|message| ("gifts.rates".to_string(), None, message))?;
        if !(1..=4).contains(&self.gifts.celebrate_from_tier) {
            return Err((
                "gifts.celebrate_from_tier".into(),
                None,
                "must be 1..=4".into(),
            ));
        }
        self.rundown
            .validate()
            .map_err(|(key, message)| (key, None, message))?;
        sources::check(&self.source)?;
        crate::obs::push::config::check_all(&self.push)
            .map_err(|(index, e)| (format!("push[{index}]"), None, e.to_string()))?;
        self.obs
            .validate()
            .map_err(|(key, message)| (key, None, message))?;
        self.compliance
            .validate()
            .map_err(|(key, message)| (key, None, message))?;
        if !(self.room.speed > 0.0 && self.room.speed.is_finite()) {
            return Err((
                "room.speed".into(),
                None,
                "must be a positive number".into(),
            ));
        }
        Ok(())
    }

    fn all_lines(&self) -> Vec<(String, &Vec<Spanned<String>>)> {
        let t = &self.gifts.thanks;
        let l = &self.lines;
        let mut all = vec![
            ("gifts.thanks.tier1".to_string(), &t.tier1),
            ("gifts.thanks.tier2".to_string(), &t.tier2),
            ("gifts.thanks.tier3".to_string(), &t.tier3),
            ("gifts.thanks.tier4".to_string(), &t.tier4),
            ("gifts.with_message".to_string(), &self.gifts.with_message),
            (
                "gifts.captions.latest_gift".to_string(),
                &self.gifts.captions.latest_gift,
            ),
            (
                "gifts.captions.celebration".to_string(),
                &self.gifts.captions.celebration,
            ),
            (
                "gifts.captions.thanked_in_text".to_string(),
                &self.gifts.captions.thanked_in_text,
            ),
            ("gifts.aggregate".to_string(), &self.gifts.aggregate),
            ("gifts.aggregate_few".to_string(), &self.gifts.aggregate_few),
            ("lines.follow".to_string(), &l.follow),
            ("lines.share".to_string(), &l.share),
            ("lines.welcome".to_string(), &l.welcome),
            ("lines.idle".to_string(), &l.idle),
            ("lines.default_reply".to_string(), &l.default_reply),
            ("lines.deflect".to_string(), &l.deflect),
        ];
        all.extend(
            l.reply
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("lines.reply[{i}].say"), &r.say)),
        );
        all
    }

    pub fn tier_table(&self) -> TierTable {
        self.gifts.tier_table()
    }

    pub fn celebrate_from(&self) -> Tier {
        self.gifts.celebrate_from()
    }

    /// Fills secrets from the environment when the file leaves them empty.
    pub fn apply_env(&mut self) {
        if let Ok(pw) = std::env::var("AIVS_OBS_PASSWORD") {
            if self.obs.password.is_empty() {
                self.obs.password = pw;
            }
        }
        if let Ok(token) = std::env::var("AIVS_LINK_TOKEN") {
            if self.link.token.is_empty() {
                self.link.token = token;
            }
        }
        if let Ok(token) = std::env::var("AIVS_CONSOLE_TOKEN") {
            if self.console.token.is_empty() {
                self.console.token = token;
            }
        }
        for entry in self.source.settings_mut() {
            match entry {
                SourceEntry::DouyinOpenPlatform(open) => {
                    if let Ok(secret) = std::env::var(aivs_ingest::open_platform::APP_SECRET_ENV) {
                        if open.app_secret.is_empty() {
                            open.app_secret = secret;
                        }
                    }
                    if let Ok(token) = std::env::var("AIVS_DOUYIN_ACCESS_TOKEN") {
                        open.access_token.get_or_insert(token);
                    }
                }
                SourceEntry::Bilibili(bilibili) => {
                    if let Ok(key) = std::env::var("AIVS_BILIBILI_KEY") {
                        bilibili.key.get_or_insert(key);
                    }
                }
                _ => {}
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn shipped_default_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.toml");
        let config = Config::load(&path).unwrap();
        assert!(config.link.bind.ip().is_loopback());
        assert!(!config.gifts.thanks.tier4.is_empty());
    }

    #[test]
    fn the_label_is_off_only_with_a_reason_named_by_key_and_line() {
        let err = parse("[room]\nspeed = 1.0\n\n[compliance]\nlabel = false\n").unwrap_err();
        let ConfigError::Invalid { key, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((key.as_str(), *line), ("compliance.label", 5), "{err}");
        let ok =
            parse("[compliance]\nlabel = false\nlabel_off_reason = \"平台自带标识\"\n").unwrap();
        assert!(!ok.compliance.label);
        assert!(parse("").unwrap().compliance.label, "on by default");
    }

    #[test]
    fn empty_config_means_all_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.scheduler.interrupt_gap, 5);
        assert_eq!(config.gifts.tier_max_yuan, [1.0, 10.0, 100.0]);
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err = parse("[voice]\nespeak_voice = \"x\"\nrate_wpm = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("voice.rate_wpm"), "{err}");
        assert!(err.contains("test.toml:3:"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("[scheduler]\n\ninterupt_gap = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("interupt_gap"), "{err}");
        assert!(err.contains(":3:"), "{err}");
    }

    #[test]
    fn syntax_error_gives_line() {
        let err = parse("[obs]\nport = = 1\n").unwrap_err().to_string();
        assert!(err.contains("test.toml:2:"), "{err}");
    }

    #[test]
    fn bad_template_names_key_and_line() {
        let text = "[gifts.thanks]\ntier1 = [\"ok\"]\ntier2 = [\"fine\", \"谢谢{user|\"]\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("gifts.thanks.tier2[1]"), "{err}");
        assert!(err.contains("test.toml:3:"), "{err}");
        assert!(err.contains("unclosed"), "{err}");
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let err = parse("[lines]\nfollow = [\"谢谢{usr}\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lines.follow[0]") && err.contains("{usr}"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = parse("[gifts]\ntier_max_yuan = [10, 5, 100]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gifts.tier_max_yuan"), "{err}");
        let err = parse("[scheduler]\ninterrupt_gap = 9\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheduler.interrupt_gap_late"), "{err}");
    }

    #[test]
    fn obs_timeouts_must_be_positive_and_finite() {
        for bad in ["0", "-1", "nan", "inf", "1e300"] {
            let err = parse(&format!("[obs]\nrequest_timeout_secs = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("obs.request_timeout_secs"), "{bad}: {err}");
        }
        let err = parse("[obs]\nconnect_timeout_secs = 0.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("obs.connect_timeout_secs"), "{err}");
        let err = parse("[obs]\nretry_secs = 5.0\nretry_max_secs = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("obs.retry_max_secs"), "{err}");
        let ok = parse("[obs]\nrequest_timeout_secs = 0.5\n").unwrap();
        assert_eq!(ok.obs.request_timeout_secs, 0.5);
    }

    #[test]
    fn config_reads_extra_lists_relative_to_itself_and_names_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("aivs-safety-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lists")).unwrap();
        std::fs::write(dir.join("lists/loans.txt"), "快速借\n").unwrap();
        let path = dir.join("show.toml");
        std::fs::write(&path, "[llm]\nsafety_lists = [\"lists\"]\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.llm.extra_lists.len(), 1);
        assert_eq!(
            config.llm.extra_lists[0].category,
            aivs_llm::safety::Category::Loans
        );
        assert_eq!(config.llm.extra_lists[0].terms, ["快速借"]);
        std::fs::write(&path, "[llm]\nsafety_lists = [\"lists/nope.txt\"]\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("llm.safety_lists") && err.contains("nope.txt") && err.contains(":2:"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rundown_keys_are_read_and_checked() {
        let config = parse("[rundown]\nenabled = true\nmode = \"activity\"\n").unwrap();
        assert!(config.rundown.enabled);
        assert_eq!(config.rundown.mode, RundownMode::Activity);
        let err = parse("[rundown]\n\nmode = \"random\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rundown.mode") && err.contains(":3:"), "{err}");
        let err = parse("[rundown]\nurge_from = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rundown.urge_from") && err.contains(":2:"),
            "{err}"
        );
    }

    #[test]
    fn the_persona_is_the_top_level_section() {
        let top: Config =
            toml::from_str("[persona]\nname = \"阿星\"\nrules = [\"不剧透\"]").unwrap();
        assert_eq!(top.persona.name, "阿星");
        assert_eq!(top.persona.rules, ["不剧透"]);
    }
}
