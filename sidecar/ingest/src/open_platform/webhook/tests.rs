use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;

use super::*;
use crate::Delivery;
use aivs_core::event::{EventKind, LiveEvent};

const SECRET: &str = "app-secret-for-tests";
const ROOM: &str = "7312345678901234567";
const NOW: u64 = 1_700_000_000_000;

/// A sink whose other end commits every batch at once and hands the events to the test.
fn committing_sink() -> (EventSink, mpsc::UnboundedReceiver<Vec<LiveEvent>>) {
    let (tx, mut rx) = mpsc::channel::<Delivery>(8);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(delivery) = rx.recv().await {
            let _ = events_tx.send(delivery.events);
            if let Some(done) = delivery.committed {
                let _ = done.send(());
            }
        }
    });
    (EventSink::new(tx), events_rx)
}

fn hook(sink: EventSink) -> Webhook {
    Webhook::new(SECRET.into(), ROOM.into(), 300, GiftNames::new(), sink)
}

/// The headers the platform would send for `body`, signed with `secret`.
fn signed(msg_type: &str, nonce: &str, ts: u64, body: &[u8], secret: &str) -> HeaderMap {
    let ts = ts.to_string();
    let pairs = [
        ("x-nonce-str", nonce),
        ("x-timestamp", ts.as_str()),
        ("x-roomid", ROOM),
        ("x-msg-type", msg_type),
    ];
    let mut headers = HeaderMap::new();
    for (k, v) in pairs {
        headers.insert(k, HeaderValue::from_str(v).unwrap());
    }
    let sig = signature::sign(&pairs, body, secret);
    headers.insert("x-signature", HeaderValue::from_str(&sig).unwrap());
    headers
}

fn gift_body(msg_id: &str, num: u64, value_fen: u64) -> Vec<u8> {
    serde_json::to_vec(&json!([{
        "msg_id": msg_id, "sec_openid": "oid_1", "sec_gift_id": "g1", "gift_num": num,
        "gift_value": value_fen, "avatar_url": "", "nickname": "小明", "timestamp": NOW, "test": false
    }]))
    .unwrap()
}

fn counted(sink: &EventSink, reason: &str) -> u64 {
    sink.counters()
        .snapshot()
        .into_iter()
        .filter(|(p, r, _)| p == PLATFORM && *r == reason)
        .map(|(_, _, n)| n)
        .sum()
}

#[tokio::test]
async fn a_signed_push_is_delivered_and_answered_after_the_commit() {
    let (sink, mut events) = committing_sink();
    let hook = hook(sink.clone());
    let body = gift_body("m1", 2, 200);
    let answer = hook
        .handle(&signed("live_gift", "n1", NOW, &body, SECRET), &body, NOW)
        .await;
    assert_eq!(answer, Answer::OK);
    let batch = events.try_recv().expect("delivered before the answer");
    assert_eq!(batch.len(), 1);
    let EventKind::Gift(g) = &batch[0].kind else {
        panic!("{batch:?}")
    };
    assert_eq!((g.count, g.diamonds, g.value_fen()), (2, 10, 200));
    assert_eq!(sink.counters().total(), 0);
}

#[tokio::test]
async fn wrong_missing_or_stale_signatures_are_refused_and_nothing_is_delivered() {
    let (sink, mut events) = committing_sink();
    let hook = hook(sink.clone());
    let body = gift_body("m1", 1, 10);

    let wrong = signed("live_gift", "n1", NOW, &body, "not-the-secret");
    assert_eq!(
        hook.handle(&wrong, &body, NOW).await.status,
        StatusCode::FORBIDDEN
    );

    let mut missing = signed("live_gift", "n1", NOW, &body, SECRET);
    missing.remove("x-signature");
    assert_eq!(
        hook.handle(&missing, &body, NOW).await.status,
        StatusCode::FORBIDDEN
    );

    // A valid signature over another body (tampered in transit).
    let tampered = gift_body("m1", 1, 100_000);
    let headers = signed("live_gift", "n1", NOW, &body, SECRET);
    assert_eq!(
        hook.handle(&headers, &tampered, NOW).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(counted(&sink, "bad_signature"), 3);

    let old = NOW - 301_000;
    let stale = signed("live_gift", "n2", old, &body, SECRET);
    let answer = hook.handle(&stale, &body, NOW).await;
    assert_eq!(
        answer,
        Answer::new(StatusCode::FORBIDDEN, "stale_timestamp")
    );
    assert_eq!(counted(&sink, "stale_timestamp"), 1);

    tokio::task::yield_now().await;
    assert!(events.try_recv().is_err(), "a refused push was delivered");
}

#[tokio::test]
async fn a_replayed_request_is_refused_but_a_resend_with_a_new_nonce_is_not() {
    let (sink, mut events) = committing_sink();
    let hook = hook(sink.clone());
    let body = gift_body("m1", 1, 10);
    let headers = signed("live_gift", "n1", NOW, &body, SECRET);
    assert_eq!(hook.handle(&headers, &body, NOW).await, Answer::OK);
    let replay = hook.handle(&headers, &body, NOW + 5_000).await;
    assert_eq!(replay, Answer::new(StatusCode::CONFLICT, "replayed"));
    assert_eq!(counted(&sink, "replayed"), 1);
    // The platform's own resend carries a new nonce: accepted (the ledger drops the duplicate).
    let resend = signed("live_gift", "n2", NOW + 1_000, &body, SECRET);
    assert_eq!(hook.handle(&resend, &body, NOW + 5_000).await, Answer::OK);
    assert_eq!(events.try_recv().unwrap()[0].msg_id, "m1");
    assert_eq!(events.try_recv().unwrap()[0].msg_id, "m1");
}

#[tokio::test(start_paused = true)]
async fn a_slow_commit_is_answered_503_and_the_same_request_may_come_again() {
    // Nobody commits: the channel has room but the ledger never answers.
    let (tx, mut rx) = mpsc::channel::<Delivery>(8);
    let sink = EventSink::new(tx);
    let hook = hook(sink).with_commit_deadline(Duration::from_millis(1500));
    let body = gift_body("m1", 1, 10);
    let headers = signed("live_gift", "n1", NOW, &body, SECRET);
    let started = tokio::time::Instant::now();
    let answer = hook.handle(&headers, &body, NOW).await;
    assert_eq!(
        answer,
        Answer::new(StatusCode::SERVICE_UNAVAILABLE, "commit_timeout")
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    assert_eq!(hook.stats.commit_timeouts.load(Ordering::Relaxed), 1);
    // The byte-identical retry is not a replay: the first attempt was never answered 200.
    let pending = rx.recv().await.unwrap();
    drop(pending);
    let retry = tokio::spawn(async move { hook.handle(&headers, &body, NOW + 2_000).await });
    let delivery = rx.recv().await.unwrap();
    delivery.committed.unwrap().send(()).unwrap();
    assert_eq!(retry.await.unwrap(), Answer::OK);
}

#[tokio::test]
async fn malformed_json_is_a_400_and_may_be_resent() {
    let (sink, _events) = committing_sink();
    let hook = hook(sink.clone());
    for body in [&b"[{\"msg_id\":"[..], b"{\"msg_id\":\"1\"}", b""] {
        let headers = signed("live_comment", "n1", NOW, body, SECRET);
        let answer = hook.handle(&headers, body, NOW).await;
        assert_eq!(
            answer,
            Answer::new(StatusCode::BAD_REQUEST, "bad_json"),
            "{body:?}"
        );
    }
    assert_eq!(counted(&sink, "bad_json"), 3);
}

#[tokio::test]
async fn bad_items_are_counted_and_the_rest_of_the_push_is_kept() {
    let (sink, mut events) = committing_sink();
    let hook = hook(sink.clone());
    let body = serde_json::to_vec(&json!([
        {"msg_id": "c1", "sec_openid": "o1", "nickname": "甲", "content": "你好", "timestamp": NOW},
        {"sec_openid": "o2", "content": "no id"},
        {"msg_id": "c3", "sec_openid": "o3", "nickname": "丙", "content": "来了", "test": true}
    ]))
    .unwrap();
    let headers = signed("live_comment", "n1", NOW, &body, SECRET);
    assert_eq!(hook.handle(&headers, &body, NOW).await, Answer::OK);
    let batch = events.try_recv().unwrap();
    let ids: Vec<&str> = batch.iter().map(|e| e.msg_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c3"]);
    assert_eq!(counted(&sink, "bad_item"), 1);
    assert_eq!(hook.stats.test_items.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn other_rooms_unknown_types_and_fansclub_pushes_are_answered_but_not_delivered() {
    let (sink, mut events) = committing_sink();
    let hook = hook(sink.clone());
    let body = br#"[{"msg_id":"x1","sec_openid":"o"}]"#;

    let mut other_room = signed("live_comment", "n1", NOW, body, SECRET);
    other_room.insert("x-roomid", HeaderValue::from_static("1"));
    let pairs = [
        ("x-nonce-str", "n1"),
        ("x-timestamp", &*NOW.to_string()),
        ("x-roomid", "1"),
        ("x-msg-type", "live_comment"),
    ]
    .map(|(k, v)| (k, v.to_string()));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    other_room.insert(
        "x-signature",
        HeaderValue::from_str(&signature::sign(&pairs, body, SECRET)).unwrap(),
    );
    assert_eq!(hook.handle(&other_room, body, NOW).await, Answer::OK);
    assert_eq!(counted(&sink, "other_room"), 1);

    let unknown = signed("live_teleport", "n2", NOW, body, SECRET);
    assert_eq!(hook.handle(&unknown, body, NOW).await, Answer::OK);
    assert_eq!(counted(&sink, "unknown_msg_type"), 1);

    let fans = signed("live_fansclub", "n3", NOW, body, SECRET);
    assert_eq!(hook.handle(&fans, body, NOW).await, Answer::OK);
    assert_eq!(hook.stats.fansclub_items.load(Ordering::Relaxed), 1);

    tokio::task::yield_now().await;
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn over_http_oversized_bodies_get_413_and_other_methods_405() {
    let (sink, _events) = committing_sink();
    let hook = Arc::new(hook(sink.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router("/douyin/push", hook))
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/douyin/push");
    let big = vec![b' '; MAX_BODY + 1];
    let response = client.post(&url).body(big).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(counted(&sink, "too_large"), 1);
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A well-formed but unsigned push over real HTTP: 403 with a JSON reason.
    let response = client.post(&url).body("[]").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["err_msg"], "bad_signature");
}

// ---------------------------------------------------------------------------------------------
// The HTTP server's bounds, with real sockets.
// ---------------------------------------------------------------------------------------------

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::serve::{serve, ServeLimits};

async fn serve_hook(hook: Webhook, limits: ServeLimits) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router("/douyin/push", Arc::new(hook));
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

/// Sends `at_once`, then `trickled` one byte per second, until the server closes the
/// connection. Returns how long that took and what the server answered.
async fn trickle(
    addr: std::net::SocketAddr,
    at_once: &[u8],
    trickled: &[u8],
) -> (Duration, String) {
    let started = Instant::now();
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    write.write_all(at_once).await.unwrap();
    let trickled = trickled.to_vec();
    let writer = tokio::spawn(async move {
        for byte in trickled {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        // Keep the write half open: only the server may end this connection.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut answer)).await;
    writer.abort();
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

/// A signed gift push over HTTP, timestamped now (the endpoint checks against the wall clock).
async fn push_over_http(addr: std::net::SocketAddr, msg_id: &str, nonce: &str) -> StatusCode {
    let body = gift_body(msg_id, 1, 10);
    let headers = signed(
        "live_gift",
        nonce,
        aivs_core::clock::now_ms(),
        &body,
        SECRET,
    );
    reqwest::Client::new()
        .post(format!("http://{addr}/douyin/push"))
        .headers(headers)
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_senders_are_cut_off_and_a_push_meanwhile_is_answered() {
    let (sink, mut events) = committing_sink();
    let timeout = Duration::from_secs(2);
    let hook = hook(sink.clone()).with_body_timeout(timeout);
    let limits = ServeLimits {
        header_timeout: timeout,
        ..ServeLimits::default()
    };
    let addr = serve_hook(hook, limits).await;
    let request = b"POST /douyin/push HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n";
    let headers_trickled = tokio::spawn(trickle(addr, b"", request));
    let body_trickled = tokio::spawn(trickle(addr, request, &[b' '; 40]));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(push_over_http(addr, "m1", "n1").await, StatusCode::OK);
    assert_eq!(events.recv().await.unwrap()[0].msg_id, "m1");

    let (took, _) = headers_trickled.await.unwrap();
    assert!(
        took >= timeout - Duration::from_millis(300) && took < timeout * 2,
        "a header trickler was closed after {took:?}"
    );
    let (took, answer) = body_trickled.await.unwrap();
    assert!(
        took >= timeout - Duration::from_millis(300) && took < timeout * 2,
        "a body trickler was closed after {took:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(counted(&sink, "body_timeout"), 1);
    // The defaults are a few seconds.
    assert_eq!(BODY_TIMEOUT, Duration::from_secs(5));
    assert_eq!(
        ServeLimits::default().header_timeout,
        Duration::from_secs(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_and_slots_free_up() {
    let (sink, mut events) = committing_sink();
    let limits = ServeLimits {
        header_timeout: Duration::from_secs(3),
        max_connections: 2,
        ..ServeLimits::default()
    };
    let addr = serve_hook(hook(sink), limits).await;
    let _idle = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), third.read(&mut buf))
        .await
        .expect("the connection over the limit was not closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // At once, not when a header timeout would have closed it.
    assert!(started.elapsed() < Duration::from_millis(1_500));

    // The idle ones time out after 3 s; then a push gets through.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(push_over_http(addr, "m2", "n2").await, StatusCode::OK);
    assert_eq!(events.recv().await.unwrap()[0].msg_id, "m2");
}
