//! The fake checked on its own: frames decode (with the hand decoder in `proto_read`) into
//! what protocols.md describes, the truth matches an independent recount, and a well-behaved
//! client is served, resumed and refused the way the sidecar will be.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::proto_read::Fields;
use super::*;
use crate::protobuf_writer::ProtoWriter;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/126.0.0.0 Safari/537.36";

fn quiet(seed: u64, frames: usize) -> ScenarioOptions {
    ScenarioOptions {
        seed,
        frames,
        frame_interval: Duration::from_millis(2),
        drops: 0,
        stalls: 0,
        duplicate_frames: 0,
        ..ScenarioOptions::default()
    }
}

/// gunzip with a cap; `None` beyond it.
fn gunzip(data: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= cap).then_some(out)
}

/// `(method, payload, msgId)` of one `Response.messagesList` entry.
type Msg = (String, Vec<u8>, u64);

/// The push frame's fields and every message in it, or why it cannot be read.
fn decode_frame(bytes: &[u8]) -> Result<(Fields<'_>, Vec<Msg>), String> {
    let frame = Fields::parse(bytes).map_err(|e| e.to_string())?;
    let headers: HashMap<String, String> = frame
        .all_bytes(5)
        .into_iter()
        .map(|h| {
            let h = Fields::parse(h).unwrap();
            (h.string(1), h.string(2))
        })
        .collect();
    assert_eq!(headers["compress_type"], "gzip");
    assert_eq!(frame.string(7), "msg");
    let body = gunzip(frame.bytes(8), 4 << 20).ok_or("inflates beyond 4 MiB")?;
    let response = Fields::parse(&body).map_err(|e| e.to_string())?;
    assert_eq!(response.uint(9), 1, "needAck");
    let mut out = Vec::new();
    for m in response.all_bytes(1) {
        let m = Fields::parse(m).unwrap();
        out.push((m.string(1), m.bytes(2).to_vec(), m.uint(3)));
    }
    Ok((frame, out))
}

#[test]
fn same_seed_same_storm() {
    let a = Scenario::generate(quiet(7, 80));
    let b = Scenario::generate(quiet(7, 80));
    let c = Scenario::generate(quiet(8, 80));
    assert_eq!(a.truth, b.truth);
    assert!(a
        .frames
        .iter()
        .zip(&b.frames)
        .all(|(x, y)| x.bytes == y.bytes));
    assert_ne!(a.frames[0].bytes, c.frames[0].bytes);
}

#[test]
fn frames_decode_to_what_the_protocol_describes() {
    let s = Scenario::generate(quiet(3, 120));
    assert_eq!(s.frames.len(), 120);
    let mut methods = HashSet::new();
    for f in s.frames.iter().filter(|f| f.ackable()) {
        let (frame, msgs) = decode_frame(&f.bytes).unwrap();
        assert_eq!(frame.uint(1), f.seq);
        assert_eq!(frame.uint(2), f.log_id);
        let body = gunzip(frame.bytes(8), 1 << 20).unwrap();
        let response = Fields::parse(&body).unwrap();
        assert_eq!(response.string(2), f.cursor);
        assert_eq!(response.string(5), f.internal_ext);
        assert!(!msgs.is_empty());
        for (method, payload, msg_id) in msgs {
            let p = Fields::parse(&payload);
            if let Ok(p) = &p {
                let common = Fields::parse(p.bytes(1)).unwrap();
                assert_eq!(common.string(1), method);
                assert_eq!(common.uint(2), msg_id);
                assert_eq!(common.uint(3), s.room_id);
            }
            methods.insert(method);
        }
    }
    for m in [
        messages::CHAT,
        messages::GIFT,
        messages::LIKE,
        messages::MEMBER,
        messages::SOCIAL,
        messages::ROOM_USER_SEQ,
    ] {
        assert!(methods.contains(m), "no {m} in the storm");
    }
}

/// One gift message as a client reads it.
struct GiftSeen {
    key: (u64, u64, u64, u64),
    total: u64,
    group_count: u64,
    diamonds: u64,
    end: bool,
}

fn read_gift(payload: &[u8]) -> Option<GiftSeen> {
    let g = Fields::parse(payload).ok()?;
    let common = Fields::parse(g.bytes(1)).ok()?;
    let user = Fields::parse(g.bytes(7)).ok()?;
    let gift = Fields::parse(g.bytes(15)).ok()?;
    assert_eq!(user.string(1028), user.uint(1).to_string());
    assert_eq!(gift.uint(5), g.uint(2));
    Some(GiftSeen {
        key: (common.uint(3), user.uint(1), g.uint(2), g.uint(11)),
        total: g.uint(5) * g.uint(4).max(1),
        group_count: g.uint(4),
        diamonds: gift.uint(12),
        end: g.uint(9) == 1,
    })
}

#[test]
fn truth_matches_an_independent_recount_and_the_storm_is_rough() {
    let s = Scenario::generate(quiet(11, 400));
    let mut best: HashMap<(u64, u64, u64, u64), (u64, u64)> = HashMap::new();
    let mut ids = HashSet::new();
    let (mut duplicates, mut backwards, mut bundles, mut summaries, mut undecodable) =
        (0, 0, 0, 0, 0);
    let mut absurd = 0;
    let mut last_total: HashMap<(u64, u64, u64, u64), u64> = HashMap::new();
    for f in &s.frames {
        let Ok((_, msgs)) = decode_frame(&f.bytes) else {
            assert!(!f.ackable());
            continue;
        };
        for (method, payload, msg_id) in msgs {
            if !ids.insert(msg_id) {
                duplicates += 1;
                continue;
            }
            if method != messages::GIFT {
                continue;
            }
            let Some(g) = read_gift(&payload) else {
                undecodable += 1;
                continue;
            };
            if g.total >= 1_000_000 {
                absurd += 1;
                continue;
            }
            if last_total.get(&g.key).is_some_and(|t| *t > g.total) {
                backwards += 1;
            }
            last_total.insert(g.key, g.total);
            bundles += usize::from(g.group_count > 1);
            summaries += usize::from(g.end);
            let e = best.entry(g.key).or_default();
            e.0 = e.0.max(g.total);
            e.1 = g.diamonds;
        }
    }
    let count: u64 = best.values().map(|(t, _)| t).sum();
    let diamonds: u64 = best.values().map(|(t, d)| t * d).sum();
    assert_eq!((count, diamonds), (s.truth.gift_count, s.truth.diamonds));
    assert_eq!(best.len(), s.truth.combos);
    assert_eq!(s.truth.value_fen(), diamonds * 10);
    assert!(duplicates > 0 && duplicates == s.truth.duplicated_messages);
    assert!(backwards > 0, "no combo arrives out of order");
    assert!(bundles > 0, "no bundle");
    assert!(
        summaries > 0 && summaries < s.truth.combos,
        "summaries always or never sent"
    );
    assert_eq!((undecodable, absurd), (1, 1));
    let mut bad = s.truth.bad_input.clone();
    bad.sort();
    assert_eq!(
        bad,
        [
            BadInput::TruncatedFrame,
            BadInput::GzipBomb,
            BadInput::TruncatedGift,
            BadInput::InvalidUtf8Chat,
            BadInput::AbsurdRepeatCount
        ]
    );
}

#[test]
fn bad_frames_are_bad_in_the_intended_way() {
    let s = Scenario::generate(quiet(5, 60));
    let truncated = s
        .frames
        .iter()
        .find(|f| f.kind == FrameKind::Truncated)
        .unwrap();
    assert!(Fields::parse(&truncated.bytes).is_err());
    let bomb = s
        .frames
        .iter()
        .find(|f| f.kind == FrameKind::GzipBomb)
        .unwrap();
    assert!(
        bomb.bytes.len() < 64 * 1024,
        "the bomb should be small on the wire"
    );
    let frame = Fields::parse(&bomb.bytes).unwrap();
    let inflated = gunzip(frame.bytes(8), 64 << 20).unwrap();
    assert!(inflated.len() > 4 << 20);
    // Uncapped, it is a valid Response with a gift in it.
    let response = Fields::parse(&inflated).unwrap();
    assert_eq!(response.all_bytes(1).len(), 1);
    // The chat with invalid UTF-8 is there, in a decodable frame.
    let bad_chat = s.frames.iter().filter(|f| f.ackable()).any(|f| {
        decode_frame(&f.bytes).unwrap().1.iter().any(|(m, p, _)| {
            m == messages::CHAT && std::str::from_utf8(Fields::parse(p).unwrap().bytes(3)).is_err()
        })
    });
    assert!(bad_chat);
}

#[test]
fn faults_are_scheduled_inside_the_storm() {
    let s = Scenario::generate(ScenarioOptions {
        drops: 2,
        stalls: 1,
        duplicate_frames: 3,
        ..quiet(9, 100)
    });
    assert_eq!(s.faults.len(), 6);
    assert!(s.faults.keys().all(|seq| (10..=85).contains(seq)));
    assert_eq!(s.faults.values().filter(|f| **f == Fault::Drop).count(), 2);
}

#[test]
fn resume_index_resends_the_cursor_frame() {
    let s = Scenario::generate(quiet(4, 30));
    assert_eq!(s.resume_index(""), Some(0));
    assert_eq!(s.resume_index(&s.frames[12].cursor), Some(12));
    assert_eq!(s.resume_index("r-1_d-1"), None);
}

// --- the server, driven by a minimal well-behaved client -------------------------------

struct Page {
    ttwid: String,
    room_id: String,
}

async fn get_page(fake: &FakeDouyin) -> Page {
    let mut tcp = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let req = format!(
        "GET /{} HTTP/1.1\r\nHost: live.douyin.com\r\nUser-Agent: {UA}\r\n\r\n",
        fake.web_rid()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"));
    let ttwid = resp
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: ttwid="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let marker = r#"\"roomId\":\""#;
    let at = resp.find(marker).unwrap() + marker.len();
    let room_id: String = resp[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Page { ttwid, room_id }
}

fn url(fake: &FakeDouyin, page: &Page, cursor: &str, ext: &str, signature: &str) -> String {
    let uid = "7300000000000000042";
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let sig = if signature.is_empty() {
        signature::expected_signature(&page.room_id, uid)
    } else {
        signature.to_string()
    };
    let mut q = vec![
        ("cookie_enabled", "true".to_string()),
        ("screen_width", "1920".into()),
        ("screen_height", "1080".into()),
        ("browser_language", "zh-CN".into()),
        ("browser_platform", "Win32".into()),
        ("browser_name", "Mozilla".into()),
        ("browser_version", UA["Mozilla/".len()..].to_string()),
        ("browser_online", "true".into()),
        ("tz_name", "Asia/Shanghai".into()),
        ("cursor", cursor.into()),
        ("internal_ext", ext.into()),
        ("support_wrds", "1".into()),
        ("user_unique_id", uid.into()),
        ("need_persist_msg_count", "15".into()),
        ("room_id", page.room_id.clone()),
        ("heartbeatDuration", "0".into()),
        ("signature", sig),
    ];
    q.extend(FIXED_PARAMS.iter().map(|(k, v)| (*k, v.to_string())));
    let query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    format!("ws://{}{PUSH_PATH}?{}", fake.addr(), query.join("&"))
}

async fn connect(
    url: &str,
    ttwid: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("User-Agent", UA.parse().unwrap());
    req.headers_mut()
        .insert("Cookie", format!("ttwid={ttwid}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

fn ack(frame: &Fields) -> Vec<u8> {
    let body = gunzip(frame.bytes(8), 1 << 20).unwrap();
    let response = Fields::parse(&body).unwrap();
    let mut w = ProtoWriter::new();
    w.uint(2, frame.uint(2))
        .string(7, "ack")
        .bytes(8, response.bytes(5));
    w.into_bytes()
}

#[tokio::test]
async fn a_well_behaved_client_is_served_resumed_and_recorded() {
    let fake = FakeDouyin::start(Scenario::generate(ScenarioOptions {
        bad_input: false,
        ..quiet(21, 40)
    }))
    .await
    .unwrap();
    let page = get_page(&fake).await;
    assert_eq!(page.room_id, fake.room_id().to_string());

    let mut ws = connect(&url(&fake, &page, "", "", ""), &page.ttwid)
        .await
        .unwrap();
    ws.send(Message::Binary(vec![0x3a, 0x02, 0x68, 0x62].into()))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => {
                let frame = Fields::parse(&b).unwrap();
                seqs.push(frame.uint(1));
                ws.send(Message::Binary(ack(&frame).into())).await.unwrap();
            }
            Message::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    drop(ws);

    // Resume from frame 7: frame 7 again (the deliberate duplicate), then 8, 9…
    let f7 = &fake.scenario().frames[6];
    let mut ws = connect(
        &url(&fake, &page, &f7.cursor, &f7.internal_ext, ""),
        &page.ttwid,
    )
    .await
    .unwrap();
    let mut resumed = Vec::new();
    while resumed.len() < 3 {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            resumed.push(Fields::parse(&b).unwrap().uint(1));
        }
    }
    assert_eq!(resumed, [7, 8, 9]);
    ws.close(None).await.unwrap();

    // A bad signature: refused with a plain 200, like the real service.
    let refused = connect(&url(&fake, &page, "", "", "bogus"), &page.ttwid).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 200)
        }
        other => panic!("expected an HTTP 200 refusal, got {other:?}"),
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.violations(), Vec::<String>::new());
    assert_eq!(fake.signature_refusals(), 1);
    assert_eq!(fake.heartbeats().len(), 1);
    let acked: HashSet<u64> = fake.acks().iter().filter_map(|a| a.seq).collect();
    assert_eq!(acked, (1..=10).collect());
    let conns = fake.connections();
    assert_eq!(conns.len(), 3);
    assert_eq!(conns[1].resumed_at_seq, Some(7));
    assert_eq!(
        conns[1].ended.as_ref().map(|e| &e.1),
        Some(&SessionEnd::ClientClosed)
    );
    assert!(!conns[2].accepted);
}

#[tokio::test]
async fn a_scripted_room_sends_its_frames_in_order_and_notes_when() {
    let room_id = 7_311_000_000_000_000_001;
    let common = |msg_id| messages::Common {
        method: messages::CHAT,
        msg_id,
        room_id,
        create_time_ms: 1_750_000_000_000,
    };
    let viewer = messages::User {
        id: 42,
        nickname: "小明".into(),
    };
    let frames = (1..=3u64)
        .map(|i| {
            vec![Scripted {
                method: messages::CHAT,
                msg_id: 900 + i,
                payload: messages::chat(&common(900 + i), &viewer, "你好".as_bytes()).into_bytes(),
            }]
        })
        .collect();
    let fake = FakeDouyin::start(Scenario::scripted(
        room_id,
        Duration::from_millis(30),
        frames,
    ))
    .await
    .unwrap();
    let page = get_page(&fake).await;
    assert_eq!(page.room_id, room_id.to_string());
    let mut ws = connect(&url(&fake, &page, "", "", ""), &page.ttwid)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            let received = std::time::Instant::now();
            let (frame, msgs) = decode_frame(&b).unwrap();
            let sent = fake.frame_sent_at(frame.uint(1)).unwrap();
            assert!(sent <= received, "sent after it was received");
            seen.push((frame.uint(1), msgs[0].2, msgs[0].0.clone()));
        }
    }
    assert_eq!(
        seen,
        (1..=3u64)
            .map(|i| (i, 900 + i, messages::CHAT.to_string()))
            .collect::<Vec<_>>()
    );
    let (t1, t3) = (
        fake.frame_sent_at(1).unwrap(),
        fake.frame_sent_at(3).unwrap(),
    );
    assert!(t3.duration_since(t1) >= Duration::from_millis(60));
    assert!(fake.truth().gift_count == 0 && fake.scenario().faults.is_empty());
}

#[tokio::test]
async fn a_sloppy_client_is_written_up() {
    let fake = FakeDouyin::start(Scenario::generate(quiet(22, 20)))
        .await
        .unwrap();
    let page = get_page(&fake).await;
    // Right signature, but no cookie issued by the page, a wrong ack and a text message.
    let mut ws = connect(&url(&fake, &page, "", "", ""), "forged")
        .await
        .unwrap();
    let first = loop {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            break b;
        }
    };
    let frame = Fields::parse(&first).unwrap();
    let mut wrong = ProtoWriter::new();
    wrong
        .uint(2, frame.uint(2))
        .string(7, "ack")
        .string(8, "nope");
    ws.send(Message::Binary(wrong.into_bytes().into()))
        .await
        .unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = fake.violations().join("\n");
    assert!(
        v.contains("ttwid cookie is not one the room page issued"),
        "{v}"
    );
    assert!(v.contains("is not the frame's internalExt"), "{v}");
    assert!(v.contains("text message"), "{v}");
}

#[tokio::test]
async fn the_server_drops_stalls_and_duplicates_on_schedule() {
    let fake = FakeDouyin::start(Scenario::generate(ScenarioOptions {
        drops: 1,
        stalls: 1,
        duplicate_frames: 1,
        stall_for: Duration::from_millis(300),
        bad_input: false,
        ..quiet(23, 60)
    }))
    .await
    .unwrap();
    let page = get_page(&fake).await;
    let fault_at = |kind: Fault| {
        *fake
            .scenario()
            .faults
            .iter()
            .find(|(_, f)| **f == kind)
            .unwrap()
            .0
    };
    let (drop_at, stall_at, dup_at) = (
        fault_at(Fault::Drop),
        fault_at(Fault::Stall),
        fault_at(Fault::DuplicateFrame),
    );
    // A client that acks everything and resumes from the last frame it got, until frame 60.
    let mut seqs: Vec<u64> = Vec::new();
    let mut gaps: Vec<(u64, Duration)> = Vec::new();
    let mut cursor = (String::new(), String::new());
    while seqs.last() != Some(&60) {
        let mut ws = connect(&url(&fake, &page, &cursor.0, &cursor.1, ""), &page.ttwid)
            .await
            .unwrap();
        let mut last_at = std::time::Instant::now();
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Binary(b) = msg else { continue };
            let frame = Fields::parse(&b).unwrap();
            gaps.push((frame.uint(1), last_at.elapsed()));
            last_at = std::time::Instant::now();
            seqs.push(frame.uint(1));
            let body = gunzip(frame.bytes(8), 1 << 20).unwrap();
            let response = Fields::parse(&body).unwrap();
            cursor = (response.string(2), response.string(5));
            // The stall's silence starts once the frame before it is acked.
            if ws.send(Message::Binary(ack(&frame).into())).await.is_err()
                || seqs.last() == Some(&60)
            {
                break;
            }
        }
    }
    let conns = fake.connections();
    assert_eq!(
        conns[0].ended.as_ref().map(|e| &e.1),
        Some(&SessionEnd::ServerDropped)
    );
    assert_eq!(conns.len(), 2);
    // The drop ended the first connection; the second resent the last frame, then went on.
    let resumed = seqs.iter().position(|s| *s == drop_at).unwrap() + 1;
    assert_eq!(
        seqs[resumed - 1..resumed + 2],
        [drop_at, drop_at, drop_at + 1]
    );
    assert_eq!(conns[1].resumed_at_seq, Some(drop_at));
    // The duplicate frame came twice in a row.
    let dup = seqs.iter().position(|s| *s == dup_at).unwrap();
    assert_eq!(seqs[dup + 1], dup_at);
    // The silence after the stall frame.
    let (_, gap) = gaps.iter().find(|(s, _)| *s == stall_at + 1).unwrap();
    assert!(*gap >= Duration::from_millis(280), "{gap:?}");
    let stalled = if stall_at < drop_at {
        &conns[0]
    } else {
        &conns[1]
    };
    assert!(stalled.stall_started.is_some());
    assert_eq!(fake.violations(), Vec::<String>::new());
}
