//! The avatar link server: a loopback WebSocket that avatar outputs connect to.
//!
//! **Who gets in.** A client proves it knows the token with the challenge of
//! [`avatar_link::auth`] (the OBS plugin and live2d-bridge do; the server proves it too, so they
//! never hand the token to a stranger on the port). Older clients may still present
//! `Authorization: Bearer <token>` or `?token=` (a browser renderer cannot set headers); that
//! costs nothing to keep and only exposes the token of a client that chose to send it.
//!
//! **What it costs to be connected** ([`LinkLimits`]). At most 16 connections at once, beyond
//! which a connection is closed at once with a logged reason. A TCP connection must finish the
//! WebSocket upgrade within 5 s and then prove itself and say hello within 5 s more, or it is
//! closed. Clients send only small JSON reports, so incoming messages and frames are capped at
//! 64 KiB.
//!
//! **Outgoing queues, by bytes.** Commands and audio go to every client through its own queue,
//! so a slow follower cannot make the audio-clock owner miss audio. Each queue is bounded by the
//! bytes it holds. A *follower* (not the audio clock, e.g. live2d-bridge) whose queue exceeds
//! 8 MiB (≈ 87 s of audio, more than any one line the show sends as a burst) has stopped reading:
//! it is dropped (disconnected, logged with the reason). The audio-clock owner is never dropped
//! for that: it may queue 64 MiB (≈ 11 minutes of audio; the show sends one line at a time and
//! waits for its playout reports), and past that the newest messages are discarded and logged
//! instead, so memory stays bounded even if its reader is wedged. Incoming reports are forwarded
//! to the show as [`LinkEvent`]s.

mod config;
mod session;

pub use config::LinkConfig;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatar_link::{AudioChunk, Command, Report, SoundChunk};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify, Semaphore};
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

/// The link's resource bounds (see the module docs for why these values).
#[derive(Debug, Clone)]
pub struct LinkLimits {
    /// Connections at once, authenticated or not.
    pub max_connections: usize,
    /// From TCP accept to a completed WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// From the upgrade to the client's proof and hello.
    pub hello_timeout: Duration,
    /// Largest incoming message and frame.
    pub max_message_bytes: usize,
    /// Bytes a follower may have queued before it is dropped.
    pub follower_queue_bytes: usize,
    /// Bytes the audio-clock owner may have queued; beyond, new messages are discarded.
    pub audio_clock_queue_bytes: usize,
}

impl Default for LinkLimits {
    fn default() -> Self {
        Self {
            max_connections: 16,
            handshake_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(5),
            max_message_bytes: 64 << 10,
            follower_queue_bytes: 8 << 20,
            audio_clock_queue_bytes: 64 << 20,
        }
    }
}

/// One registered client: its queue and what it is allowed to hold.
struct Client {
    name: String,
    tx: mpsc::UnboundedSender<Message>,
    /// Bytes sent to `tx` and not yet written to the socket (the writer subtracts them).
    queued: Arc<AtomicUsize>,
    limit: usize,
    audio_clock: bool,
    /// Wakes the client's task to close the connection (its writer may be stuck in a write).
    kick: Arc<Notify>,
    /// Messages discarded because the audio clock's queue was full (logged at powers of two).
    discarded: u64,
}

/// Handle for sending to all connected avatar clients.
#[derive(Clone, Default)]
pub struct LinkHub {
    clients: Arc<Mutex<HashMap<u64, Client>>>,
    dropped_followers: Arc<AtomicU64>,
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

    pub fn send_sound(&self, chunk: &SoundChunk) {
        self.broadcast(Message::binary(chunk.encode()));
    }

    fn broadcast(&self, message: Message) {
        let size = message.len();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let mut stalled = Vec::new();
        for (&id, client) in clients.iter_mut() {
            let queued = client.queued.load(Ordering::Relaxed);
            if queued + size > client.limit {
                if client.audio_clock {
                    client.discarded += 1;
                    if client.discarded == 1 || client.discarded.is_power_of_two() {
                        tracing::error!(
                            client = id, name = %client.name, queued_bytes = queued,
                            discarded = client.discarded,
                            "the audio clock is not reading; discarding link messages (it is kept connected)"
                        );
                    }
                } else {
                    stalled.push((id, queued));
                }
                continue;
            }
            client.queued.fetch_add(size, Ordering::Relaxed);
            let _ = client.tx.send(message.clone()); // a closed client is reaped by its task
        }
        for (id, queued) in stalled {
            if let Some(client) = clients.remove(&id) {
                self.dropped_followers.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    client = id, name = %client.name, queued_bytes = queued, limit = client.limit,
                    "avatar follower stopped reading; dropping it"
                );
                client.kick.notify_one();
            }
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

    /// Followers dropped so far because they stopped reading.
    pub fn dropped_followers(&self) -> u64 {
        self.dropped_followers.load(Ordering::Relaxed)
    }

    /// Registers an authenticated client; returns its queue's receiving end.
    fn register(&self, id: u64, name: String, audio_clock: bool, limits: &LinkLimits) -> Queue {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let kick = Arc::new(Notify::new());
        let limit = if audio_clock {
            limits.audio_clock_queue_bytes
        } else {
            limits.follower_queue_bytes
        };
        let client = Client {
            name,
            tx,
            queued: queued.clone(),
            limit,
            audio_clock,
            kick: kick.clone(),
            discarded: 0,
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, client);
        Queue { rx, queued, kick }
    }

    fn unregister(&self, id: u64) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// The receiving side of a client's queue, owned by its connection task.
struct Queue {
    rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    kick: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot listen for avatar clients on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the link server with the default [`LinkLimits`]; the returned future serves until
/// dropped.
pub async fn bind(
    addr: SocketAddr,
    token: String,
    hub: LinkHub,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), LinkError> {
    bind_with_limits(addr, token, hub, events, LinkLimits::default()).await
}

/// [`bind`] with explicit limits (tests use small ones).
pub async fn bind_with_limits(
    addr: SocketAddr,
    token: String,
    hub: LinkHub,
    events: mpsc::Sender<LinkEvent>,
    limits: LinkLimits,
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
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let next_id = Arc::new(AtomicU64::new(1));
    let refused = AtomicU64::new(0);
    let serve = async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "link accept failed");
                    // Out of file descriptors, typically: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
                // A flood of connections must not become a flood of log lines.
                if n.is_power_of_two() {
                    tracing::warn!(%peer, refused = n, max = limits.max_connections, "avatar link connection refused: too many connections");
                }
                drop(stream);
                continue;
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let (hub, events, token, limits) =
                (hub.clone(), events.clone(), token.clone(), limits.clone());
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(reason) =
                    session::serve_client(stream, id, &token, &hub, events, &limits).await
                {
                    tracing::info!(%peer, %reason, "avatar client rejected or closed");
                }
            });
        }
    };
    Ok((local, serve))
}

#[cfg(test)]
mod tests;
