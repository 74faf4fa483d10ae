//! Sidecar settings, read from TOML (`config/default.toml` documents every key).
//!
//! Errors name the file, the key path and the line: a streamer editing a config at 3 am should
//! not have to guess which of forty keys is wrong. Every field has a default, so a config file
//! only needs the keys it changes. Secrets (OBS password, link token, platform credentials) may
//! instead come from the environment (`AIVS_OBS_PASSWORD`, `AIVS_LINK_TOKEN`,
//! `AIVS_DOUYIN_APP_SECRET`, `AIVS_DOUYIN_ACCESS_TOKEN`, `AIVS_BILIBILI_KEY`) and are never
//! printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::rewards::tiers::{Tier, TierTable};
use crate::template::Template;

mod ranges;
mod redact;
mod spans;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: SourceConfig,
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
    /// LLM replies to comments (off by default: templates answer).
    pub llm: crate::llm::LlmConfig,
    /// ONNX Runtime (Silero VAD, Piper voices).
    pub onnx: crate::onnx::OnnxConfig,
}

/// Where live-room events come from: `kind` picks the adapter, its section holds its settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub douyin: Option<crate::source::douyin::DouyinConfig>,
    pub douyin_open_platform: Option<crate::source::open_platform::OpenPlatformConfig>,
    pub barrage_grab: Option<crate::source::barrage_grab::BarrageGrabConfig>,
    pub bilibili: Option<crate::source::bilibili::BilibiliConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum SourceKind {
    /// A recorded room (`room.replay`).
    #[default]
    Replay,
    /// Douyin's web live-room WebSocket (`[source.douyin]`).
    Douyin,
    /// Douyin Open Platform live-data push to a webhook (`[source.douyin_open_platform]`).
    DouyinOpenPlatform,
    /// DouyinBarrageGrab's local WebSocket (`[source.barrage_grab]`).
    BarrageGrab,
    /// Bilibili live danmaku (`[source.bilibili]`).
    Bilibili,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomConfig {
    /// Replay file (JSON Lines) to play as the live room.
    pub replay: PathBuf,
    /// Playback speed of the replay (1.0 = real time).
    pub speed: f64,
}

/// `Debug` is in `redact.rs`: it never prints the token.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Where the avatar link listens. Loopback by default; anything else is logged as a warning.
    pub bind: SocketAddr,
    /// Token avatar clients must prove they know (`avatar_link::auth`; they never send it).
    /// Empty: a random one is made at start (and handed to the OBS source through obs-websocket).
    pub token: String,
}

/// `Debug` is in `redact.rs`: it never prints the password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObsConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub password: String,
    /// Directory of scene definitions (`*.toml`).
    pub scenes_dir: PathBuf,
    /// Record the program output while the show runs.
    pub record: bool,
    /// Switch the program to the main scene when the show starts.
    pub start_on_main: bool,
    /// Seconds between reconnection attempts while OBS is unreachable (doubles each time, up
    /// to `retry_max_secs`).
    pub retry_secs: f64,
    /// Longest wait between reconnection attempts: bounds how long a restarted OBS stays bare.
    pub retry_max_secs: f64,
    /// Seconds one obs-websocket request may take. An unanswered request (a frozen OBS) counts
    /// as a lost connection: the client is dropped and the controller reconnects.
    pub request_timeout_secs: f64,
    /// Seconds to open the WebSocket and finish obs-websocket's handshake.
    pub connect_timeout_secs: f64,
}

impl ObsConfig {
    /// Every duration must be a positive, finite number of seconds.
    fn validate(&self) -> Result<(), (String, String)> {
        let durations = [
            ("retry_secs", self.retry_secs),
            ("retry_max_secs", self.retry_max_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
        ];
        for (key, secs) in durations {
            // Also caps at a day: Duration::from_secs_f64 panics on absurdly large values.
            if !(secs > 0.0 && secs <= 86_400.0) {
                return Err((
                    format!("obs.{key}"),
                    "must be a positive number of seconds (at most 86400)".into(),
                ));
            }
        }
        if self.retry_max_secs < self.retry_secs {
            return Err((
                "obs.retry_max_secs".into(),
                "must be at least obs.retry_secs".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Local TTS program (espeak-ng).
    pub espeak_program: String,
    /// espeak-ng voice; `cmn-latn-pinyin` reads Chinese characters correctly.
    pub espeak_voice: String,
    /// Speaking rate in words per minute.
    pub rate_wpm: u32,
    /// Loudness target (RMS dBFS, seed 000).
    pub loudness_dbfs: f32,
    /// TTS engines in order of preference; the rotation falls back along this list.
    pub engines: Vec<EngineKind>,
    pub gpt_sovits: crate::speech::gpt_sovits::GptSovitsConfig,
    pub edge_tts: crate::speech::edge_tts::EdgeTtsConfig,
    pub piper: crate::speech::piper::PiperConfig,
    pub rotation: crate::speech::rotation::RotationConfig,
    /// How lines are cut into TTS requests.
    pub textnorm: crate::speech::textnorm::TextNormConfig,
    /// The checks every clip passes before it may air.
    pub vad: crate::speech::vad::VadConfig,
    pub cache: crate::speech::cache::CacheConfig,
}

/// A TTS engine of `[voice] engines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// espeak-ng, local, zero setup (`espeak_program`, `espeak_voice`).
    Espeak,
    /// A GPT-SoVITS api_v2 server (`[voice.gpt_sovits]`).
    GptSovits,
    /// Microsoft Edge's read-aloud voices (`[voice.edge_tts]`; needs the internet).
    EdgeTts,
    /// A Piper ONNX voice (`[voice.piper] model`).
    Piper,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Priority gap needed to interrupt what is playing (seed 000: 5).
    pub interrupt_gap: i32,
    /// Gap needed once more than `late_progress` of it has played (seed 000: 8).
    pub interrupt_gap_late: i32,
    pub late_progress: f32,
    /// Unpaid lines waiting at most; beyond, the least urgent is dropped (paid lines never are).
    pub max_queued_unpaid: usize,
    /// A reply to a comment older than this is stale and skipped.
    pub reply_ttl_secs: u64,
    /// Comments containing one of these are "important" (priority 0 instead of 5).
    pub important_keywords: Vec<String>,
    /// Viewers at or above this level get VIP priority for comments.
    pub vip_level: u32,
    /// Seconds of silence after which the avatar says an idle line.
    pub idle_after_secs: u64,
    /// At most one welcome line per this many seconds.
    pub welcome_every_secs: u64,
}

pub use crate::llm::PersonaConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GiftsConfig {
    /// Price overrides in diamonds per gift id (10 diamonds = 1 CNY), for gifts whose price the
    /// platform does not send or sends wrong. Applied to every source before the ledger.
    pub diamonds: std::collections::BTreeMap<String, u64>,
    /// Upper bounds in yuan of tiers 1, 2 and 3; above the last is tier 4 (seed 002).
    pub tier_max_yuan: [f64; 3],
    pub combo_idle_ms: u64,
    pub combo_max_hold_ms: u64,
    /// Gifts of this tier or above switch OBS to the celebration scene.
    pub celebrate_from_tier: u8,
    pub celebration_secs: f64,
    pub thanks: TierLines,
    /// Expression shown while thanking, per tier.
    pub expression: [String; 4],
    /// Motion played when thanking, per tier.
    pub motion: [String; 4],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierLines {
    pub tier1: Vec<Spanned<String>>,
    pub tier2: Vec<Spanned<String>>,
    pub tier3: Vec<Spanned<String>>,
    pub tier4: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinesConfig {
    pub follow: Vec<Spanned<String>>,
    pub share: Vec<Spanned<String>>,
    pub welcome: Vec<Spanned<String>>,
    pub idle: Vec<Spanned<String>>,
    pub default_reply: Vec<Spanned<String>>,
    /// Said instead of any reply to a comment the safety screen flags as political: a neutral
    /// deflection, never agreement (see `script.rs`).
    pub deflect: Vec<Spanned<String>>,
    pub reply: Vec<ReplyRule>,
}

/// Comments containing any keyword get one of `say`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    pub keywords: Vec<String>,
    pub say: Vec<Spanned<String>>,
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

/// Placeholders every line template may use.
pub const PLACEHOLDERS: &[&str] = &["user", "gift", "count", "value", "name", "text", "online"];

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates; `path` is only used in messages.
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
            let inner = e.into_inner();
            invalid(key, inner.span(), inner.message().to_string())
        })?;
        config
            .validate()
            .map_err(|(key, span, message)| invalid(key, span, message))?;
        // Extra safety word lists are read now, relative to the config file, so a missing one
        // is reported with the config's other errors.
        let mut config = config;
        config
            .llm
            .load_safety_lists(path.parent().unwrap_or(Path::new("")))
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
        if !(1..=4).contains(&self.gifts.celebrate_from_tier) {
            return Err((
                "gifts.celebrate_from_tier".into(),
                None,
                "must be 1..=4".into(),
            ));
        }
        let src = &self.source;
        let has_section = match src.kind {
            SourceKind::Replay => true,
            SourceKind::Douyin => src.douyin.is_some(),
            SourceKind::DouyinOpenPlatform => src.douyin_open_platform.is_some(),
            SourceKind::BarrageGrab => src.barrage_grab.is_some(),
            SourceKind::Bilibili => src.bilibili.is_some(),
        };
        if !has_section {
            return Err((
                "source.kind".into(),
                None,
                "this source needs its own [source.<kind>] section with the room to connect to"
                    .into(),
            ));
        }
        self.obs
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
        TierTable::from_yuan(self.gifts.tier_max_yuan).unwrap_or_default()
    }

    pub fn celebrate_from(&self) -> Tier {
        Tier::ALL[(self.gifts.celebrate_from_tier.clamp(1, 4) - 1) as usize]
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
        if let Some(open) = &mut self.source.douyin_open_platform {
            if let Ok(secret) = std::env::var(crate::source::open_platform::APP_SECRET_ENV) {
                if open.app_secret.is_empty() {
                    open.app_secret = secret;
                }
            }
            if let Ok(token) = std::env::var("AIVS_DOUYIN_ACCESS_TOKEN") {
                open.access_token.get_or_insert(token);
            }
        }
        if let Some(bilibili) = &mut self.source.bilibili {
            if let Ok(key) = std::env::var("AIVS_BILIBILI_KEY") {
                bilibili.key.get_or_insert(key);
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

fn lines(items: &[&str]) -> Vec<Spanned<String>> {
    items
        .iter()
        .map(|s| Spanned::new(0..0, s.to_string()))
        .collect()
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            replay: PathBuf::from("config/rooms/sample-room.jsonl"),
            speed: 1.0,
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], avatar_link::DEFAULT_PORT)),
            token: String::new(),
        }
    }
}

impl Default for ObsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 4455,
            password: String::new(),
            scenes_dir: PathBuf::from("scenes"),
            record: false,
            start_on_main: true,
            retry_secs: 1.0,
            retry_max_secs: 2.0,
            request_timeout_secs: 3.0,
            connect_timeout_secs: 5.0,
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/ledger.sqlite3"),
        }
    }
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            espeak_program: "espeak-ng".into(),
            espeak_voice: "cmn-latn-pinyin".into(),
            rate_wpm: 190,
            loudness_dbfs: -20.0,
            engines: vec![EngineKind::Espeak],
            gpt_sovits: Default::default(),
            edge_tts: Default::default(),
            piper: Default::default(),
            rotation: Default::default(),
            textnorm: Default::default(),
            vad: Default::default(),
            cache: Default::default(),
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interrupt_gap: 5,
            interrupt_gap_late: 8,
            late_progress: 0.85,
            max_queued_unpaid: 12,
            reply_ttl_secs: 45,
            important_keywords: ["主播", "？", "?", "怎么", "什么", "吗"]
                .map(String::from)
                .to_vec(),
            vip_level: 30,
            idle_after_secs: 20,
            welcome_every_secs: 20,
        }
    }
}

impl Default for GiftsConfig {
    fn default() -> Self {
        Self {
            diamonds: Default::default(),
            tier_max_yuan: [1.0, 10.0, 100.0],
            combo_idle_ms: 2_000,
            combo_max_hold_ms: 8_000,
            celebrate_from_tier: 3,
            celebration_secs: 8.0,
            thanks: TierLines::default(),
            expression: ["happy", "happy", "surprised", "surprised"].map(String::from),
            motion: ["nod", "bounce", "bounce", "wave"].map(String::from),
        }
    }
}

impl Default for TierLines {
    fn default() -> Self {
        Self {
            tier1: lines(&["{谢谢|感谢}{user}的{gift}{~|！}"]),
            tier2: lines(&["哇，{谢谢|感谢}{user}送的{count}个{gift}，{太开心了|好感动}！"]),
            tier3: lines(&["天哪！{user}送了{gift}！{这也太豪气了吧|老板大气}！"]),
            tier4: lines(&[
                "{OMG|不得了}！{user}居然送了{gift}！{我要给你唱首歌|全场感谢{user}}！",
            ]),
        }
    }
}

impl Default for LinesConfig {
    fn default() -> Self {
        Self {
            follow: lines(&["{谢谢|感谢}{user}的关注{~|！}"]),
            share: lines(&["谢谢{user}分享直播间！"]),
            welcome: lines(&["{欢迎|你好呀}{user}{~|！}"]),
            idle: lines(&["{大家|家人们}{有什么想聊的吗|可以在评论区跟我聊天哦}{~|！}"]),
            // Acknowledges without agreeing: the comment may be anything the screen missed.
            default_reply: lines(&["{谢谢|收到}{user}的{评论|留言}{~|！}"]),
            deflect: lines(&[
                "这个话题我们就不聊啦，{user}，{聊点开心的吧|说说今天过得怎么样}？",
                "{user}，我们换个话题吧{~|！}",
            ]),
            reply: Vec::new(),
        }
    }
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
}
