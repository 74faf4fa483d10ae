//! The desired-state cell between the show and the OBS task.
//!
//! The show must never wait on OBS, and a frozen or absent OBS must not make memory grow. So
//! there is no queue: [`ObsAction`]s are folded into one [`Desired`] value *by the sender*,
//! under a mutex held for a few assignments and never across an await, and the OBS task is
//! woken with a [`Notify`] (whose single stored permit coalesces any number of wake-ups).
//! Memory is one `Desired` however long OBS is away, the latest state always wins (a newer gift
//! text overwrites an older one, a celebration extends the running one), and nothing the
//! audience should still see is lost. The only list is of `stop_recording` callers waiting for
//! their answer, pruned of callers that gave up, so it is bounded by the callers still waiting.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::effects::Effects;
use super::push::{PushCommand, PushWork};
use super::scenes::SceneSet;
use super::ObsAction;
use crate::cue::Act;

/// What OBS should look like, kept across disconnections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub latest_gift: Option<String>,
    pub celebration_caption: Option<String>,
    pub celebration_until: Option<Instant>,
    /// When the running celebration began (it competes with trigger holds: the newest wins).
    pub celebration_since: Option<Instant>,
    pub recording: bool,
    /// What the streamer's triggers asked for.
    pub effects: Effects,
}

impl Desired {
    pub fn celebrating(&self, now: Instant) -> bool {
        self.celebration_until.is_some_and(|u| u > now)
    }
}

/// A caller of `stop_recording`, waiting for the path OBS wrote.
pub type StopReply = oneshot::Sender<Option<String>>;

/// Push commands kept while OBS is away; beyond this the oldest start or stop is dropped, with
/// a warning (status questions are not counted against it: their callers give up and are
/// pruned).
pub const MAX_PUSH_COMMANDS: usize = 32;

#[derive(Default)]
struct Inner {
    desired: Desired,
    /// Bumped by every fold, so the task can tell whether anything changed since it looked.
    version: u64,
    stop_waiters: Vec<StopReply>,
    /// New scene files (a reload), to ensure and check on the connection.
    reload: Option<Box<SceneSet>>,
    /// Push targets and commands for the connection (bounded: see [`MAX_PUSH_COMMANDS`]).
    push: PushWork,
    /// Every handle is gone: the task should end.
    closed: bool,
}

/// What the task takes out of the cell when it wakes.
pub struct Snapshot {
    pub desired: Desired,
    pub version: u64,
    pub stop_waiters: Vec<StopReply>,
    pub reload: Option<Box<SceneSet>>,
    pub closed: bool,
}

#[derive(Default)]
pub struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
    /// Whether the task is connected, and the last reason it was not (for the console and
    /// `/readyz`; written by the task only).
    connection: Mutex<Connection>,
}

/// The OBS connection as the console shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub connected: bool,
    /// Why it is not connected (the last error), once an attempt failed or it was lost.
    pub reason: Option<String>,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn connection(&self) -> Connection {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_connection(&self, connected: bool, reason: Option<String>) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) =
            Connection { connected, reason };
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock can only have happened between plain assignments;
        // the state is still consistent, so keep going rather than poison the show.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds `action` into the desired state and wakes the task. Never blocks beyond the
    /// lock's few assignments, and never allocates per action beyond the action's own text.
    pub fn fold(&self, action: ObsAction) {
        {
            let mut inner = self.lock();
            let d = &mut inner.desired;
            match action {
                ObsAction::LatestGift { text } => d.latest_gift = Some(text),
                ObsAction::Celebrate { caption, secs } => {
                    let secs = if secs.is_finite() {
                        secs.clamp(0.0, 3600.0)
                    } else {
                        0.0
                    };
                    let now = Instant::now();
                    let until = now + Duration::from_secs_f64(secs);
                    if !d.celebrating(now) {
                        d.celebration_since = Some(now);
                    }
                    d.celebration_until = Some(d.celebration_until.map_or(until, |u| u.max(until)));
                    d.celebration_caption = Some(caption);
                }
                ObsAction::Act(act) => fold_act(&mut d.effects, act),
                ObsAction::Reload(scenes) => inner.reload = Some(scenes),
                ObsAction::PushTargets(targets) => inner.push.targets = Some(targets),
                ObsAction::Push(command) => {
                    let commands = &mut inner.push.commands;
                    commands.retain(|c| !matches!(c, PushCommand::Status(r) if r.is_closed()));
                    if commands.len() >= MAX_PUSH_COMMANDS {
                        if let Some(i) = commands
                            .iter()
                            .position(|c| !matches!(c, PushCommand::Status(_)))
                        {
                            let dropped = commands.remove(i);
                            tracing::warn!(
                                ?dropped,
                                "OBS is away and push commands pile up; dropping the oldest"
                            );
                        }
                    }
                    commands.push(command);
                }
                ObsAction::StartRecording => d.recording = true,
                ObsAction::StopRecording { reply } => {
                    d.recording = false;
                    inner.stop_waiters.retain(|w| !w.is_closed());
                    inner.stop_waiters.push(reply);
                }
            }
            inner.version += 1;
        }
        self.wake.notify_one();
    }

    /// The last handle is gone.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// A new set of push targets, taken while OBS is away (the rest waits for the connection).
    pub fn take_push_targets(&self) -> Option<super::push::PushSet> {
        self.lock().push.targets.take()
    }

    /// Commands a lost connection left undone go back in front of any newer ones.
    pub fn requeue_push(&self, undone: Vec<PushCommand>) {
        if undone.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let newer = std::mem::take(&mut inner.push.commands);
        inner.push.commands = undone;
        inner.push.commands.extend(newer);
        drop(inner);
        self.wake.notify_one();
    }

    /// The push work waiting for the connection.
    pub fn take_push(&self) -> PushWork {
        std::mem::take(&mut self.lock().push)
    }

    /// Answers waiting status callers with what was last seen (OBS is away).
    pub fn answer_push_status(&self, last: &[super::push::vendor::TargetStatus]) {
        let mut inner = self.lock();
        let (status, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.push.commands)
            .into_iter()
            .partition(|c| matches!(c, PushCommand::Status(_)));
        inner.push.commands = rest;
        for command in status {
            if let PushCommand::Status(reply) = command {
                let _ = reply.send(last.to_vec());
            }
        }
    }

    /// The current state, taking the waiting `stop_recording` callers.
    pub fn snapshot(&self) -> Snapshot {
        let mut inner = self.lock();
        Snapshot {
            desired: inner.desired.clone(),
            version: inner.version,
            stop_waiters: std::mem::take(&mut inner.stop_waiters),
            reload: inner.reload.take(),
            closed: inner.closed,
        }
    }

    /// Resolves once something was folded (or closed) since the last wake-up.
    pub async fn changed(&self) {
        self.wake.notified().await;
    }
}

/// A trigger's act, into the effects state. Acts OBS has no part in are ignored.
fn fold_act(fx: &mut Effects, act: Act) {
    let now = Instant::now();
    match act {
        Act::HoldScene { scene, hold, secs } => fx.hold(hold, scene, secs, now),
        Act::ReleaseScene { hold } => fx.release(hold, now),
        Act::SwitchScene { scene } => fx.switch(scene),
        Act::SourceVisible {
            source,
            scene,
            visible,
            secs,
        } => fx.show(scene, source, visible, secs, now),
        Act::SetText { source, text } => fx.text(source, text),
        Act::RestartMedia { input } => fx.restart(input, now),
        Act::Filter {
            source,
            filter,
            enabled,
        } => fx.filter(source, filter, enabled, now),
        Act::InputSettings { input, settings } => fx.settings(input, settings),
        Act::Expression(_)
        | Act::Motion(_)
        | Act::ShowExpression { .. }
        | Act::LatestGiftText(_)
        | Act::Celebrate { .. }
        | Act::VoiceSound { .. }
        | Act::Push { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_actions_fold_into_one_state_where_the_latest_wins() {
        let shared = Shared::new();
        for i in 0..100_000 {
            shared.fold(ObsAction::LatestGift {
                text: format!("gift {i}"),
            });
        }
        shared.fold(ObsAction::StartRecording);
        let snap = shared.snapshot();
        assert_eq!(snap.desired.latest_gift.as_deref(), Some("gift 99999"));
        assert!(snap.desired.recording);
        assert_eq!(snap.version, 100_001);
        assert!(snap.stop_waiters.is_empty() && !snap.closed);
    }

    #[tokio::test(start_paused = true)]
    async fn celebrations_extend_and_take_the_newest_caption() {
        let shared = Shared::new();
        shared.fold(ObsAction::Celebrate {
            caption: "first".into(),
            secs: 10.0,
        });
        shared.fold(ObsAction::Celebrate {
            caption: "second".into(),
            secs: 2.0,
        });
        // Absurd durations must not panic the sender (the show).
        shared.fold(ObsAction::Celebrate {
            caption: "third".into(),
            secs: f64::NAN,
        });
        let d = shared.snapshot().desired;
        assert_eq!(d.celebration_caption.as_deref(), Some("third"));
        let now = Instant::now();
        assert!(d.celebrating(now + Duration::from_secs(9)));
        assert!(!d.celebrating(now + Duration::from_secs(11)));
    }

    #[tokio::test]
    async fn folding_wakes_the_task_once_for_any_number_of_actions() {
        let shared = Shared::new();
        for _ in 0..10 {
            shared.fold(ObsAction::StartRecording);
        }
        // One stored permit: the first wait returns at once, a second would block.
        tokio::time::timeout(Duration::from_millis(50), shared.changed())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), shared.changed())
                .await
                .is_err()
        );
        shared.close();
        assert!(shared.snapshot().closed);
    }

    #[test]
    fn stop_waiters_that_gave_up_are_pruned() {
        let shared = Shared::new();
        for _ in 0..1000 {
            let (reply, rx) = oneshot::channel();
            shared.fold(ObsAction::StopRecording { reply });
            drop(rx);
        }
        let (reply, _rx) = oneshot::channel();
        shared.fold(ObsAction::StopRecording { reply });
        let snap = shared.snapshot();
        assert!(!snap.desired.recording);
        // The closed ones were dropped as new ones came in.
        assert!(snap.stop_waiters.len() <= 2, "{}", snap.stop_waiters.len());
        assert!(shared.snapshot().stop_waiters.is_empty());
    }
}
