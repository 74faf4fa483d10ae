//! One client connection: upgrade (with the server's half of the challenge), the client's proof
//! and hello, then its queue out and its reports in until either side ends.

use std::sync::atomic::Ordering;

use avatar_link::auth::{self, ClientProof};
use avatar_link::{Command, Report, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{LinkEvent, LinkHub, LinkLimits};

/// How the client got past the upgrade.
enum Admission {
    /// It presented the token itself (legacy header or query): it is in.
    Bearer,
    /// It sent a nonce and got the server's proof; its own proof must come next.
    Challenge { expected: String },
}

/// Compares without an early exit, so response timing does not leak how much of a guessed token
/// was right.
fn token_matches(given: &str, expected: &str) -> bool {
    auth::verify(expected, given)
}

fn presented_token(request: &Request) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        return value.strip_prefix("Bearer ").map(str::to_string);
    }
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
}

/// The upgrade decision: the path, then the challenge (preferred) or a presented token.
// The handshake callback's error type is fixed by tungstenite; it is built once per rejected
// connection, so its size does not matter.
#[allow(clippy::result_large_err)]
fn admit(
    request: &Request,
    mut response: Response,
    token: &str,
) -> Result<(Response, Admission), ErrorResponse> {
    let reject = |status: StatusCode, why: &str| {
        let mut r = ErrorResponse::new(Some(why.to_string()));
        *r.status_mut() = status;
        r
    };
    if request.uri().path() != avatar_link::PATH {
        return Err(reject(StatusCode::NOT_FOUND, "unknown path"));
    }
    if let Some(nonce) = request.headers().get(auth::NONCE_HEADER) {
        let client_nonce = nonce
            .to_str()
            .ok()
            .filter(|n| auth::is_valid_nonce(n))
            .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "malformed nonce"))?;
        let server_nonce = auth::new_nonce();
        let proof = auth::server_proof(token, client_nonce, &server_nonce);
        let headers = response.headers_mut();
        for (name, value) in [
            (auth::NONCE_HEADER, &server_nonce),
            (auth::PROOF_HEADER, &proof),
        ] {
            // Hex is always a valid header value.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        let expected = auth::client_proof(token, client_nonce, &server_nonce);
        return Ok((response, Admission::Challenge { expected }));
    }
    match presented_token(request) {
        Some(t) if token_matches(&t, token) => Ok((response, Admission::Bearer)),
        _ => Err(reject(StatusCode::UNAUTHORIZED, "missing or wrong token")),
    }
}

type Socket = WebSocketStream<TcpStream>;

/// Waits for the challenge proof (if any) and the hello; returns the client's name and role.
async fn introduce(
    ws: &mut Socket,
    admission: Admission,
    limits: &LinkLimits,
) -> Result<(String, bool), String> {
    let within = |what: &'static str| {
        let after = limits.hello_timeout;
        move |_| format!("no {what} within {after:?}")
    };
    let deadline = tokio::time::Instant::now() + limits.hello_timeout;
    if let Admission::Challenge { expected } = admission {
        let first = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(within("proof"))?;
        let proven = match &first {
            Some(Ok(Message::Text(text))) => serde_json::from_str::<ClientProof>(text)
                .is_ok_and(|p| auth::verify(&expected, &p.proof)),
            _ => false,
        };
        if !proven {
            let close = CloseFrame {
                code: CloseCode::Policy,
                reason: "wrong link token".into(),
            };
            let _ = tokio::time::timeout_at(deadline, ws.close(Some(close))).await;
            return Err("the client's proof does not match the link token".into());
        }
    }
    // The first report must be the client's hello: it says whether it owns the audio clock.
    let hello = tokio::time::timeout_at(deadline, ws.next())
        .await
        .map_err(within("hello"))?;
    match hello {
        Some(Ok(Message::Text(text))) => match serde_json::from_str::<Report>(&text) {
            Ok(Report::Hello {
                client,
                audio_clock,
                ..
            }) => Ok((client, audio_clock)),
            _ => Err(format!("expected hello, got {text}")),
        },
        other => Err(format!("expected hello, got {other:?}")),
    }
}

pub(super) async fn serve_client(
    stream: TcpStream,
    id: u64,
    token: &str,
    hub: &LinkHub,
    events: mpsc::Sender<LinkEvent>,
    limits: &LinkLimits,
) -> Result<(), String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let mut admission = None;
    // tungstenite's callback type again (see `admit`).
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| {
        let (response, admitted) = admit(request, response, token)?;
        admission = Some(admitted);
        Ok(response)
    };
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    let mut ws = tokio::time::timeout(limits.handshake_timeout, upgrade)
        .await
        .map_err(|_| format!("no WebSocket upgrade within {:?}", limits.handshake_timeout))?
        .map_err(|e| e.to_string())?;
    let admission = admission.ok_or("upgrade accepted without a decision")?;
    let (name, audio_clock) = introduce(&mut ws, admission, limits).await?;

    let hello = Command::Hello {
        protocol: PROTOCOL_VERSION,
        sidecar_version: env!("CARGO_PKG_VERSION").into(),
    };
    let (mut sink, mut stream) = ws.split();
    let greeting = sink.send(Message::text(
        serde_json::to_string(&hello).unwrap_or_default(),
    ));
    tokio::time::timeout(limits.hello_timeout, greeting)
        .await
        .map_err(|_| "could not send our hello".to_string())?
        .map_err(|e| e.to_string())?;
    // Registered only now, so our hello is the first thing the client reads.
    let mut queue = hub.register(id, name.clone(), audio_clock, limits);
    tracing::info!(client = id, %name, audio_clock, "avatar client connected");
    let _ = events
        .send(LinkEvent::Connected {
            client: id,
            name,
            audio_clock,
        })
        .await;

    let queued = queue.queued.clone();
    let writer = async {
        while let Some(message) = queue.rx.recv().await {
            let size = message.len();
            let sent = sink.send(message).await;
            queued.fetch_sub(size, Ordering::Relaxed);
            if sent.is_err() {
                break;
            }
        }
    };
    let reader = async {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => match serde_json::from_str::<Report>(&text) {
                    Ok(report) => {
                        let _ = events.send(LinkEvent::Report { client: id, report }).await;
                    }
                    Err(e) => {
                        tracing::warn!(client = id, error = %e, "unreadable report from avatar")
                    }
                },
                Ok(Message::Close(_)) => break,
                Err(e) => {
                    // Oversized messages end up here (tungstenite's capacity error).
                    tracing::warn!(client = id, error = %e, "avatar link read failed");
                    break;
                }
                Ok(_) => {}
            }
        }
    };
    let kicked = queue.kick.clone();
    tokio::select! {
        _ = writer => {},
        _ = reader => {},
        _ = kicked.notified() => {},
    }
    hub.unregister(id);
    tracing::info!(client = id, "avatar client disconnected");
    let _ = events
        .send(LinkEvent::Disconnected {
            client: id,
            audio_clock,
        })
        .await;
    Ok(())
}
