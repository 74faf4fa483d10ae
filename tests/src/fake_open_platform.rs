//! Stand-ins for the Douyin Open Platform's live-data push, for tests that run the sidecar as
//! its push endpoint.
//!
//! - [`Pusher`] plays the platform's side of a push: a `POST` with the headers `x-nonce-str`,
//!   `x-timestamp` (ms), `x-roomid`, `x-msg-type` and `x-signature`, and a JSON array body,
//!   written byte for byte onto a TCP connection. It signs with its own implementation of the
//!   documented algorithm ([`sign`]), and can do what the real platform and an attacker do:
//!   resend (duplicates with a fresh nonce), replay a captured request unchanged, sign for a
//!   stale time, or send a wrong signature. Every response is timed.
//! - [`FakeTaskApi`] is the live-data task API (`/api/live_data/task/start|stop|get`): it checks
//!   the `access-token` header, answers with the platform's `{err_no, err_msg, logid, data}`
//!   envelope and records every call.
//!
//! Plain HTTP/1.1 is written and parsed by hand ([`crate::http_stub`]) on purpose: the tests
//! must see exactly what goes over the wire, and must not share an HTTP stack (or any code)
//! with the sidecar.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use md5::{Digest, Md5};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::http_stub::{Head, HttpConnection, Limits};

/// The message types a push task can be started for.
pub const MSG_TYPES: [&str; 4] = ["live_comment", "live_gift", "live_like", "live_fansclub"];

/// How long a request/response exchange may take before the fake gives up.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// What either fake reads at most: a 64 KiB head, a 1 MiB body.
const LIMITS: Limits = Limits::new(64 * 1024, 1 << 20);

/// The platform's signature: MD5 over `k=v&k=v` of the given headers sorted by name, then the
/// body, then the app secret; standard base64.
pub fn sign(headers: &[(&str, &str)], body: &[u8], secret: &str) -> String {
    let mut sorted: Vec<(&str, &str)> = headers.to_vec();
    sorted.sort();
    let joined = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut input = joined.into_bytes();
    input.extend_from_slice(body);
    input.extend_from_slice(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(&input))
}

/// Milliseconds since the Unix epoch, the unit of `x-timestamp`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One push as it goes over the wire (captured, so it can be sent again unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The `x-*` headers, in the order they are written.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PushRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The same request with its signature changed in one character (a forgery).
    pub fn with_bad_signature(mut self) -> Self {
        for (k, v) in &mut self.headers {
            if k == "x-signature" {
                let flipped = if v.starts_with('A') { "B" } else { "A" };
                v.replace_range(..1, flipped);
            }
        }
        self
    }
}

/// What the endpoint answered, and how long it took.
#[derive(Debug, Clone)]
pub struct PushResponse {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

/// The platform's pushing side, aimed at one endpoint.
#[derive(Debug, Clone)]
pub struct Pusher {
    addr: SocketAddr,
    path: String,
    room_id: String,
    secret: String,
}

impl Pusher {
    pub fn new(addr: SocketAddr, path: &str, room_id: &str, secret: &str) -> Self {
        Self {
            addr,
            path: path.to_string(),
            room_id: room_id.to_string(),
            secret: secret.to_string(),
        }
    }

    /// A push of `items` the way the platform makes one now: fresh nonce, current time, signed.
    pub fn request(&self, msg_type: &str, items: &Value) -> PushRequest {
        let nonce: String = {
            let mut rng = rand::rng();
            (0..16)
                .map(|_| {
                    char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])
                })
                .collect()
        };
        self.request_at(msg_type, items, now_ms(), &nonce)
    }

    /// A push signed for an explicit time and nonce (stale pushes, fixed vectors).
    pub fn request_at(
        &self,
        msg_type: &str,
        items: &Value,
        timestamp_ms: u64,
        nonce: &str,
    ) -> PushRequest {
        let body = serde_json::to_vec(items).expect("JSON values serialise");
        self.request_raw(msg_type, body, timestamp_ms, nonce)
    }

    /// A push of an arbitrary body, signed (a platform bug: signed but malformed).
    pub fn request_raw(
        &self,
        msg_type: &str,
        body: Vec<u8>,
        timestamp_ms: u64,
        nonce: &str,
    ) -> PushRequest {
        let timestamp = timestamp_ms.to_string();
        let signed = [
            ("x-nonce-str", nonce),
            ("x-timestamp", timestamp.as_str()),
            ("x-roomid", self.room_id.as_str()),
            ("x-msg-type", msg_type),
        ];
        let signature = sign(&signed, &body, &self.secret);
        let mut headers: Vec<(String, String)> = signed
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.insert(2, ("x-signature".into(), signature));
        PushRequest { headers, body }
    }

    /// Builds, sends and times a fresh push.
    pub async fn push(&self, msg_type: &str, items: &Value) -> Result<(PushRequest, PushResponse)> {
        let request = self.request(msg_type, items);
        let response = self.send(&request).await?;
        Ok((request, response))
    }

    /// Pushes `items` the way the platform does when an answer is not 200: 503 (or no answer
    /// in time) means "resend", after `pause`, as a fresh request (new nonce and time), until
    /// it is answered 200 or `give_up_after` has passed. Any other answer is an error. Returns
    /// every answer, the 200 last.
    pub async fn push_until_accepted(
        &self,
        msg_type: &str,
        items: &Value,
        pause: Duration,
        give_up_after: Duration,
    ) -> Result<Vec<PushResponse>> {
        let deadline = Instant::now() + give_up_after;
        let mut answers = Vec::new();
        loop {
            match self.push(msg_type, items).await {
                Ok((_, response)) if response.status == 200 => {
                    answers.push(response);
                    return Ok(answers);
                }
                Ok((_, response)) if response.status == 503 => answers.push(response),
                Ok((_, response)) => bail!(
                    "a push was answered {} {} (after {answers:?})",
                    response.status,
                    response.body
                ),
                // No answer in time: the platform resends too.
                Err(_) => {}
            }
            ensure!(
                Instant::now() < deadline,
                "a push was not accepted within {give_up_after:?}: {answers:?}"
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// Sends `request` exactly as captured, on a new connection, and reads the answer.
    pub async fn send(&self, request: &PushRequest) -> Result<PushResponse> {
        let wire = Head::request("POST", &self.path)
            .header("Host", self.addr)
            .header("User-Agent", "douyin-open-platform-push (test stand-in)")
            .header("Content-Type", "application/json")
            .header("Content-Length", request.body.len())
            .headers(&request.headers)
            .header("Connection", "close")
            .with_body(&request.body);

        let started = Instant::now();
        let exchange = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(&wire).await?;
            anyhow::Ok(HttpConnection::new(stream, LIMITS).read_response().await?)
        };
        let response = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .context("the push endpoint did not answer in time")??;
        Ok(PushResponse {
            status: response.status,
            body: String::from_utf8_lossy(&response.body).into_owned(),
            elapsed: started.elapsed(),
        })
    }
}

/// One call the task API received.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCall {
    pub method: String,
    /// Path without the query, e.g. `/api/live_data/task/start`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub access_token: Option<String>,
    /// The JSON body of POSTs.
    pub body: Option<Value>,
}

impl TaskCall {
    /// `msg_type` from the body (start/stop) or the query (get).
    pub fn msg_type(&self) -> Option<String> {
        self.body
            .as_ref()
            .and_then(|b| b["msg_type"].as_str().map(String::from))
            .or_else(|| {
                self.query
                    .iter()
                    .find(|(k, _)| k == "msg_type")
                    .map(|(_, v)| v.clone())
            })
    }
}

/// The live-data task API, on a loopback port.
pub struct FakeTaskApi {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<TaskCall>>>,
    server: JoinHandle<()>,
}

impl FakeTaskApi {
    /// Starts the API; calls must carry `access-token: {token}`.
    pub async fn start(token: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(ApiState {
            token: token.to_string(),
            calls: calls.clone(),
            running: Mutex::new(BTreeSet::new()),
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    // A broken connection only ends that connection.
                    let _ = serve_connection(stream, &state).await;
                });
            }
        });
        Ok(Self {
            addr,
            calls,
            server,
        })
    }

    /// The base URL to configure as the sidecar's `api`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<TaskCall> {
        self.calls.lock().unwrap().clone()
    }

    /// The message types of the calls to `…/task/{op}` (`start`, `stop`, `get`), in order.
    pub fn msg_types_of(&self, op: &str) -> Vec<String> {
        let path = format!("/api/live_data/task/{op}");
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .filter_map(|c| c.msg_type())
            .collect()
    }
}

impl Drop for FakeTaskApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct ApiState {
    token: String,
    calls: Arc<Mutex<Vec<TaskCall>>>,
    /// Message types with a running task.
    running: Mutex<BTreeSet<String>>,
}

/// Answers requests on one keep-alive connection until the client closes it.
async fn serve_connection(stream: TcpStream, state: &ApiState) -> Result<()> {
    let mut conn = HttpConnection::new(stream, LIMITS);
    loop {
        let Ok(request) = conn.read_request().await else {
            return Ok(()); // closed between requests
        };
        let call = TaskCall {
            method: request.method.clone(),
            path: request.path().to_string(),
            query: request.query(),
            access_token: request.header("access-token").map(String::from),
            body: serde_json::from_slice(&request.body).ok(),
        };
        state.calls.lock().unwrap().push(call.clone());
        let (status, answer) = answer(state, &call);
        let text = answer.to_string();
        let response = Head::response(status)
            .header("Content-Type", "application/json")
            .header("Content-Length", text.len())
            .with_body(text.as_bytes());
        conn.stream().write_all(&response).await?;
        if request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return Ok(());
        }
    }
}

/// The platform's answer to one call: HTTP status line tail and envelope.
fn answer(state: &ApiState, call: &TaskCall) -> (&'static str, Value) {
    let logid = format!("{:016x}", rand::rng().random::<u64>());
    let error = |err_no: i64, msg: &str| {
        (
            "200 OK",
            json!({"err_no": err_no, "err_msg": msg, "logid": logid}),
        )
    };
    if call.access_token.as_deref() != Some(state.token.as_str()) {
        return error(40022, "access_token invalid");
    }
    let Some(msg_type) = call.msg_type().filter(|t| MSG_TYPES.contains(&t.as_str())) else {
        return error(40001, "invalid msg_type");
    };
    let body_field = |k: &str| call.body.as_ref().and_then(|b| b[k].as_str());
    let mut running = state.running.lock().unwrap();
    match (call.method.as_str(), call.path.as_str()) {
        ("POST", "/api/live_data/task/start") => {
            if body_field("roomid").is_none_or(str::is_empty)
                || body_field("appid").is_none_or(str::is_empty)
            {
                return error(40001, "roomid and appid are required");
            }
            running.insert(msg_type);
            let task_id = format!("{}", rand::rng().random_range(10u64.pow(17)..10u64.pow(18)));
            (
                "200 OK",
                json!({"err_no": 0, "err_msg": "", "logid": logid, "data": {"task_id": task_id}}),
            )
        }
        ("POST", "/api/live_data/task/stop") => {
            running.remove(&msg_type);
            (
                "200 OK",
                json!({"err_no": 0, "err_msg": "", "logid": logid}),
            )
        }
        ("GET", "/api/live_data/task/get") => {
            let status = if running.contains(&msg_type) { 3 } else { 1 };
            (
                "200 OK",
                json!({"err_no": 0, "err_msg": "", "logid": logid, "data": {"status": status}}),
            )
        }
        _ => (
            "404 Not Found",
            json!({"err_no": 404, "err_msg": "not found", "logid": logid}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_reproduces_the_platforms_documented_example() {
        let headers = [
            ("x-nonce-str", "123456"),
            ("x-timestamp", "456789"),
            ("x-roomid", "268"),
            ("x-msg-type", "live_gift"),
        ];
        assert_eq!(
            sign(&headers, "abc123你好".as_bytes(), "123abc"),
            "PDcKhdlsrKEJif6uMKD2dw=="
        );
    }

    #[test]
    fn requests_carry_every_platform_header_and_a_forgery_differs_only_in_the_signature() {
        let pusher = Pusher::new("127.0.0.1:1".parse().unwrap(), "/p", "268", "123abc");
        let req = pusher.request_at("live_gift", &json!([]), 456789, "123456");
        let names: Vec<&str> = req.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-nonce-str",
                "x-timestamp",
                "x-signature",
                "x-roomid",
                "x-msg-type"
            ]
        );
        assert_eq!(req.body, b"[]");
        let forged = req.clone().with_bad_signature();
        assert_ne!(forged.header("x-signature"), req.header("x-signature"));
        assert_eq!(forged.body, req.body);
        assert_ne!(
            pusher
                .request("live_gift", &json!([]))
                .header("x-nonce-str"),
            Some("123456")
        );
    }
}
