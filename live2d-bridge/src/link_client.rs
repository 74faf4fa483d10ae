//! The bridge's side of the avatar link: a WebSocket client of the sidecar.
//!
//! It authenticates with the shared handshake of [`avatar_link::client`] (the sidecar proves it
//! knows the token before the bridge sends anything but a nonce, so a stranger on the port never
//! learns the token), introduces itself as a follower
//! (`audio_clock: false`, so the sidecar never waits for its playout reports), and turns every
//! frame into a [`LinkInput`] for the playout. When the sidecar is not there, or goes away, it
//! retries forever with [`Backoff`]; it logs only when the link's state changes, so a sidecar
//! that is down for an hour costs one warning, not thousands. The token never reaches a log.

use std::fmt;
use std::time::Duration;

use avatar_link::client::{self, ConnectError, Socket};
use avatar_link::{AudioChunk, Command, Frame, PROTOCOL_VERSION};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use avatar_link::backoff::Backoff;

/// Name the bridge gives in its hello; the sidecar logs it.
pub const CLIENT_NAME: &str = "live2d-bridge";
/// A handshake that takes longer than this is hung (the sidecar is on the same machine).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the sidecar's link is and how to get in.
#[derive(Clone)]
pub struct LinkConfig {
    /// e.g. `ws://127.0.0.1:7780/avatar`
    pub url: String,
    pub token: String,
}

impl fmt::Debug for LinkConfig {
    /// Written by hand so that `{:?}` of a config can never print the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkConfig")
            .field("url", &redact_url(&self.url))
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What arrives from the sidecar, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkInput {
    Command(Command),
    Audio(AudioChunk),
    /// The connection dropped: whatever was in flight will not be completed.
    Lost,
}

/// Why the link could not be used. Messages include their cause (see `MappingError` for why).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("invalid avatar link URL {url}: {cause}")]
    Url {
        url: String,
        cause: tungstenite::Error,
    },
    #[error(
        "the avatar link token is not a valid HTTP header value (use visible ASCII characters)"
    )]
    TokenHeader,
    #[error("the sidecar refused the bridge (HTTP {status}); check the link token and path")]
    Refused { status: u16 },
    #[error(
        "the server on the avatar link port did not prove it knows the token (another token, \
         or not the sidecar); nothing secret was sent"
    )]
    Unproven,
    #[error("cannot reach the sidecar: {0}")]
    Connect(tungstenite::Error),
    #[error("timed out connecting to the sidecar")]
    Timeout,
    #[error("the avatar link broke: {0}")]
    Transport(tungstenite::Error),
    #[error("the sidecar closed the avatar link")]
    Closed,
}

/// The link's state as far as the log is concerned; a message is written only on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Starting,
    Connected,
    Unreachable,
    Refused(u16),
    Unproven,
    Dropped,
}

/// A configured client; [`LinkClient::run`] keeps it connected.
pub struct LinkClient {
    /// The upgrade request without the per-connection nonce.
    request: Request,
    token: String,
    /// The URL without its query (which may carry a `?token=`), for logs.
    shown_url: String,
}

impl LinkClient {
    /// Checks the URL and token up front, so a typo fails at start rather than in a retry loop.
    pub fn new(config: &LinkConfig) -> Result<Self, LinkError> {
        let request =
            config
                .url
                .as_str()
                .into_client_request()
                .map_err(|cause| LinkError::Url {
                    url: redact_url(&config.url),
                    cause,
                })?;
        // The token never goes into a header, but it must be one the sidecar could compare
        // (older clients send it as `Authorization: Bearer`): refuse typos like a pasted newline.
        HeaderValue::from_str(&config.token).map_err(|_| LinkError::TokenHeader)?;
        Ok(Self {
            request,
            token: config.token.clone(),
            shown_url: redact_url(&config.url),
        })
    }

    /// Connects, forwards everything to `tx`, and reconnects after every failure. Returns only
    /// when `tx`'s receiver is gone (the bridge is shutting down).
    pub async fn run(self, tx: mpsc::UnboundedSender<LinkInput>) {
        let mut backoff = Backoff::new();
        let mut state = LinkState::Starting;
        tracing::info!(url = %self.shown_url, "connecting to the sidecar's avatar link");
        loop {
            let outcome = self.session(&tx, &mut state, &mut backoff).await;
            if tx.is_closed() {
                return;
            }
            let was_connected = state == LinkState::Connected;
            if was_connected && tx.send(LinkInput::Lost).is_err() {
                return;
            }
            let error = outcome.err().unwrap_or(LinkError::Closed);
            let next = match &error {
                LinkError::Refused { status } => LinkState::Refused(*status),
                LinkError::Unproven => LinkState::Unproven,
                _ if was_connected => LinkState::Dropped,
                _ => LinkState::Unreachable,
            };
            let delay = backoff.next_delay();
            // Failing to reconnect after a drop is the same outage, not news.
            let same_outage =
                next == state || (state == LinkState::Dropped && next == LinkState::Unreachable);
            if same_outage {
                tracing::debug!(%error, ?delay, "avatar link still down");
            } else {
                if let LinkState::Refused(_) | LinkState::Unproven = next {
                    tracing::error!(%error, "avatar link refused; retrying");
                } else {
                    tracing::warn!(%error, "avatar link down; retrying until the sidecar is back");
                }
                state = next;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One connection, from handshake to its end.
    async fn session(
        &self,
        tx: &mpsc::UnboundedSender<LinkInput>,
        state: &mut LinkState,
        backoff: &mut Backoff,
    ) -> Result<(), LinkError> {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, self.connect_and_prove());
        let mut ws = connect.await.map_err(|_| LinkError::Timeout)??;
        backoff.reset();
        if *state != LinkState::Connected {
            tracing::info!(url = %self.shown_url, "avatar link connected");
            *state = LinkState::Connected;
        }

        let mut warned_unreadable = false;
        while let Some(message) = ws.next().await {
            let input = match message.map_err(LinkError::Transport)? {
                Message::Text(text) => match serde_json::from_str::<Command>(&text) {
                    Ok(command) => {
                        if let Command::Hello {
                            protocol,
                            sidecar_version,
                        } = &command
                        {
                            check_protocol(*protocol, sidecar_version);
                        }
                        LinkInput::Command(command)
                    }
                    Err(e) => {
                        // A newer sidecar may send commands this bridge does not know; say so
                        // once per connection rather than per message.
                        if !std::mem::replace(&mut warned_unreadable, true) {
                            tracing::warn!(error = %e, "ignoring link commands this bridge does not understand");
                        }
                        continue;
                    }
                },
                Message::Binary(bytes) => match Frame::decode(&bytes) {
                    Ok(Frame::Voice(chunk)) => LinkInput::Audio(chunk),
                    // Sound effects move no mouth, and the bridge plays no audio.
                    Ok(Frame::Sound(_)) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "dropping a malformed audio frame");
                        continue;
                    }
                },
                Message::Close(_) => return Err(LinkError::Closed),
                // Pings are answered by tungstenite itself.
                _ => continue,
            };
            if tx.send(input).is_err() {
                return Ok(());
            }
        }
        Err(LinkError::Closed)
    }
}

impl LinkClient {
    /// The shared handshake. Our hello goes out with it (the server requires it first): it tells
    /// the server we do not own the audio clock.
    async fn connect_and_prove(&self) -> Result<Socket, LinkError> {
        client::connect(self.request.clone(), &self.token, CLIENT_NAME, false)
            .await
            .map_err(|e| match e {
                ConnectError::Refused(status) => LinkError::Refused {
                    status: status.as_u16(),
                },
                ConnectError::Unproven(_) => LinkError::Unproven,
                ConnectError::Transport(e) => LinkError::Transport(e),
                ConnectError::Url(e) | ConnectError::Connect(e) => LinkError::Connect(e),
            })
    }
}

fn check_protocol(protocol: u32, sidecar_version: &str) {
    if protocol == PROTOCOL_VERSION {
        tracing::debug!(%sidecar_version, "sidecar hello");
    } else {
        tracing::warn!(
            sidecar_protocol = protocol,
            bridge_protocol = PROTOCOL_VERSION,
            %sidecar_version,
            "the sidecar speaks another avatar-link revision; update the bridge"
        );
    }
}

/// Drops the query string, where clients that cannot set headers put the token.
fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<redacted>"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avatar_link::auth;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::handshake::server::{
        ErrorResponse, Request as ServerRequest, Response,
    };
    use tokio_tungstenite::tungstenite::http::StatusCode;

    #[test]
    fn the_token_never_shows_in_debug_output_or_logged_urls() {
        let config = LinkConfig {
            url: "ws://127.0.0.1:7780/avatar?token=s3cret".into(),
            token: "s3cret".into(),
        };
        let shown = format!("{config:?} {}", LinkClient::new(&config).unwrap().shown_url);
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn bad_urls_and_tokens_fail_up_front() {
        let bad_url = LinkConfig {
            url: "not a url".into(),
            token: "t".into(),
        };
        assert!(matches!(
            LinkClient::new(&bad_url),
            Err(LinkError::Url { .. })
        ));
        let bad_token = LinkConfig {
            url: "ws://127.0.0.1:1/avatar".into(),
            token: "a\nb".into(),
        };
        assert!(matches!(
            LinkClient::new(&bad_token),
            Err(LinkError::TokenHeader)
        ));
    }

    // The signature is tungstenite's handshake callback; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn refuse(_: &ServerRequest, _: Response) -> Result<Response, ErrorResponse> {
        let mut refusal = ErrorResponse::new(Some("wrong token".into()));
        *refusal.status_mut() = StatusCode::UNAUTHORIZED;
        Err(refusal)
    }

    /// A server that refuses every handshake with 401 and counts the attempts.
    async fn refusing_server() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = tokio_tungstenite::accept_hdr_async(stream, refuse).await;
            }
        });
        (url, attempts)
    }

    // The handshake callback's error type is tungstenite's.
    #[allow(clippy::result_large_err)]
    #[tokio::test]
    async fn a_server_that_cannot_prove_the_token_never_receives_it_or_anything() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
        let client = LinkClient::new(&LinkConfig {
            url,
            token: "s3cret".into(),
        })
        .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let run = tokio::spawn(client.run(tx));
        // A plain WebSocket server on the port: it upgrades and records what it is sent.
        let (stream, _) = listener.accept().await.unwrap();
        let mut request_seen = Vec::new();
        let mut ws = tokio_tungstenite::accept_hdr_async(stream, |req: &ServerRequest, res| {
            request_seen.push(req.uri().to_string());
            for (k, v) in req.headers() {
                request_seen.push(format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())));
            }
            Ok(res)
        })
        .await
        .unwrap();
        let mut frames = Vec::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(1), ws.next()).await
        {
            frames.push(frame);
        }
        run.abort();
        assert!(
            request_seen
                .iter()
                .any(|h| h.starts_with(auth::NONCE_HEADER)),
            "{request_seen:?}"
        );
        assert!(
            !request_seen.iter().any(|h| h.contains("s3cret")),
            "{request_seen:?}"
        );
        assert!(
            frames.iter().all(|f| matches!(f, Message::Close(_))),
            "a stranger was sent {frames:?}"
        );
        assert!(
            rx.try_recv().is_err(),
            "nothing from a stranger is forwarded"
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_retried_with_backoff_not_hammered() {
        let (url, attempts) = refusing_server().await;
        let client = LinkClient::new(&LinkConfig {
            url,
            token: "wrong".into(),
        })
        .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let run = tokio::spawn(client.run(tx));
        tokio::time::sleep(Duration::from_millis(1_700)).await;
        run.abort();
        // Delays 0.5, 1, 2 s (±20 %): two or three attempts in 1.7 s, never dozens.
        let n = attempts.load(Ordering::SeqCst);
        assert!((2..=3).contains(&n), "{n} attempts");
        assert!(
            rx.try_recv().is_err(),
            "nothing is forwarded from a refused link"
        );
    }
}
