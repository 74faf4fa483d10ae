use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};

use super::*;

const LIMITS: Limits = Limits::new(1024, 64);

/// Hands out its bytes `step` at a time, as a slow client's packets arrive.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Trickle {
    fn new(data: &[u8], step: usize) -> Self {
        Self {
            data: data.to_vec(),
            at: 0,
            step,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let end = (self.at + self.step)
            .min(self.data.len())
            .min(self.at + buf.remaining());
        buf.put_slice(&self.data[self.at..end]);
        self.at = end;
        Poll::Ready(Ok(()))
    }
}

async fn request(raw: &[u8]) -> Result<Request, ReadError> {
    HttpConnection::new(raw, LIMITS).read_request().await
}

#[tokio::test]
async fn reads_a_head_and_keeps_what_follows() {
    let raw = b"GET /webcast/im/push/v2/?a=1&b=x%7Cy&ua=Mozilla%2F5.0+(X11)&e= HTTP/1.1\r\n\
                Host: 127.0.0.1\r\nCookie: foo=1; ttwid=abc%7C1\r\nUser-Agent: UA\r\n\r\n\x81\x00";
    let mut conn = HttpConnection::new(&raw[..], LIMITS);
    let req = conn.read_request().await.unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path(), "/webcast/im/push/v2/");
    assert_eq!(req.header("user-agent"), Some("UA"));
    assert_eq!(
        req.headers[2].0, "User-Agent",
        "names keep the client's spelling"
    );
    assert_eq!(req.cookie("ttwid").as_deref(), Some("abc%7C1"));
    let q = req.query();
    assert_eq!(q[1], ("b".to_string(), "x|y".to_string()));
    assert_eq!(q[2].1, "Mozilla/5.0 (X11)");
    assert_eq!(q[3], ("e".to_string(), String::new()));
    assert!(req.body.is_empty());
    let (_, rest) = conn.into_parts();
    assert_eq!(rest, b"\x81\x00");
}

#[tokio::test]
async fn a_request_split_across_reads_is_read_whole() {
    let raw = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length: 11\r\n\r\n{\"a\":\"b c\"}";
    for step in [1, 2, 7, 30] {
        let mut conn = HttpConnection::new(Trickle::new(raw, step), LIMITS);
        let req = conn.read_request().await.unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/v1/chat/completions");
        assert_eq!(req.header("Content-Length"), Some("11"));
        assert_eq!(req.body, br#"{"a":"b c"}"#, "step {step}");
        assert!(matches!(conn.read_request().await, Err(ReadError::Closed)));
    }
}

#[tokio::test]
async fn keep_alive_requests_in_one_read_are_read_one_after_the_other() {
    let raw = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b?x=1 HTTP/1.1\r\n\r\n";
    let mut conn = HttpConnection::new(&raw[..], LIMITS);
    let first = conn.read_request().await.unwrap();
    assert_eq!((first.path(), first.body.as_slice()), ("/a", &b"hi"[..]));
    let second = conn.read_request().await.unwrap();
    assert_eq!((second.path(), second.raw_query()), ("/b", "x=1"));
    assert!(matches!(conn.read_request().await, Err(ReadError::Closed)));
}

#[tokio::test]
async fn unencoded_spaces_and_early_close_are_errors() {
    let raw = b"GET /x?ua=Mozilla/5.0 (X11) HTTP/1.1\r\n\r\n";
    assert!(matches!(request(raw).await, Err(ReadError::Malformed(_))));
    assert!(matches!(
        request(b"GET / HTTP/1.1\r\n").await,
        Err(ReadError::Closed)
    ));
}

#[tokio::test]
async fn bad_request_lines_and_headers_are_malformed() {
    for raw in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/2\r\n\r\n",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
    ] {
        let got = request(raw).await;
        assert!(
            matches!(got, Err(ReadError::Malformed(_))),
            "{:?}: {got:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused() {
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    while big.len() <= LIMITS.max_head + 8192 {
        big.extend_from_slice(b"X-Filler: 0123456789abcdef\r\n");
    }
    big.extend_from_slice(b"\r\n");
    assert!(matches!(
        HttpConnection::new(Trickle::new(&big, 100), LIMITS)
            .read_request()
            .await,
        Err(ReadError::HeadTooLarge(1024))
    ));
    let body = request(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n").await;
    assert!(matches!(
        body,
        Err(ReadError::BodyTooLarge { len: 65, max: 64 })
    ));
    let cut = request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort").await;
    assert!(matches!(cut, Err(ReadError::BodyCut)));
}

#[tokio::test]
async fn a_silent_peer_times_out_only_when_a_timeout_is_set() {
    let (_client, server) = tokio::io::duplex(64);
    let limits = LIMITS.with_idle_timeout(Duration::from_millis(30));
    assert!(matches!(
        HttpConnection::new(server, limits).read_request().await,
        Err(ReadError::Timeout(_))
    ));
    let (_client, server) = tokio::io::duplex(64);
    let mut patient = HttpConnection::new(server, LIMITS);
    let waiting = tokio::time::timeout(Duration::from_millis(100), patient.read_request());
    assert!(waiting.await.is_err(), "without a timeout it keeps waiting");
}

#[tokio::test]
async fn responses_are_read_by_length_or_until_close() {
    let raw = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusyHTTP/1.1 200 OK\r\n\r\nall of it";
    let mut conn = HttpConnection::new(&raw[..], LIMITS);
    let first = conn.read_response().await.unwrap();
    assert_eq!((first.status, first.body.as_slice()), (503, &b"busy"[..]));
    assert_eq!(first.header("Content-Length"), Some("4"));
    let second = conn.read_response().await.unwrap();
    assert_eq!(
        (second.status, second.body.as_slice()),
        (200, &b"all of it"[..])
    );
    let bad = HttpConnection::new(&b"HTTP/1.1 OK\r\n\r\n"[..], LIMITS)
        .read_response()
        .await;
    assert!(matches!(bad, Err(ReadError::Malformed(_))));
}

#[test]
fn percent_decoding_tolerates_stray_percent_signs() {
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%41"), "%zzA");
    assert_eq!(percent_decode("%E4%BD%A0"), "你");
    assert_eq!(percent_decode("%4"), "%4");
    assert_eq!(percent_decode("%%41"), "%A");
    assert_eq!(percent_decode("%+1"), "% 1", "+ is not a hex digit");
    assert_eq!(percent_decode("%FF"), "\u{FFFD}");
}

#[test]
fn plus_is_a_space_and_an_encoded_plus_is_a_plus() {
    assert_eq!(percent_decode("a+b%2Bc"), "a b+c");
    assert_eq!(percent_decode("%e4%bd%a0+"), "你 ");
}

#[test]
fn queries_are_decoded() {
    assert_eq!(
        parse_query("roomid=1&appid=tt%5F1&msg_type=live+gift&x"),
        vec![
            ("roomid".into(), "1".into()),
            ("appid".into(), "tt_1".into()),
            ("msg_type".into(), "live gift".into()),
            ("x".into(), String::new()),
        ]
    );
    assert_eq!(
        parse_query("&a=1&&b=x=y&"),
        vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
    );
    assert!(parse_query("").is_empty());
}

#[test]
fn heads_are_written_exactly_as_spelled() {
    let response = Head::response("200 OK")
        .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
        .header("content-length", 2)
        .headers(&[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        .with_body(b"hi");
    assert_eq!(
        response,
        b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 2\r\n\
          Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhi"
    );
    assert_eq!(
        Head::request("POST", "/p").header("Host", "x").into_bytes(),
        b"POST /p HTTP/1.1\r\nHost: x\r\n\r\n"
    );
}

#[test]
fn chunks_carry_their_hex_length() {
    assert_eq!(chunk(b"data: x\n\n"), b"9\r\ndata: x\n\n\r\n");
    assert_eq!(chunk(&[0; 26])[..4], *b"1a\r\n");
    assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
}
