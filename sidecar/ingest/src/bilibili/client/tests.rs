//! The client against a loopback server made of this module's own packet code (the independent
//! stand-in server lives in the e2e crate: tests/src/fake_bilibili.rs).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::Delivery;
use aivs_core::event::EventKind;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

fn config(port: u16) -> BilibiliConfig {
    BilibiliConfig {
        room_id: 4321,
        endpoint: Some(format!("ws://127.0.0.1:{port}/sub")),
        uid: 9,
        buvid: "BUVID-T".into(),
        key: Some("KEY-T".into()),
        heartbeat_secs: 0.2,
        stall_secs: 0.8,
        ..BilibiliConfig::default()
    }
}

/// A sink whose deliveries are committed at once and collected.
fn collecting_sink() -> (EventSink, Arc<Mutex<Vec<LiveEvent>>>) {
    let (tx, mut rx) = mpsc::channel::<Delivery>(8);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(delivery) = rx.recv().await {
            out.lock().unwrap().extend(delivery.events);
            if let Some(done) = delivery.committed {
                let _ = done.send(());
            }
        }
    });
    (EventSink::new(tx), seen)
}

async fn accept(listener: &TcpListener) -> Ws {
    let (stream, _) = listener.accept().await.unwrap();
    tokio_tungstenite::accept_async(stream).await.unwrap()
}

/// Reads the auth packet and returns its JSON body.
async fn read_auth(ws: &mut Ws) -> serde_json::Value {
    let Some(Ok(Message::Binary(bytes))) = ws.next().await else {
        panic!("no auth packet")
    };
    let decoded = packet::decode_message(&bytes, &Limits::default());
    assert_eq!(decoded.packets.len(), 1);
    assert_eq!(decoded.packets[0].operation, op::AUTH);
    serde_json::from_slice(&decoded.packets[0].body).unwrap()
}

async fn reply_auth(ws: &mut Ws, code: i64) {
    let body = format!("{{\"code\":{code}}}");
    ws.send(Message::binary(packet::encode(
        version::INT,
        op::AUTH_REPLY,
        1,
        body.as_bytes(),
    )))
    .await
    .unwrap();
}

fn gift_command(tid: &str) -> Vec<u8> {
    let json = format!(
        r#"{{"cmd":"SEND_GIFT","data":{{"tid":"{tid}","num":2,"giftId":1,"giftName":"花","price":1000,"coin_type":"gold","uid":1,"uname":"u"}}}}"#
    );
    packet::encode(version::JSON, op::COMMAND, 0, json.as_bytes())
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gift_ids(events: &[LiveEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Gift(_)))
        .map(|e| e.msg_id.clone())
        .collect()
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn authenticates_heartbeats_and_delivers_commands() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, seen) = collecting_sink();
    let counters = sink.counters().clone();
    let client = tokio::spawn(run(config(port), sink));

    let mut ws = accept(&listener).await;
    let auth = read_auth(&mut ws).await;
    assert_eq!(
        auth,
        serde_json::json!({"uid": 9, "roomid": 4321, "protover": 3, "platform": "web", "type": 2,
            "buvid": "BUVID-T", "key": "KEY-T"})
    );
    reply_auth(&mut ws, 0).await;
    let batch = [gift_command("g1"), gift_command("g2")].concat();
    let message = [
        packet::encode(version::ZLIB, op::COMMAND, 0, &zlib(&batch)),
        packet::encode(version::JSON, op::COMMAND, 0, b"{not json"),
        gift_command("g3"),
    ]
    .concat();
    ws.send(Message::binary(message)).await.unwrap();

    let mut heartbeats = 0;
    while heartbeats < 3 {
        let Some(Ok(Message::Binary(bytes))) = ws.next().await else {
            panic!("connection ended")
        };
        let decoded = packet::decode_message(&bytes, &Limits::default());
        assert_eq!(decoded.packets[0].operation, op::HEARTBEAT);
        assert_eq!(decoded.packets[0].body, HEARTBEAT_BODY);
        heartbeats += 1;
        let popularity = 1000 + heartbeats;
        ws.send(Message::binary(packet::encode(
            version::INT,
            op::HEARTBEAT_REPLY,
            1,
            &(popularity as u32).to_be_bytes(),
        )))
        .await
        .unwrap();
    }
    wait_for("gifts and stats", || {
        let events = seen.lock().unwrap();
        gift_ids(&events).len() == 3
            && events.iter().any(|e| {
                e.kind
                    == EventKind::ViewerStats {
                        online: 1003,
                        total: 0,
                    }
            })
    })
    .await;
    assert_eq!(gift_ids(&seen.lock().unwrap()), ["g1", "g2", "g3"]);
    assert!(counters
        .snapshot()
        .contains(&("bilibili".to_string(), "malformed_json", 1)));
    assert!(!client.is_finished());
    client.abort();
}

#[tokio::test]
async fn a_rejected_key_stops_the_source_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, _) = collecting_sink();
    let client = tokio::spawn(run(config(port), sink));
    let mut ws = accept(&listener).await;
    read_auth(&mut ws).await;
    reply_auth(&mut ws, -101).await;
    let err = timeout(Duration::from_secs(5), client)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, BilibiliError::AuthRejected { code: -101 }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("key") && !text.contains("KEY-T"), "{text}");
}

#[tokio::test]
async fn drops_and_stalls_are_survived_by_reconnecting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, seen) = collecting_sink();
    let client = tokio::spawn(run(config(port), sink));

    // 1: a gift, then the connection drops without a close frame.
    let mut ws = accept(&listener).await;
    read_auth(&mut ws).await;
    reply_auth(&mut ws, 0).await;
    ws.send(Message::binary(gift_command("before-drop")))
        .await
        .unwrap();
    wait_for("first gift", || gift_ids(&seen.lock().unwrap()).len() == 1).await;
    drop(ws);

    // 2: authenticated, then silent: heartbeats go unanswered until the client gives up.
    let started = Instant::now();
    let mut ws = accept(&listener).await;
    read_auth(&mut ws).await;
    reply_auth(&mut ws, 0).await;
    let silent = tokio::spawn(async move {
        let mut heartbeats = 0;
        while let Some(Ok(_)) = ws.next().await {
            heartbeats += 1;
        }
        heartbeats
    });

    // 3: the client is back after the stall.
    let mut ws = accept(&listener).await;
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert!(
        silent.await.unwrap() >= 2,
        "heartbeats kept going while stalled"
    );
    read_auth(&mut ws).await;
    reply_auth(&mut ws, 0).await;
    ws.send(Message::binary(gift_command("after-stall")))
        .await
        .unwrap();
    wait_for("second gift", || gift_ids(&seen.lock().unwrap()).len() == 2).await;
    assert_eq!(
        gift_ids(&seen.lock().unwrap()),
        ["before-drop", "after-stall"]
    );
    client.abort();
}

#[tokio::test]
async fn the_source_ends_quietly_when_the_show_stops() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel::<Delivery>(1);
    let client = tokio::spawn(run(config(port), EventSink::new(tx)));
    let mut ws = accept(&listener).await;
    read_auth(&mut ws).await;
    reply_auth(&mut ws, 0).await;
    drop(rx);
    // The next heartbeat notices the closed sink.
    let result = timeout(Duration::from_secs(5), client)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
