//! The listener: the room page and the WebSocket endpoint on one loopback port, with the
//! checks the real service makes (or that a well-behaved client must pass anyway).

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::http_stub::{Head, HttpConnection, Limits, ReadError, Request};

use super::observed::Connection;
use super::{session, signature, Shared};

/// Path of the push WebSocket (protocols.md §1).
pub const PUSH_PATH: &str = "/webcast/im/push/v2/";

/// Every query parameter the web client sends (protocols.md §1).
pub const REQUIRED_PARAMS: [&str; 30] = [
    "app_name",
    "version_code",
    "webcast_sdk_version",
    "update_version_code",
    "compress",
    "device_platform",
    "cookie_enabled",
    "screen_width",
    "screen_height",
    "browser_language",
    "browser_platform",
    "browser_name",
    "browser_version",
    "browser_online",
    "tz_name",
    "cursor",
    "internal_ext",
    "host",
    "aid",
    "live_id",
    "did_rule",
    "endpoint",
    "support_wrds",
    "user_unique_id",
    "im_path",
    "identity",
    "need_persist_msg_count",
    "room_id",
    "heartbeatDuration",
    "signature",
];

/// Request heads larger than 32 KiB are refused (the real URL is ~1.5 KB); the client has
/// 5 s for each piece of its head.
const LIMITS: Limits =
    Limits::new(32 * 1024, 64 * 1024).with_idle_timeout(std::time::Duration::from_secs(5));

/// Parameters whose value is fixed for the web client.
pub const FIXED_PARAMS: [(&str, &str); 13] = [
    ("app_name", "douyin_web"),
    ("version_code", "180800"),
    ("webcast_sdk_version", signature::SDK_VERSION),
    ("update_version_code", signature::SDK_VERSION),
    ("compress", "gzip"),
    ("device_platform", "web"),
    ("host", "https://live.douyin.com"),
    ("aid", "6383"),
    ("live_id", "1"),
    ("did_rule", "3"),
    ("endpoint", "live_pc"),
    ("im_path", "/webcast/im/fetch/"),
    ("identity", "audience"),
];

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: note it, give the system a moment.
                shared.lock().violation(format!("accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let task = tokio::spawn(handle(stream, shared.clone()));
        shared.track(task.abort_handle());
    }
}

async fn handle(stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = HttpConnection::new(stream, LIMITS);
    let req = match conn.read_request().await {
        Ok(req) => req,
        Err(ReadError::Closed) => return,
        Err(e) => {
            shared.lock().violation(e.to_string());
            reply(conn.stream(), "400 Bad Request", &[], b"bad request").await;
            return;
        }
    };
    // Whatever followed the head in the same reads: the start of the WebSocket stream,
    // should the client not wait for the 101.
    let (mut stream, rest) = conn.into_parts();
    let page = format!("/{}", shared.scenario.web_rid);
    if req.path() == PUSH_PATH {
        upgrade(stream, req, rest, shared).await;
    } else if req.path() == page && req.method == "GET" {
        room_page(&mut stream, &req, &shared).await;
    } else {
        shared
            .lock()
            .violation(format!("unexpected request {} {}", req.method, req.path()));
        reply(&mut stream, "404 Not Found", &[], b"not found").await;
    }
}

/// A complete response that closes the connection.
async fn reply(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let response = Head::response(status)
        .headers(headers)
        .header("Content-Length", body.len())
        .header("Connection", "close")
        .with_body(body);
    // The client may already be gone; there is nobody to tell then.
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// `GET /{web_rid}`: issues a `ttwid` cookie and embeds the room id the way the real page's
/// server-rendered JSON does (escaped quotes inside a script string).
async fn room_page(stream: &mut TcpStream, req: &Request, shared: &Shared) {
    let (nonce, ttwid) = {
        let mut rng = rand::rng();
        let token: String = (0..43)
            .map(|_| {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                ALPHABET[rng.random_range(0..ALPHABET.len())] as char
            })
            .collect();
        (
            format!("0{:020x}", rng.random::<u128>() >> 48),
            format!(
                "1%7C{token}%7C{}%7C{:016x}",
                1_750_000_000u64,
                rng.random::<u64>()
            ),
        )
    };
    {
        let mut st = shared.lock();
        st.page_requests += 1;
        st.ttwids.insert(ttwid.clone());
        if req.header("user-agent").is_none_or(str::is_empty) {
            st.violation("room page requested without a User-Agent".into());
        }
    }
    let room_id = shared.scenario.room_id;
    let web_rid = &shared.scenario.web_rid;
    let html = format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>直播间</title></head><body><div id="root"></div><script>self.__pace_f.push([1,"{{\"state\":{{\"appStore\":{{\"user_unique_id\":\"\"}},\"roomStore\":{{\"roomInfo\":{{\"roomId\":\"{room_id}\",\"web_rid\":\"{web_rid}\",\"room\":{{\"id_str\":\"{room_id}\",\"status\":2,\"title\":\"测试直播间\",\"user_count_str\":\"1.2万\"}},\"anchor\":{{\"nickname\":\"虚拟主播\"}}}}}}}}}}"])</script></body></html>"#
    );
    let nonce_cookie = format!("__ac_nonce={nonce}; Path=/; Max-Age=1800");
    let ttwid_cookie = format!("ttwid={ttwid}; Path=/; Max-Age=31536000; HttpOnly");
    reply(
        stream,
        "200 OK",
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", &nonce_cookie),
            ("Set-Cookie", &ttwid_cookie),
        ],
        html.as_bytes(),
    )
    .await;
}

/// The WebSocket upgrade: records the attempt, checks it, then either refuses like Douyin
/// (`200 OK` with a body instead of `101`) or hands the connection to a session.
async fn upgrade(mut stream: TcpStream, req: Request, rest: Vec<u8>, shared: Arc<Shared>) {
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in req.query() {
        query.entry(k).or_insert(v);
    }
    let param = |k: &str| query.get(k).cloned().unwrap_or_default();
    let scenario = &shared.scenario;
    let conn = {
        let mut st = shared.lock();
        let id = st.connections.len();
        let problems = contract_problems(&req, &query, &st.ttwids, scenario);
        for p in problems {
            st.violation(format!("connection {id}: {p}"));
        }
        st.connections.push(Connection {
            id,
            at: shared.now(),
            cursor: param("cursor"),
            internal_ext: param("internal_ext"),
            user_unique_id: param("user_unique_id"),
            ..Connection::default()
        });
        id
    };
    let refuse = |why: &str| {
        let mut st = shared.lock();
        st.connections[conn].refused = Some(why.to_string());
    };

    let key = req.header("sec-websocket-key").map(str::to_string);
    let is_upgrade = req
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let (Some(key), true, "GET") = (key, is_upgrade, req.method.as_str()) else {
        refuse("not a WebSocket upgrade");
        shared.lock().violation(format!(
            "connection {conn}: not a WebSocket upgrade request"
        ));
        reply(
            &mut stream,
            "400 Bad Request",
            &[],
            b"websocket upgrade expected",
        )
        .await;
        return;
    };

    let expected = signature::expected_signature(&param("room_id"), &param("user_unique_id"));
    if param("signature") != expected {
        // What the real service does with a bad signature: a plain 200 and a short body.
        refuse("signature rejected");
        reply(
            &mut stream,
            "200 OK",
            &[("Content-Type", "text/plain; charset=utf-8")],
            b"invalid request: signature verification failed",
        )
        .await;
        return;
    }

    // A cursor this storm never sent is a first connection (the web client makes up an
    // initial cursor from the clock): like the real server, start at the live edge, which
    // for the fake is the beginning of the storm.
    let cursor = param("cursor");
    let resumed = scenario
        .resume_index(&cursor)
        .filter(|_| !cursor.is_empty());
    let start = resumed.unwrap_or(0);
    let accept = derive_accept_key(key.as_bytes());
    let head = Head::response("101 Switching Protocols")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", accept)
        .into_bytes();
    if stream.write_all(&head).await.is_err() {
        refuse("client left during the handshake");
        return;
    }
    // Client frames are tiny (acks, heartbeats): anything big is a bug worth failing on.
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config)).await;
    {
        let mut st = shared.lock();
        let c = &mut st.connections[conn];
        c.accepted = true;
        c.resumed_at_seq = resumed.map(|i| scenario.frames[i].seq);
    }
    session::run(ws, shared.clone(), conn, start).await;
}

/// Everything wrong with an upgrade request apart from its signature.
fn contract_problems(
    req: &Request,
    query: &HashMap<String, String>,
    issued_ttwids: &std::collections::HashSet<String>,
    scenario: &super::Scenario,
) -> Vec<String> {
    let mut problems = Vec::new();
    let ua = req.header("user-agent").unwrap_or_default();
    if ua.is_empty() {
        problems.push("no User-Agent header".to_string());
    }
    match req.cookie("ttwid") {
        None => problems.push("no ttwid cookie".to_string()),
        Some(t) if !issued_ttwids.contains(&t) => {
            problems.push("ttwid cookie is not one the room page issued".to_string())
        }
        Some(_) => {}
    }
    for k in REQUIRED_PARAMS {
        if !query.contains_key(k) {
            problems.push(format!("query parameter {k} missing"));
        }
    }
    for (k, want) in FIXED_PARAMS {
        if let Some(got) = query.get(k).filter(|got| *got != want) {
            problems.push(format!("{k}={got:?}, expected {want:?}"));
        }
    }
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    if get("room_id") != scenario.room_id.to_string() {
        problems.push(format!(
            "room_id={:?}, the page said {}",
            get("room_id"),
            scenario.room_id
        ));
    }
    let uid = get("user_unique_id");
    if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(format!("user_unique_id={uid:?} is not a number"));
    }
    if let Some(version) = ua.strip_prefix("Mozilla/") {
        if get("browser_version") != version {
            problems.push(format!(
                "browser_version={:?} is not the User-Agent after \"Mozilla/\"",
                get("browser_version")
            ));
        }
    } else if !ua.is_empty() {
        problems.push(format!("User-Agent {ua:?} is not a browser's"));
    }
    let cursor = get("cursor");
    if !cursor.is_empty() {
        if let Some(i) = scenario.resume_index(cursor) {
            let want = &scenario.frames[i].internal_ext;
            if get("internal_ext") != want {
                problems.push(format!(
                    "internal_ext={:?} does not belong to cursor {cursor:?} (expected {want:?})",
                    get("internal_ext")
                ));
            }
        }
    }
    problems
}
