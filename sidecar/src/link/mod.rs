//! The avatar link server: a loopback WebSocket that avatar outputs connect to.
//!
//! Every client must present `Authorization: Bearer <token>` (or `?token=` for clients that
//! cannot set headers, such as a browser renderer). Outgoing commands and audio go to every
//! connected client through its own unbounded queue, so a slow follower (a Live2D bridge) cannot
//! make the audio-clock owner (the OBS source) miss audio. Incoming reports are forwarded to the
//! show as [`LinkEvent`]s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use avatar_link::{AudioChunk, Command, Report, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// What the show hears from the link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Connected {
        client: u64,
        name: String,
        audio_clock: bool,
    },
    Disconnected {
        client: u64,
        audio_clock: bool,
    },
    Report {
        client: u64,
        report: Report,
    },
}

struct Client {
    tx: mpsc::UnboundedSender<Message>,
    audio_clock: bool,
}

/// Handle for sending to all connected avatar clients.
#[derive(Clone, Default)]
pub struct LinkHub {
    clients: Arc<Mutex<HashMap<u64, Client>>>,
}

impl LinkHub {
    pub fn send_command(&self, command: &Command) {
        match serde_json::to_string(command) {
            Ok(json) => self.broadcast(Message::text(json)),
            Err(e) => tracing::error!(error = %e, "cannot encode link command"),
        }
    }

    pub fn send_audio(&self, chunk: &AudioChunk) {
        self.broadcast(Message::binary(chunk.encode()));
    }

    fn broadcast(&self, message: Message) {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        for client in clients.values() {
            let _ = client.tx.send(message.clone()); // a closed client is reaped by its task
        }
    }

    /// True when an output that plays audio on air (the OBS source) is connected.
    pub fn has_audio_clock(&self) -> bool {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|c| c.audio_clock)
    }

    pub fn client_count(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot listen for avatar clients on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the link server; the returned future serves until dropped.
pub async fn bind(
    addr: SocketAddr,
    token: String,
    hub: LinkHub,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), LinkError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "avatar link listens beyond loopback; anyone who can reach it still needs the token");
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LinkError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| LinkError::Bind { addr, source })?;
    let token = Arc::new(token);
    let next_id = Arc::new(AtomicU64::new(1));
    let serve = async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "link accept failed");
                    continue;
                }
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let (hub, events, token) = (hub.clone(), events.clone(), token.clone());
            tokio::spawn(async move {
                if let Err(reason) = serve_client(stream, id, &token, hub, events).await {
                    tracing::info!(%peer, %reason, "avatar client rejected or closed");
                }
            });
        }
    };
    Ok((local, serve))
}

/// Compares without an early exit, so response timing does not leak how much of a guessed token
/// was right.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

async fn serve_client(
    stream: TcpStream,
    id: u64,
    token: &str,
    hub: LinkHub,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(), String> {
    // The handshake callback's error type is fixed by tungstenite; it is built once per rejected
    // connection, so its size does not matter.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        #[allow(clippy::result_large_err)]
        let reject = |status: StatusCode, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = status;
            Err(r)
        };
        if request.uri().path() != avatar_link::PATH {
            return reject(StatusCode::NOT_FOUND, "unknown path");
        }
        match presented_token(request) {
            Some(t) if token_matches(&t, token) => Ok(response),
            _ => reject(StatusCode::UNAUTHORIZED, "missing or wrong token"),
        }
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, check)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();

    // The first message must be the client's hello: it says whether it owns the audio clock.
    let hello = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .map_err(|_| "no hello within 10 s".to_string())?;
    let (name, audio_clock) = match hello {
        Some(Ok(Message::Text(text))) => match serde_json::from_str::<Report>(&text) {
            Ok(Report::Hello {
                client,
                audio_clock,
                ..
            }) => (client, audio_clock),
            _ => return Err(format!("expected hello, got {text}")),
        },
        other => return Err(format!("expected hello, got {other:?}")),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hello = Command::Hello {
        protocol: PROTOCOL_VERSION,
        sidecar_version: env!("CARGO_PKG_VERSION").into(),
    };
    let _ = tx.send(Message::text(
        serde_json::to_string(&hello).unwrap_or_default(),
    ));
    hub.clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, Client { tx, audio_clock });
    tracing::info!(client = id, %name, audio_clock, "avatar client connected");
    let _ = events
        .send(LinkEvent::Connected {
            client: id,
            name,
            audio_clock,
        })
        .await;

    let writer = async {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
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
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::select! { _ = writer => {}, _ = reader => {} }
    hub.clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    tracing::info!(client = id, "avatar client disconnected");
    let _ = events
        .send(LinkEvent::Disconnected {
            client: id,
            audio_clock,
        })
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    async fn start() -> (SocketAddr, LinkHub, mpsc::Receiver<LinkEvent>) {
        let hub = LinkHub::default();
        let (tx, rx) = mpsc::channel(16);
        let (addr, serve) = bind(
            "127.0.0.1:0".parse().unwrap(),
            "s3cret".into(),
            hub.clone(),
            tx,
        )
        .await
        .unwrap();
        tokio::spawn(serve);
        (addr, hub, rx)
    }

    #[tokio::test]
    async fn wrong_or_missing_token_is_refused() {
        let (addr, _hub, _rx) = start().await;
        let url = format!("ws://{addr}/avatar");
        assert!(tokio_tungstenite::connect_async(&url).await.is_err());
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        let err = tokio_tungstenite::connect_async(req)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("401"), "{err}");
    }

    #[tokio::test]
    async fn clients_get_commands_and_audio_and_their_reports_come_back() {
        let (addr, hub, mut events) = start().await;
        let mut req = format!("ws://{addr}/avatar").into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let hello = Report::Hello {
            protocol: 1,
            client: "test".into(),
            audio_clock: true,
        };
        ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .unwrap();
        assert!(matches!(
            events.recv().await,
            Some(LinkEvent::Connected {
                audio_clock: true,
                ..
            })
        ));
        assert!(hub.has_audio_clock());

        assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("hello")));
        hub.send_command(&Command::Stop { utterance: 3 });
        hub.send_audio(&AudioChunk {
            utterance: 3,
            last: true,
            samples: vec![1, 2],
        });
        assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("stop")));
        let Some(Ok(Message::Binary(b))) = ws.next().await else {
            panic!()
        };
        assert_eq!(AudioChunk::decode(&b).unwrap().samples, vec![1, 2]);

        let done = Report::Finished {
            utterance: 3,
            played_ms: 1,
            interrupted: false,
        };
        ws.send(Message::text(serde_json::to_string(&done).unwrap()))
            .await
            .unwrap();
        assert_eq!(
            events.recv().await,
            Some(LinkEvent::Report {
                client: 1,
                report: done
            })
        );
        drop(ws);
        assert!(matches!(
            events.recv().await,
            Some(LinkEvent::Disconnected { .. })
        ));
        assert!(!hub.has_audio_clock());
    }
}
