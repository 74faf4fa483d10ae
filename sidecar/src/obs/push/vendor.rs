//! The plugin's push API, spoken over obs-websocket vendor requests (`CallVendorRequest` to
//! vendor [`VENDOR`]; the requests and fields are documented in `obs-plugin/README.md`).
//!
//! Every call has the controller's deadline ([`Obs::call`]). The plugin answers failures inside
//! the response (`ok: false`, a `code` and an `error` sentence) because a vendor callback
//! cannot set obs-websocket's status; obs-websocket itself refuses when no such vendor is
//! registered (the plugin is missing or too old, or obs-websocket is not loaded).

use obws::requests::general::CallVendorRequest;
use serde::{Deserialize, Serialize};

use super::config::WireTarget;
use crate::obs::request::{Obs, RequestError};

/// The vendor name the plugin registers.
pub const VENDOR: &str = "ai-avatar-push";

/// One target as the plugin reports it. The key is never in it: only whether it is set and
/// its last four characters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct TargetStatus {
    pub name: String,
    pub server: String,
    pub protocol: String,
    pub key_set: bool,
    pub key_hint: String,
    pub encoder: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub keyint_secs: u32,
    pub with_main: bool,
    /// idle, starting, live, reconnecting, stopping, failed.
    pub state: String,
    pub last_error: String,
    pub bytes_sent: u64,
    pub frames_sent: u64,
    pub frames_dropped: u64,
    pub reconnects: u64,
    pub bitrate_kbps_now: f64,
    pub congestion: f64,
    pub uptime_secs: f64,
}

impl std::fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<12} {:<12} {:>7.0} kbps  {:>6.1} MB sent  {} dropped of {} frames  {} reconnects  {} ({})",
            self.name,
            self.state,
            self.bitrate_kbps_now,
            self.bytes_sent as f64 / 1e6,
            self.frames_dropped,
            self.frames_sent,
            self.reconnects,
            self.server,
            if self.encoder == "shared" {
                "OBS's encoders".to_string()
            } else {
                format!("{}×{} {} kbps", self.width, self.height, self.bitrate_kbps)
            }
        )?;
        if !self.last_error.is_empty() {
            write!(f, "  last error: {}", self.last_error)?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    targets: Vec<TargetStatus>,
}

/// Why a push request did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The plugin said no (`code`: bad_request, unknown_target, invalid_target,
    /// needs_main_stream, start_failed, internal).
    #[error("the plugin refused ({code}): {error}")]
    Refused { code: String, error: String },
    /// obs-websocket knows no such vendor.
    #[error("OBS has no push API: the AI Avatar plugin is missing or older than this sidecar, or obs-websocket is not loaded ({0})")]
    NoPlugin(String),
    #[error(transparent)]
    Obs(RequestError),
}

impl PushError {
    pub fn connection_lost(&self) -> bool {
        matches!(self, PushError::Obs(e) if e.connection_lost())
    }
}

/// Which targets a start or stop is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    All,
    Named(String),
}

impl Which {
    fn data(&self) -> serde_json::Value {
        match self {
            Which::All => serde_json::json!({ "all": true }),
            Which::Named(name) => serde_json::json!({ "name": name }),
        }
    }
}

async fn call(
    obs: &Obs,
    what: &'static str,
    request_type: &str,
    data: &serde_json::Value,
) -> Result<Vec<TargetStatus>, PushError> {
    let request = CallVendorRequest {
        vendor_name: VENDOR,
        request_type,
        request_data: data,
    };
    let response = obs
        .call(what, obs.client().general().call_vendor_request(request))
        .await;
    let response: obws::responses::general::VendorResponse<serde_json::Value> = match response {
        Ok(r) => r,
        Err(RequestError::Refused { message, .. }) => return Err(PushError::NoPlugin(message)),
        Err(e) => return Err(PushError::Obs(e)),
    };
    let answer: Answer =
        serde_json::from_value(response.response_data).map_err(|e| PushError::Refused {
            code: "internal".into(),
            error: format!("unreadable answer: {e}"),
        })?;
    if answer.ok {
        Ok(answer.targets)
    } else {
        Err(PushError::Refused {
            code: answer.code,
            error: answer.error,
        })
    }
}

/// Gives the plugin the whole set; unchanged running targets keep running.
pub async fn set_targets(
    obs: &Obs,
    targets: &[WireTarget],
) -> Result<Vec<TargetStatus>, PushError> {
    let data = serde_json::json!({ "targets": targets });
    call(obs, "push set_targets", "set_targets", &data).await
}

pub async fn list(obs: &Obs) -> Result<Vec<TargetStatus>, PushError> {
    // obs-websocket 5.1 refuses a vendor request with empty data before the plugin sees it.
    call(
        obs,
        "push list",
        "list",
        &serde_json::json!({ "all": true }),
    )
    .await
}

pub async fn start(obs: &Obs, which: &Which) -> Result<Vec<TargetStatus>, PushError> {
    call(obs, "push start", "start", &which.data()).await
}

pub async fn stop(obs: &Obs, which: &Which) -> Result<Vec<TargetStatus>, PushError> {
    call(obs, "push stop", "stop", &which.data()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_the_plugins_answer_and_shows_no_key() {
        let answer: Answer = serde_json::from_value(serde_json::json!({
            "ok": true,
            "targets": [{"name": "bili", "server": "rtmp://127.0.0.1:1935/live", "protocol": "rtmp",
                "key_set": true, "key_hint": "••••ab12", "encoder": "own", "width": 1280, "height": 720,
                "bitrate_kbps": 2500, "keyint_secs": 2, "with_main": true, "state": "reconnecting",
                "last_error": "connection refused", "bytes_sent": 1_500_000, "frames_sent": 900,
                "frames_dropped": 3, "reconnects": 2, "bitrate_kbps_now": 0.0, "congestion": 0.0,
                "uptime_secs": 31.0, "something_newer": 1}]
        }))
        .unwrap();
        let line = answer.targets[0].to_string();
        assert!(
            line.contains("reconnecting") && line.contains("2 reconnects"),
            "{line}"
        );
        assert!(line.contains("last error: connection refused"), "{line}");
        let refused: Answer = serde_json::from_value(serde_json::json!({
            "ok": false, "code": "invalid_target", "error": "target \"x\": key is empty"
        }))
        .unwrap();
        assert!(!refused.ok && refused.targets.is_empty());
    }
}
