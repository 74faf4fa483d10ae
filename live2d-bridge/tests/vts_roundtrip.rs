//! End-to-end on loopback with the real wire formats: a test link server speaking the avatar-link
//! protocol on one side, a stand-in for the VTube Studio desktop app speaking its public API JSON
//! on the other, and the bridge's library entry point in between.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatar_link::auth;
use avatar_link::{AudioChunk, Command, Report, PROTOCOL_VERSION, SAMPLE_RATE};
use futures_util::{SinkExt, StreamExt};
use live2d_bridge::{Config, LinkConfig, Mapping, VtsConfig};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

const LINK_TOKEN: &str = "test-link-token";
const STALE_VTS_TOKEN: &str = "token-the-user-revoked-long-ago";

// ---------------------------------------------------------------------------------------------
// A local stand-in for the VTube Studio desktop app's public API.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Injection {
    at: Instant,
    values: HashMap<String, f64>,
    face_found: bool,
    mode: Option<String>,
}

#[derive(Debug, Default)]
struct Recorded {
    injections: Vec<Injection>,
    /// (expression file, active)
    expressions: Vec<(String, bool)>,
    hotkeys: Vec<String>,
    /// (pluginName, pluginDeveloper) of every AuthenticationTokenRequest (each is a user popup).
    token_requests: Vec<(String, String)>,
    /// (token presented, accepted)
    auth_attempts: Vec<(String, bool)>,
    /// Requests refused with errorID 8 because the session was not authenticated.
    unauthenticated_refusals: usize,
}

/// Speaks the VTube Studio public API (JSON over WebSocket) well enough for a plugin: issues
/// tokens as if the user clicked "Allow", authenticates sessions, and records what the plugin
/// asks the model to do.
struct FakeVtubeStudio {
    addr: SocketAddr,
    recorded: Arc<Mutex<Recorded>>,
    /// Number of sessions authenticated so far.
    sessions: watch::Receiver<usize>,
    _server: tokio::task::JoinHandle<()>,
}

/// The model loaded in the fake app.
const MODEL_EXPRESSIONS: [&str; 4] = [
    "Happy.exp3.json",
    "Surprised.exp3.json",
    "Sad.exp3.json",
    "Angry.exp3.json",
];
const MODEL_HOTKEYS: [&str; 4] = ["Nod", "Bounce", "Shake", "Wave"];

#[derive(Default)]
struct AppState {
    issued_tokens: HashSet<String>,
}

impl FakeVtubeStudio {
    /// Serves on `listener` (see [`ClosedPort`] for starting "late" on a known port).
    fn start(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let app = Arc::new(Mutex::new(AppState::default()));
        let (sessions_tx, sessions) = watch::channel(0);
        let sessions_tx = Arc::new(sessions_tx);
        let rec = recorded.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_vts_session(
                    stream,
                    rec.clone(),
                    app.clone(),
                    sessions_tx.clone(),
                ));
            }
        });
        Self {
            addr,
            recorded,
            sessions,
            _server: server,
        }
    }

    async fn wait_for_sessions(&mut self, n: usize, within: Duration) {
        tokio::time::timeout(within, self.sessions.wait_for(|&s| s >= n))
            .await
            .unwrap_or_else(|_| panic!("no authenticated VTS session #{n} within {within:?}"))
            .expect("fake VTS alive");
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap()
    }
}

async fn serve_vts_session(
    stream: TcpStream,
    recorded: Arc<Mutex<Recorded>>,
    app: Arc<Mutex<AppState>>,
    sessions: Arc<watch::Sender<usize>>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let mut authenticated = false;
    while let Some(Ok(message)) = ws.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = answer(&text, &mut authenticated, &recorded, &app, &sessions);
        if ws.send(Message::text(reply.to_string())).await.is_err() {
            break;
        }
    }
}

/// One request → one response, as the VTS API documents them.
fn answer(
    text: &str,
    authenticated: &mut bool,
    recorded: &Mutex<Recorded>,
    app: &Mutex<AppState>,
    sessions: &watch::Sender<usize>,
) -> Value {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return envelope(
            None,
            "APIError",
            json!({"errorID": 2, "message": "JSON invalid"}),
        );
    };
    let id = request
        .get("requestID")
        .and_then(Value::as_str)
        .map(str::to_string);
    let error = |error_id: i32, message: &str| {
        envelope(
            id.clone(),
            "APIError",
            json!({"errorID": error_id, "message": message}),
        )
    };
    if request["apiName"] != "VTubeStudioPublicAPI" {
        return error(3, "apiName invalid");
    }
    if request["apiVersion"] != "1.0" {
        return error(4, "apiVersion invalid");
    }
    let data = &request["data"];
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message_type = request["messageType"].as_str().unwrap_or_default();
    match message_type {
        "APIStateRequest" => {
            return envelope(
                id,
                "APIStateResponse",
                json!({"active": true, "vTubeStudioVersion": "1.28.0", "currentSessionAuthenticated": *authenticated}),
            )
        }
        "AuthenticationTokenRequest" => {
            let (name, developer) = (field("pluginName"), field("pluginDeveloper"));
            if !(3..=32).contains(&name.len()) {
                return error(52, "plugin name must be 3-32 characters");
            }
            if !(3..=32).contains(&developer.len()) {
                return error(53, "developer name must be 3-32 characters");
            }
            // The user clicks "Allow" at once.
            let mut rec = recorded.lock().unwrap();
            rec.token_requests.push((name, developer));
            let token = format!("fake-vts-token-{}", rec.token_requests.len());
            app.lock().unwrap().issued_tokens.insert(token.clone());
            return envelope(
                id,
                "AuthenticationTokenResponse",
                json!({"authenticationToken": token}),
            );
        }
        "AuthenticationRequest" => {
            let token = field("authenticationToken");
            if token.is_empty() {
                return error(100, "authentication token missing");
            }
            let valid = app.lock().unwrap().issued_tokens.contains(&token);
            recorded.lock().unwrap().auth_attempts.push((token, valid));
            if valid {
                *authenticated = true;
                sessions.send_modify(|n| *n += 1);
            }
            let reason = if valid {
                "Token valid. The plugin is authenticated for the duration of this session."
            } else {
                "Token invalid. The plugin is not authenticated."
            };
            return envelope(
                id,
                "AuthenticationResponse",
                json!({"authenticated": valid, "reason": reason}),
            );
        }
        _ => {}
    }
    if !*authenticated {
        recorded.lock().unwrap().unauthenticated_refusals += 1;
        return error(8, "This request requires authentication.");
    }
    let mut rec = recorded.lock().unwrap();
    match message_type {
        "InjectParameterDataRequest" => {
            let values = data["parameterValues"]
                .as_array()
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|p| Some((p["id"].as_str()?.to_string(), p["value"].as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            rec.injections.push(Injection {
                at: Instant::now(),
                values,
                face_found: data["faceFound"].as_bool().unwrap_or(false),
                mode: data["mode"].as_str().map(str::to_string),
            });
            envelope(id, "InjectParameterDataResponse", json!({}))
        }
        "ExpressionActivationRequest" => {
            let file = field("expressionFile");
            rec.expressions
                .push((file.clone(), data["active"].as_bool().unwrap_or(false)));
            if !file.ends_with(".exp3.json") {
                error(650, "expression file name invalid")
            } else if !MODEL_EXPRESSIONS.contains(&file.as_str()) {
                error(651, "expression file not found in model")
            } else {
                envelope(id, "ExpressionActivationResponse", json!({}))
            }
        }
        "HotkeyTriggerRequest" => {
            let hotkey = field("hotkeyID");
            rec.hotkeys.push(hotkey.clone());
            // Hotkeys may be named instead of given by ID, case-insensitively.
            match MODEL_HOTKEYS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(&hotkey))
            {
                Some(found) => envelope(
                    id,
                    "HotkeyTriggerResponse",
                    json!({"hotkeyID": format!("id-{}", found.to_lowercase())}),
                ),
                None => error(202, "hotkey not found in model"),
            }
        }
        _ => error(7, "request type unknown"),
    }
}

fn envelope(request_id: Option<String>, message_type: &str, data: Value) -> Value {
    json!({
        "apiName": "VTubeStudioPublicAPI",
        "apiVersion": "1.0",
        "timestamp": 1_700_000_000_000_u64,
        "requestID": request_id.unwrap_or_else(|| "generated-id".into()),
        "messageType": message_type,
        "data": data,
    })
}

// ---------------------------------------------------------------------------------------------
// A tiny avatar-link server playing the sidecar's part.
// ---------------------------------------------------------------------------------------------

/// When the scripted scene sent its parts.
struct SceneTimes {
    /// Just before the first audio chunk was sent...
    audio_first: Instant,
    /// ...and once the last one was flushed: the tone starts playing in between.
    audio_last: Instant,
    reactions_sent: Instant,
}

/// Accepts one client the way the sidecar does (token challenge, then hello first), then plays a scene:
/// a line of 1.5 s of loud 200 Hz tone, then after a pause a happy expression and a nod.
async fn start_link_server(
    go: oneshot::Receiver<()>,
    times: oneshot::Sender<SceneTimes>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut nonces = None;
        // tungstenite's callback type (see `check_like_the_sidecar`).
        #[allow(clippy::result_large_err)]
        let check =
            |request: &Request, response| check_like_the_sidecar(request, response, &mut nonces);
        let mut ws = tokio_tungstenite::accept_hdr_async(stream, check)
            .await
            .expect("bridge handshake");
        let (client_nonce, server_nonce) = nonces.expect("the bridge sent a nonce");
        let Some(Ok(Message::Text(proof))) = ws.next().await else {
            panic!("no proof from the bridge")
        };
        let proof: auth::ClientProof = serde_json::from_str(&proof).unwrap();
        let expected = auth::client_proof(LINK_TOKEN, &client_nonce, &server_nonce);
        assert!(
            auth::verify(&expected, &proof.proof),
            "the bridge proved another token"
        );
        let Some(Ok(Message::Text(hello))) = ws.next().await else {
            panic!("no hello from the bridge")
        };
        let hello: Report = serde_json::from_str(&hello).unwrap();
        assert_eq!(
            hello,
            Report::Hello {
                protocol: PROTOCOL_VERSION,
                client: "live2d-bridge".into(),
                audio_clock: false
            }
        );
        let send = |command: Command| Message::text(serde_json::to_string(&command).unwrap());
        ws.send(send(Command::Hello {
            protocol: PROTOCOL_VERSION,
            sidecar_version: "test".into(),
        }))
        .await
        .unwrap();
        go.await.unwrap();

        ws.send(send(Command::Say {
            utterance: 1,
            priority: 0,
            text: "Hello!".into(),
            expression: None,
        }))
        .await
        .unwrap();
        // Speech synthesis runs ahead of real time, so the sidecar sends a line's audio in a
        // burst; queue all chunks and flush them together, as its writer task does. (Encoded
        // beforehand: in a debug build that takes longer than the sending.)
        let tone = tone_200hz(1.5, 0.5);
        let chunks: Vec<&[i16]> = tone.chunks(SAMPLE_RATE as usize / 10).collect();
        let frames: Vec<Message> = chunks
            .iter()
            .enumerate()
            .map(|(i, samples)| {
                let chunk = AudioChunk {
                    utterance: 1,
                    last: i + 1 == chunks.len(),
                    samples: samples.to_vec(),
                };
                Message::binary(chunk.encode())
            })
            .collect();
        let audio_first = Instant::now();
        for frame in frames {
            ws.feed(frame).await.unwrap();
        }
        ws.flush().await.unwrap();
        let audio_last = Instant::now();

        tokio::time::sleep_until(audio_first + Duration::from_secs(2)).await;
        ws.send(send(Command::Expression {
            name: "happy".into(),
            duration_ms: 1_500,
        }))
        .await
        .unwrap();
        ws.send(send(Command::Motion { name: "nod".into() }))
            .await
            .unwrap();
        let reactions_sent = Instant::now();
        let _ = times.send(SceneTimes {
            audio_first,
            audio_last,
            reactions_sent,
        });
        // Stay connected (reading, so pings are answered) until the bridge goes away.
        while let Some(Ok(_)) = ws.next().await {}
    });
    addr
}

/// The sidecar's admission rule: the avatar path, and its half of the token challenge. Returns
/// the client's and the server's nonce, against which the client's proof is checked.
// The signature is tungstenite's handshake callback; its error type is not ours to shrink.
#[allow(clippy::result_large_err)]
fn check_like_the_sidecar(
    request: &Request,
    mut response: Response,
    nonces: &mut Option<(String, String)>,
) -> Result<Response, ErrorResponse> {
    let client_nonce = request
        .headers()
        .get(auth::NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|n| auth::is_valid_nonce(n));
    match client_nonce {
        Some(client_nonce) if request.uri().path() == "/avatar" => {
            let server_nonce = auth::new_nonce();
            let proof = auth::server_proof(LINK_TOKEN, client_nonce, &server_nonce);
            let headers = response.headers_mut();
            headers.insert(auth::NONCE_HEADER, server_nonce.parse().unwrap());
            headers.insert(auth::PROOF_HEADER, proof.parse().unwrap());
            *nonces = Some((client_nonce.to_string(), server_nonce));
            Ok(response)
        }
        _ => {
            let mut refusal = ErrorResponse::new(Some("no challenge".into()));
            *refusal.status_mut() = StatusCode::UNAUTHORIZED;
            Err(refusal)
        }
    }
}

fn tone_200hz(seconds: f32, amplitude: f32) -> Vec<i16> {
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            (amplitude * 32767.0 * (std::f32::consts::TAU * 200.0 * t).sin()) as i16
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn any_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A loopback port that refuses connections until [`ClosedPort::open`] is called.
///
/// The socket is bound but not listening: connection attempts are refused exactly as if nothing
/// ran there, yet no other test (or process) can take the port meanwhile, which a "bind, note the
/// port, close" reservation would allow.
struct ClosedPort(tokio::net::TcpSocket);

impl ClosedPort {
    fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        Self(socket)
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    fn open(self) -> TcpListener {
        self.0.listen(64).unwrap()
    }
}

struct RunningBridge {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), live2d_bridge::BridgeError>>,
}

fn start_bridge(link: SocketAddr, vts: SocketAddr, token_file: &Path) -> RunningBridge {
    let config = Config {
        link: LinkConfig {
            url: format!("ws://{link}/avatar"),
            token: LINK_TOKEN.into(),
        },
        vts: VtsConfig {
            url: format!("ws://{vts}"),
            token_file: token_file.to_path_buf(),
        },
        mapping: Mapping::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.example.toml"))
            .unwrap(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(live2d_bridge::run(config, async {
        let _ = stopped.await;
    }));
    RunningBridge { stop, task }
}

impl RunningBridge {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the bridge stops promptly")
            .unwrap()
            .expect("the bridge ran without error");
    }
}

fn mouth_open(i: &Injection) -> f64 {
    i.values["MouthOpen"]
}

fn in_window(injections: &[Injection], from: Instant, to: Instant) -> Vec<&Injection> {
    injections
        .iter()
        .filter(|i| i.at >= from && i.at <= to)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_expressions_and_motions_reach_vtube_studio() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("ai-vstreamer").join("vts-token");
    // A token VTS no longer accepts: the bridge must fall back to asking for a new one.
    std::fs::create_dir_all(token_file.parent().unwrap()).unwrap();
    std::fs::write(&token_file, STALE_VTS_TOKEN).unwrap();

    let mut vts = FakeVtubeStudio::start(any_port().await);
    let vts_addr = vts.addr;
    let (go_tx, go_rx) = oneshot::channel();
    let (times_tx, times_rx) = oneshot::channel();
    let link_addr = start_link_server(go_rx, times_tx).await;

    let bridge = start_bridge(link_addr, vts_addr, &token_file);
    vts.wait_for_sessions(1, Duration::from_secs(10)).await;
    go_tx.send(()).unwrap();
    let times = tokio::time::timeout(Duration::from_secs(10), times_rx)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep_until(times.audio_first + Duration::from_millis(4_500)).await;
    bridge.stop().await;

    let rec = vts.recorded();
    // The tone starts playing between these two, and lasts 1.5 s.
    let (first, last) = (times.audio_first, times.audio_last);
    assert!(
        last - first < Duration::from_millis(600),
        "audio took {:?} to send",
        last - first
    );
    let ms = Duration::from_millis;

    // Authentication: the stale token was refused, a new one was requested once and saved.
    assert_eq!(
        rec.token_requests,
        vec![(
            "AI VStreamer Live2D Bridge".to_string(),
            "ai-vstreamer".to_string()
        )]
    );
    assert_eq!(
        rec.auth_attempts.first(),
        Some(&(STALE_VTS_TOKEN.to_string(), false))
    );
    assert_eq!(
        rec.auth_attempts.last(),
        Some(&("fake-vts-token-1".to_string(), true))
    );
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "fake-vts-token-1"
    );

    // Every injection is a proper "set" from a plugin that is not a face tracker.
    assert!(rec
        .injections
        .iter()
        .all(|i| !i.face_found && i.mode.as_deref() == Some("set")));
    assert!(rec
        .injections
        .iter()
        .all(|i| i.values.contains_key("MouthOpen") && i.values.contains_key("MouthSmile")));

    // The mouth is open while the tone would play, and closed after it.
    let during = in_window(&rec.injections, last + ms(150), first + ms(1_350));
    assert!(
        during.len() >= 10,
        "only {} injections during the tone",
        during.len()
    );
    let lowest = during
        .iter()
        .map(|i| mouth_open(i))
        .fold(f64::INFINITY, f64::min);
    assert!(
        lowest > 0.5,
        "mouth not open throughout the tone (lowest {lowest})"
    );
    let after = in_window(&rec.injections, last + ms(1_750), first + ms(4_400));
    assert!(
        after.len() >= 20,
        "only {} injections after the tone",
        after.len()
    );
    let highest = after.iter().map(|i| mouth_open(i)).fold(0.0, f64::max);
    assert!(
        highest < 0.05,
        "mouth still open after the tone ({highest})"
    );

    // Parameters are renewed within VTS's 1 s limit, idle or not (the counts above show they
    // are in fact sent every frame).
    let gaps = rec.injections.windows(2).map(|w| w[1].at - w[0].at);
    let longest = gaps.max().unwrap();
    assert!(
        longest < Duration::from_secs(1),
        "a gap of {longest:?} between injections"
    );

    // The happy expression came on with the command (with a broad smile) and went off after
    // its 1.5 s.
    assert_eq!(
        rec.expressions,
        vec![
            ("Happy.exp3.json".to_string(), true),
            ("Happy.exp3.json".to_string(), false)
        ]
    );
    let smiles: Vec<f64> = in_window(
        &rec.injections,
        times.reactions_sent + Duration::from_millis(150),
        times.reactions_sent + Duration::from_millis(1_250),
    )
    .iter()
    .map(|i| i.values["MouthSmile"])
    .collect();
    assert!(
        !smiles.is_empty() && smiles.iter().all(|&s| s == 1.0),
        "{smiles:?}"
    );
    let before = in_window(&rec.injections, first, times.reactions_sent);
    assert!(before.iter().all(|i| i.values["MouthSmile"] == 0.3));

    // The nod played through its hotkey; nothing was sent unauthenticated.
    assert_eq!(rec.hotkeys, vec!["Nod".to_string()]);
    assert_eq!(rec.unauthenticated_refusals, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vtube_studio_started_late_is_found_and_a_saved_token_needs_no_second_approval() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("vts-token");
    let vts_port = ClosedPort::new();
    let vts_addr = vts_port.addr();
    // No sidecar at all: the model must still be held at rest.
    let no_sidecar = ClosedPort::new();
    let link_addr = no_sidecar.addr();

    let first = start_bridge(link_addr, vts_addr, &token_file);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut vts = FakeVtubeStudio::start(vts_port.open());
    // Retries back off 0.5 → 1 → 2 s, so VTS is found within a few seconds of appearing.
    vts.wait_for_sessions(1, Duration::from_secs(8)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.stop().await;
    {
        let rec = vts.recorded();
        assert_eq!(rec.token_requests.len(), 1, "approved once");
        assert!(
            rec.injections.len() >= 5,
            "{} injections",
            rec.injections.len()
        );
        assert!(rec
            .injections
            .iter()
            .all(|i| mouth_open(i) == 0.0 && i.values["MouthSmile"] == 0.3));
    }
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "fake-vts-token-1"
    );

    // A second run (say, the next stream) authenticates with the saved token: no popup.
    let second = start_bridge(link_addr, vts_addr, &token_file);
    vts.wait_for_sessions(2, Duration::from_secs(8)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    second.stop().await;
    let rec = vts.recorded();
    assert_eq!(rec.token_requests.len(), 1, "no second approval popup");
    assert_eq!(
        rec.auth_attempts.last(),
        Some(&("fake-vts-token-1".to_string(), true))
    );
}
