//! `[llm]` settings: provider preset, limits, persona and blocklist.
//!
//! Every provider we support speaks the same OpenAI chat-completions wire format, so a preset is
//! only a default base URL, a default model and whether a key is required; `base_url` and `model`
//! override it (that is also how tests point the client at a local fake server).

use std::time::Duration;

use serde::Deserialize;

use super::LlmError;

/// Environment variable holding the API key when `api_key` is empty in the settings. The key is
/// never written to logs, errors or `Debug` output.
pub const API_KEY_ENV: &str = "AIVS_LLM_API_KEY";

/// A provider whose OpenAI-compatible endpoint the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// OpenAI (`https://api.openai.com/v1`, `gpt-4o-mini`). Needs a key.
    Openai,
    /// A local Ollama (`http://127.0.0.1:11434/v1`, `qwen2.5:7b`). No key. The default: it is
    /// the one that runs with no account and no network.
    #[default]
    Ollama,
    /// Volcengine Ark (`https://ark.cn-beijing.volces.com/api/v3`). Needs a key, and `model` is
    /// the inference endpoint id (`ep-…`), which has no sensible default.
    #[serde(alias = "volcengine")]
    Ark,
    /// DeepSeek (`https://api.deepseek.com/v1`, `deepseek-chat`). Needs a key.
    Deepseek,
}

impl Preset {
    pub fn default_base_url(self) -> &'static str {
        match self {
            Preset::Openai => "https://api.openai.com/v1",
            Preset::Ollama => "http://127.0.0.1:11434/v1",
            Preset::Ark => "https://ark.cn-beijing.volces.com/api/v3",
            Preset::Deepseek => "https://api.deepseek.com/v1",
        }
    }

    /// `None` when the provider has no default model (Ark: the endpoint id is per account).
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Preset::Openai => Some("gpt-4o-mini"),
            Preset::Ollama => Some("qwen2.5:7b"),
            Preset::Ark => None,
            Preset::Deepseek => Some("deepseek-chat"),
        }
    }

    /// Whether a request without a key is pointless (the provider answers 401).
    pub fn needs_key(self) -> bool {
        !matches!(self, Preset::Ollama)
    }
}

/// The streamer's character (seed 002). Goes into the system prompt; the rules are also what the
/// safety screen watches for being read out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonaConfig {
    pub name: String,
    /// One line: who she is (`是一个专门做ASMR直播的虚拟主播`).
    pub background: String,
    pub personality: String,
    pub interests: Vec<String>,
    pub speaking_style: String,
    /// Short phrases she likes to use (`呐~`, `嘿嘿`).
    pub catchphrases: Vec<String>,
    /// Behaviour rules, one per entry.
    pub rules: Vec<String>,
}

impl Default for PersonaConfig {
    fn default() -> Self {
        Self {
            name: "小樱".into(),
            background: "一个专门做ASMR和陪伴聊天直播的虚拟主播".into(),
            personality: "温柔可爱，有点小迷糊，声音甜美，很会照顾人".into(),
            interests: ["ASMR", "音乐", "聊天", "游戏", "甜点"]
                .map(String::from)
                .to_vec(),
            speaking_style: "温柔亲切，口语化，偶尔撒娇，爱用语气词".into(),
            catchphrases: ["呐~", "嘿嘿", "好的哦~"].map(String::from).to_vec(),
            rules: [
                "始终保持温柔可爱的语气",
                "不说不礼貌的话，不评价政治、宗教和其他主播",
                "记住经常来的观众，像老朋友一样打招呼",
                "收到礼物要真诚感谢，但不索要礼物",
                "不提供任何联系方式、链接或站外引流",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// `[llm]`: the streaming chat client, the prompt and the reply pipeline.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Answer comments with the LLM. Off by default: templates answer, no server needed.
    pub enabled: bool,
    pub preset: Preset,
    /// Overrides the preset's base URL (the part before `/chat/completions`).
    pub base_url: String,
    /// Overrides the preset's model (for Ark: the endpoint id, required).
    pub model: String,
    /// API key; empty = read [`API_KEY_ENV`]. Prefer the environment: settings files get shared.
    pub api_key: String,
    pub temperature: f32,
    /// Upper bound on generated tokens. Replies are short; this caps cost when a model rambles.
    pub max_tokens: u32,
    /// TCP/TLS connect timeout.
    pub connect_timeout_ms: u64,
    /// From sending the request to the first token of text, per attempt.
    pub first_token_timeout_ms: u64,
    /// The whole reply, including waiting for a rate-limit slot and retries.
    pub reply_timeout_ms: u64,
    /// Requests in flight at once (streams count until they end).
    pub max_concurrency: usize,
    /// Requests started per minute (token bucket); 0 = unlimited.
    pub requests_per_minute: u32,
    /// Longest wait for a rate-limit slot before failing with `RateLimited` (a reply that late
    /// is useless: the show has already answered from a template).
    pub rate_limit_max_wait_ms: u64,
    /// Extra attempts after a 429/5xx/connect error, only before the first token.
    pub retries: u32,
    /// First retry delay; doubles each retry (a 429's `Retry-After` is honoured up to 2 s).
    pub retry_backoff_ms: u64,
    /// The caller falls back to a template when the first sentence takes longer than this.
    pub first_sentence_budget_ms: u64,
    /// Longest reply asked of the model, in characters (a Chinese character is one).
    pub reply_max_chars: usize,
    /// Sentences shorter than this are merged with the next one (a lone "嗯。" sounds choppy and
    /// costs a TTS round trip of its own).
    pub sentence_min_chars: usize,
    /// A run without sentence end longer than this is cut at its last comma.
    pub sentence_max_chars: usize,
    /// How many of the viewer's previous exchanges go into the prompt.
    pub history_exchanges: usize,
    /// What the stream is about right now, told to the model as scene context (`聊天`,
    /// `ASMR 助眠`, a game's name).
    pub now_showing: String,
    /// Filled from the top-level `[persona]` (one character for templates and the LLM).
    #[serde(skip)]
    pub persona: PersonaConfig,
    /// Extra blocked words (case-insensitive, spaces/punctuation between letters ignored), on
    /// top of the built-in lists in `config/safety/` (category `custom`).
    pub blocklist: Vec<String>,
    /// Extra word-list files, or directories whose `*.txt` files are all read, in the format of
    /// `config/safety/*.txt` (one term per line, `#` comments). Relative paths are resolved
    /// against the directory of the config file. A file named after a category
    /// (`politics.txt`, `ads.txt`, `abuse.txt`, `gambling.txt`, `loans.txt`) adds to it; any
    /// other name is category `custom`. A missing or unreadable file is a config error.
    pub safety_lists: Vec<toml::Spanned<std::path::PathBuf>>,
    /// The lists read from `safety_lists` when the config is loaded.
    #[serde(skip)]
    pub extra_lists: Vec<aivs_core::safety::WordList>,
    /// What a blocked span of a viewer's name or comment is replaced with before TTS.
    pub mask: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            preset: Preset::default(),
            base_url: String::new(),
            model: String::new(),
            api_key: String::new(),
            temperature: 0.8,
            max_tokens: 120,
            connect_timeout_ms: 2_000,
            first_token_timeout_ms: 6_000,
            reply_timeout_ms: 20_000,
            max_concurrency: 2,
            requests_per_minute: 60,
            rate_limit_max_wait_ms: 2_000,
            retries: 2,
            retry_backoff_ms: 200,
            first_sentence_budget_ms: 1_500,
            reply_max_chars: 40,
            sentence_min_chars: 3,
            sentence_max_chars: 36,
            history_exchanges: 3,
            now_showing: "聊天陪伴".into(),
            persona: PersonaConfig::default(),
            blocklist: Vec::new(),
            safety_lists: Vec::new(),
            extra_lists: Vec::new(),
            mask: "哔".into(),
        }
    }
}

/// Hand-written so the key can never reach a log line through `{:?}`.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("enabled", &self.enabled)
            .field("preset", &self.preset)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    "<from env>"
                } else {
                    "<redacted>"
                },
            )
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("first_token_timeout_ms", &self.first_token_timeout_ms)
            .field("reply_timeout_ms", &self.reply_timeout_ms)
            .field("max_concurrency", &self.max_concurrency)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("rate_limit_max_wait_ms", &self.rate_limit_max_wait_ms)
            .field("retries", &self.retries)
            .field("retry_backoff_ms", &self.retry_backoff_ms)
            .field("first_sentence_budget_ms", &self.first_sentence_budget_ms)
            .field("reply_max_chars", &self.reply_max_chars)
            .field("sentence_min_chars", &self.sentence_min_chars)
            .field("sentence_max_chars", &self.sentence_max_chars)
            .field("history_exchanges", &self.history_exchanges)
            .field("now_showing", &self.now_showing)
            .field("persona", &self.persona)
            .field("blocklist", &self.blocklist)
            .field("safety_lists", &self.safety_lists)
            .field("mask", &self.mask)
            .finish()
    }
}

/// An API key. Only [`ApiKey::expose`] reveals it, and only the request builder calls that.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where and how to send requests, resolved from the preset and overrides.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Full URL of `…/chat/completions`.
    pub url: String,
    pub model: String,
    pub key: Option<ApiKey>,
}

impl LlmConfig {
    /// Resolves preset + overrides + key (`api_key`, else the [`API_KEY_ENV`] variable).
    pub fn endpoint(&self) -> Result<Endpoint, LlmError> {
        let key = if self.api_key.is_empty() {
            std::env::var(API_KEY_ENV).ok()
        } else {
            Some(self.api_key.clone())
        };
        self.endpoint_with_key(key)
    }

    /// [`LlmConfig::endpoint`] with the key given (tests, and callers with their own secret store).
    pub fn endpoint_with_key(&self, key: Option<String>) -> Result<Endpoint, LlmError> {
        let base = if self.base_url.trim().is_empty() {
            self.preset.default_base_url().to_string()
        } else {
            self.base_url.trim().to_string()
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "llm.base_url must start with http:// or https://, got {base:?}"
            )));
        }
        let model = if self.model.trim().is_empty() {
            match self.preset.default_model() {
                Some(model) => model.to_string(),
                None => {
                    return Err(LlmError::Config(format!(
                        "llm.model is required for preset {:?} (the endpoint id, e.g. ep-2024…)",
                        self.preset
                    )))
                }
            }
        } else {
            self.model.trim().to_string()
        };
        let key = key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(ApiKey);
        if key.is_none() && self.preset.needs_key() && self.base_url.trim().is_empty() {
            return Err(LlmError::Config(format!(
                "preset {:?} needs an API key: set {API_KEY_ENV} or llm.api_key",
                self.preset
            )));
        }
        if self.max_concurrency == 0 {
            return Err(LlmError::Config(
                "llm.max_concurrency must be at least 1".into(),
            ));
        }
        Ok(Endpoint {
            url: format!("{}/chat/completions", base.trim_end_matches('/')),
            model,
            key,
        })
    }

    pub fn first_sentence_budget(&self) -> Duration {
        Duration::from_millis(self.first_sentence_budget_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_urls_and_models() {
        let cfg = LlmConfig {
            preset: Preset::Deepseek,
            ..Default::default()
        };
        let ep = cfg.endpoint_with_key(Some("sk-x".into())).unwrap();
        assert_eq!(ep.url, "https://api.deepseek.com/v1/chat/completions");
        assert_eq!(ep.model, "deepseek-chat");

        let ollama = LlmConfig::default().endpoint_with_key(None).unwrap();
        assert_eq!(ollama.url, "http://127.0.0.1:11434/v1/chat/completions");
        assert!(ollama.key.is_none());

        let ark = LlmConfig {
            preset: Preset::Ark,
            ..Default::default()
        };
        assert!(matches!(
            ark.endpoint_with_key(Some("k".into())),
            Err(LlmError::Config(_))
        ));
        let ark = LlmConfig {
            preset: Preset::Ark,
            model: "ep-20240101-abc".into(),
            base_url: "https://ark.cn-beijing.volces.com/api/v3/".into(),
            ..Default::default()
        };
        let ep = ark.endpoint_with_key(Some("k".into())).unwrap();
        assert_eq!(
            ep.url,
            "https://ark.cn-beijing.volces.com/api/v3/chat/completions"
        );
        assert_eq!(ep.model, "ep-20240101-abc");
    }

    #[test]
    fn keyed_presets_refuse_to_start_without_key() {
        let cfg = LlmConfig {
            preset: Preset::Openai,
            ..Default::default()
        };
        let err = cfg.endpoint_with_key(None).unwrap_err();
        assert!(err.to_string().contains(API_KEY_ENV), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let cfg = LlmConfig {
            api_key: "sk-very-secret-123".into(),
            ..Default::default()
        };
        let ep = cfg.endpoint().unwrap();
        let shown = format!("{cfg:?} {ep:?}");
        assert!(!shown.contains("sk-very-secret-123"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn toml_keys_parse_and_unknown_keys_fail() {
        let cfg: LlmConfig = toml::from_str(
            r#"
            enabled = true
            preset = "volcengine"
            model = "ep-1"
            blocklist = ["坏词"]
            "#,
        )
        .unwrap();
        assert!(cfg.enabled);
        assert_eq!(cfg.preset, Preset::Ark);
        assert!(toml::from_str::<LlmConfig>("bogus = 1").is_err());
        // The persona is the top-level [persona] (one character for templates and the LLM).
        assert!(toml::from_str::<LlmConfig>("[persona]\nname = \"阿星\"").is_err());
    }
}
