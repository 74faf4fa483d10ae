//! Bilibili live danmaku (弹幕) over WebSocket.
//!
//! The client connects to `wss://broadcastlv.chat.bilibili.com:443/sub` (or the host
//! getDanmuInfo names), sends an auth packet `{uid, roomid, protover: 3, platform: "web",
//! type: 2, buvid, key}`, waits for the auth reply (`{"code":0}`), then sends a heartbeat every
//! 30 s and reads command packets (see [`packet`] for the framing, [`commands`] for what the
//! commands become). There is no upstream acknowledgement in this protocol and no way to
//! resume: each WebSocket message is delivered as one batch, de-duplicated by the ledger on the
//! platform message ids (`tid` for gifts), and messages sent while disconnected are gone.
//!
//! **Getting a token.** Since 2023 Bilibili only serves full data (real user ids and names) to
//! logged-in, WBI-signed clients. The supported setup is to copy, from the streamer's own
//! logged-in browser on the room page, the `token` of the `getDanmuInfo` response (as `key`)
//! and the `buvid3` cookie (as `buvid`), and the account's uid (as `uid`). Without `key`, the
//! adapter asks getDanmuInfo itself, unsigned (see [`room_info`] for what that can and cannot
//! do). `key` and `buvid` are secrets: they are never logged, and `Debug` redacts them.

pub mod client;
pub mod commands;
pub mod packet;
pub mod room_info;

use serde::Deserialize;

use crate::{EventSink, LiveSource, SelectError, SourceKind, SourceSpec};

/// `LiveEvent::platform` of everything this adapter produces.
pub const PLATFORM: &str = "bilibili";
/// The public danmaku endpoint, used when neither `endpoint` nor getDanmuInfo names one.
pub const DEFAULT_ENDPOINT: &str = "wss://broadcastlv.chat.bilibili.com:443/sub";
/// Base URL of the live API (getDanmuInfo).
pub const DEFAULT_API: &str = "https://api.live.bilibili.com";
/// The web client's User-Agent; Bilibili refuses requests without a browser-like one.
pub const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// `[source.bilibili]` in the sidecar config.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BilibiliConfig {
    /// The room's real (long) id. A short vanity id (the number in some room URLs) must first
    /// be resolved: `https://api.live.bilibili.com/room/v1/Room/room_init?id=<short>` →
    /// `data.room_id`.
    pub room_id: u64,
    /// WebSocket URL override, e.g. a local relay or test server. Default: the host named by
    /// getDanmuInfo, else [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Base URL of getDanmuInfo (only used when `key` is not set). Default [`DEFAULT_API`].
    pub api: Option<String>,
    /// Uid of the logged-in account the `key` was issued to; 0 for anonymous.
    pub uid: u64,
    /// The browser's `buvid3` cookie. Secret.
    pub buvid: String,
    /// The danmaku token from getDanmuInfo (`data.token`). Secret. Unset or empty: fetched
    /// (unsigned) on every connection.
    pub key: Option<String>,
    /// Seconds between heartbeats (the web client uses 30).
    pub heartbeat_secs: f64,
    /// Seconds without any message after which the connection counts as dead and is replaced.
    /// Must exceed `heartbeat_secs`: heartbeat replies keep a quiet room's connection alive.
    pub stall_secs: f64,
}

impl Default for BilibiliConfig {
    fn default() -> Self {
        Self {
            room_id: 0,
            endpoint: None,
            api: None,
            uid: 0,
            buvid: String::new(),
            key: None,
            heartbeat_secs: 30.0,
            stall_secs: 70.0,
        }
    }
}

impl std::fmt::Debug for BilibiliConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |set: bool| if set { "<redacted>" } else { "<unset>" };
        f.debug_struct("BilibiliConfig")
            .field("room_id", &self.room_id)
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("uid", &self.uid)
            .field("buvid", &redact(!self.buvid.is_empty()))
            .field(
                "key",
                &redact(self.key.as_deref().is_some_and(|k| !k.is_empty())),
            )
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("stall_secs", &self.stall_secs)
            .finish()
    }
}

impl BilibiliConfig {
    /// Checks what retrying could never fix.
    pub fn validate(&self) -> Result<(), BilibiliError> {
        let bad = |why: String| Err(BilibiliError::Config(why));
        if self.room_id == 0 {
            return bad("room_id is not set".into());
        }
        if !(self.heartbeat_secs.is_finite() && self.heartbeat_secs >= 0.1) {
            return bad(format!(
                "heartbeat_secs must be at least 0.1, got {}",
                self.heartbeat_secs
            ));
        }
        if !(self.stall_secs.is_finite() && self.stall_secs > self.heartbeat_secs) {
            return bad(format!(
                "stall_secs ({}) must be longer than heartbeat_secs ({})",
                self.stall_secs, self.heartbeat_secs
            ));
        }
        if let Some(url) = &self.endpoint {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return bad(format!("endpoint {url:?} is not a ws:// or wss:// URL"));
            }
        }
        Ok(())
    }

    /// The configured token, if any (an empty string means "fetch it").
    fn configured_key(&self) -> Option<&str> {
        self.key.as_deref().filter(|k| !k.is_empty())
    }
}

/// Why the adapter stopped or dropped a connection.
#[derive(Debug, thiserror::Error)]
pub enum BilibiliError {
    #[error("invalid [source.bilibili] config: {0}")]
    Config(String),
    #[error("getDanmuInfo request failed: {0}")]
    RoomInfoHttp(#[source] reqwest::Error),
    #[error(
        "getDanmuInfo refused the request (code {code}: {message}); unsigned requests are often \
         refused (-352 = risk control): set [source.bilibili] key and buvid from a logged-in browser"
    )]
    RoomInfoRefused { code: i64, message: String },
    #[error("getDanmuInfo answer is unusable: {0}")]
    RoomInfoMalformed(&'static str),
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("websocket error: {0}")]
    Ws(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("no auth reply within {0:?}")]
    AuthTimeout(std::time::Duration),
    #[error(
        "the danmaku server rejected the auth packet (code {code}): check room_id (the real long \
         id), key (a fresh token) and buvid, uid"
    )]
    AuthRejected { code: i64 },
    #[error("unusable auth reply: {0}")]
    AuthReplyMalformed(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("no message for {0:?}: connection stalled")]
    Stalled(std::time::Duration),
}

impl BilibiliError {
    /// Errors that reconnecting cannot fix end [`BilibiliSource::run`]; the rest reconnect.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::RoomInfoRefused { .. }
                | Self::RoomInfoMalformed(_)
                | Self::AuthRejected { .. }
        )
    }
}

/// The Bilibili adapter: see the module docs.
#[derive(Debug)]
pub struct BilibiliSource {
    config: BilibiliConfig,
}

impl BilibiliSource {
    /// `resume` is ignored: the protocol cannot resume, the ledger de-duplicates on message ids.
    pub fn new(config: BilibiliConfig, resume: Option<String>) -> Self {
        let _ = resume;
        Self { config }
    }
}

impl SourceSpec for BilibiliConfig {
    type Source = BilibiliSource;
    const KIND: SourceKind = SourceKind::Bilibili;

    /// Key of this source's (unused) checkpoint in the ledger.
    fn key(&self) -> String {
        format!("bilibili:{}", self.room_id)
    }

    fn build(&self, resume: Option<String>) -> Result<BilibiliSource, SelectError> {
        Ok(BilibiliSource::new(self.clone(), resume))
    }
}

impl LiveSource for BilibiliSource {
    type Error = BilibiliError;

    fn describe(&self) -> String {
        format!("bilibili room {}", self.config.room_id)
    }

    async fn run(self, sink: EventSink) -> Result<(), BilibiliError> {
        client::run(self.config, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_from_toml_with_defaults_and_never_shows_secrets() {
        let config: BilibiliConfig = toml::from_str(
            r#"
            room_id = 21452505
            key = "SECRET-TOKEN"
            buvid = "SECRET-BUVID"
            "#,
        )
        .unwrap();
        assert_eq!(config.room_id, 21452505);
        assert_eq!(config.heartbeat_secs, 30.0);
        assert_eq!(config.stall_secs, 70.0);
        assert_eq!(config.uid, 0);
        config.validate().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(config.key(), "bilibili:21452505");
        assert_eq!(
            BilibiliSource::new(config, None).describe(),
            "bilibili room 21452505"
        );
    }

    #[test]
    fn unknown_keys_and_impossible_settings_are_config_errors() {
        assert!(toml::from_str::<BilibiliConfig>("room = 1").is_err());
        let check = |toml_text: &str| {
            toml::from_str::<BilibiliConfig>(toml_text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(check("").contains("room_id"));
        assert!(check("room_id = 1\nheartbeat_secs = 0.0").contains("heartbeat_secs"));
        assert!(
            check("room_id = 1\nheartbeat_secs = 30.0\nstall_secs = 20.0").contains("stall_secs")
        );
        assert!(check("room_id = 1\nendpoint = \"http://x\"").contains("endpoint"));
        let err = BilibiliError::Config("x".into());
        assert!(err.is_fatal());
        assert!(!BilibiliError::Closed.is_fatal());
    }
}
