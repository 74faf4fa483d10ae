use std::time::{Duration, Instant};

use avatar_link::auth::{self, ClientProof};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::WebSocketStream;

use super::*;

const TOKEN: &str = "s3cret";

async fn start_with(limits: LinkLimits) -> (SocketAddr, LinkHub, mpsc::Receiver<LinkEvent>) {
    let hub = LinkHub::default();
    let (tx, rx) = mpsc::channel(64);
    let (addr, serve) = bind_with_limits(
        "127.0.0.1:0".parse().unwrap(),
        TOKEN.into(),
        hub.clone(),
        tx,
        limits,
    )
    .await
    .unwrap();
    tokio::spawn(serve);
    (addr, hub, rx)
}

async fn start() -> (SocketAddr, LinkHub, mpsc::Receiver<LinkEvent>) {
    start_with(LinkLimits::default()).await
}

fn hello(name: &str, audio_clock: bool) -> Message {
    let hello = Report::Hello {
        protocol: 1,
        client: name.into(),
        audio_clock,
    };
    Message::text(serde_json::to_string(&hello).unwrap())
}

/// The client's half of the challenge over `stream`; returns the socket after the proof, before
/// the hello. Panics if the server's proof is wrong (the real clients refuse such a server).
async fn challenge<S>(addr: SocketAddr, stream: S, token: &str) -> WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let nonce = auth::new_nonce();
    let mut request = format!("ws://{addr}/avatar").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(auth::NONCE_HEADER, nonce.parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let header = |name| response.headers()[name].to_str().unwrap().to_string();
    let server_nonce = header(auth::NONCE_HEADER);
    assert!(auth::verify(
        &auth::server_proof(TOKEN, &nonce, &server_nonce),
        &header(auth::PROOF_HEADER)
    ));
    let proof = ClientProof {
        proof: auth::client_proof(token, &nonce, &server_nonce),
    };
    ws.send(Message::text(serde_json::to_string(&proof).unwrap()))
        .await
        .unwrap();
    ws
}

/// A challenge client that said hello and read the server's.
async fn client(addr: SocketAddr, name: &str, audio_clock: bool) -> WebSocketStream<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut ws = challenge(addr, stream, TOKEN).await;
    ws.send(hello(name, audio_clock)).await.unwrap();
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("hello")));
    ws
}

async fn next_event(events: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a link event")
        .expect("link events open")
}

/// Reads until the peer closes; returns how long that took (fails after `limit`).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => panic!("still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {} // an error response, then the close
        }
    }
}

#[tokio::test]
async fn wrong_or_missing_token_is_refused() {
    let (addr, _hub, _rx) = start().await;
    let url = format!("ws://{addr}/avatar");
    assert!(tokio_tungstenite::connect_async(&url).await.is_err());
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
}

#[tokio::test]
async fn a_bearer_client_still_gets_commands_and_audio_and_its_reports_come_back() {
    let (addr, hub, mut events) = start().await;
    let mut req = format!("ws://{addr}/avatar").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(hello("test", true)).await.unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Connected {
            audio_clock: true,
            ..
        }
    ));
    assert!(hub.has_audio_clock());

    assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("hello")));
    hub.send_command(&Command::Stop { utterance: 3 });
    hub.send_audio(&AudioChunk {
        utterance: 3,
        last: true,
        samples: vec![1, 2],
    });
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("stop")));
    let Some(Ok(Message::Binary(b))) = ws.next().await else {
        panic!()
    };
    assert_eq!(AudioChunk::decode(&b).unwrap().samples, vec![1, 2]);

    let done = Report::Finished {
        utterance: 3,
        played_ms: 1,
        interrupted: false,
    };
    ws.send(Message::text(serde_json::to_string(&done).unwrap()))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events).await,
        LinkEvent::Report {
            client: 1,
            report: done
        }
    );
    drop(ws);
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Disconnected { .. }
    ));
    assert!(!hub.has_audio_clock());
}

#[tokio::test]
async fn the_challenge_admits_a_client_with_the_token_and_closes_one_without() {
    let (addr, hub, mut events) = start().await;
    let mut ws = client(addr, "plugin", true).await;
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Connected { audio_clock: true, name, .. } if name == "plugin"
    ));
    hub.send_command(&Command::Stop { utterance: 1 });
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.contains("stop")));

    // A client proof made with another token: closed with a policy close, never registered.
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut impostor = challenge(addr, stream, "guess").await;
    impostor.send(hello("impostor", true)).await.ok();
    let close = tokio::time::timeout(Duration::from_secs(5), impostor.next())
        .await
        .unwrap();
    assert!(
        matches!(&close, Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode::Policy),
        "{close:?}"
    );
    assert_eq!(hub.client_count(), 1);
    drop(ws);
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Disconnected { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_stops_reading_is_dropped_and_the_audio_clock_gets_every_chunk() {
    let limits = LinkLimits {
        follower_queue_bytes: 256 << 10,
        ..LinkLimits::default()
    };
    let (addr, hub, mut events) = start_with(limits).await;
    let mut clock = client(addr, "obs-plugin", true).await;
    let clock_id = match next_event(&mut events).await {
        LinkEvent::Connected { client, .. } => client,
        other => panic!("{other:?}"),
    };
    // The follower: a small receive buffer, a hello, and then it never reads again.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut follower = challenge(addr, stream, TOKEN).await;
    follower.send(hello("live2d-bridge", false)).await.unwrap();
    let follower_id = match next_event(&mut events).await {
        LinkEvent::Connected {
            client,
            audio_clock: false,
            ..
        } => client,
        other => panic!("{other:?}"),
    };

    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(Ok(message)) = clock.next().await {
            if let Message::Binary(bytes) = message {
                let chunk = AudioChunk::decode(&bytes).unwrap();
                got.push(chunk.utterance);
                if chunk.last {
                    break;
                }
            }
        }
        (got, clock)
    });
    // 100 ms chunks, as the show sends them, until the follower is dropped, then as many more.
    let samples = vec![1000i16; avatar_link::SAMPLE_RATE as usize / 10];
    let mut sent = 0u64;
    let mut after_drop = None;
    loop {
        let last = after_drop.is_some_and(|n| sent >= n);
        hub.send_audio(&AudioChunk {
            utterance: sent,
            last,
            samples: samples.clone(),
        });
        sent += 1;
        if last {
            break;
        }
        if after_drop.is_none() && hub.dropped_followers() == 1 {
            after_drop = Some(sent * 2);
        }
        assert!(sent < 20_000, "the follower was never dropped");
        if sent.is_multiple_of(16) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(
        next_event(&mut events).await,
        LinkEvent::Disconnected {
            client: follower_id,
            audio_clock: false
        }
    );
    let (got, _clock) = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        (0..sent).collect::<Vec<_>>(),
        "the audio clock missed chunks"
    );
    assert!(hub.has_audio_clock());
    assert_eq!(
        hub.client_count(),
        1,
        "only the audio clock ({clock_id}) is left"
    );
    drop(follower);
}

#[tokio::test]
async fn a_connection_that_never_upgrades_is_closed_within_the_handshake_timeout() {
    let limits = LinkLimits {
        handshake_timeout: Duration::from_millis(300),
        ..LinkLimits::default()
    };
    let (addr, _hub, _events) = start_with(limits).await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    // Half a request line, then nothing.
    raw.write_all(b"GET /avatar HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut raw, Duration::from_secs(3)).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    // The default is a few seconds.
    assert!(LinkLimits::default().handshake_timeout <= Duration::from_secs(5));
}

#[tokio::test]
async fn an_oversized_message_ends_the_connection() {
    let (addr, hub, mut events) = start().await;
    let mut ws = client(addr, "plugin", true).await;
    next_event(&mut events).await;
    let huge = format!(
        "{{\"type\":\"started\",\"utterance\":1,\"x\":\"{}\"}}",
        "a".repeat(100 << 10)
    );
    let _ = ws.send(Message::text(huge)).await;
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Disconnected { .. }
    ));
    assert_eq!(hub.client_count(), 0);
    let limits = LinkLimits::default();
    assert_eq!(limits.max_message_bytes, 64 << 10);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_until_a_slot_frees() {
    let limits = LinkLimits {
        max_connections: 2,
        ..LinkLimits::default()
    };
    let (addr, _hub, mut events) = start_with(limits).await;
    let first = client(addr, "a", false).await;
    next_event(&mut events).await;
    // An unauthenticated connection takes a slot too (until its handshake times out).
    let _idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let took = closed_within(&mut third, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(1), "refused after {took:?}");

    drop(first);
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Disconnected { .. }
    ));
    let _again = client(addr, "b", false).await;
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Connected { name, .. } if name == "b"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_clock_that_stops_reading_is_kept_and_its_queue_stays_bounded() {
    let limits = LinkLimits {
        audio_clock_queue_bytes: 128 << 10,
        ..LinkLimits::default()
    };
    let (addr, hub, mut events) = start_with(limits).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut clock = challenge(addr, stream, TOKEN).await;
    clock.send(hello("obs-plugin", true)).await.unwrap();
    next_event(&mut events).await;
    // Far more than the socket buffers and the queue hold, while it reads nothing.
    let samples = vec![7i16; avatar_link::SAMPLE_RATE as usize / 10];
    for utterance in 0..2_000u64 {
        hub.send_audio(&AudioChunk {
            utterance,
            last: false,
            samples: samples.clone(),
        });
        if utterance.is_multiple_of(16) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let queued: usize = {
        let clients = hub.clients.lock().unwrap();
        clients
            .values()
            .map(|c| c.queued.load(Ordering::Relaxed))
            .sum()
    };
    assert!(queued <= 128 << 10, "{queued} bytes queued");
    assert!(hub.has_audio_clock(), "the audio clock was dropped");
    assert_eq!(hub.dropped_followers(), 0);
    assert!(events.try_recv().is_err(), "no disconnect");
    // It is still connected: once it reads again, the backlog drains and new messages arrive.
    let mut drained = 0usize;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(500), clock.next()).await
    {
        drained += 1;
    }
    assert!(drained > 0 && drained < 2_000, "{drained} messages drained");
    hub.send_command(&Command::Stop { utterance: 1 });
    let next = tokio::time::timeout(Duration::from_secs(5), clock.next()).await;
    assert!(
        matches!(&next, Ok(Some(Ok(Message::Text(t)))) if t.contains("stop")),
        "{next:?}"
    );
}
