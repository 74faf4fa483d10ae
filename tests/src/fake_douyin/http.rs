//! Just enough HTTP/1.1 for the fake: read one request head, parse its query, write a
//! response. Hand-written so the fake sees the upgrade request exactly as the client sent it
//! (header names, cookie, raw query) and can answer it the way Douyin does — including
//! refusing a WebSocket upgrade with a plain `200 OK`.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Request heads larger than this are refused (the real URL is ~1.5 KB).
pub const MAX_HEAD: usize = 32 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (after `?`), still percent-encoded.
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters, in order (a key may repeat).
    pub fn query(&self) -> Vec<(String, String)> {
        parse_query(&self.raw_query)
    }

    /// The value of cookie `name` from the `Cookie` header(s).
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

/// Why a request head could not be read.
#[derive(Debug)]
pub enum HeadError {
    Io(std::io::Error),
    TooLarge,
    Timeout,
    /// The peer closed before sending a full head.
    Closed,
    Malformed(String),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "reading the request: {e}"),
            Self::TooLarge => write!(f, "request head larger than {MAX_HEAD} bytes"),
            Self::Timeout => write!(f, "request head not complete within 5 s"),
            Self::Closed => write!(f, "connection closed before a full request head"),
            Self::Malformed(why) => write!(f, "malformed request head: {why}"),
        }
    }
}

/// Reads one request head. Returns it with whatever bytes followed it in the same reads
/// (the start of the WebSocket stream, should the client not wait for the 101).
pub async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(2048);
    let end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| HeadError::Timeout)?
            .map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf.split_off(end + 4);
    let head = String::from_utf8(buf).map_err(|_| HeadError::Malformed("not UTF-8".into()))?;
    Ok((parse_head(&head)?, rest))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &str) -> Result<Request, HeadError> {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(HeadError::Malformed(format!(
            "request line has {} parts (unencoded space in the URL?)",
            parts.len()
        )));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed(format!("version {version}")));
    }
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| HeadError::Malformed(format!("header line without colon: {l}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        raw_query: raw_query.to_string(),
        headers,
    })
}

/// `application/x-www-form-urlencoded` decoding: `%XX` escapes and `+` for space (clients
/// that build the query with a form serializer write spaces as `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A complete response that closes the connection.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_head_and_keeps_what_follows() {
        let raw = b"GET /webcast/im/push/v2/?a=1&b=x%7Cy&ua=Mozilla%2F5.0+(X11)&e= HTTP/1.1\r\n\
                    Host: 127.0.0.1\r\nCookie: foo=1; ttwid=abc%7C1\r\nUser-Agent: UA\r\n\r\n\x81\x00";
        let (req, rest) = read_head(&mut &raw[..]).await.unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/webcast/im/push/v2/");
        assert_eq!(req.header("user-agent"), Some("UA"));
        assert_eq!(req.cookie("ttwid").as_deref(), Some("abc%7C1"));
        let q = req.query();
        assert_eq!(q[1], ("b".to_string(), "x|y".to_string()));
        assert_eq!(q[2].1, "Mozilla/5.0 (X11)");
        assert_eq!(q[3], ("e".to_string(), String::new()));
        assert_eq!(rest, b"\x81\x00");
    }

    #[tokio::test]
    async fn unencoded_spaces_and_early_close_are_errors() {
        let raw = b"GET /x?ua=Mozilla/5.0 (X11) HTTP/1.1\r\n\r\n";
        assert!(matches!(
            read_head(&mut &raw[..]).await,
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            read_head(&mut &b"GET / HTTP/1.1\r\n"[..]).await,
            Err(HeadError::Closed)
        ));
    }

    #[test]
    fn percent_decoding_tolerates_stray_percent_signs() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%E4%BD%A0"), "你");
    }
}
