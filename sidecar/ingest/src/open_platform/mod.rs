//! Douyin Open Platform live-data push (直播小玩法 apps mounted in the room).
//!
//! The official way to get a room's events: an app registered on the Douyin Open Platform asks
//! the platform to push the room's comments, gifts, likes and fans-club events
//! ([`tasks`]), and the platform POSTs them, signed with the app secret, to the app's HTTPS
//! endpoint ([`webhook`]). The sidecar is that endpoint.
//!
//! **Exposure.** The endpoint listens on `127.0.0.1:8790` by default and speaks plain HTTP. The
//! platform needs a public HTTPS URL: put a reverse proxy (Caddy, nginx) or a tunnel in front of
//! it and register `https://<your host>/douyin/push` as the push URL. Binding elsewhere than
//! loopback works but is logged as a warning: the endpoint must never be reachable without TLS.
//!
//! **Secrets.** `app_secret` (also from the environment variable [`APP_SECRET_ENV`], applied by
//! the config loader) and `access_token` are never logged; `Debug` of the config redacts them.
//!
//! **Exactly once.** The push is answered 200 only after the ledger committed it (see
//! [`webhook`]); the platform resends failed pushes, backfills gifts after an outage and sometimes
//! delivers twice, and the ledger de-duplicates on `msg_id`. Nothing needs resuming, so this
//! source stores no checkpoint state. The platform caps pushes at 100 requests per second per
//! room by default.

pub mod guard;
pub mod payload;
pub mod signature;
pub mod tasks;
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use self::payload::PLATFORM;
use self::tasks::{TaskClient, TaskError, TaskStatus};
use self::webhook::Webhook;
use crate::{EventSink, LiveSource, SelectError, SourceKind, SourceSpec};

/// Environment variable the config loader reads the app secret from.
pub const APP_SECRET_ENV: &str = "AIVS_DOUYIN_APP_SECRET";

/// Delays between attempts to start a task that failed: 5 s doubling up to a minute.
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// First status check after every task started (logged), then every few minutes: a task stops
/// when the room's stream does, and is restarted here when it is found not running.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(2);
const CHECK_EVERY: Duration = Duration::from_secs(300);
/// Stopping the tasks at shutdown is best effort and bounded.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// `[source.douyin_open_platform]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenPlatformConfig {
    /// Where the push endpoint listens. Loopback; the public HTTPS side is a reverse proxy or
    /// tunnel in front of it.
    pub bind: SocketAddr,
    /// URL path of the endpoint (the path registered as push URL, behind the proxy).
    pub path: String,
    /// The app's id (`appid`, e.g. `tt…`).
    pub app_id: String,
    /// The app secret that signs pushes. Secret: prefer the `AIVS_DOUYIN_APP_SECRET` variable.
    pub app_secret: String,
    /// The live room id (`roomid`) tasks are started for; pushes for other rooms are dropped.
    pub room_id: String,
    /// Pushes must be signed for a time within ± this many seconds of the local clock.
    pub timestamp_window_secs: u64,
    /// Base URL of the task API (overridden in tests).
    pub api: String,
    /// App access token for the task API (valid about 2 hours). Secret.
    pub access_token: Option<String>,
    /// Message types to start push tasks for.
    pub msg_types: Vec<String>,
    /// Start (and at shutdown stop) the push tasks; off when another service manages them.
    pub start_tasks: bool,
    /// Gift names by `sec_gift_id` (pushes carry only the id); unknown ids are called "礼物".
    pub gift_names: BTreeMap<String, String>,
}

impl Default for OpenPlatformConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 8790)),
            path: "/douyin/push".into(),
            app_id: String::new(),
            app_secret: String::new(),
            room_id: String::new(),
            timestamp_window_secs: 300,
            api: "https://webcast.bytedance.com".into(),
            access_token: None,
            msg_types: ["live_comment", "live_gift", "live_like", "live_fansclub"]
                .map(String::from)
                .to_vec(),
            start_tasks: true,
            gift_names: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for OpenPlatformConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<unset>" };
        f.debug_struct("OpenPlatformConfig")
            .field("bind", &self.bind)
            .field("path", &self.path)
            .field("app_id", &self.app_id)
            .field("app_secret", &redacted(!self.app_secret.is_empty()))
            .field("room_id", &self.room_id)
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("api", &self.api)
            .field("access_token", &redacted(self.access_token.is_some()))
            .field("msg_types", &self.msg_types)
            .field("start_tasks", &self.start_tasks)
            .field("gift_names", &self.gift_names)
            .finish()
    }
}

impl OpenPlatformConfig {
    /// Problems that no retrying can fix, found before anything is started.
    pub fn validate(&self) -> Result<(), OpenPlatformError> {
        let bad = |msg: String| Err(OpenPlatformError::Config(msg));
        if self.app_secret.is_empty() {
            return bad(format!(
                "app_secret is empty: pushes cannot be verified (set it, or {APP_SECRET_ENV})"
            ));
        }
        if !self.path.starts_with('/') || self.path.contains(['{', '}', '*', '?', '#']) {
            return bad(format!(
                "path {:?} must start with '/' and be a plain path",
                self.path
            ));
        }
        if self.timestamp_window_secs == 0 {
            return bad("timestamp_window_secs must be at least 1".into());
        }
        if self.start_tasks {
            for (key, value) in [("app_id", &self.app_id), ("room_id", &self.room_id)] {
                if value.is_empty() {
                    return bad(format!("{key} is needed to start push tasks"));
                }
            }
            if self.access_token.as_deref().unwrap_or("").is_empty() {
                return bad(
                    "access_token is needed to start push tasks (or set start_tasks = false)"
                        .into(),
                );
            }
            if self.msg_types.is_empty() {
                return bad("msg_types is empty: no push task to start".into());
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenPlatformError {
    #[error("[source.douyin_open_platform] {0}")]
    Config(String),
    #[error("cannot listen for Open Platform pushes on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("Open Platform push endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Tasks(#[from] TaskError),
}

/// The push endpoint plus the task keeper.
#[derive(Debug)]
pub struct OpenPlatformSource {
    config: OpenPlatformConfig,
}

impl OpenPlatformSource {
    /// `resume` is ignored: the platform resends and backfills on its own, there is no cursor.
    pub fn new(config: OpenPlatformConfig, _resume: Option<String>) -> Self {
        Self { config }
    }
}

impl SourceSpec for OpenPlatformConfig {
    type Source = OpenPlatformSource;
    const KIND: SourceKind = SourceKind::DouyinOpenPlatform;

    fn key(&self) -> String {
        format!("{PLATFORM}:{}", self.room_id)
    }

    fn build(&self, resume: Option<String>) -> Result<OpenPlatformSource, SelectError> {
        Ok(OpenPlatformSource::new(self.clone(), resume))
    }
}

impl LiveSource for OpenPlatformSource {
    type Error = OpenPlatformError;

    fn describe(&self) -> String {
        format!(
            "Douyin Open Platform pushes for room {}",
            self.config.room_id
        )
    }

    async fn run(self, sink: EventSink) -> Result<(), Self::Error> {
        let config = self.config;
        config.validate()?;
        // `validate` made sure a token is there when tasks are to be started.
        let tasks = if config.start_tasks {
            let token = config.access_token.as_deref().unwrap_or_default();
            Some(TaskClient::new(
                &config.api,
                &config.app_id,
                &config.room_id,
                token,
            )?)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| OpenPlatformError::Bind {
                addr: config.bind,
                source,
            })?;
        let local = listener.local_addr().map_err(OpenPlatformError::Serve)?;
        if !local.ip().is_loopback() {
            tracing::warn!(%local, "Open Platform push endpoint is not on loopback: serve it only through an HTTPS proxy");
        }
        tracing::info!(
            %local, path = %config.path, room = %config.room_id,
            "Douyin Open Platform push endpoint listening (plain HTTP: expose it through an HTTPS reverse proxy or tunnel)"
        );
        sink.source_up();
        let hook = Arc::new(Webhook::new(
            config.app_secret.clone(),
            config.room_id.clone(),
            config.timestamp_window_secs,
            config.gift_names.clone(),
            sink.clone(),
        ));
        let msg_types: Vec<String> = config
            .msg_types
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        for t in &msg_types {
            if payload::MsgType::parse(t).is_none() {
                tracing::warn!(msg_type = %t, "pushes of this type will be counted but not used");
            }
        }
        let keeper = tasks
            .clone()
            .map(|client| tokio::spawn(keep_tasks(client, msg_types.clone())));
        let app = webhook::router(&config.path, hook.clone());
        let limits = webhook::serve::ServeLimits::default();
        let served = webhook::serve::serve(listener, app, limits, sink_closed(sink)).await;
        if let Some(keeper) = keeper {
            keeper.abort();
        }
        if let Some(client) = &tasks {
            stop_tasks(client, &msg_types).await;
        }
        let s = &hook.stats;
        tracing::info!(
            accepted = s.accepted.load(Ordering::Relaxed),
            events = s.events.load(Ordering::Relaxed),
            test_items = s.test_items.load(Ordering::Relaxed),
            fansclub_items = s.fansclub_items.load(Ordering::Relaxed),
            commit_timeouts = s.commit_timeouts.load(Ordering::Relaxed),
            "Open Platform push endpoint stopped"
        );
        served.map_err(OpenPlatformError::Serve)
    }
}

/// Resolves once the show has stopped taking events.
async fn sink_closed(sink: EventSink) {
    while !sink.is_closed() {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Keeps a push task running for every message type: starts them, retries failures with growing
/// delays, and checks on them (restarting any that stopped). Runs until aborted.
async fn keep_tasks(client: TaskClient, msg_types: Vec<String>) {
    let mut running = BTreeSet::new();
    let mut retry = RETRY_MIN;
    let mut next_check = FIRST_CHECK_AFTER;
    loop {
        let pending: Vec<&String> = msg_types.iter().filter(|t| !running.contains(*t)).collect();
        for msg_type in pending {
            match client.start(msg_type).await {
                Ok(task_id) => {
                    tracing::info!(%msg_type, %task_id, "Open Platform push task started");
                    running.insert(msg_type.clone());
                }
                Err(error) => {
                    tracing::warn!(%msg_type, %error, "could not start Open Platform push task; retrying in {retry:?}")
                }
            }
        }
        if running.len() < msg_types.len() {
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
            continue;
        }
        retry = RETRY_MIN;
        tokio::time::sleep(next_check).await;
        next_check = CHECK_EVERY;
        for msg_type in &msg_types {
            match client.status(msg_type).await {
                Ok(TaskStatus::Running) => {
                    tracing::info!(%msg_type, "Open Platform push task running")
                }
                Ok(status) => {
                    tracing::warn!(%msg_type, ?status, "Open Platform push task not running; restarting it");
                    running.remove(msg_type);
                }
                Err(error) => {
                    tracing::warn!(%msg_type, %error, "could not check Open Platform push task")
                }
            }
        }
    }
}

/// Stops every task, best effort, within [`STOP_TIMEOUT`] in total.
async fn stop_tasks(client: &TaskClient, msg_types: &[String]) {
    let stop_all = async {
        for msg_type in msg_types {
            match client.stop(msg_type).await {
                Ok(()) => tracing::info!(%msg_type, "Open Platform push task stopped"),
                Err(error) => {
                    tracing::warn!(%msg_type, %error, "could not stop Open Platform push task")
                }
            }
        }
    };
    if tokio::time::timeout(STOP_TIMEOUT, stop_all).await.is_err() {
        tracing::warn!("stopping the Open Platform push tasks timed out; they end with the stream");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> OpenPlatformConfig {
        OpenPlatformConfig {
            app_id: "tt123".into(),
            app_secret: "s3cret-value".into(),
            room_id: "7312345678901234567".into(),
            access_token: Some("token-value".into()),
            ..OpenPlatformConfig::default()
        }
    }

    #[test]
    fn defaults_listen_on_loopback_for_the_four_documented_types() {
        let c = OpenPlatformConfig::default();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8790");
        assert_eq!(c.path, "/douyin/push");
        assert_eq!(c.timestamp_window_secs, 300);
        assert_eq!(c.api, "https://webcast.bytedance.com");
        assert_eq!(
            c.msg_types,
            ["live_comment", "live_gift", "live_like", "live_fansclub"]
        );
        assert!(c.start_tasks);
    }

    #[test]
    fn config_parses_from_toml_and_rejects_unknown_keys() {
        let c: OpenPlatformConfig = toml::from_str(
            r#"
            bind = "127.0.0.1:9000"
            app_id = "tt1"
            app_secret = "x"
            room_id = "42"
            gift_names = { "abc" = "小心心" }
            "#,
        )
        .unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.gift_names["abc"], "小心心");
        assert_eq!(c.path, "/douyin/push");
        assert!(toml::from_str::<OpenPlatformConfig>("secret = 'x'").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let text = format!("{:?}", valid());
        assert!(
            !text.contains("s3cret-value") && !text.contains("token-value"),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn unusable_configs_are_refused_up_front() {
        assert!(valid().validate().is_ok());
        let cases: [fn(&mut OpenPlatformConfig); 6] = [
            |c| c.app_secret.clear(),
            |c| c.path = "douyin/push".into(),
            |c| c.path = "/push/{id}".into(),
            |c| c.timestamp_window_secs = 0,
            |c| c.access_token = None,
            |c| c.room_id.clear(),
        ];
        for change in cases {
            let mut c = valid();
            change(&mut c);
            assert!(
                matches!(c.validate(), Err(OpenPlatformError::Config(_))),
                "{c:?}"
            );
        }
        // Without task management, no token or room is needed.
        let mut c = valid();
        c.start_tasks = false;
        c.access_token = None;
        c.room_id.clear();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn checkpoint_key_names_the_room() {
        assert_eq!(valid().key(), "douyin_open_platform:7312345678901234567");
    }
}
