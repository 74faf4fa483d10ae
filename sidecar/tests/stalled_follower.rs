//! The sidecar binary on a short replay with a follower on the link that stops reading.
//!
//! Both link clients here authenticate with the token challenge (the client side written out in
//! the test over the shared `avatar_link::auth` helpers), so this is also the check that the real
//! sidecar admits a challenge client. The follower says hello and then never reads a byte: the
//! show must go on as if it were not there, every gift thanked through the audio clock, and the
//! run must end on time.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use avatar_link::auth::{self, ClientProof};
use avatar_link::{AudioChunk, Report};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const TOKEN: &str = "stalled-follower-token";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(value: &impl serde::Serialize) -> Message {
    Message::text(serde_json::to_string(value).unwrap())
}

/// Connects (retrying while the sidecar starts), checks the server's proof, sends ours and the
/// hello. `small_buffer` shrinks the receive buffer so a client that stops reading backs up fast.
async fn join(
    addr: SocketAddr,
    name: &str,
    audio_clock: bool,
    small_buffer: bool,
) -> WebSocketStream<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        if small_buffer {
            socket.set_recv_buffer_size(4096).unwrap();
        }
        let stream = match socket.connect(addr).await {
            Ok(stream) => stream,
            Err(e) => {
                assert!(Instant::now() < deadline, "link never came up: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let nonce = auth::new_nonce();
        let mut request = format!("ws://{addr}/avatar").into_client_request().unwrap();
        request
            .headers_mut()
            .insert(auth::NONCE_HEADER, nonce.parse().unwrap());
        let (mut ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("upgrade");
        let header = |name| response.headers()[name].to_str().unwrap().to_string();
        let server_nonce = header(auth::NONCE_HEADER);
        let expected = auth::server_proof(TOKEN, &nonce, &server_nonce);
        assert!(
            auth::verify(&expected, &header(auth::PROOF_HEADER)),
            "the sidecar's proof is wrong"
        );
        let proof = ClientProof {
            proof: auth::client_proof(TOKEN, &nonce, &server_nonce),
        };
        ws.send(text(&proof)).await.unwrap();
        let hello = Report::Hello {
            protocol: avatar_link::PROTOCOL_VERSION,
            client: name.into(),
            audio_clock,
        };
        ws.send(text(&hello)).await.unwrap();
        return ws;
    }
}

/// The audio clock: finishes each utterance as soon as its last chunk arrived. Returns the text
/// of every `say`, until the sidecar closes the link.
async fn instant_avatar(mut ws: WebSocketStream<TcpStream>) -> Vec<String> {
    let mut said = Vec::new();
    let mut samples = std::collections::HashMap::<u64, usize>::new();
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "say" {
                    said.push(v["text"].as_str().unwrap().to_string());
                }
                if v["type"] == "stop" {
                    let utterance = v["utterance"].as_u64().unwrap();
                    let done = Report::Finished {
                        utterance,
                        played_ms: 100,
                        interrupted: true,
                    };
                    let _ = ws.send(text(&done)).await;
                }
            }
            Message::Binary(b) => {
                let Ok(chunk) = AudioChunk::decode(&b) else {
                    continue; // a sound effect's frame: not part of any line
                };
                *samples.entry(chunk.utterance).or_default() += chunk.samples.len();
                if chunk.last {
                    let played_ms = avatar_link::samples_to_ms(samples[&chunk.utterance]);
                    let utterance = chunk.utterance;
                    let _ = ws.send(text(&Report::Started { utterance })).await;
                    let done = Report::Finished {
                        utterance,
                        played_ms,
                        interrupted: false,
                    };
                    let _ = ws.send(text(&done)).await;
                }
            }
            _ => {}
        }
    }
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_stops_reading_does_not_hold_up_the_show() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let link: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sidecar"))
        .current_dir(workspace())
        .args([
            "run",
            "--replay",
            "tests/data/short-room.jsonl",
            "--speed",
            "4",
        ])
        .args(["--exit-when-done", "--ledger", ledger.to_str().unwrap()])
        .args(["--obs-port", &free_port().to_string()])
        .args(["--link-bind", &link.to_string()])
        .env("AIVS_LINK_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The follower joins first and never reads after its hello.
    let follower = join(link, "stalled-bridge", false, true).await;
    let clock = join(link, "instant-avatar", true, false).await;
    let said = tokio::time::timeout(Duration::from_secs(90), instant_avatar(clock))
        .await
        .expect("the show did not end");
    let (status, child) = tokio::task::spawn_blocking(move || loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, child);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sidecar did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    })
    .await
    .unwrap();
    drop(follower);
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(status.success(), "sidecar failed:\n{log}");
    assert!(!log.contains(TOKEN), "the link token leaked into the log");
    assert!(
        log.contains("stalled-bridge"),
        "the follower never connected:\n{log}"
    );

    // Every gift of the replay was thanked on air, through the audio clock.
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let mut stmt = conn
        .prepare("SELECT msg_id, aired_text FROM gifts")
        .unwrap();
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    for (id, aired) in &rows {
        let aired = aired
            .as_deref()
            .unwrap_or_else(|| panic!("gift {id} never thanked:\n{log}"));
        assert!(
            said.iter().any(|s| s == aired),
            "{aired:?} not heard in {said:#?}"
        );
    }
}
