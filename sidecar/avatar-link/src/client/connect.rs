//! [`connect`]: the handshake of [`super`] over `tokio-tungstenite`, the WebSocket every client
//! of the link uses. Timeouts and retries are the caller's: each client has its own patience.

use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{hello, Challenge, Unproven};
use crate::auth;

/// A connection past the handshake: proven both ways, hello sent.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why [`connect`] did not get a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid link URL: {0}")]
    Url(tungstenite::Error),
    /// The upgrade was answered with an HTTP error (401/403: the server refused the token).
    #[error("the sidecar refused the connection (HTTP {0})")]
    Refused(StatusCode),
    #[error(transparent)]
    Unproven(#[from] Unproven),
    /// No upgrade at all: nothing listens, the connection broke, not a WebSocket server.
    #[error("{0}")]
    Connect(tungstenite::Error),
    /// Upgraded and proven, but sending the proof or the hello failed.
    #[error("{0}")]
    Transport(tungstenite::Error),
}

/// Upgrades with a fresh nonce, checks the server's proof before anything else is sent, then
/// sends the client's proof and its [`hello`]. A server that cannot prove the token gets only
/// the nonce; the socket is dropped.
pub async fn connect(
    request: impl IntoClientRequest,
    token: &str,
    client: &str,
    audio_clock: bool,
) -> Result<Socket, ConnectError> {
    let mut request = request.into_client_request().map_err(ConnectError::Url)?;
    let challenge = Challenge::new();
    let nonce = HeaderValue::from_str(challenge.nonce()).expect("hex is a valid header value");
    request.headers_mut().insert(auth::NONCE_HEADER, nonce);
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => ConnectError::Refused(response.status()),
            other => ConnectError::Connect(other),
        })?;
    let proof = challenge.answer(token, |name| {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    })?;
    for frame in [proof, hello(client, audio_clock)] {
        socket
            .send(Message::text(frame))
            .await
            .map_err(ConnectError::Transport)?;
    }
    Ok(socket)
}
