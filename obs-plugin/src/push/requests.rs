//! The vendor requests' shapes: errors with their machine codes, which targets a request
//! selects, and the reply objects. Pure; the worker (`worker.rs`) does the work.

use std::ffi::CStr;

use serde_json::{json, Value};

use super::config::ConfigError;

/// Every request type the vendor answers.
pub const REQUEST_TYPES: &[&CStr] = &[c"set_targets", c"list", c"start", c"stop", c"status"];

/// Why a request failed; `code()` is the contract's machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no target named '{0}'")]
    UnknownTarget(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("target '{0}' uses the main stream's encoders, and OBS's main stream has not been started yet (start it once, or use an own encoder)")]
    NeedsMainStream(String),
    #[error("target '{name}' could not start: {error}")]
    StartFailed { name: String, error: String },
    #[error("{0}")]
    Internal(String),
}

impl RequestError {
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::BadRequest(_) => "bad_request",
            RequestError::UnknownTarget(_) => "unknown_target",
            RequestError::InvalidTarget(_) => "invalid_target",
            RequestError::NeedsMainStream(_) => "needs_main_stream",
            RequestError::StartFailed { .. } => "start_failed",
            RequestError::Internal(_) => "internal",
        }
    }
}

impl From<ConfigError> for RequestError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::BadRequest(m) => RequestError::BadRequest(m),
            invalid => RequestError::InvalidTarget(invalid.to_string()),
        }
    }
}

/// Which targets `start`/`stop`/`status` act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    One(String),
}

/// `{ name }` or `{ all: true }`; for `status` an empty body means all.
pub fn selection(ty: &str, body: &Value, empty_means_all: bool) -> Result<Selection, RequestError> {
    match (body.get("name"), body.get("all")) {
        (Some(Value::String(name)), None | Some(Value::Bool(false)) | Some(Value::Null)) => {
            Ok(Selection::One(name.clone()))
        }
        (None | Some(Value::Null), Some(Value::Bool(true))) => Ok(Selection::All),
        (None | Some(Value::Null), None | Some(Value::Null)) if empty_means_all => {
            Ok(Selection::All)
        }
        _ => Err(RequestError::BadRequest(format!(
            "{ty} needs {{\"name\": \"...\"}} or {{\"all\": true}}"
        ))),
    }
}

/// `{ ok: true, targets }`.
pub fn ok_reply(targets: Vec<Value>) -> Value {
    json!({ "ok": true, "targets": targets })
}

/// `{ ok: false, error, code }`.
pub fn error_reply(error: &RequestError) -> Value {
    json!({ "ok": false, "error": error.to_string(), "code": error.code() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        assert_eq!(
            selection("start", &json!({"name": "a"}), false),
            Ok(Selection::One("a".into()))
        );
        assert_eq!(
            selection("stop", &json!({"all": true}), false),
            Ok(Selection::All)
        );
        assert_eq!(selection("status", &json!({}), true), Ok(Selection::All));
        let e = selection("start", &json!({}), false).unwrap_err();
        assert_eq!(e.code(), "bad_request");
        assert!(selection("start", &json!({"name": 3}), false).is_err());
        assert!(selection("start", &json!({"name": "a", "all": true}), false).is_err());
    }

    #[test]
    fn replies_carry_code_and_error() {
        let r = error_reply(&RequestError::UnknownTarget("x".into()));
        assert_eq!(
            r,
            json!({"ok": false, "error": "no target named 'x'", "code": "unknown_target"})
        );
        let e: RequestError = ConfigError::Invalid {
            target: "target 'a'".into(),
            field: "key",
            problem: "must not be empty for rtmp".into(),
        }
        .into();
        assert_eq!(e.code(), "invalid_target");
        assert_eq!(ok_reply(vec![]), json!({"ok": true, "targets": []}));
    }
}
