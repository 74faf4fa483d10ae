//! The show's side of the operator's console ([`crate::console`]): it carries out the
//! controls (pause, skip, veto, a typed line, the human mic, triggers, push targets) on its
//! own task, between events, and publishes what it owns as a [`ShowView`].
//!
//! Every control is logged with who sent it. A control never loses money: a vetoed or skipped
//! thank-you is thanked in the latest-gift text and marked in the ledger as not spoken.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::unheard::Unheard;
use super::{now_ms, Show};
use crate::console::control::{Control, ControlReply, ControlRequest};
use crate::console::view::{
    GiftView, LineView, ShowCounters, ShowView, TriggerView, GIFTS_SHOWN, QUEUE_SHOWN,
};
use crate::console::ConsoleTap;
use crate::cue::{Act, Cause, Cue, CueKind, LineFate, Prosody};
use crate::event::{EventKind, LiveEvent};
use crate::rewards::combo::GiftBatch;
use crate::scheduler::priority::EMERGENCY;

/// The view is published at most this often (the page shows it at once; the show's tick is
/// 100 ms, so this is every third tick or so).
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// The scene hold the human mic uses (trigger holds count up from 1).
const HUMAN_MIC_HOLD: u64 = u64::MAX - 1;
/// A typed line's length cap (characters): a paragraph is for the human mic.
const MAX_TYPED_CHARS: usize = 300;

/// What the show keeps for the console besides the timeline.
#[derive(Default)]
pub(super) struct Desk {
    tap: Option<ConsoleTap>,
    recent: VecDeque<GiftView>,
    totals: BTreeMap<String, crate::console::view::PlatformTotal>,
    viewers: BTreeMap<String, u64>,
    human_mic: bool,
    published: Option<Instant>,
    /// The line on air at the last publish: a new one is published at once.
    published_on_air: Option<u64>,
}

impl Desk {
    pub(super) fn new(tap: ConsoleTap) -> Self {
        Self {
            tap: Some(tap),
            ..Self::default()
        }
    }

    pub(super) async fn next_control(&mut self) -> Option<ControlRequest> {
        match &mut self.tap {
            Some(tap) => tap.controls.recv().await,
            None => std::future::pending().await,
        }
    }

    pub(super) fn saw(&mut self, event: &LiveEvent) {
        if let EventKind::ViewerStats { online, .. } = &event.kind {
            self.viewers.insert(event.platform.clone(), *online);
        }
    }

    pub(super) fn gift(&mut self, batch: &GiftBatch) {
        let yuan = batch.value_fen as f64 / 100.0;
        let total = self.totals.entry(batch.platform.clone()).or_default();
        total.batches += 1;
        total.yuan += yuan;
        self.recent.push_front(GiftView {
            platform: batch.platform.clone(),
            user: batch.viewer.name.clone(),
            gift: batch.gift_name.clone(),
            count: u32::try_from(batch.count).unwrap_or(u32::MAX),
            yuan,
            at_ms: now_ms(),
        });
        self.recent.truncate(GIFTS_SHOWN);
    }
}

impl Show {
    /// Lets an operator's console drive the show and see it.
    pub fn with_console(mut self, tap: ConsoleTap) -> Self {
        self.desk = Desk::new(tap);
        self
    }

    pub(super) fn on_control(&mut self, request: ControlRequest) {
        let action = request.control.name();
        let reply = self.carry_out(request.control, &request.who);
        if reply.ok {
            tracing::info!(who = %request.who, action, result = %reply.message, "operator control");
        } else {
            tracing::warn!(who = %request.who, action, result = %reply.message, "operator control refused");
        }
        let _ = request.reply.send(reply);
        self.publish_view(true);
    }

    fn carry_out(&mut self, control: Control, who: &str) -> ControlReply {
        match control {
            Control::Pause => {
                self.on_air.set_paused(true);
                ControlReply::done("paused: the line on air finishes, nothing else starts")
            }
            Control::Resume => {
                self.on_air.set_paused(false);
                ControlReply::done("resumed")
            }
            Control::Skip => match self.on_air.skip() {
                Some((line, cue)) => {
                    self.log_line(&cue, LineFate::Skipped, "skipped on air", Some(who));
                    ControlReply::done(format!("line {line} skipped"))
                }
                None => ControlReply::refused("nothing is on air"),
            },
            Control::Veto { line } => match self.on_air.veto(line) {
                Some(cue) => {
                    tracing::info!(line, who, text = %cue.text, "line vetoed");
                    self.log_line(&cue, LineFate::Vetoed, "vetoed before it aired", Some(who));
                    self.trigger_line_ended(&cue);
                    self.not_heard(cue, Unheard::Vetoed);
                    ControlReply::done(format!("line {line} vetoed"))
                }
                None => ControlReply::refused(format!("line {line} is not waiting")),
            },
            Control::Say { text } => self.say_typed(text, who),
            Control::HumanMic { on } => self.human_mic(on),
            Control::Trigger { name, enabled } => {
                if self.trig.triggers.set_enabled(&name, enabled) {
                    let state = if enabled { "on" } else { "off" };
                    ControlReply::done(format!("trigger {name} {state}"))
                } else {
                    ControlReply::refused(format!("no trigger is called {name}"))
                }
            }
            Control::Push { target, start } => self.push(target, start),
        }
    }

    /// The operator's own line: EMERGENCY, never dropped, aired even while paused.
    fn say_typed(&mut self, text: String, who: &str) -> ControlReply {
        let text = text.trim().to_string();
        if text.is_empty() {
            return ControlReply::refused("the line is empty");
        }
        if text.chars().count() > MAX_TYPED_CHARS {
            return ControlReply::refused(format!(
                "the line is longer than {MAX_TYPED_CHARS} characters: use the human mic"
            ));
        }
        let cue = Cue {
            kind: CueKind::Notice,
            text,
            priority: EMERGENCY,
            rank: 0,
            paid: true,
            ttl_ms: None,
            prosody: Prosody::default(),
            effects: Vec::new(),
            cause: Cause::Operator {
                who: who.to_string(),
            },
        };
        let id = self.on_air.offer(cue);
        ControlReply::done(format!("line {id} airs next"))
    }

    fn human_mic(&mut self, on: bool) -> ControlReply {
        let scene = self
            .desk
            .tap
            .as_ref()
            .map(|t| t.human_scene.clone())
            .unwrap_or_default();
        if scene.is_empty() {
            return ControlReply::refused("no human mic scene: set [console] human_scene");
        }
        if self.obs.is_none() {
            return ControlReply::refused("OBS control is off");
        }
        self.desk.human_mic = on;
        if on {
            self.on_air.set_paused(true);
            self.outputs.apply(&Act::HoldScene {
                scene: scene.clone(),
                hold: HUMAN_MIC_HOLD,
                secs: None,
            });
            ControlReply::done(format!("human mic: {scene} on program, AI paused"))
        } else {
            self.outputs.apply(&Act::ReleaseScene {
                hold: HUMAN_MIC_HOLD,
            });
            self.on_air.set_paused(false);
            ControlReply::done("back to the avatar, AI resumed")
        }
    }

    fn push(&mut self, target: Option<String>, start: bool) -> ControlReply {
        if self.obs.is_none() {
            return ControlReply::refused("OBS control is off");
        }
        if self.config.push.is_empty() {
            return ControlReply::refused("no push targets: add [[push]] entries to the config");
        }
        if let Some(name) = &target {
            if !self.config.push.iter().any(|t| &t.name == name) {
                return ControlReply::refused(format!("no push target is called {name}"));
            }
        }
        self.outputs.apply(&Act::Push {
            target: target.clone(),
            start,
        });
        let what = target.as_deref().unwrap_or("every target");
        let verb = if start { "starting" } else { "stopping" };
        ControlReply::done(format!("{verb} {what}"))
    }

    /// Publishes the show's view (at most every [`PUBLISH_EVERY`] unless `now`).
    pub(super) fn publish_view(&mut self, now: bool) {
        if self.desk.tap.is_none() {
            return;
        }
        let on_air = self.on_air.on_air_line().map(|l| l.line.id);
        if !now
            && on_air == self.desk.published_on_air
            && self
                .desk
                .published
                .is_some_and(|at| at.elapsed() < PUBLISH_EVERY)
        {
            return;
        }
        self.desk.published = Some(Instant::now());
        self.desk.published_on_air = on_air;
        let view = self.show_view();
        if let Some(tap) = &self.desk.tap {
            tap.view.send_if_modified(|old| {
                if **old == view {
                    return false;
                }
                *old = Arc::new(view);
                true
            });
        }
    }

    fn show_view(&self) -> ShowView {
        let line_view = |snap: crate::show::on_air::LineSnapshot<'_>| LineView {
            id: snap.line.id,
            text: snap.line.payload.text.clone(),
            kind: snap.line.payload.kind.name(),
            cause: cause_of(&snap.line.payload),
            priority: snap.line.priority,
            paid: snap.line.paid,
            age_secs: snap.age_ms as f64 / 1000.0,
            played_ms: snap.played_ms,
            total_ms: snap.total_ms,
        };
        let waiting = self.on_air.waiting_lines();
        let mut queued_by_level = BTreeMap::new();
        for snap in &waiting {
            *queued_by_level.entry(snap.line.priority).or_insert(0) += 1;
        }
        let queued_total = waiting.len();
        let queue = waiting
            .into_iter()
            .take(QUEUE_SHOWN)
            .map(line_view)
            .collect();
        let triggers = self
            .trig
            .triggers
            .set()
            .rules()
            .iter()
            .map(|rule| TriggerView {
                name: rule.name.clone(),
                at: format!("{}:{}", rule.file, rule.line),
                enabled: self.trig.triggers.is_enabled(&rule.name),
            })
            .collect();
        let counts = self.on_air.counts();
        let stats = self.on_air.stats();
        ShowView {
            paused: self.on_air.paused(),
            human_mic: self.desk.human_mic,
            on_air: self.on_air.on_air_line().map(line_view),
            queue,
            queued_total,
            queued_by_level,
            recent_gifts: self.desk.recent.iter().cloned().collect(),
            totals: self.desk.totals.clone(),
            viewers: self.desk.viewers.clone(),
            triggers,
            counters: ShowCounters {
                events: self.summary.events,
                gifts: self.summary.gifts_recorded,
                lines_aired: self.summary.lines_aired,
                thanks_merged: self.summary.thanks_merged,
                interrupted: counts.interrupted,
                dropped: counts.dropped,
                speech_failures: counts.speech_failures,
                drops: stats
                    .drops
                    .nonzero()
                    .map(|(class, why, n)| (class.name().to_string(), why.name().to_string(), n))
                    .collect(),
            },
        }
    }
}

/// Why a line is on the timeline, in the operator's words.
fn cause_of(cue: &Cue) -> String {
    match &cue.kind {
        CueKind::GiftThanks {
            platform, viewers, ..
        } => format!("{platform} gift: {}", viewers.join("、")),
        CueKind::Triggered { trigger, .. } => format!("trigger {trigger}"),
        CueKind::Rundown { product } => format!("rundown: {product}"),
        CueKind::ProductAnswer { product } => format!("question about {product}"),
        CueKind::Notice => match &cue.cause {
            Cause::Operator { who } => format!("typed by {who}"),
            _ => "notice".to_string(),
        },
        other => match &cue.cause {
            Cause::Event {
                platform,
                kind,
                msg_id,
            } => format!("{} · {kind} {msg_id} ({platform})", other.name()),
            _ => other.name().to_string(),
        },
    }
}
