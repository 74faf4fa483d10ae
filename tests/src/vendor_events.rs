//! Collects obs-websocket `VendorEvent`s over a raw connection of its own.
//!
//! obws 0.11 only streams events with its `events` feature, which would also change what every
//! other obws client in the workspace subscribes to; the protocol's handshake is small enough
//! to speak directly (obs-websocket 5 Hello → Identify with the SHA-256 challenge → events).

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// obs-websocket's `EventSubscription::Vendors`.
const SUBSCRIBE_VENDORS: u64 = 1 << 9;

/// One received vendor event: its raw message text and its parsed `eventData`.
#[derive(Debug, Clone)]
pub struct VendorEvent {
    pub raw: String,
    pub vendor: String,
    pub event_type: String,
    pub data: Value,
}

/// A background listener; events pile up in [`VendorEvents::events`].
pub struct VendorEvents {
    events: Arc<Mutex<Vec<VendorEvent>>>,
    task: JoinHandle<()>,
}

impl VendorEvents {
    /// Connects and identifies (with `password`), subscribed to vendor events only.
    pub async fn connect(port: u16, password: &str) -> Result<Self> {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
            .await
            .context("connecting to obs-websocket")?;
        let hello = next_json(&mut ws).await?;
        let mut identify = json!({ "rpcVersion": 1, "eventSubscriptions": SUBSCRIBE_VENDORS });
        if let Some(auth) = hello["d"].get("authentication") {
            let b64 = base64::engine::general_purpose::STANDARD;
            let salt = auth["salt"].as_str().unwrap_or_default();
            let challenge = auth["challenge"].as_str().unwrap_or_default();
            let secret = b64.encode(Sha256::digest(format!("{password}{salt}")));
            let answer = b64.encode(Sha256::digest(format!("{secret}{challenge}")));
            identify["authentication"] = json!(answer);
        }
        ws.send(Message::text(json!({ "op": 1, "d": identify }).to_string()))
            .await?;
        let identified = next_json(&mut ws).await?;
        if identified["op"] != 2 {
            bail!("obs-websocket did not identify us: {identified}");
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if v["op"] == 5 && v["d"]["eventType"] == "VendorEvent" {
                    let d = &v["d"]["eventData"];
                    sink.lock().unwrap().push(VendorEvent {
                        raw: text.to_string(),
                        vendor: d["vendorName"].as_str().unwrap_or_default().into(),
                        event_type: d["eventType"].as_str().unwrap_or_default().into(),
                        data: d["eventData"].clone(),
                    });
                }
            }
        });
        Ok(Self { events, task })
    }

    /// Everything received so far.
    pub fn events(&self) -> Vec<VendorEvent> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for VendorEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next_json<S>(ws: &mut S) -> Result<Value>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("obs-websocket closed the connection during the handshake"),
        }
    }
}
