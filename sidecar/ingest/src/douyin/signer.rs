//! The WebSocket URL signature, computed by a program or service you provide.
//!
//! Douyin's push server only accepts a connection whose URL carries a `signature` made by the
//! site's obfuscated `frontierSign` JavaScript, and that algorithm changes every few months. So
//! the sidecar does not sign by itself: it asks a *signer* that you can update without
//! rebuilding the sidecar (a small Node.js script that loads the site's current JS, a Python
//! service, …).
//!
//! # Configuration (`[source.douyin.signer]`)
//!
//! A table with exactly one of:
//!
//! * `command = ["node", "sign.js"]`: the program is started once per connection attempt;
//! * `url = "http://127.0.0.1:8765/sign"`: the JSON below is POSTed there;
//!
//! plus an optional `timeout_secs` (default 10). Neither key: the URL is not signed at all
//! (only useful with test servers or a signing proxy, the real server refuses it).
//!
//! # Interface
//!
//! The request is one JSON object (for `command`: one line on stdin, then stdin is closed):
//!
//! ```json
//! {"x_ms_stub": "<md5 hex of params>",
//!  "params": "live_id=1,aid=6383,version_code=180800,webcast_sdk_version=1.0.14-beta.0,room_id=<room>,sub_room_id=,sub_channel_id=,did_rule=3,user_unique_id=<uid>,device_platform=web,device_type=,ac=,identity=audience",
//!  "room_id": "<room>", "user_unique_id": "<uid>"}
//! ```
//!
//! `x_ms_stub` is what the site feeds to `frontierSign({"X-MS-STUB": x_ms_stub})`; the
//! resulting `X-Bogus` is the signature.
//!
//! * `command`: print the signature as the first line of stdout and exit 0. A non-zero exit is
//!   an error that quotes the first line of stderr. The program is killed after the timeout.
//! * `url`: answer HTTP 200 with `{"signature": "<signature>"}`.

use std::process::Stdio;
use std::time::Duration;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::webcast::{SDK_VERSION, VERSION_CODE};

/// Longest signature (or signer output) accepted.
const MAX_SIGNATURE_BYTES: usize = 4096;
/// How much of a signer's stdout/stderr is read.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// `[source.douyin.signer]`: see the module docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignerConfig {
    /// Program and arguments of a command signer.
    pub command: Option<Vec<String>>,
    /// URL of an HTTP signer.
    pub url: Option<String>,
    /// How long one signature may take.
    pub timeout_secs: f64,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            command: None,
            url: None,
            timeout_secs: 10.0,
        }
    }
}

/// What a signer is asked (serialized as the JSON request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub x_ms_stub: String,
    pub params: String,
    pub room_id: String,
    pub user_unique_id: String,
}

impl SignRequest {
    pub fn new(room_id: &str, user_unique_id: &str) -> Self {
        let params = sign_params(room_id, user_unique_id);
        Self {
            x_ms_stub: md5_hex(&params),
            params,
            room_id: room_id.to_string(),
            user_unique_id: user_unique_id.to_string(),
        }
    }
}

/// The comma-separated parameter string whose MD5 is the `X-MS-STUB`.
pub fn sign_params(room_id: &str, user_unique_id: &str) -> String {
    format!(
        "live_id=1,aid=6383,version_code={VERSION_CODE},webcast_sdk_version={SDK_VERSION},\
         room_id={room_id},sub_room_id=,sub_channel_id=,did_rule=3,\
         user_unique_id={user_unique_id},device_platform=web,device_type=,ac=,identity=audience"
    )
}

/// Lower-case hex MD5.
pub fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("set either `command` or `url` in [source.douyin.signer], not both")]
    Ambiguous,
    #[error("[source.douyin.signer] `command` is empty")]
    EmptyCommand,
    #[error("[source.douyin.signer] `timeout_secs` must be a positive number of seconds")]
    BadTimeout,
    #[error("cannot start the signer `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("the signer `{program}` failed: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
    #[error("the signer `{program}` took longer than {secs} s")]
    Timeout { program: String, secs: f64 },
    #[error("the signer `{program}` exited with {status}: {stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error(
        "the signer `{program}` gave no usable signature (empty, or over {MAX_SIGNATURE_BYTES} \
         bytes)"
    )]
    NoSignature { program: String },
    #[error("the HTTP signer {url} is unreachable: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the HTTP signer {url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
}

/// A configured signer, ready to sign.
#[derive(Debug, Clone)]
pub enum Signer {
    /// No signer configured: connect without a `signature` parameter.
    Unsigned,
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        url: String,
        timeout: Duration,
    },
}

#[derive(Deserialize)]
struct HttpReply {
    signature: String,
}

impl Signer {
    /// Checks the configuration (called before the first connection).
    pub fn from_config(config: &SignerConfig) -> Result<Self, SignerError> {
        if !(config.timeout_secs.is_finite() && config.timeout_secs > 0.0) {
            return Err(SignerError::BadTimeout);
        }
        let timeout = Duration::from_secs_f64(config.timeout_secs);
        match (&config.command, &config.url) {
            (Some(_), Some(_)) => Err(SignerError::Ambiguous),
            (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => {
                Err(SignerError::EmptyCommand)
            }
            (Some(argv), None) => Ok(Signer::Command {
                argv: argv.clone(),
                timeout,
            }),
            (None, Some(url)) => Ok(Signer::Http {
                client: reqwest::Client::new(),
                url: url.clone(),
                timeout,
            }),
            (None, None) => Ok(Signer::Unsigned),
        }
    }

    /// The signature for `request`; `None` when unsigned.
    pub async fn sign(&self, request: &SignRequest) -> Result<Option<String>, SignerError> {
        let signature = match self {
            Signer::Unsigned => return Ok(None),
            Signer::Command { argv, timeout } => sign_command(argv, *timeout, request).await?,
            Signer::Http {
                client,
                url,
                timeout,
            } => sign_http(client, url, *timeout, request).await?,
        };
        Ok(Some(signature))
    }
}

async fn sign_command(
    argv: &[String],
    timeout: Duration,
    request: &SignRequest,
) -> Result<String, SignerError> {
    let program = argv[0].clone();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SignerError::Spawn {
            program: program.clone(),
            source,
        })?;
    let mut line = serde_json::to_vec(request).expect("a SignRequest always serializes");
    line.push(b'\n');
    let (mut stdin, stdout, stderr) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let run = async {
        if let Some(stdin) = stdin.as_mut() {
            // A signer that exits without reading its input is its own business (broken pipe).
            let _ = stdin.write_all(&line).await;
        }
        drop(stdin);
        let (out, err) = tokio::join!(read_head(stdout), read_head(stderr));
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out?, err?))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, run).await {
        Err(_) => {
            return Err(SignerError::Timeout {
                program,
                secs: timeout.as_secs_f64(),
            })
        }
        Ok(result) => result.map_err(|source| SignerError::Io {
            program: program.clone(),
            source,
        })?,
    };
    if !status.success() {
        let stderr = first_line(&err).unwrap_or("(no message)").to_string();
        return Err(SignerError::Failed {
            program,
            status,
            stderr,
        });
    }
    usable_signature(first_line(&out)).ok_or(SignerError::NoSignature { program })
}

/// Reads at most [`MAX_OUTPUT_BYTES`] and drains the rest, so a chatty signer never blocks on
/// a full pipe.
async fn read_head(reader: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let Some(mut reader) = reader else {
        return Ok(kept);
    };
    let mut buf = [0u8; 4096];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

fn first_line(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then_some(line)
}

fn usable_signature(text: Option<&str>) -> Option<String> {
    let text = text?.trim();
    (!text.is_empty() && text.len() <= MAX_SIGNATURE_BYTES).then(|| text.to_string())
}

async fn sign_http(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    request: &SignRequest,
) -> Result<String, SignerError> {
    let http_err = |source| SignerError::Http {
        url: url.to_string(),
        source,
    };
    let response = client
        .post(url)
        .timeout(timeout)
        .json(request)
        .send()
        .await
        .map_err(http_err)?;
    if !response.status().is_success() {
        return Err(SignerError::HttpStatus {
            url: url.to_string(),
            status: response.status().as_u16(),
        });
    }
    let body = super::webcast::read_capped(response, MAX_OUTPUT_BYTES)
        .await
        .map_err(http_err)?;
    let reply: Option<HttpReply> = serde_json::from_slice(&body).ok();
    usable_signature(reply.as_ref().map(|r| r.signature.as_str())).ok_or(SignerError::NoSignature {
        program: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(script: &str, timeout_secs: f64) -> Signer {
        Signer::from_config(&SignerConfig {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            url: None,
            timeout_secs,
        })
        .unwrap()
    }

    #[test]
    fn the_stub_is_the_md5_of_the_documented_param_string() {
        let request = SignRequest::new("7300000000000000001", "7412345678901234567");
        assert_eq!(
            request.params,
            "live_id=1,aid=6383,version_code=180800,webcast_sdk_version=1.0.14-beta.0,\
             room_id=7300000000000000001,sub_room_id=,sub_channel_id=,did_rule=3,\
             user_unique_id=7412345678901234567,device_platform=web,device_type=,ac=,\
             identity=audience"
        );
        assert_eq!(request.x_ms_stub, md5_hex(&request.params));
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn config_must_pick_one_signer_kind() {
        let both = SignerConfig {
            command: Some(vec!["x".into()]),
            url: Some("http://127.0.0.1:1/".into()),
            ..SignerConfig::default()
        };
        assert!(matches!(
            Signer::from_config(&both),
            Err(SignerError::Ambiguous)
        ));
        let empty = SignerConfig {
            command: Some(vec![]),
            ..SignerConfig::default()
        };
        assert!(matches!(
            Signer::from_config(&empty),
            Err(SignerError::EmptyCommand)
        ));
        let cfg: SignerConfig = toml::from_str("command = [\"node\", \"sign.js\"]").unwrap();
        assert!(matches!(
            Signer::from_config(&cfg),
            Ok(Signer::Command { .. })
        ));
        assert!(toml::from_str::<SignerConfig>("script = \"x\"").is_err());
    }

    #[tokio::test]
    async fn a_command_signer_gets_one_json_line_and_answers_on_stdout() {
        let request = SignRequest::new("7300000000000000001", "7412345678901234567");
        // Echo the request back as the "signature" to check what the signer was given.
        let echoed = command("read -r l; printf '%s\\n' \"$l\"; echo ignored", 5.0)
            .sign(&request)
            .await
            .unwrap()
            .unwrap();
        let seen: SignRequest = serde_json::from_str(&echoed).unwrap();
        assert_eq!(seen, request);

        let hashed = command(
            "read -r l; echo \"sig-$(printf '%s' \"$l\" | md5sum | cut -c1-8)\"",
            5.0,
        )
        .sign(&request)
        .await
        .unwrap()
        .unwrap();
        assert!(hashed.starts_with("sig-") && hashed.len() == 12, "{hashed}");
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_first_stderr_line() {
        let request = SignRequest::new("1", "2");
        let err = command("echo 'algorithm changed' >&2; echo more >&2; exit 3", 5.0)
            .sign(&request)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("algorithm changed") && !text.contains("more"),
            "{text}"
        );
        let err = command("cat >/dev/null; echo", 5.0)
            .sign(&request)
            .await
            .unwrap_err();
        assert!(matches!(err, SignerError::NoSignature { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_after_the_timeout() {
        let started = std::time::Instant::now();
        let err = command("sleep 30", 0.3)
            .sign(&SignRequest::new("1", "2"))
            .await
            .unwrap_err();
        assert!(matches!(err, SignerError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let signer = Signer::from_config(&SignerConfig {
            command: Some(vec!["/nonexistent/signer".into()]),
            ..SignerConfig::default()
        })
        .unwrap();
        let err = signer.sign(&SignRequest::new("1", "2")).await.unwrap_err();
        assert!(matches!(err, SignerError::Spawn { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_http_signer_gets_the_json_and_returns_the_signature() {
        use axum::{routing::post, Json, Router};
        let app = Router::new().route(
            "/sign",
            post(|Json(req): Json<SignRequest>| async move {
                Json(serde_json::json!({ "signature": format!("http-{}", &req.x_ms_stub[..6]) }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let request = SignRequest::new("55", "66");
        let signer = Signer::from_config(&SignerConfig {
            url: Some(format!("http://{addr}/sign")),
            ..SignerConfig::default()
        })
        .unwrap();
        let sig = signer.sign(&request).await.unwrap().unwrap();
        assert_eq!(sig, format!("http-{}", &request.x_ms_stub[..6]));

        let missing = Signer::from_config(&SignerConfig {
            url: Some(format!("http://{addr}/nope")),
            ..SignerConfig::default()
        })
        .unwrap();
        let err = missing.sign(&request).await.unwrap_err();
        assert!(
            matches!(err, SignerError::HttpStatus { status: 404, .. }),
            "{err}"
        );
        server.abort();
    }

    #[tokio::test]
    async fn unsigned_gives_no_signature() {
        let signer = Signer::from_config(&SignerConfig::default()).unwrap();
        assert_eq!(
            signer.sign(&SignRequest::new("1", "2")).await.unwrap(),
            None
        );
    }
}
