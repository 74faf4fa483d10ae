//! The streamer's triggers in the show: what happens is matched against the rules
//! ([`crate::triggers::Triggers`]), fired rules run as timed sequences
//! ([`crate::triggers::Runner`]), and their commands become lines on the timeline and acts for
//! the outputs. Reloads of the scene files and `[lines]` land here too.
//!
//! Viewer memory from earlier shows (visits, gift totals) is asked of the ledger the first
//! time a viewer shows up in this run, when some rule reads it; until the answer comes (a few
//! milliseconds, unless the ledger is locked) the rules see this show's counts only.

use crate::outputs::avatar::SoundShelf;
use std::path::PathBuf;

use chrono::Timelike;
use tokio::sync::mpsc;

use super::{now_ms, Show};
use crate::cue::{Cue, CueKind};
use crate::event::LiveEvent;
use crate::scene_dir::SceneDir;
use crate::script::{LinesConfig, Script};
use crate::triggers::{Command, Fired, Runner, Triggers};

/// Viewer-memory lookups for the triggers in flight at most.
const MAX_TRIGGER_LOOKUPS: usize = 8;

/// New rules, read from disk while the show runs (by the `reload` module).
#[derive(Debug, Clone)]
pub struct Reload {
    pub lines: LinesConfig,
    pub scene_dir: SceneDir,
    /// The `[[push]]` targets that can be used, keys read (and those whose key could not be
    /// read, which keep their settings).
    pub push: crate::obs::push::PushSet,
    /// Where they came from, for the log.
    pub from: Vec<PathBuf>,
}

/// A viewer's memory from the ledger, for the triggers: (platform, user id, visits, fen).
pub(super) type Remembered = (String, String, u64, u64);

/// The trigger side of the show.
pub(super) struct TriggerState {
    pub triggers: Triggers,
    pub runner: Runner,
    pub remembered_tx: mpsc::UnboundedSender<Remembered>,
    pub remembered_rx: mpsc::UnboundedReceiver<Remembered>,
    pub lookups: usize,
    /// The triggers' voice sounds, read by the avatar output.
    pub sounds: SoundShelf,
}

/// Local time of day in minutes, for schedules and show hours.
pub fn minute_of_day() -> u32 {
    let now = chrono::Local::now();
    now.hour() * 60 + now.minute()
}

impl Show {
    /// A live-room event other than a gift.
    pub(super) fn trigger_on_event(&mut self, event: &LiveEvent) {
        self.ask_memory(event);
        let fired = self
            .trig
            .triggers
            .on_event(event, now_ms(), minute_of_day());
        self.fire(fired);
    }

    /// A gift batch about to be thanked.
    pub(super) fn trigger_on_gift(&mut self, batch: &crate::rewards::combo::GiftBatch) {
        let tier = self.rewards.tiers().classify(batch.value_fen);
        let fired = self
            .trig
            .triggers
            .on_gift(batch, tier, now_ms(), minute_of_day());
        self.fire(fired);
    }

    pub(super) fn trigger_on_tick(&mut self) {
        let fired = self.trig.triggers.on_tick(now_ms(), minute_of_day());
        self.fire(fired);
    }

    pub(super) fn trigger_on_stream(&mut self, live: bool) {
        tracing::info!(live, "OBS stream output changed");
        let fired = self
            .trig
            .triggers
            .on_stream(live, now_ms(), minute_of_day());
        self.fire(fired);
    }

    fn fire(&mut self, fired: Vec<Fired>) {
        let now = now_ms();
        for f in fired {
            tracing::info!(trigger = %f.rule.name, at = %format!("{}:{}", f.rule.file, f.rule.line), "trigger fired");
            self.trig.runner.start(f, now);
        }
        self.run_triggers();
    }

    /// Runs the steps that are due: lines go to the timeline, acts to the outputs.
    pub(super) fn run_triggers(&mut self) {
        let commands = self.trig.runner.poll(now_ms(), &mut self.rng);
        for command in commands {
            match command {
                Command::Speak(cue) => self.offer(cue),
                Command::Act(act) => self.outputs.apply(&act),
            }
        }
    }

    /// A line ended (heard or not): a trigger waiting for it goes on.
    pub(super) fn trigger_line_ended(&mut self, cue: &Cue) {
        if let CueKind::Triggered { firing, .. } = cue.kind {
            self.trig.runner.line_ended(firing);
            self.run_triggers();
        }
    }

    pub(super) fn on_remembered(&mut self, (platform, user, visits, fen): Remembered) {
        self.trig.lookups = self.trig.lookups.saturating_sub(1);
        self.trig.triggers.remember(&platform, &user, visits, fen);
    }

    /// New rules. Nothing queued is dropped: lines on the timeline, running sequences and
    /// their groups keep going; the next event meets the new rules.
    pub(super) fn on_reload(&mut self, reload: Reload) {
        self.script = Script::new(
            &reload.lines,
            &self.config.scheduler,
            &self.config.persona.name,
            self.safety.clone(),
        );
        self.config.lines = reload.lines;
        let set = reload.scene_dir.triggers;
        *self.trig.sounds.write().unwrap_or_else(|e| e.into_inner()) = reload.scene_dir.sounds;
        self.trig.runner.adopt_groups(&set);
        tracing::info!(triggers = set.rules().len(), files = ?reload.from, "rules reloaded");
        self.trig.triggers.replace(set);
        if let Some(obs) = &self.obs {
            obs.reload(reload.scene_dir.scenes);
            obs.send(crate::obs::ObsAction::PushTargets(reload.push));
        }
    }

    /// Asks the ledger what it remembers of a viewer seen for the first time in this run.
    fn ask_memory(&mut self, event: &LiveEvent) {
        let Some(user) = &event.user else { return };
        if !self.trig.triggers.set().reads_memory()
            || self.trig.triggers.knows(&event.platform, &user.id)
            || self.trig.lookups >= MAX_TRIGGER_LOOKUPS
        {
            return;
        }
        // Known from now on (with this show's counts), so it is asked once.
        self.trig.triggers.remember(&event.platform, &user.id, 0, 0);
        self.trig.lookups += 1;
        let (platform, id) = (event.platform.clone(), user.id.clone());
        let answer = self
            .ledger
            .request(move |l| l.viewer_memory(&platform, &id, 0));
        let tx = self.trig.remembered_tx.clone();
        let (platform, id) = (event.platform.clone(), user.id.clone());
        tokio::spawn(async move {
            let memory = match answer.await {
                Ok(Ok(memory)) => memory,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "viewer memory for the triggers not read");
                    None
                }
                Err(_) => None,
            };
            let (visits, fen) = memory.map_or((0, 0), |m| (m.events, m.gift_fen));
            let _ = tx.send((platform, id, visits, fen));
        });
    }
}
