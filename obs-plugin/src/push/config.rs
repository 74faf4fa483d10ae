//! A push target's configuration as `set_targets` receives it, and its validation.
//!
//! Everything here is pure: a JSON value in, a [`TargetConfig`] or a [`ConfigError`] naming the
//! target and the field out. Error texts never quote the stream key, so they are safe to log
//! and to send back to the client.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

/// Longest accepted target name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Accepted video bitrates (kbit/s) of an own encoder.
pub const BITRATE_RANGE: (i64, i64) = (200, 50_000);
/// Accepted keyframe intervals (seconds) of an own encoder.
pub const KEYINT_RANGE: (i64, i64) = (1, 10);
/// Accepted AAC bitrates (kbit/s).
pub const AUDIO_BITRATE_RANGE: (i64, i64) = (32, 320);
/// Accepted frame sizes of an own encoder (x264 with 4:2:0 needs even sizes).
pub const SIZE_RANGE: (i64, i64) = (16, 4096);
pub const DEFAULT_AUDIO_BITRATE: u32 = 128;
pub const DEFAULT_KEYINT: u32 = 2;
pub const DEFAULT_PRESET: &str = "veryfast";
/// The x264 presets `obs_x264` accepts.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// How the target's URL is spoken, which decides the OBS output type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Rtmps,
    Srt,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Rtmps => "rtmps",
            Protocol::Srt => "srt",
        }
    }
}

/// A stream key. Its `Debug` never shows it, so a config printed by mistake leaks nothing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StreamKey(String);

impl StreamKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself: only for handing it to OBS's service object.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    /// `"••••ab12"`: the last four characters, and only for keys of eight or more, so a hint
    /// never gives away more than half of a key.
    pub fn hint(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 8 {
            return String::new();
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("••••{tail}")
    }

    /// `text` with every occurrence of the key replaced, for error messages that come from
    /// OBS or a server and might echo the URL they were given.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "••••")
        }
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "StreamKey(set)"
        } else {
            "StreamKey(empty)"
        })
    }
}

/// Which encoders feed the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderConfig {
    /// OBS's main stream's video and audio encoders (no extra encoding cost).
    Shared,
    /// The target's own x264 + AAC encoders.
    Own(OwnEncoder),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnEncoder {
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub keyint_secs: u32,
    pub preset: String,
    pub audio_bitrate_kbps: u32,
}

/// One validated target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub name: String,
    /// As configured; the key is not part of it.
    pub server: String,
    pub protocol: Protocol,
    pub key: StreamKey,
    pub encoder: EncoderConfig,
    pub with_main: bool,
}

impl TargetConfig {
    /// `host[:port]` of the server: what the plugin's own log lines name, since a path could
    /// hold a key someone pasted into the URL.
    pub fn server_host(&self) -> &str {
        let rest = self
            .server
            .split_once("://")
            .map_or(self.server.as_str(), |(_, r)| r);
        rest.split(['/', '?']).next().unwrap_or_default()
    }
}

/// Why a `set_targets` request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The request itself is malformed (no `targets` array).
    #[error("{0}")]
    BadRequest(String),
    /// One entry is invalid: which one, which field, and why.
    #[error("{target}: {field} {problem}")]
    Invalid {
        /// `target 'name'`, or `targets[3]` when the entry has no usable name.
        target: String,
        field: &'static str,
        problem: String,
    },
}

/// Validates a whole `set_targets` request body: every entry, and names unique.
pub fn parse_targets(request: &Value) -> Result<Vec<TargetConfig>, ConfigError> {
    let list = request
        .get("targets")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ConfigError::BadRequest("set_targets needs \"targets\": an array of targets".into())
        })?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let target = parse_target(i, entry)?;
        if !seen.insert(target.name.clone()) {
            return Err(ConfigError::Invalid {
                target: format!("target '{}'", target.name),
                field: "name",
                problem: "is used by more than one target".into(),
            });
        }
        out.push(target);
    }
    Ok(out)
}

/// Validates entry `index` of the `targets` array.
pub fn parse_target(index: usize, entry: &Value) -> Result<TargetConfig, ConfigError> {
    let unnamed = format!("targets[{index}]");
    let obj = entry.as_object().ok_or_else(|| ConfigError::Invalid {
        target: unnamed.clone(),
        field: "entry",
        problem: "must be an object".into(),
    })?;
    let name = parse_name(obj).map_err(|problem| ConfigError::Invalid {
        target: unnamed,
        field: "name",
        problem,
    })?;
    let fail = |field: &'static str, problem: String| ConfigError::Invalid {
        target: format!("target '{name}'"),
        field,
        problem,
    };
    let server = match obj.get("server") {
        Some(Value::String(s)) => s.trim().to_string(),
        _ => {
            return Err(fail(
                "server",
                "must be a string (rtmp://, rtmps:// or srt:// URL)".into(),
            ))
        }
    };
    let protocol = parse_server(&server).map_err(|p| fail("server", p))?;
    let key = match obj.get("key") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(fail("key", "must be a string".into())),
    };
    // Problems are described, never quoted: the text goes back to the client and into logs.
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            "key",
            "must not contain spaces or control characters".into(),
        ));
    }
    if key.is_empty() && protocol != Protocol::Srt {
        return Err(fail(
            "key",
            format!("must not be empty for {}", protocol.as_str()),
        ));
    }
    let with_main = match obj.get("with_main") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(fail("with_main", "must be true or false".into())),
    };
    let encoder = parse_encoder(obj).map_err(|(field, p)| fail(field, p))?;
    Ok(TargetConfig {
        name,
        server,
        protocol,
        key: StreamKey::new(key),
        encoder,
        with_main,
    })
}

fn parse_name(obj: &Map<String, Value>) -> Result<String, String> {
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("must be a string")?;
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("must be 1 to {MAX_NAME_CHARS} characters long"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// Checks `scheme://host[:port][/path]` and returns the protocol.
pub fn parse_server(server: &str) -> Result<Protocol, String> {
    let (scheme, rest) = server
        .split_once("://")
        .ok_or("must be a URL starting with rtmp://, rtmps:// or srt://")?;
    let protocol = match scheme.to_ascii_lowercase().as_str() {
        "rtmp" => Protocol::Rtmp,
        "rtmps" => Protocol::Rtmps,
        "srt" => Protocol::Srt,
        _ => {
            return Err(format!(
                "has an unsupported scheme '{scheme}' (use rtmp, rtmps or srt)"
            ))
        }
    };
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]:1935` and `host:1935`; a bare IPv6 literal without brackets is not a URL.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err("has no host".into());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("has an invalid port '{port}'")),
        }
    }
    Ok(protocol)
}

fn parse_encoder(obj: &Map<String, Value>) -> Result<EncoderConfig, (&'static str, String)> {
    let enc = match obj.get("encoder") {
        Some(Value::Object(e)) => e,
        _ => return Err(("encoder", "must be an object with a \"kind\"".into())),
    };
    match enc.get("kind").and_then(Value::as_str) {
        Some("shared") => return Ok(EncoderConfig::Shared),
        Some("own") => {}
        Some(other) => {
            return Err((
                "encoder.kind",
                format!("'{other}' is unknown (use \"shared\" or \"own\")"),
            ))
        }
        None => return Err(("encoder.kind", "must be \"shared\" or \"own\"".into())),
    }
    let int = |map: &Map<String, Value>,
               key: &str,
               field: &'static str,
               range: (i64, i64),
               default: Option<u32>| {
        match map.get(key) {
            None | Some(Value::Null) if default.is_some() => Ok(default.unwrap_or_default()),
            Some(v) => match v.as_i64() {
                Some(n) if (range.0..=range.1).contains(&n) => Ok(n as u32),
                _ => Err((
                    field,
                    format!("must be an integer from {} to {}", range.0, range.1),
                )),
            },
            None => Err((
                field,
                format!("is required (an integer from {} to {})", range.0, range.1),
            )),
        }
    };
    let width = int(enc, "width", "encoder.width", SIZE_RANGE, None)?;
    let height = int(enc, "height", "encoder.height", SIZE_RANGE, None)?;
    if width % 2 != 0 || height % 2 != 0 {
        return Err(("encoder.width", "and encoder.height must be even".into()));
    }
    let bitrate_kbps = int(
        enc,
        "bitrate_kbps",
        "encoder.bitrate_kbps",
        BITRATE_RANGE,
        None,
    )?;
    let keyint_secs = int(
        enc,
        "keyint_secs",
        "encoder.keyint_secs",
        KEYINT_RANGE,
        Some(DEFAULT_KEYINT),
    )?;
    let preset = match enc.get("preset") {
        None | Some(Value::Null) => DEFAULT_PRESET.to_string(),
        Some(Value::String(p)) if X264_PRESETS.contains(&p.as_str()) => p.clone(),
        Some(_) => {
            return Err((
                "encoder.preset",
                format!("must be one of {}", X264_PRESETS.join(", ")),
            ))
        }
    };
    let audio_bitrate_kbps = int(
        obj,
        "audio_bitrate_kbps",
        "audio_bitrate_kbps",
        AUDIO_BITRATE_RANGE,
        Some(DEFAULT_AUDIO_BITRATE),
    )?;
    Ok(EncoderConfig::Own(OwnEncoder {
        width,
        height,
        bitrate_kbps,
        keyint_secs,
        preset,
        audio_bitrate_kbps,
    }))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
