//! The OBS connection task.
//!
//! The show sends [`ObsAction`]s and never waits on OBS: [`ObsController::send`] folds the
//! action into a shared *desired state* (the latest gift text, whether a celebration is running
//! and until when, whether we should be recording; see [`super::state`]) and returns. This task
//! owns the connection. Every request has a deadline ([`super::request`]); a request OBS does
//! not answer in time — a frozen OBS — counts as a lost connection, like a closed socket. While
//! OBS is unreachable the task retries with backoff (logging the reason once, then a reminder
//! every 30 s). When OBS comes (back) it ensures the scenes, re-applies the sidecar's source
//! settings (the avatar's link address and token) and brings OBS in line with the desired
//! state, so nothing the audience should see is lost and nothing stale (a celebration that
//! already ended) is replayed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::apply_effects::{apply_effects, set_settings, AppliedEffects};
use super::ensure::ensure;
use super::needs;
use super::program::Program;
use super::push::vendor::TargetStatus;
use super::push::{PushCommand, PushLink, PushSet, WireTarget};
use super::recording::Recording;
use super::request::{Obs, Refusals, RequestError};
use super::scenes::SceneSet;
use super::state::{Desired, Shared};
use super::ObsConfig;

/// How often a quiet connection is checked. A closed socket fails the check at once, so this
/// bounds how long a killed OBS goes unnoticed (obws has no close notification without its
/// `events` feature); plus the request timeout, it bounds how long a frozen one does. The
/// check (GetStreamStatus, which also feeds `stream` triggers) is a few hundred bytes each way.
const HEALTH_PERIOD: Duration = Duration::from_secs(1);

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
    /// A trigger's act (scene holds, visibility, texts, media, filters, settings).
    Act(crate::cue::Act),
    /// New scene files: ensure them and check what the triggers need.
    Reload(Box<SceneSet>),
    /// A new set of push targets for the plugin (start, reload).
    PushTargets(PushSet),
    /// Start or stop push targets, or ask for their status.
    Push(PushCommand),
    StartRecording,
    /// Stop recording; replies with the file path OBS wrote (None if not recording/connected).
    StopRecording {
        reply: oneshot::Sender<Option<String>>,
    },
}

/// Cheap handle to the OBS task. The task ends when the last handle is dropped.
#[derive(Clone)]
pub struct ObsController {
    shared: Arc<Shared>,
    /// Whether OBS is streaming (None until a connection said).
    streaming: watch::Receiver<Option<bool>>,
    _alive: Arc<Alive>,
}

/// Closes the desired-state cell when the last [`ObsController`] goes.
struct Alive(Arc<Shared>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl ObsController {
    /// Starts the connection task. `overrides` are per-source settings the sidecar owns,
    /// re-applied on every connection.
    pub fn spawn(
        config: ObsConfig,
        scenes: SceneSet,
        overrides: BTreeMap<String, serde_json::Value>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_with_push(config, scenes, overrides, Vec::new())
    }

    /// Like [`spawn`](Self::spawn), and hands `push` to the plugin on every connection.
    pub fn spawn_with_push(
        config: ObsConfig,
        scenes: SceneSet,
        overrides: BTreeMap<String, serde_json::Value>,
        push: Vec<WireTarget>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let shared = Shared::new();
        let (stream_tx, streaming) = watch::channel(None);
        let push = PushLink::new(push);
        let task = tokio::spawn(run(
            config,
            scenes,
            overrides,
            push,
            shared.clone(),
            stream_tx,
        ));
        let alive = Arc::new(Alive(shared.clone()));
        (
            Self {
                shared,
                streaming,
                _alive: alive,
            },
            task,
        )
    }

    /// Whether OBS's stream output is live, as last seen (checked every second while
    /// connected); changes wake the receiver.
    pub fn streaming(&self) -> watch::Receiver<Option<bool>> {
        self.streaming.clone()
    }

    /// New scene files: OBS is made to match them and the triggers' needs are checked again.
    pub fn reload(&self, scenes: SceneSet) {
        self.send(ObsAction::Reload(Box::new(scenes)));
    }

    /// Folds `action` into the desired state. Never waits, whatever OBS is doing, and keeps
    /// memory bounded however long OBS is away (see [`super::state`]).
    pub fn send(&self, action: ObsAction) {
        self.shared.fold(action);
    }

    /// Whether the OBS task is connected now, and why not.
    pub fn connection(&self) -> super::state::Connection {
        self.shared.connection()
    }

    /// Every push target's status, as the plugin reports it now (what was last seen while
    /// OBS is away; empty without targets). Waits at most about a request timeout.
    pub async fn push_status(&self) -> Vec<TargetStatus> {
        let (reply, rx) = oneshot::channel();
        self.send(ObsAction::Push(PushCommand::Status(reply)));
        rx.await.unwrap_or_default()
    }

    /// Waits at most about a request timeout (or a connect attempt while reconnecting).
    pub async fn stop_recording(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.send(ObsAction::StopRecording { reply });
        rx.await.ok().flatten()
    }
}

async fn run(
    config: ObsConfig,
    mut scenes: SceneSet,
    overrides: BTreeMap<String, serde_json::Value>,
    mut push: PushLink,
    shared: Arc<Shared>,
    streaming: watch::Sender<Option<bool>>,
) {
    // Put the main scene on program at the first connection (once per run, so a streamer's
    // own switch is not undone by a reconnection).
    let mut go_to_main = config.start_on_main;
    let base_delay = Duration::from_secs_f64(config.retry_secs);
    let max_delay = Duration::from_secs_f64(config.retry_max_secs).max(base_delay);
    let mut delay = base_delay;
    let mut failures = 0u32;
    let mut last_reminder = Instant::now();
    loop {
        match connect_and_ensure(&config, &scenes, &overrides, &mut push).await {
            Ok(obs) => {
                if failures > 0 {
                    tracing::info!(after_attempts = failures, "connected to OBS");
                }
                failures = 0;
                delay = base_delay;
                shared.set_connection(true, None);
                let mut conn = Connection {
                    obs: &obs,
                    scenes: &mut scenes,
                    overrides: &overrides,
                    streaming: &streaming,
                    push: &mut push,
                };
                match serve(&mut conn, &shared, &mut go_to_main).await {
                    Served::Closed => return,
                    Served::Lost(reason) => {
                        tracing::warn!(%reason, "lost OBS connection; reconnecting (the show goes on)");
                        shared.set_connection(false, Some(reason.to_string()));
                    }
                }
                // Dropping `obs` here aborts obws's reader and closes the socket at once; it
                // never waits on the peer, so a frozen OBS cannot hold us.
            }
            Err(reason) => {
                shared.set_connection(false, Some(reason.clone()));
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
        // Wait before retrying. Actions keep folding into the shared state meanwhile; only
        // `stop_recording` callers need an answer now (there is no recording to stop).
        let wake = Instant::now() + delay;
        loop {
            let snapshot = shared.snapshot();
            for waiter in snapshot.stop_waiters {
                let _ = waiter.send(None);
            }
            if let Some(new) = snapshot.reload {
                scenes = *new; // ensured at the next connection
            }
            if let Some(targets) = shared.take_push_targets() {
                push.replace(targets); // handed over at the next connection
            }
            shared.answer_push_status(push.last());
            if snapshot.closed {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                _ = shared.changed() => {}
            }
        }
        delay = (delay * 2).min(max_delay);
    }
}

async fn connect_and_ensure(
    config: &ObsConfig,
    scenes: &SceneSet,
    overrides: &BTreeMap<String, serde_json::Value>,
    push: &mut PushLink,
) -> Result<Obs, String> {
    let obs = Obs::connect(config).await.map_err(|e| e.to_string())?;
    let report = ensure(&obs, scenes, overrides)
        .await
        .map_err(|e| format!("ensuring scenes: {e}"))?;
    log_report(&report);
    needs::make_sure(&obs, scenes)
        .await
        .map_err(|e| format!("checking what the triggers need: {e}"))?;
    push.connected(&obs)
        .await
        .map_err(|e| format!("handing the push targets over: {e}"))?;
    Ok(obs)
}

fn log_report(report: &super::ensure::EnsureReport) {
    if report.is_empty() {
        tracing::info!("OBS scenes already in place");
    } else if report.failed.is_empty() {
        tracing::info!(?report.scenes_created, ?report.inputs_created, ?report.items_added, "OBS scenes ensured");
    } else {
        tracing::warn!(?report.scenes_created, ?report.inputs_created, ?report.items_added, ?report.failed, "OBS scenes ensured, except what OBS refused (see the errors above)");
    }
}

/// One live connection and what it serves.
struct Connection<'a> {
    obs: &'a Obs,
    scenes: &'a mut SceneSet,
    overrides: &'a BTreeMap<String, serde_json::Value>,
    streaming: &'a watch::Sender<Option<bool>>,
    push: &'a mut PushLink,
}

/// What this connection has put into OBS (so unchanged text is not sent again) and what OBS
/// refused on it.
#[derive(Default)]
struct Applied {
    gift_text: Option<String>,
    caption: Option<String>,
    /// The program scene: holds, celebrations, returns.
    program: Program,
    /// The triggers' other effects.
    fx: AppliedEffects,
    /// Recording: asked for, refused, to be checked.
    rec: Recording,
    /// Steps whose refusal was already logged on this connection.
    refusals: Refusals,
}

enum Served {
    Closed,
    Lost(String),
}

async fn serve(conn: &mut Connection<'_>, shared: &Shared, go_to_main: &mut bool) -> Served {
    let obs = conn.obs;
    let mut applied = Applied::default();
    let mut seen = None;
    let mut reapply = false;
    let mut health = tokio::time::interval(HEALTH_PERIOD);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.tick().await; // the first tick is immediate; the connection was just checked
    loop {
        let snapshot = shared.snapshot();
        if snapshot.closed {
            return Served::Closed;
        }
        if let Some(new) = snapshot.reload {
            *conn.scenes = *new;
            tracing::info!("scene files reloaded: ensuring them in OBS");
            let ensured = ensure(obs, conn.scenes, conn.overrides).await;
            let checked = match ensured {
                Ok(report) => {
                    log_report(&report);
                    needs::make_sure(obs, conn.scenes).await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                return Served::Lost(e.to_string());
            }
            reapply = true;
        }
        if reapply || seen != Some(snapshot.version) {
            let desired = &snapshot.desired;
            if let Err(e) = apply(obs, conn.scenes, desired, &mut applied, go_to_main).await {
                return Served::Lost(e.to_string());
            }
            seen = Some(snapshot.version);
            reapply = false;
        }
        let push_work = shared.take_push();
        if !push_work.is_empty() {
            if let Err((e, undone)) = conn.push.work(obs, push_work).await {
                shared.requeue_push(undone);
                return Served::Lost(e.to_string());
            }
        }
        if !snapshot.stop_waiters.is_empty() {
            let stopped = applied.rec.stop(obs, &mut applied.refusals).await;
            let path = stopped.as_ref().ok().cloned().flatten();
            for waiter in snapshot.stop_waiters {
                let _ = waiter.send(path.clone());
            }
            if let Err(e) = stopped {
                return Served::Lost(e.to_string());
            }
        }
        // Something ends by itself then (a celebration, a hold, a timed source): apply again.
        let now = Instant::now();
        let celebration_end = [
            snapshot.desired.celebration_until.filter(|u| *u > now),
            snapshot.desired.effects.next_change(now),
        ]
        .into_iter()
        .flatten()
        .min();
        let record_check = applied.rec.check_at;
        let push_poll = conn.push.next_poll();
        let far = Instant::now() + HEALTH_PERIOD;
        tokio::select! {
            _ = shared.changed() => {}
            _ = tokio::time::sleep_until(push_poll.unwrap_or(far)), if push_poll.is_some() => {
                if let Err(e) = conn.push.poll(obs).await {
                    return Served::Lost(e.to_string());
                }
            }
            _ = tokio::time::sleep_until(celebration_end.unwrap_or(far)), if celebration_end.is_some() => {
                reapply = true;
            }
            _ = tokio::time::sleep_until(record_check.unwrap_or(far)), if record_check.is_some() => {
                if let Err(e) = applied.rec.check(obs, &snapshot.desired, &mut applied.refusals).await {
                    return Served::Lost(e.to_string());
                }
            }
            _ = health.tick() => {
                // The health check doubles as the stream-state probe for `stream` triggers.
                match obs.call("GetStreamStatus", obs.client().streaming().status()).await {
                    Ok(status) => {
                        conn.streaming.send_if_modified(|live| {
                            let changed = *live != Some(status.active);
                            *live = Some(status.active);
                            changed
                        });
                    }
                    Err(e) if e.connection_lost() => return Served::Lost(e.to_string()),
                    Err(_) => {}
                }
            }
        }
    }
}

/// Brings OBS in line with the desired state. Only a lost connection is an error.
async fn apply(
    obs: &Obs,
    scenes: &SceneSet,
    desired: &Desired,
    applied: &mut Applied,
    go_to_main: &mut bool,
) -> Result<(), RequestError> {
    let roles = &scenes.roles;
    let c = obs.client();
    if let Some(text) = &desired.latest_gift {
        if applied.gift_text.as_ref() != Some(text) {
            let sent = set_text(obs, &roles.latest_gift_text, text).await;
            applied.refusals.settle("latest-gift text", sent)?;
            applied.gift_text = Some(text.clone());
        }
    }
    let current = obs
        .call("GetCurrentProgramScene", c.scenes().current_program_scene())
        .await;
    if let Some(mut current) = applied.refusals.settle("GetCurrentProgramScene", current)? {
        if std::mem::take(go_to_main) && current != roles.main {
            let switched = switch_scene(obs, &roles.main).await;
            if applied
                .refusals
                .settle("switch to the main scene", switched)?
                .is_some()
            {
                tracing::info!(from = %current, to = %roles.main, "show starts on the main scene");
                current = roles.main.clone();
            }
        }
        if desired.celebrating(Instant::now()) {
            if let (Some(source), Some(caption)) =
                (&roles.celebration_text, &desired.celebration_caption)
            {
                if applied.caption.as_ref() != Some(caption) {
                    let sent = set_text(obs, source, caption).await;
                    applied.refusals.settle("celebration caption", sent)?;
                    applied.caption = Some(caption.clone());
                }
            }
        }
        for (scene, step) in applied.program.decide(roles, desired, &current) {
            let switched = switch_scene(obs, &scene).await;
            applied.refusals.settle(step, switched)?;
        }
    }
    apply_effects(obs, &desired.effects, &mut applied.fx).await?;
    if desired.recording {
        applied.rec.start(obs, &mut applied.refusals).await?;
    }
    Ok(())
}

async fn switch_scene(obs: &Obs, scene: &str) -> Result<(), RequestError> {
    let scenes = obs.client().scenes();
    obs.call(
        "SetCurrentProgramScene",
        scenes.set_current_program_scene(scene),
    )
    .await
}

async fn set_text(obs: &Obs, source: &str, text: &str) -> Result<(), RequestError> {
    set_settings(obs, source, serde_json::json!({ "text": text })).await
}

#[cfg(test)]
mod tests;
