//! Just enough HTTP/1.1 for the stand-ins of internet services: read one request (or, for a
//! stand-in that plays the client, one response), parse its query, and write a response
//! header by header, with a `Content-Length` body or chunked.
//!
//! Hand-written on purpose, and shared by the stand-ins only: the tests must see exactly what
//! goes over the wire and control exactly what they send back (each stand-in writes its real
//! server's header names, spelling and order, and can cut a body short), and they must not
//! share an HTTP stack, or any code, with the sidecar they test.
//!
//! - [`HttpConnection`] reads messages off a stream, keeping what follows one message for the next
//!   (keep-alive) or for the caller (the start of a WebSocket stream after an upgrade request).
//! - [`Head`] writes a request or response head; [`chunk`] and [`LAST_CHUNK`] frame a chunked
//!   body.
//! - [`percent_decode`] and [`parse_query`] decode `application/x-www-form-urlencoded`.

pub mod date;
mod query;
mod write;

#[cfg(test)]
mod tests;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub use date::{http_date, unix_now};
pub use query::{parse_query, percent_decode};
pub use write::{chunk, write_chunk, Head, LAST_CHUNK};

/// How much a [`HttpConnection`] reads before giving up on a peer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Heads larger than this are refused.
    pub max_head: usize,
    /// Bodies larger than this are refused (a response without a length is cut here).
    pub max_body: usize,
    /// How long one read may wait for bytes; `None` waits for ever (a keep-alive client may
    /// sit idle between requests for as long as it likes).
    pub idle_timeout: Option<Duration>,
}

impl Limits {
    pub const fn new(max_head: usize, max_body: usize) -> Self {
        Self {
            max_head,
            max_body,
            idle_timeout: None,
        }
    }

    pub const fn with_idle_timeout(self, timeout: Duration) -> Self {
        Self {
            idle_timeout: Some(timeout),
            ..self
        }
    }
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("nothing read for {0:?} in the middle of an HTTP message")]
    Timeout(Duration),
    /// The peer closed before sending a full head (between requests, this is a clean close).
    #[error("connection closed before a full HTTP head")]
    Closed,
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    #[error("HTTP body of {len} bytes, more than the {max} accepted")]
    BodyTooLarge { len: usize, max: usize },
    #[error("connection closed inside the body")]
    BodyCut,
}

/// A request as received. Header names keep the client's spelling; look them up with
/// [`Request::header`], which ignores case.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and, after `?`, the still-encoded query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The `Content-Length` body (empty without one).
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string after `?`, still percent-encoded (`""` without one).
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// Decoded query parameters, in order (a key may repeat).
    pub fn query(&self) -> Vec<(String, String)> {
        parse_query(self.raw_query())
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The value of cookie `name` from the `Cookie` header(s), as sent (not decoded).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A response as received by a stand-in that plays the client.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first header of that name in `headers` (case-insensitive), for stand-ins that record
/// headers in types of their own.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads HTTP/1.1 messages off one stream.
pub struct HttpConnection<S> {
    stream: S,
    /// Read but not yet consumed: the start of the next message, or of whatever protocol the
    /// connection switches to.
    buffered: Vec<u8>,
    limits: Limits,
}

impl<S: AsyncRead + Unpin> HttpConnection<S> {
    pub fn new(stream: S, limits: Limits) -> Self {
        Self {
            stream,
            buffered: Vec::new(),
            limits,
        }
    }

    /// The stream, to write answers to (reads must go through the connection while messages
    /// may still be buffered).
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream and the bytes read past the last message.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.buffered)
    }

    /// Reads one request: `METHOD TARGET HTTP/1.x`, headers, and a `Content-Length` body.
    pub async fn read_request(&mut self) -> Result<Request, ReadError> {
        let head = self.read_head().await?;
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default();
        let parts: Vec<&str> = line.split(' ').collect();
        let [method, target, version] = parts[..] else {
            return Err(ReadError::Malformed(format!(
                "request line has {} parts (unencoded space in the URL?)",
                parts.len()
            )));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(ReadError::Malformed(format!("version {version}")));
        }
        let headers = parse_headers(lines)?;
        let body = match content_length(&headers)? {
            Some(len) => self.read_body(len).await?,
            None => Vec::new(),
        };
        Ok(Request {
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body,
        })
    }

    /// Reads one response: `HTTP/1.x CODE REASON`, headers, and a `Content-Length` body, or
    /// without a length a body that runs until the server closes (cut at `max_body`).
    pub async fn read_response(&mut self) -> Result<Response, ReadError> {
        let head = self.read_head().await?;
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default();
        let status = line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| ReadError::Malformed(format!("bad status line {line:?}")))?;
        let headers = parse_headers(lines)?;
        let body = match content_length(&headers)? {
            Some(len) => self.read_body(len).await?,
            None => self.read_to_close().await?,
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Reads more bytes into the buffer; 0 when the peer has closed.
    async fn fill(&mut self) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 8192];
        let read = self.stream.read(&mut chunk);
        let n = match self.limits.idle_timeout {
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| ReadError::Timeout(limit))??,
            None => read.await?,
        };
        self.buffered.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The head up to (without) the blank line; the buffer keeps what follows.
    async fn read_head(&mut self) -> Result<String, ReadError> {
        let end = loop {
            if let Some(end) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if self.buffered.len() > self.limits.max_head {
                return Err(ReadError::HeadTooLarge(self.limits.max_head));
            }
            if self.fill().await? == 0 {
                return Err(ReadError::Closed);
            }
        };
        let rest = self.buffered.split_off(end + 4);
        let mut head = std::mem::replace(&mut self.buffered, rest);
        head.truncate(end);
        String::from_utf8(head).map_err(|_| ReadError::Malformed("not UTF-8".into()))
    }

    async fn read_body(&mut self, len: usize) -> Result<Vec<u8>, ReadError> {
        let max = self.limits.max_body;
        if len > max {
            return Err(ReadError::BodyTooLarge { len, max });
        }
        while self.buffered.len() < len {
            if self.fill().await? == 0 {
                return Err(ReadError::BodyCut);
            }
        }
        let rest = self.buffered.split_off(len);
        Ok(std::mem::replace(&mut self.buffered, rest))
    }

    async fn read_to_close(&mut self) -> Result<Vec<u8>, ReadError> {
        while self.buffered.len() < self.limits.max_body && self.fill().await? > 0 {}
        let mut body = std::mem::take(&mut self.buffered);
        body.truncate(self.limits.max_body);
        Ok(body)
    }
}

/// `Name: value` lines, trimmed; a line without a colon is malformed.
fn parse_headers<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, ReadError> {
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| ReadError::Malformed(format!("header line without colon: {l}")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, ReadError> {
    header(headers, "content-length")
        .map(|v| {
            v.parse()
                .map_err(|_| ReadError::Malformed(format!("Content-Length {v:?}")))
        })
        .transpose()
}
