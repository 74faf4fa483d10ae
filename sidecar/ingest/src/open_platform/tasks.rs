//! The live-data task API: asking the platform to push a room's events to us.
//!
//! Pushes only flow while a *task* runs for `(room, app, msg_type)`:
//! `POST {api}/api/live_data/task/start` and `…/task/stop` with the JSON body
//! `{roomid, appid, msg_type}`, `GET …/task/get?roomid=&appid=&msg_type=` for the status, each
//! with the `access-token` header (an app access token, valid about 2 hours; the operator renews
//! it). Every answer is the envelope `{err_no, err_msg, logid, data}`; `err_no != 0` is an error
//! even with HTTP 200.
//!
//! The platform caps pushes at 100 requests per second per room by default and backfills gifts
//! after an outage of our endpoint (comments and likes may be lost), so a restart of the sidecar
//! costs no money; the ledger removes the gifts it already had.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long one task API call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest error body kept in an error message.
const MAX_ERROR_BODY: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task API address {api:?} is not a usable URL: {reason}")]
    BadApi { api: String, reason: String },
    #[error("task API {call} request failed: {source}")]
    Http {
        call: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("task API {call} answered HTTP {status}: {body}")]
    Status {
        call: &'static str,
        status: u16,
        body: String,
    },
    #[error("task API {call} answered something that is not its JSON envelope: {source}")]
    Envelope {
        call: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("task API {call} refused (err_no {err_no}): {err_msg} (logid {logid})")]
    Api {
        call: &'static str,
        err_no: i64,
        err_msg: String,
        logid: String,
    },
}

/// The status `task/get` reports (`data.status`: 1 no such task, 2 not started, 3 running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Missing,
    NotStarted,
    Running,
    Other(i64),
}

impl TaskStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Missing,
            2 => Self::NotStarted,
            3 => Self::Running,
            other => Self::Other(other),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    err_no: i64,
    #[serde(default)]
    err_msg: String,
    #[serde(default)]
    logid: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct TaskBody<'a> {
    roomid: &'a str,
    appid: &'a str,
    msg_type: &'a str,
}

/// A client of the task API for one room and app.
#[derive(Clone)]
pub struct TaskClient {
    http: reqwest::Client,
    api: String,
    /// `{api}/api/live_data/task/get`, parsed once; the query is added per call.
    get_url: reqwest::Url,
    app_id: String,
    room_id: String,
    access_token: String,
}

impl std::fmt::Debug for TaskClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskClient")
            .field("api", &self.api)
            .field("app_id", &self.app_id)
            .field("room_id", &self.room_id)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

impl TaskClient {
    pub fn new(
        api: &str,
        app_id: &str,
        room_id: &str,
        access_token: &str,
    ) -> Result<Self, TaskError> {
        let api = api.trim_end_matches('/').to_string();
        let bad = |reason: String| TaskError::BadApi {
            api: api.clone(),
            reason,
        };
        let get_url = reqwest::Url::parse(&format!("{api}/api/live_data/task/get"))
            .map_err(|e| bad(e.to_string()))?;
        if !matches!(get_url.scheme(), "http" | "https") {
            return Err(bad("not http(s)".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            http,
            get_url,
            api,
            app_id: app_id.to_string(),
            room_id: room_id.to_string(),
            access_token: access_token.to_string(),
        })
    }

    /// Starts the push task for `msg_type`; returns the platform's task id.
    pub async fn start(&self, msg_type: &str) -> Result<String, TaskError> {
        let data = self.post("start", msg_type).await?;
        Ok(data
            .as_ref()
            .and_then(|d| d.get("task_id"))
            .map(|id| match id {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default())
    }

    /// Stops the push task for `msg_type`.
    pub async fn stop(&self, msg_type: &str) -> Result<(), TaskError> {
        self.post("stop", msg_type).await.map(|_| ())
    }

    /// The status of the push task for `msg_type`.
    pub async fn status(&self, msg_type: &str) -> Result<TaskStatus, TaskError> {
        let call = "get";
        let mut url = self.get_url.clone();
        url.query_pairs_mut()
            .append_pair("roomid", &self.room_id)
            .append_pair("appid", &self.app_id)
            .append_pair("msg_type", msg_type);
        let response = self
            .http
            .get(url)
            .header("access-token", &self.access_token)
            .send()
            .await
            .map_err(|source| TaskError::Http { call, source })?;
        let data = read_envelope(call, response).await?;
        let code = data
            .as_ref()
            .and_then(|d| d.get("status"))
            .and_then(|s| s.as_i64())
            .unwrap_or(0);
        Ok(TaskStatus::from_code(code))
    }

    async fn post(
        &self,
        call: &'static str,
        msg_type: &str,
    ) -> Result<Option<serde_json::Value>, TaskError> {
        let response = self
            .http
            .post(format!("{}/api/live_data/task/{call}", self.api))
            .header("access-token", &self.access_token)
            .json(&TaskBody {
                roomid: &self.room_id,
                appid: &self.app_id,
                msg_type,
            })
            .send()
            .await
            .map_err(|source| TaskError::Http { call, source })?;
        read_envelope(call, response).await
    }
}

async fn read_envelope(
    call: &'static str,
    response: reqwest::Response,
) -> Result<Option<serde_json::Value>, TaskError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|source| TaskError::Http { call, source })?;
    if !status.is_success() {
        return Err(TaskError::Status {
            call,
            status: status.as_u16(),
            body: excerpt(&body),
        });
    }
    parse_envelope(call, &body)
}

/// The `data` of a successful envelope, or the API's error.
fn parse_envelope(call: &'static str, body: &[u8]) -> Result<Option<serde_json::Value>, TaskError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|source| TaskError::Envelope { call, source })?;
    if envelope.err_no != 0 {
        return Err(TaskError::Api {
            call,
            err_no: envelope.err_no,
            err_msg: envelope.err_msg,
            logid: envelope.logid,
        });
    }
    Ok(envelope.data)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX_ERROR_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_envelope_yields_its_data() {
        let body = br#"{"err_no":0,"err_msg":"","logid":"2023","data":{"task_id":"7311"}}"#;
        let data = parse_envelope("start", body).unwrap().unwrap();
        assert_eq!(data["task_id"], "7311");
        assert_eq!(parse_envelope("stop", br#"{"err_no":0}"#).unwrap(), None);
    }

    #[test]
    fn api_errors_and_foreign_bodies_are_typed() {
        let err = parse_envelope(
            "start",
            br#"{"err_no":40022,"err_msg":"access_token invalid","logid":"abc"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, TaskError::Api { err_no: 40022, .. }), "{err}");
        assert!(err.to_string().contains("access_token invalid"));
        let err = parse_envelope("get", b"<html>gateway</html>").unwrap_err();
        assert!(
            matches!(err, TaskError::Envelope { call: "get", .. }),
            "{err}"
        );
    }

    #[test]
    fn status_codes_are_named() {
        assert_eq!(TaskStatus::from_code(3), TaskStatus::Running);
        assert_eq!(TaskStatus::from_code(1), TaskStatus::Missing);
        assert_eq!(TaskStatus::from_code(2), TaskStatus::NotStarted);
        assert_eq!(TaskStatus::from_code(9), TaskStatus::Other(9));
    }

    #[test]
    fn long_error_bodies_are_cut_and_the_token_is_not_in_debug_output() {
        assert_eq!(excerpt("错".repeat(400).as_bytes()).chars().count(), 301);
        let client = TaskClient::new("http://127.0.0.1:1/", "tt1", "r1", "sekrit-token").unwrap();
        assert!(!format!("{client:?}").contains("sekrit"));
        assert_eq!(client.api, "http://127.0.0.1:1");
        assert_eq!(
            client.get_url.as_str(),
            "http://127.0.0.1:1/api/live_data/task/get"
        );
        assert!(matches!(
            TaskClient::new("webcast.bytedance.com", "a", "r", "t"),
            Err(TaskError::BadApi { .. })
        ));
        assert!(matches!(
            TaskClient::new("ftp://x", "a", "r", "t"),
            Err(TaskError::BadApi { .. })
        ));
    }
}
