//! The OBS connection task.
//!
//! The show sends [`ObsAction`]s and never waits on OBS. This task owns the connection: while
//! OBS is unreachable it keeps retrying with backoff (logging the reason once, then a reminder
//! every 30 s) and folds incoming actions into *desired state* — the latest gift text, whether
//! a celebration is running and until when, whether we should be recording. When OBS comes
//! (back), it ensures the scenes and applies that state, so nothing the audience should see is
//! lost, and nothing stale (a celebration that already ended) is replayed.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::scenes::{ensure, SceneSet};
use crate::config::ObsConfig;

#[derive(Debug)]
pub enum ObsAction {
    /// Show this in the latest-gift text source.
    LatestGift {
        text: String,
    },
    /// Switch to the celebration scene for `secs` (extended by further celebrations).
    Celebrate {
        caption: String,
        secs: f64,
    },
    StartRecording,
    /// Stop recording; replies with the file path OBS wrote (None if not recording/connected).
    StopRecording {
        reply: oneshot::Sender<Option<String>>,
    },
}

/// Cheap handle to the OBS task.
#[derive(Clone)]
pub struct ObsController {
    tx: mpsc::UnboundedSender<ObsAction>,
}

impl ObsController {
    /// Starts the connection task. `overrides` are per-source settings the sidecar owns.
    pub fn spawn(
        config: ObsConfig,
        scenes: SceneSet,
        overrides: BTreeMap<String, serde_json::Value>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        // Unbounded on purpose: actions are tiny, rare (a few per gift) and folded into state
        // while OBS is down, so memory stays bounded by the show's own rate; a bounded queue
        // would make the show block or drop when OBS hangs.
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(config, scenes, overrides, rx));
        (Self { tx }, task)
    }

    pub fn send(&self, action: ObsAction) {
        if self.tx.send(action).is_err() {
            tracing::error!("OBS task has stopped; action ignored");
        }
    }

    pub async fn stop_recording(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.send(ObsAction::StopRecording { reply });
        rx.await.ok().flatten()
    }
}

/// What OBS should look like, kept across disconnections.
#[derive(Default)]
struct Desired {
    latest_gift: Option<String>,
    celebration_caption: Option<String>,
    celebration_until: Option<Instant>,
    recording: bool,
    /// Put the main scene on program at the next connection (once per run).
    go_to_main: bool,
}

impl Desired {
    fn fold(&mut self, action: ObsAction) -> Option<oneshot::Sender<Option<String>>> {
        match action {
            ObsAction::LatestGift { text } => self.latest_gift = Some(text),
            ObsAction::Celebrate { caption, secs } => {
                let until = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
                self.celebration_until =
                    Some(self.celebration_until.map_or(until, |u| u.max(until)));
                self.celebration_caption = Some(caption);
            }
            ObsAction::StartRecording => self.recording = true,
            ObsAction::StopRecording { reply } => {
                self.recording = false;
                return Some(reply);
            }
        }
        None
    }

    fn celebrating(&self) -> bool {
        self.celebration_until.is_some_and(|u| u > Instant::now())
    }
}

async fn run(
    config: ObsConfig,
    scenes: SceneSet,
    overrides: BTreeMap<String, serde_json::Value>,
    mut rx: mpsc::UnboundedReceiver<ObsAction>,
) {
    let mut desired = Desired {
        go_to_main: config.start_on_main,
        ..Desired::default()
    };
    let base_delay = Duration::from_secs_f64(config.retry_secs.max(0.1));
    let mut delay = base_delay;
    let mut failures = 0u32;
    let mut last_reminder = Instant::now();
    loop {
        match connect_and_prepare(&config, &scenes, &overrides, &mut desired).await {
            Ok(client) => {
                if failures > 0 {
                    tracing::info!(after_attempts = failures, "connected to OBS");
                }
                failures = 0;
                delay = base_delay;
                match serve(&client, &scenes, &mut desired, &mut rx).await {
                    Served::Closed => return,
                    Served::Lost(reason) => {
                        tracing::warn!(%reason, "lost OBS connection; reconnecting")
                    }
                }
            }
            Err(reason) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(
                        host = %config.host, port = config.port, %reason,
                        "OBS is not reachable; retrying in the background (events are still recorded and voiced)"
                    );
                } else if last_reminder.elapsed() > Duration::from_secs(30) {
                    last_reminder = Instant::now();
                    tracing::warn!(attempts = failures, %reason, "still waiting for OBS");
                } else {
                    tracing::debug!(attempts = failures, %reason, "OBS connection attempt failed");
                }
            }
        }
        // Wait before retrying, but keep folding actions so the desired state stays current.
        let wake = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                action = rx.recv() => match action {
                    Some(action) => {
                        if let Some(reply) = desired.fold(action) {
                            let _ = reply.send(None);
                        }
                    }
                    None => return,
                },
            }
        }
        delay = (delay * 2).min(base_delay * 4);
    }
}

async fn connect_and_prepare(
    config: &ObsConfig,
    scenes: &SceneSet,
    overrides: &BTreeMap<String, serde_json::Value>,
    desired: &mut Desired,
) -> Result<obws::Client, String> {
    let password = (!config.password.is_empty()).then_some(config.password.as_str());
    let client = tokio::time::timeout(
        Duration::from_secs(5),
        obws::Client::connect(&config.host, config.port, password),
    )
    .await
    .map_err(|_| "connection timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let report = ensure(&client, scenes, overrides)
        .await
        .map_err(|e| format!("ensuring scenes: {e}"))?;
    if report.is_empty() {
        tracing::info!("OBS scenes already in place");
    } else {
        tracing::info!(?report.scenes_created, ?report.inputs_created, ?report.items_added, "OBS scenes ensured");
    }
    apply(&client, scenes, desired)
        .await
        .map_err(|e| format!("applying state: {e}"))?;
    Ok(client)
}

/// Brings OBS in line with the desired state.
async fn apply(
    client: &obws::Client,
    scenes: &SceneSet,
    desired: &mut Desired,
) -> Result<(), obws::Error> {
    let roles = &scenes.roles;
    if let Some(text) = &desired.latest_gift {
        set_text(client, &roles.latest_gift_text, text).await?;
    }
    let mut current = client.scenes().current_program_scene().await?;
    if desired.go_to_main {
        desired.go_to_main = false;
        if current != roles.main {
            client
                .scenes()
                .set_current_program_scene(&roles.main)
                .await?;
            tracing::info!(from = %current, to = %roles.main, "show starts on the main scene");
            current = roles.main.clone();
        }
    }
    if desired.celebrating() {
        if let (Some(source), Some(caption)) =
            (&roles.celebration_text, &desired.celebration_caption)
        {
            set_text(client, source, caption).await?;
        }
        if current != roles.celebration {
            client
                .scenes()
                .set_current_program_scene(&roles.celebration)
                .await?;
        }
    } else {
        desired.celebration_until = None;
        if current == roles.celebration {
            client
                .scenes()
                .set_current_program_scene(&roles.main)
                .await?;
        }
    }
    let recording = client.recording().status().await?.active;
    if desired.recording && !recording {
        client.recording().start().await?;
        tracing::info!("recording started");
    }
    Ok(())
}

async fn set_text(client: &obws::Client, source: &str, text: &str) -> Result<(), obws::Error> {
    let settings = serde_json::json!({ "text": text });
    client
        .inputs()
        .set_settings(obws::requests::inputs::SetSettings {
            input: source,
            settings: &settings,
            overlay: Some(true),
        })
        .await
}

enum Served {
    Closed,
    Lost(String),
}

async fn serve(
    client: &obws::Client,
    scenes: &SceneSet,
    desired: &mut Desired,
    rx: &mut mpsc::UnboundedReceiver<ObsAction>,
) -> Served {
    let mut health = tokio::time::interval(Duration::from_secs(3));
    loop {
        let celebration_end = desired.celebration_until;
        tokio::select! {
            action = rx.recv() => {
                let Some(action) = action else { return Served::Closed };
                let result = match action {
                    ObsAction::StopRecording { reply } => {
                        desired.recording = false;
                        let path = match client.recording().status().await {
                            Ok(s) if s.active => client.recording().stop().await.map(Some),
                            Ok(_) => Ok(None),
                            Err(e) => Err(e),
                        };
                        let failed = path.as_ref().err().map(|e| e.to_string());
                        let _ = reply.send(path.ok().flatten());
                        failed.map_or(Ok(()), Err)
                    }
                    other => {
                        desired.fold(other);
                        apply(client, scenes, desired).await.map_err(|e| e.to_string())
                    }
                };
                if let Err(reason) = result {
                    return Served::Lost(reason);
                }
            }
            _ = async { tokio::time::sleep_until(celebration_end.unwrap_or_else(Instant::now)).await }, if celebration_end.is_some() => {
                desired.celebration_until = None;
                if let Err(e) = apply(client, scenes, desired).await {
                    return Served::Lost(e.to_string());
                }
            }
            _ = health.tick() => {
                if let Err(e) = client.general().version().await {
                    return Served::Lost(e.to_string());
                }
            }
        }
    }
}
