//! Writing HTTP/1.1 heads and chunked bodies, byte for byte as the caller spells them.

use std::fmt::Display;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A request or response head. Headers go out in the order and spelling they are added: no
/// header is added behind the caller's back, so each stand-in writes what its real server
/// writes (uvicorn's lower-case names, `Connection: close` or not, `Content-Length` where
/// that server puts it).
#[derive(Debug, Clone)]
pub struct Head {
    text: String,
}

impl Head {
    /// `HTTP/1.1 {status}`, e.g. `Head::response("404 Not Found")`.
    pub fn response(status: &str) -> Self {
        Self {
            text: format!("HTTP/1.1 {status}\r\n"),
        }
    }

    /// `{method} {target} HTTP/1.1`.
    pub fn request(method: &str, target: &str) -> Self {
        Self {
            text: format!("{method} {target} HTTP/1.1\r\n"),
        }
    }

    pub fn header(mut self, name: &str, value: impl Display) -> Self {
        self.text.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    pub fn headers<K: AsRef<str>, V: Display>(self, headers: &[(K, V)]) -> Self {
        headers
            .iter()
            .fold(self, |head, (k, v)| head.header(k.as_ref(), v))
    }

    /// The head with its closing blank line.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut text = self.text;
        text.push_str("\r\n");
        text.into_bytes()
    }

    /// The head followed by `body` (the caller has written the framing header).
    pub fn with_body(self, body: &[u8]) -> Vec<u8> {
        let mut out = self.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

/// One chunk of a chunked body: hex length, CRLF, data, CRLF. `data` must not be empty (an
/// empty chunk is [`LAST_CHUNK`]).
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes one chunk and flushes it, so a streamed body reaches the client piece by piece.
pub async fn write_chunk(
    stream: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
) -> std::io::Result<()> {
    stream.write_all(&chunk(data)).await?;
    stream.flush().await
}
