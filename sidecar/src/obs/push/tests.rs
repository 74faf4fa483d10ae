//! `PushLink` against an obs-websocket stand-in that answers the plugin's vendor requests:
//! what is handed over on reload, what happens to commands when the connection is lost, and
//! that nothing is asked when there is nothing to ask about.

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::config::{EncoderKind, WireEncoder};
use super::*;
use crate::obs::ObsConfig;

/// (requestType, requestData) of every vendor request the stand-in got.
type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// An obs-websocket 5 stand-in (no authentication) for the `ai-avatar-push` vendor. Every
/// request is answered `ok` with the targets of the last `set_targets`; a request of type
/// `drop_on` closes the connection instead.
async fn fake_plugin(drop_on: Option<&'static str>) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let hello = serde_json::json!({"op": 0, "d": {"obsWebSocketVersion": "5.1.0", "rpcVersion": 1}});
                ws.send(Message::text(hello.to_string())).await.unwrap();
                let mut targets = serde_json::json!([]);
                while let Some(Ok(message)) = ws.next().await {
                    let Ok(msg) = serde_json::from_str::<serde_json::Value>(
                        message.to_text().unwrap_or_default(),
                    ) else {
                        continue;
                    };
                    let d = &msg["d"];
                    let data = match (msg["op"].as_u64(), d["requestType"].as_str()) {
                        (Some(1), _) => {
                            let identified =
                                serde_json::json!({"op": 2, "d": {"negotiatedRpcVersion": 1}});
                            let _ = ws.send(Message::text(identified.to_string())).await;
                            continue;
                        }
                        (Some(6), Some("GetVersion")) => serde_json::json!({
                            "obsVersion": "29.0.2", "obsWebSocketVersion": "5.1.0", "rpcVersion": 1,
                            "availableRequests": [], "supportedImageFormats": [],
                            "platform": "debian", "platformDescription": "test"
                        }),
                        (Some(6), Some("CallVendorRequest")) => {
                            let ty = d["requestData"]["requestType"].as_str().unwrap_or_default();
                            let body = d["requestData"]["requestData"].clone();
                            log.lock().unwrap().push((ty.to_string(), body.clone()));
                            if Some(ty) == drop_on {
                                return; // the socket goes with the task
                            }
                            if ty == "set_targets" {
                                targets = body["targets"].clone();
                            }
                            let status: Vec<serde_json::Value> = targets
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|t| serde_json::json!({"name": t["name"], "state": "idle"}))
                                .collect();
                            serde_json::json!({"vendorName": VENDOR_NAME, "requestType": ty,
                                "responseData": {"ok": true, "targets": status}})
                        }
                        _ => continue,
                    };
                    let reply = serde_json::json!({"op": 7, "d": {
                        "requestType": d["requestType"], "requestId": d["requestId"],
                        "requestStatus": {"result": true, "code": 100}, "responseData": data}});
                    if ws.send(Message::text(reply.to_string())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

const VENDOR_NAME: &str = vendor::VENDOR;

async fn connect(port: u16) -> Obs {
    let config = ObsConfig {
        port,
        request_timeout_secs: 1.0,
        connect_timeout_secs: 2.0,
        ..ObsConfig::default()
    };
    Obs::connect(&config).await.unwrap()
}

fn target(name: &str, server: &str) -> WireTarget {
    WireTarget {
        name: name.into(),
        server: server.into(),
        key: format!("{name}-key"),
        encoder: WireEncoder {
            kind: EncoderKind::Own,
            width: 1280,
            height: 720,
            bitrate_kbps: 2500,
            keyint_secs: 2,
            preset: "veryfast".into(),
        },
        audio_bitrate_kbps: 128,
        with_main: true,
    }
}

fn handed_over(seen: &Seen) -> Vec<Vec<(String, String)>> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(ty, _)| ty == "set_targets")
        .map(|(_, body)| {
            body["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("server"))
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_reload_that_cannot_read_a_key_keeps_that_target_as_it_was() {
    let (port, seen) = fake_plugin(None).await;
    let obs = connect(port).await;
    let mut link = PushLink::new(vec![target("a", "rtmp://h/a"), target("b", "rtmp://h/b")]);
    link.connected(&obs).await.unwrap();
    // The reload changed a's server and could not read b's key.
    let work = PushWork {
        targets: Some(PushSet {
            targets: vec![target("a", "rtmp://h/a2")],
            keep: vec!["b".into()],
        }),
        commands: Vec::new(),
    };
    link.work(&obs, work).await.map_err(|(e, _)| e).unwrap();
    let sets = handed_over(&seen);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!(
        sets[1],
        vec![
            ("a".to_string(), "rtmp://h/a2".to_string()),
            ("b".to_string(), "rtmp://h/b".to_string())
        ]
    );
}

#[tokio::test]
async fn commands_a_lost_connection_left_undone_come_back_in_order() {
    let (port, seen) = fake_plugin(Some("start")).await;
    let obs = connect(port).await;
    let mut link = PushLink::new(vec![target("a", "rtmp://h/a")]);
    link.connected(&obs).await.unwrap();
    let work = PushWork {
        targets: None,
        commands: vec![
            PushCommand::Start(Which::Named("a".into())),
            PushCommand::Stop(Which::All),
        ],
    };
    let (error, undone) = link
        .work(&obs, work)
        .await
        .expect_err("the connection drops");
    assert!(error.connection_lost(), "{error}");
    assert!(
        matches!(
            undone.as_slice(),
            [PushCommand::Start(Which::Named(a)), PushCommand::Stop(Which::All)] if a == "a"
        ),
        "{undone:?}"
    );
    assert_eq!(seen.lock().unwrap().last().unwrap().0, "start");
}

#[tokio::test]
async fn without_targets_an_empty_set_is_handed_over_and_status_asks_nothing() {
    let (port, seen) = fake_plugin(None).await;
    let obs = connect(port).await;
    let mut link = PushLink::new(Vec::new());
    // A sidecar started without [[push]] takes back what an earlier run left in the plugin.
    link.connected(&obs).await.unwrap();
    assert_eq!(handed_over(&seen), vec![Vec::new()]);
    let (reply, answer) = tokio::sync::oneshot::channel();
    let work = PushWork {
        targets: None,
        commands: vec![PushCommand::Status(reply)],
    };
    link.work(&obs, work).await.map_err(|(e, _)| e).unwrap();
    assert!(answer.await.unwrap().is_empty());
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the hand-over was asked"
    );
    assert_eq!(link.next_poll(), None, "nothing to watch");
}
