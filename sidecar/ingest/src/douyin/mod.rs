//! Douyin live rooms through the web client's "webcast" WebSocket push.
//!
//! The flow of one connection ([`client`]): fetch the room page for the live session's
//! `room_id` and a `ttwid` cookie ([`webcast`]), have the URL signed by a user-provided signer
//! ([`signer`]), connect, then for every binary frame: record it raw, decode and normalize it
//! ([`frame`], [`normalize`]), deliver the events with the resume checkpoint, and only then ack
//! the frame if the server asked for an ack. Heartbeats every `heartbeat_secs`; a connection
//! that delivers no `msg` frame for `stall_secs` is replaced.
//!
//! Exactly-once: the normalizer drops recently seen message ids (reconnect resends), the
//! ledger drops ids it has stored (restart resends), and gift combos travel as running totals.
//! The checkpoint (see [`ResumeState`]) lets a restarted sidecar continue from the last
//! committed frame of the same live session.

pub mod client;
pub mod frame;
pub mod normalize;
pub mod proto;
pub mod signer;
pub mod webcast;

use serde::{Deserialize, Serialize};

use crate::{SelectError, SourceKind, SourceSpec};

pub use frame::{decode_frame_to_events, DecodedFrame, FrameError};
pub use normalize::{Normalized, Normalizer, NormalizerStats};
pub use signer::{SignerConfig, SignerError};
pub use webcast::ResolveError;

/// `[source.douyin]`. Every key is optional except `room` in practice.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DouyinConfig {
    /// The room's web id, from `https://live.douyin.com/<web_rid>` (the whole URL works too).
    pub room: String,
    /// Override of both hosts, e.g. `http://127.0.0.1:PORT` for a test server: the room page is
    /// `{endpoint}/{room}`, the push server the same host with `ws://` / `wss://`.
    pub endpoint: Option<String>,
    /// Push server (`wss://webcast100-ws-web-{lq|hl|lf}.douyin.com`).
    pub ws_host: String,
    /// Where room pages are.
    pub page_host: String,
    /// Browser User-Agent to present (a current desktop Chrome by default).
    pub user_agent: Option<String>,
    /// Who signs the push URL: see [`signer`].
    pub signer: SignerConfig,
    /// Heartbeat interval.
    pub heartbeat_secs: f64,
    /// Reconnect when no `msg` frame came for this long (the push can go silent while the
    /// socket stays open).
    pub stall_secs: f64,
    /// Cap on one frame's decompressed payload.
    pub max_payload_bytes: usize,
    /// Wait between attempts when retrying quickly cannot help: the room is not live, the
    /// signature was refused, the device is blocked.
    pub slow_retry_secs: f64,
    /// Extra cookies sent with every request (`name=value; name2=value2`). Secret: never
    /// logged.
    pub cookie: Option<String>,
}

impl Default for DouyinConfig {
    fn default() -> Self {
        Self {
            room: String::new(),
            endpoint: None,
            ws_host: webcast::DEFAULT_WS_HOST.to_string(),
            page_host: webcast::DEFAULT_PAGE_HOST.to_string(),
            user_agent: None,
            signer: SignerConfig::default(),
            heartbeat_secs: 10.0,
            stall_secs: 45.0,
            max_payload_bytes: frame::DEFAULT_MAX_PAYLOAD_BYTES,
            slow_retry_secs: 60.0,
            cookie: None,
        }
    }
}

/// Hand-written so that the cookie never reaches a log.
impl std::fmt::Debug for DouyinConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DouyinConfig")
            .field("room", &self.room)
            .field("endpoint", &self.endpoint)
            .field("ws_host", &self.ws_host)
            .field("page_host", &self.page_host)
            .field("user_agent", &self.user_agent)
            .field("signer", &self.signer)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("stall_secs", &self.stall_secs)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("slow_retry_secs", &self.slow_retry_secs)
            .field("cookie", &self.cookie.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl DouyinConfig {
    /// The web id, also when `room` is a pasted room URL.
    pub fn web_rid(&self) -> String {
        let room = self.room.trim();
        let room = room.split(['?', '#']).next().unwrap_or(room);
        room.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(room)
            .to_string()
    }

    pub fn user_agent(&self) -> &str {
        self.user_agent
            .as_deref()
            .unwrap_or(webcast::DEFAULT_USER_AGENT)
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), DouyinError> {
        let bad = |msg: String| Err(DouyinError::Config(msg));
        let rid = self.web_rid();
        if rid.is_empty()
            || !rid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(format!(
                "room {:?} is not a room web id (the part after live.douyin.com/)",
                self.room
            ));
        }
        for (key, value) in [
            ("heartbeat_secs", self.heartbeat_secs),
            ("stall_secs", self.stall_secs),
            ("slow_retry_secs", self.slow_retry_secs),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return bad(format!("{key} must be a positive number of seconds"));
            }
        }
        if self.max_payload_bytes < 1024 {
            return bad("max_payload_bytes must be at least 1024".into());
        }
        webcast::Endpoints::from_config(self).map_err(DouyinError::Config)?;
        signer::Signer::from_config(&self.signer)?;
        Ok(())
    }
}

/// The checkpoint state: where to resume the push of one live session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    pub room_id: String,
    pub cursor: String,
    pub internal_ext: String,
}

impl ResumeState {
    /// Parses a stored checkpoint; an unreadable one is logged and ignored.
    pub fn parse(state: Option<&str>) -> Option<Self> {
        let state = state?;
        match serde_json::from_str::<Self>(state) {
            Ok(s) if !s.room_id.is_empty() && !s.cursor.is_empty() => Some(s),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable douyin checkpoint");
                None
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ResumeState always serializes")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DouyinError {
    #[error("invalid [source.douyin] config: {0}")]
    Config(String),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error(
        "the push server refused the WebSocket handshake with HTTP 200 instead of 101: the \
         signature was rejected; the signer may be outdated (the site changes its algorithm \
         every few months)"
    )]
    SignatureRejected,
    #[error("the push server answered HTTP 415 DEVICE_BLOCKED: this device/IP is blocked for now")]
    DeviceBlocked,
    #[error("the push server is unavailable (HTTP 502)")]
    BadGateway,
    #[error("the WebSocket handshake failed with HTTP {0}")]
    HandshakeStatus(u16),
    #[error("cannot connect to the push server: {0}")]
    Connect(tokio_tungstenite::tungstenite::Error),
    #[error("the push server did not complete the connection within {0:?}")]
    ConnectTimeout(std::time::Duration),
    #[error("the push connection failed: {0}")]
    Connection(tokio_tungstenite::tungstenite::Error),
}

/// How the connection loop reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retrying cannot fix it: `run` returns the error.
    Never,
    /// Exponential backoff with jitter (0.5-5 s).
    Backoff,
    /// Wait `slow_retry_secs`.
    Slow,
}

impl DouyinError {
    pub fn retry(&self) -> Retry {
        match self {
            DouyinError::Config(_) => Retry::Never,
            DouyinError::Signer(
                SignerError::Ambiguous | SignerError::EmptyCommand | SignerError::BadTimeout,
            ) => Retry::Never,
            DouyinError::SignatureRejected
            | DouyinError::DeviceBlocked
            | DouyinError::Resolve(ResolveError::NoRoomId { .. }) => Retry::Slow,
            _ => Retry::Backoff,
        }
    }
}

/// The Douyin web push source.
#[derive(Debug)]
pub struct DouyinSource {
    config: DouyinConfig,
    resume: Option<ResumeState>,
}

impl DouyinSource {
    /// `resume` is the state last stored under the config's [`SourceSpec::key`].
    pub fn new(config: DouyinConfig, resume: Option<String>) -> Self {
        let resume = ResumeState::parse(resume.as_deref());
        Self { config, resume }
    }
}

impl SourceSpec for DouyinConfig {
    type Source = DouyinSource;
    const KIND: SourceKind = SourceKind::Douyin;

    /// `douyin:<web_rid>`.
    fn key(&self) -> String {
        format!("douyin:{}", self.web_rid())
    }

    fn build(&self, resume: Option<String>) -> Result<DouyinSource, SelectError> {
        Ok(DouyinSource::new(self.clone(), resume))
    }
}

impl super::LiveSource for DouyinSource {
    type Error = DouyinError;

    fn describe(&self) -> String {
        format!("douyin room {}", self.config.web_rid())
    }

    fn run(
        self,
        sink: super::EventSink,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        client::run(self.config, self.resume, sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_toml() {
        let config: DouyinConfig = toml::from_str(
            r#"
            room = "https://live.douyin.com/123456?from=share"
            heartbeat_secs = 5
            cookie = "sessionid=SECRET"
            [signer]
            command = ["node", "sign.js"]
            "#,
        )
        .unwrap();
        assert_eq!(config.web_rid(), "123456");
        assert_eq!(config.stall_secs, 45.0);
        assert_eq!(config.max_payload_bytes, 4 * 1024 * 1024);
        assert!(config.validate().is_ok());
        assert_eq!(config.key(), "douyin:123456");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("SECRET") && debug.contains("redacted"),
            "{debug}"
        );
        assert!(toml::from_str::<DouyinConfig>("rooom = \"1\"").is_err());
    }

    #[test]
    fn invalid_configs_are_refused_before_connecting() {
        let base = DouyinConfig {
            room: "123".into(),
            ..DouyinConfig::default()
        };
        assert!(base.validate().is_ok());
        for broken in [
            DouyinConfig {
                room: "".into(),
                ..base.clone()
            },
            DouyinConfig {
                room: "a b".into(),
                ..base.clone()
            },
            DouyinConfig {
                heartbeat_secs: 0.0,
                ..base.clone()
            },
            DouyinConfig {
                stall_secs: f64::NAN,
                ..base.clone()
            },
            DouyinConfig {
                max_payload_bytes: 10,
                ..base.clone()
            },
            DouyinConfig {
                endpoint: Some("127.0.0.1:80".into()),
                ..base.clone()
            },
            DouyinConfig {
                signer: SignerConfig {
                    command: Some(vec![]),
                    ..SignerConfig::default()
                },
                ..base.clone()
            },
        ] {
            let err = broken.validate().unwrap_err();
            assert_eq!(err.retry(), Retry::Never, "{err}");
        }
    }

    #[test]
    fn resume_state_round_trips_and_bad_state_is_ignored() {
        let state = ResumeState {
            room_id: "1".into(),
            cursor: "c".into(),
            internal_ext: "e".into(),
        };
        assert_eq!(ResumeState::parse(Some(&state.to_json())), Some(state));
        assert_eq!(ResumeState::parse(Some("not json")), None);
        assert_eq!(ResumeState::parse(None), None);
    }
}
