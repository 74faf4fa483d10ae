//! The VTube Studio sink: shows the follower's state on a Live2D model through VTS's public API.
//!
//! Every frame (~33 ms) it injects `MouthOpen` (the mirrored lip-sync) and `MouthSmile` (from the
//! expression) with `InjectParameterDataRequest`. VTS drops injected values that are not renewed
//! within a second, so sending every frame — also while idle — is what keeps the model ours; it
//! also means a bridge that dies hands the model back to face tracking within a second.
//! Expression changes become `ExpressionActivationRequest`s (the previous one is switched off
//! first) and motions become `HotkeyTriggerRequest`s.
//!
//! Authentication is handled by the `vtubestudio` crate: on the first request it authenticates
//! with the saved token or, failing that, asks VTS for a new one (VTS shows the user an
//! approval popup). New tokens arrive on the client's event stream and are saved to the token
//! file, so the user approves the plugin only once.
//!
//! When VTS is not running, requests fail fast; the sink then skips frames until a backoff delay
//! has passed, and logs only when the connection's state changes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use vtubestudio::data::{
    EnumString, ErrorId, ExpressionActivationRequest, HotkeyTriggerRequest,
    InjectParameterDataMode, InjectParameterDataRequest, ParameterValue,
};
use vtubestudio::{Client, ClientEvent, ClientEventStream};

use crate::mapping::Mapping;
use avatar_link::backoff::Backoff;

/// How the plugin appears in VTS's approval popup and plugin list (3–32 characters each).
pub const PLUGIN_NAME: &str = "AI VStreamer Live2D Bridge";
pub const PLUGIN_DEVELOPER: &str = "ai-vstreamer";
/// VTS's default API address.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8001";
/// Default-tracking input parameters of every VTS model.
pub const MOUTH_OPEN: &str = "MouthOpen";
pub const MOUTH_SMILE: &str = "MouthSmile";
/// A denied approval is a decision by the user: asking again soon would only nag them with
/// popups, so wait much longer than for a mere connection failure.
const DENIED_RETRY: Duration = Duration::from_secs(60);

/// Where VTS is and where its token is kept.
#[derive(Debug, Clone)]
pub struct VtsConfig {
    pub url: String,
    pub token_file: PathBuf,
}

impl Default for VtsConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_string(),
            token_file: default_token_file(),
        }
    }
}

/// `ai-vstreamer/vts-token` in the platform's config directory (`~/.config` on Linux,
/// `%APPDATA%` on Windows, `~/Library/Application Support` on macOS).
pub fn default_token_file() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("ai-vstreamer")
        .join("vts-token")
}

/// Token-file problems (each message includes its cause; see `MappingError` for why).
/// Connection and API failures are not errors of the sink: it retries them.
#[derive(Debug, thiserror::Error)]
pub enum VtsError {
    #[error("cannot read the VTube Studio token file {path}: {cause}")]
    ReadToken {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot save the VTube Studio token to {path}: {cause}")]
    SaveToken {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// The avatar's state for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct AvatarFrame {
    /// Mouth openness, 0..=1.
    pub openness: f32,
    /// Expression name (`neutral` when none).
    pub expression: String,
    /// Motions to start now.
    pub motions: Vec<String>,
}

/// `MouthSmile` for an expression: a broad smile when happy, a friendly hint otherwise.
pub fn smile_for(expression: &str) -> f32 {
    if expression == "happy" {
        1.0
    } else {
        0.3
    }
}

/// The VTS connection as far as the log is concerned; a message is written only on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VtsState {
    Starting,
    Ready,
    Down,
    Denied,
}

/// What a failed request means for the sink.
enum Failure {
    /// VTS is unreachable or the connection broke: back off and retry.
    Connection(vtubestudio::Error),
    /// The user denied (or revoked) the plugin's access.
    Denied(vtubestudio::Error),
    /// VTS refused this one request (unknown expression file, hotkey on cooldown...).
    Request(vtubestudio::Error),
}

impl From<vtubestudio::Error> for Failure {
    fn from(error: vtubestudio::Error) -> Self {
        match error.to_api_error().map(|e| e.error_id) {
            Some(id)
                if id == ErrorId::REQUEST_REQUIRES_AUTHENTICATION
                    || id == ErrorId::TOKEN_REQUEST_DENIED =>
            {
                Failure::Denied(error)
            }
            Some(_) => Failure::Request(error),
            None => Failure::Connection(error),
        }
    }
}

/// Drives one VTS model.
pub struct VtsSink {
    client: Client,
    url: String,
    mapping: Mapping,
    state: VtsState,
    retry_at: Option<Instant>,
    backoff: Backoff,
    /// The expression file this sink last activated.
    shown: Option<String>,
    /// False after a (re)connection, when VTS's expression state is not known to match `shown`.
    synced: bool,
    /// Request-specific failures already reported (per file or hotkey), so that a missing
    /// expression is one warning, not one per frame.
    warned: HashSet<String>,
}

impl VtsSink {
    /// Creates the client (it connects lazily, on the first frame) and starts saving new tokens.
    /// Must be called within a tokio runtime.
    pub fn new(config: &VtsConfig, mapping: Mapping) -> Result<Self, VtsError> {
        let saved = load_token(&config.token_file)?;
        if saved.is_none() {
            tracing::info!(
                token_file = %config.token_file.display(),
                "no saved VTube Studio token: click \"Allow\" in VTube Studio's popup when it appears (once)"
            );
        }
        let (client, events) = Client::builder()
            .authentication(PLUGIN_NAME, PLUGIN_DEVELOPER, None)
            .auth_token(saved)
            .url(config.url.clone())
            .build_tungstenite();
        // Not aborted with the sink: the task ends by itself once the client is gone, after
        // saving a token that arrived at the last moment.
        tokio::spawn(save_new_tokens(events, config.token_file.clone()));
        Ok(Self {
            client,
            url: config.url.clone(),
            mapping,
            state: VtsState::Starting,
            retry_at: None,
            backoff: Backoff::new(),
            shown: None,
            synced: false,
            warned: HashSet::new(),
        })
    }

    /// Shows one frame. While VTS is down this returns at once (motions are dropped: a reaction
    /// shown seconds late would be odd); otherwise it waits for VTS's answers, which on the first
    /// frame includes waiting for the user to approve the plugin.
    pub async fn update(&mut self, frame: AvatarFrame) {
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return;
            }
            self.retry_at = None;
        }
        if let Err(failure) = self.show(&frame).await {
            self.failed(failure);
        }
    }

    /// Leaves the model as face tracking would have it: closes the mouth and switches off our
    /// expression. Used at shutdown; best effort.
    pub async fn rest(&mut self) {
        if self.state != VtsState::Ready {
            return;
        }
        let _ = self.inject(0.0, smile_for(crate::follower::NEUTRAL)).await;
        if let Some(file) = self.shown.take() {
            let _ = self
                .client
                .send(&ExpressionActivationRequest {
                    expression_file: file,
                    active: false,
                })
                .await;
        }
    }

    async fn show(&mut self, frame: &AvatarFrame) -> Result<(), Failure> {
        // Parameters first: the mouth is what a viewer notices lagging.
        let smile = smile_for(&frame.expression);
        if let Err(failure) = self.inject(frame.openness, smile).await {
            match failure {
                Failure::Request(e) => {
                    self.warn_once("inject", &e, "VTube Studio rejected the mouth parameters")
                }
                other => return Err(other),
            }
        }
        self.connected();
        self.sync_expression(&frame.expression).await?;
        for motion in &frame.motions {
            self.trigger(motion).await?;
        }
        Ok(())
    }

    async fn inject(&mut self, openness: f32, smile: f32) -> Result<(), Failure> {
        let parameter = |id: &str, value: f32| ParameterValue {
            id: id.to_string(),
            // Rounded so the JSON carries 0.3, not f32's 0.30000001192092896.
            value: (f64::from(value.clamp(0.0, 1.0)) * 1e4).round() / 1e4,
            weight: None,
        };
        let request = InjectParameterDataRequest {
            parameter_values: vec![
                parameter(MOUTH_OPEN, openness),
                parameter(MOUTH_SMILE, smile),
            ],
            // We are not a face tracker: let VTS's own tracking (if any) decide about the rest.
            face_found: false,
            mode: Some(EnumString::new(InjectParameterDataMode::Set)),
        };
        self.client.send(&request).await?;
        Ok(())
    }

    async fn sync_expression(&mut self, name: &str) -> Result<(), Failure> {
        let wanted = self.mapping.expression_file(name).map(str::to_string);
        if self.synced && self.shown == wanted {
            return Ok(());
        }
        // VTS can show several expressions at once; ours replace each other.
        if let Some(previous) = self.shown.take().filter(|p| Some(p) != wanted.as_ref()) {
            let request = ExpressionActivationRequest {
                expression_file: previous.clone(),
                active: false,
            };
            match self.client.send(&request).await.map_err(Failure::from) {
                Ok(_) | Err(Failure::Request(_)) => {} // e.g. the user already switched it off
                Err(other) => {
                    self.shown = Some(previous); // still to be switched off after reconnecting
                    return Err(other);
                }
            }
        }
        if let Some(file) = &wanted {
            let request = ExpressionActivationRequest {
                expression_file: file.clone(),
                active: true,
            };
            match self.client.send(&request).await.map_err(Failure::from) {
                Ok(_) => tracing::debug!(%file, "expression activated"),
                Err(Failure::Request(e)) => self.warn_once(
                    file,
                    &e,
                    "VTube Studio cannot show this expression (check the mapping)",
                ),
                Err(other) => return Err(other),
            }
        }
        self.shown = wanted;
        self.synced = true;
        Ok(())
    }

    async fn trigger(&mut self, motion: &str) -> Result<(), Failure> {
        let Some(hotkey) = self.mapping.motion_hotkey(motion) else {
            tracing::debug!(%motion, "no hotkey mapped for this motion; skipped");
            return Ok(());
        };
        let request = HotkeyTriggerRequest {
            hotkey_id: hotkey.to_string(),
            item_instance_id: None,
        };
        match self.client.send(&request).await.map_err(Failure::from) {
            Ok(_) => {
                tracing::debug!(%motion, %hotkey, "hotkey triggered");
                Ok(())
            }
            Err(Failure::Request(e)) => {
                let busy = e.to_api_error().is_some_and(|api| {
                    api.error_id == ErrorId::HOTKEY_QUEUE_FULL
                        || api.error_id == ErrorId::HOTKEY_COOLDOWN_NOT_OVER
                });
                if busy {
                    tracing::debug!(%motion, error = %e, "hotkey skipped, VTube Studio is busy");
                } else {
                    let key = hotkey.to_string();
                    self.warn_once(
                        &key,
                        &e,
                        "VTube Studio cannot play this motion (check the mapping)",
                    );
                }
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    fn connected(&mut self) {
        if self.state != VtsState::Ready {
            tracing::info!(url = %self.url, "VTube Studio connected; driving the model");
            self.state = VtsState::Ready;
            self.backoff.reset();
        }
    }

    fn failed(&mut self, failure: Failure) {
        let (next, delay, error) = match failure {
            Failure::Denied(e) => (VtsState::Denied, DENIED_RETRY, e),
            Failure::Connection(e) | Failure::Request(e) => {
                (VtsState::Down, self.backoff.next_delay(), e)
            }
        };
        // Whatever VTS shows after a reconnection, resend our expression then.
        self.synced = false;
        self.retry_at = Some(Instant::now() + delay);
        if next == self.state {
            tracing::debug!(error = %describe(&error), ?delay, "VTube Studio still unavailable");
            return;
        }
        let error = describe(&error);
        match (self.state, next) {
            (_, VtsState::Denied) => tracing::error!(
                error = %error,
                "VTube Studio denied the plugin; allow \"{PLUGIN_NAME}\" in VTube Studio (asking again in {} s)",
                DENIED_RETRY.as_secs()
            ),
            (VtsState::Ready, _) => tracing::warn!(error = %error, "lost VTube Studio; retrying"),
            _ => tracing::warn!(
                url = %self.url,
                error = %error,
                "VTube Studio is not reachable (is it running, with plugin API access allowed?); retrying"
            ),
        }
        self.state = next;
    }

    fn warn_once(&mut self, key: &str, error: &vtubestudio::Error, what: &str) {
        if self.warned.insert(key.to_string()) {
            tracing::warn!(%key, error = %describe(error), "{what}");
        }
    }
}

/// The crate's errors display only their kind ("failed to establish connection"); the cause is
/// in the source chain, and it is what tells the user what to fix.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Reads the saved token; a missing or empty file just means "not approved yet".
pub fn load_token(path: &Path) -> Result<Option<String>, VtsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(VtsError::ReadToken {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Saves a token, readable by the user only (it lets any local program drive their model).
/// Written to a temporary file first and renamed, so a crash cannot leave half a token.
pub fn save_token(path: &Path, token: &str) -> Result<(), VtsError> {
    let fail = |cause| VtsError::SaveToken {
        path: path.to_path_buf(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(fail)?;
    std::io::Write::write_all(&mut file, token.as_bytes()).map_err(fail)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(fail)
}

/// Consumes the client's events; they must be read, or the client stalls once its buffer fills.
async fn save_new_tokens(mut events: ClientEventStream, token_file: PathBuf) {
    while let Some(event) = events.next().await {
        match event {
            ClientEvent::NewAuthToken(token) => match save_token(&token_file, &token) {
                Ok(()) => tracing::info!(
                    token_file = %token_file.display(),
                    "VTube Studio approved the plugin; token saved for next time"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "the plugin will have to be approved again next time")
                }
            },
            other => tracing::trace!(event = ?other, "VTube Studio client event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_smiles_broadly_everything_else_a_little() {
        assert_eq!(smile_for("happy"), 1.0);
        assert_eq!(smile_for("sad"), 0.3);
        assert_eq!(smile_for("neutral"), 0.3);
    }

    #[test]
    fn tokens_round_trip_through_the_file_and_missing_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("vts-token");
        assert_eq!(load_token(&path).unwrap(), None);
        save_token(&path, "abc-123").unwrap();
        assert_eq!(load_token(&path).unwrap().as_deref(), Some("abc-123"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "token readable by others: {mode:o}");
        }
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(load_token(&path).unwrap(), None);
    }

    #[test]
    fn the_default_token_file_lives_in_the_config_directory() {
        let path = default_token_file();
        assert!(
            path.ends_with(Path::new("ai-vstreamer").join("vts-token")),
            "{}",
            path.display()
        );
    }
}
