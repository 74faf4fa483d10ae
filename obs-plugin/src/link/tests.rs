// tungstenite's server handshake callback must return `Result<Response, ErrorResponse>`; the
// large error type is theirs, not ours.
#![allow(clippy::result_large_err)]

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use avatar_link::auth;
use avatar_link::{AudioChunk, Command, Report, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::avatar::{Expression, Motion};

type ServerSocket = WebSocketStream<TcpStream>;

/// Everything a server saw of one connection attempt: the request line and headers, then every
/// frame the client sent until it closed (or a second of silence).
#[derive(Debug, Default)]
struct Seen {
    request: Vec<String>,
    frames: Vec<Message>,
}

impl Seen {
    fn contains(&self, needle: &str) -> bool {
        self.request.iter().any(|line| line.contains(needle))
            || self.frames.iter().any(|frame| match frame {
                Message::Text(t) => t.contains(needle),
                Message::Binary(b) => b.windows(needle.len()).any(|w| w == needle.as_bytes()),
                _ => false,
            })
    }
}

fn describe(request: &Request) -> Vec<String> {
    let mut lines = vec![request.uri().to_string()];
    lines.extend(
        request
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes()))),
    );
    lines
}

/// Accepts one client the way the sidecar does, proving `token` with the challenge, and returns
/// it once its proof was checked against `token` (`false`: it proved another token).
async fn accept(listener: &TcpListener, token: &str) -> (ServerSocket, bool) {
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut nonces = None;
    let mut socket =
        tokio_tungstenite::accept_hdr_async(stream, |request: &Request, mut response: Response| {
            let client_nonce = request.headers()[auth::NONCE_HEADER]
                .to_str()
                .unwrap()
                .to_string();
            assert!(request.headers().get("authorization").is_none());
            let server_nonce = auth::new_nonce();
            let proof = auth::server_proof(token, &client_nonce, &server_nonce);
            let headers = response.headers_mut();
            headers.insert(auth::NONCE_HEADER, server_nonce.parse().unwrap());
            headers.insert(auth::PROOF_HEADER, proof.parse().unwrap());
            nonces = Some((client_nonce, server_nonce));
            Ok(response)
        })
        .await
        .unwrap();
    let (client_nonce, server_nonce) = nonces.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("expected the client's proof, got {first:?}")
    };
    let proof: auth::ClientProof = serde_json::from_str(&text).unwrap();
    let expected = auth::client_proof(token, &client_nonce, &server_nonce);
    (socket, auth::verify(&expected, &proof.proof))
}

/// A server on the link port that does not know the token: it upgrades every connection (with
/// `proof`'s idea of a proof header, if any) and records what it is sent.
async fn accept_as_stranger(listener: &TcpListener, proof: Option<&str>) -> Seen {
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut seen = Seen::default();
    let mut socket =
        tokio_tungstenite::accept_hdr_async(stream, |request: &Request, mut response: Response| {
            seen.request = describe(request);
            if let Some(proof) = proof {
                let headers = response.headers_mut();
                headers.insert(auth::NONCE_HEADER, auth::new_nonce().parse().unwrap());
                headers.insert(auth::PROOF_HEADER, proof.parse().unwrap());
            }
            Ok(response)
        })
        .await
        .unwrap();
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_secs(1), socket.next()).await
    {
        seen.frames.push(frame);
    }
    seen
}

async fn next_report(socket: &mut ServerSocket) -> Report {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn send(socket: &mut ServerSocket, command: &Command) {
    socket
        .send(Message::text(serde_json::to_string(command).unwrap()))
        .await
        .unwrap();
}

async fn next_input(inputs: &Receiver<ClockInput>) -> ClockInput {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(input) = inputs.try_recv() {
            return input;
        }
        assert!(Instant::now() < deadline, "no clock input arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_status(client: &LinkClient, status: LinkStatus) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.status() != status {
        assert!(
            Instant::now() < deadline,
            "status stayed {:?}",
            client.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_client(
    url: String,
    token: &str,
) -> (
    LinkClient,
    Receiver<ClockInput>,
    mpsc::UnboundedSender<Report>,
) {
    let (inputs_tx, inputs_rx) = channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let client = LinkClient::spawn(
        LinkSettings {
            url,
            token: token.into(),
        },
        inputs_tx,
        reports_rx,
    )
    .unwrap();
    (client, inputs_rx, reports_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_commands_audio_and_reports_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
    let (mut client, inputs, reports) = spawn_client(url.clone(), "s3cret");

    let (mut socket, proven) = accept(&listener, "s3cret").await;
    assert!(proven, "the client proved another token");
    assert_eq!(
        next_report(&mut socket).await,
        Report::Hello {
            protocol: PROTOCOL_VERSION,
            client: "obs-plugin".into(),
            audio_clock: true
        }
    );
    wait_for_status(&client, LinkStatus::Connected).await;

    let chunk = AudioChunk {
        utterance: 1,
        last: true,
        samples: vec![1, -2, 3],
    };
    send(
        &mut socket,
        &Command::Hello {
            protocol: PROTOCOL_VERSION,
            sidecar_version: "test".into(),
        },
    )
    .await;
    send(
        &mut socket,
        &Command::Say {
            utterance: 1,
            priority: 0,
            text: "hi".into(),
            expression: Some("happy".into()),
        },
    )
    .await;
    // Malformed frames are counted and skipped; the connection stays up.
    socket.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    socket.send(Message::text("{not json")).await.unwrap();
    socket.send(Message::binary(chunk.encode())).await.unwrap();
    send(
        &mut socket,
        &Command::Expression {
            name: "bored".into(),
            duration_ms: 10,
        },
    )
    .await;
    send(&mut socket, &Command::Motion { name: "nod".into() }).await;
    send(&mut socket, &Command::Stop { utterance: 1 }).await;

    assert_eq!(
        next_input(&inputs).await,
        ClockInput::Say {
            utterance: 1,
            expression: Some(Expression::Happy)
        }
    );
    assert_eq!(next_input(&inputs).await, ClockInput::Audio(chunk));
    assert_eq!(next_input(&inputs).await, ClockInput::Motion(Motion::Nod));
    assert_eq!(next_input(&inputs).await, ClockInput::Stop { utterance: 1 });

    reports.send(Report::Started { utterance: 1 }).unwrap();
    assert_eq!(
        next_report(&mut socket).await,
        Report::Started { utterance: 1 }
    );

    // The sidecar goes away: the clock is told, and the client comes back by itself.
    drop(socket);
    assert_eq!(next_input(&inputs).await, ClockInput::LinkLost);
    let (mut socket, _) = accept(&listener, "s3cret").await;
    assert!(matches!(
        next_report(&mut socket).await,
        Report::Hello { .. }
    ));

    // New settings: reconnect with the new token.
    client.update(LinkSettings {
        url: url.clone(),
        token: "n3w".into(),
    });
    let (_socket, proven) = accept(&listener, "n3w").await;
    assert!(proven, "the client did not switch to the new token");

    let stopping = Instant::now();
    client.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        stopping.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_reported_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
    let (client, _inputs, _reports) = spawn_client(url, "wrong");
    let (stream, _) = listener.accept().await.unwrap();
    let rejected = tokio_tungstenite::accept_hdr_async(stream, |_: &Request, _: Response| {
        let mut response = ErrorResponse::new(Some("bad token".into()));
        *response.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
        Err(response)
    })
    .await;
    assert!(rejected.is_err());
    wait_for_status(&client, LinkStatus::Unauthorized).await;
    // It keeps trying (the user may fix the sidecar's token instead of the plugin's).
    let next = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
    assert!(next.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_know_the_token_never_receives_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
    let (client, inputs, reports) = spawn_client(url, "s3cret");
    // A clock report waiting to go out: it must not go to a stranger either.
    reports.send(Report::Started { utterance: 9 }).unwrap();

    // A plain WebSocket server, then one that fakes a proof (with another token).
    let plain = accept_as_stranger(&listener, None).await;
    wait_for_status(&client, LinkStatus::Unauthorized).await;
    let fake = auth::server_proof("guess", &auth::new_nonce(), &auth::new_nonce());
    let faking = accept_as_stranger(&listener, Some(&fake)).await;
    for seen in [&plain, &faking] {
        assert!(
            seen.request
                .iter()
                .any(|h| h.starts_with(auth::NONCE_HEADER)),
            "{seen:?}"
        );
        assert!(!seen.contains("s3cret"), "the token leaked: {seen:?}");
        assert!(
            seen.frames.iter().all(|f| matches!(f, Message::Close(_))),
            "a stranger was sent {:?}",
            seen.frames
        );
    }
    wait_for_status(&client, LinkStatus::Unauthorized).await;
    assert!(
        inputs.try_recv().is_err(),
        "nothing from a stranger reaches the clock"
    );

    // The real thing still pairs.
    let (mut socket, proven) = accept(&listener, "s3cret").await;
    assert!(proven);
    assert!(matches!(
        next_report(&mut socket).await,
        Report::Hello { .. }
    ));
    wait_for_status(&client, LinkStatus::Connected).await;
}

#[test]
fn no_sidecar_means_disconnected_and_stop_does_not_hang() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut client, _inputs, _reports) = spawn_client(format!("ws://127.0.0.1:{port}/avatar"), "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.status() != LinkStatus::Disconnected {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let stopping = Instant::now();
    client.stop();
    assert!(stopping.elapsed() < Duration::from_millis(500));
}

#[test]
fn commands_map_onto_clock_input() {
    assert_eq!(
        command_to_input(Command::Hello {
            protocol: 99,
            sidecar_version: "x".into()
        }),
        None
    );
    assert_eq!(
        command_to_input(Command::Say {
            utterance: 4,
            priority: 1,
            text: String::new(),
            expression: Some("??".into())
        }),
        Some(ClockInput::Say {
            utterance: 4,
            expression: None
        })
    );
    assert_eq!(
        command_to_input(Command::Expression {
            name: "sad".into(),
            duration_ms: 1500
        }),
        Some(ClockInput::Expression {
            expression: Expression::Sad,
            duration_ms: 1500
        })
    );
    assert_eq!(
        command_to_input(Command::Motion {
            name: "wave".into()
        }),
        Some(ClockInput::Motion(Motion::Wave))
    );
    assert_eq!(
        command_to_input(Command::Motion {
            name: "moonwalk".into()
        }),
        None
    );
}

#[test]
fn settings_never_print_the_token() {
    let settings = LinkSettings {
        url: "ws://x".into(),
        token: "hunter2".into(),
    };
    assert!(!format!("{settings:?}").contains("hunter2"));
}

/// A sink whose every block panics: the clock restarts a few times, then gives up for good.
struct BrokenSink;

impl crate::clock::FrameSink for BrokenSink {
    fn audio(&mut self, _block: &[f32], _timestamp_ns: u64) {
        panic!("injected: the audio output failed");
    }
    fn video(&mut self, _rgba: &[u8], _width: u32, _height: u32, _timestamp_ns: u64) {}
}

fn fake_now() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_audio_clock_dies_the_link_is_left_and_not_taken_again() {
    use crate::clock::{ClockParams, ClockThread};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/avatar", listener.local_addr().unwrap());
    let (inputs_tx, inputs_rx) = channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    // Not started yet: the link connects while the clock is alive.
    let client = LinkClient::spawn(
        LinkSettings {
            url,
            token: "s3cret".into(),
        },
        inputs_tx,
        reports_rx,
    )
    .unwrap();
    let (mut socket, proven) = accept(&listener, "s3cret").await;
    assert!(proven);
    assert!(matches!(
        next_report(&mut socket).await,
        Report::Hello {
            audio_clock: true,
            ..
        }
    ));
    let _clock = ClockThread::spawn(ClockParams {
        sink: BrokenSink,
        config: crate::avatar::RenderConfig {
            width: 64,
            height: 64,
            show_label: false,
        },
        inputs: inputs_rx,
        reports: Box::new(move |report| {
            let _ = reports_tx.send(report);
        }),
        visible: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        now_ns: fake_now,
    })
    .unwrap();
    // The clock panics, restarts three times 100 ms apart, and stops: the link goes.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the link stayed up after the clock died");
    // And it does not come back claiming to be the audio clock.
    let again = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await;
    assert!(again.is_err(), "the plugin reconnected without a clock");
    drop(client);
}
