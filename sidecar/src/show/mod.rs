//! The show: one task that turns live-room events into what the audience sees and hears.
//!
//! ```text
//! source ──LiveEvent──▶ ledger (gift written first) ──▶ combo ─▶ rewards ─┐
//!                      └──────────────▶ script (replies, thanks, welcomes) ─┴▶ timeline
//! timeline ──line──▶ speech (blocking pool) ──clip──▶ link: Say + audio ──▶ avatar (OBS source)
//! avatar ──Started/Progress/Finished──▶ timeline (interrupt rule uses real playout progress)
//! cue effects ──Act──▶ outputs: OBS captions/scenes, avatar motions (never waited on)
//! ```
//!
//! Everything here runs on one task and owns its state; the slow parts run elsewhere and report
//! back through channels, so no event waits behind them: admission and its commit retries on
//! their own task ([`crate::admission`]), synthesis on spawned tasks and the blocking pool,
//! ledger notes (airtime, thanked gifts, viewer memory) as background writes with retries.
//!
//! Modules: [`on_air`] (the unit that owns the timeline, clips, utterances and the watchdog,
//! and says how each line ended), [`airing`] (what the show does about it), [`replying`]
//! (LLM replies with the viewer's memory), [`rundown`] (the seller's rundown: its lines and
//! product answers) and [`unheard`] (gift lines that were not heard are
//! tried again, then thanked in text).

mod airing;
mod audit;
mod console;
mod measure;
mod on_air;
mod replying;
mod resume;
mod rundown;
mod triggering;
mod unheard;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::admission::{AdmittedGroup, Admitter, Intake};
use crate::config::Config;
use crate::cue::CueKind;
use crate::event::{EventKind, LiveEvent};
use crate::ledger::{LedgerError, LedgerHandle};
use crate::link::{LinkEvent, LinkHub};
use crate::obs::ObsController;
use crate::outputs::avatar::{AvatarOutput, SoundShelf};
use crate::outputs::{obs::ObsOutput, Outputs};
use crate::replies::{Replies, ReplyUpdate};
use crate::rewards::combo::{ComboAggregator, ComboPolicy, GiftBatch};
use crate::rewards::RewardEngine;
use crate::script::Script;
use crate::source::Delivery;
use crate::speech::Voice;

pub use crate::clock::now_ms;
use on_air::{ClipResult, OnAir, VoiceClips};
use replying::{next_reply, MemoryLookup};
use triggering::TriggerState;
pub use triggering::{minute_of_day, Reload};
use unheard::UnheardGifts;

/// Unthanked gifts left by an earlier run are fed to the timeline a page at a time, whenever
/// fewer than this many paid lines are waiting.
const RESUME_PAGE: usize = 256;
/// Viewer-memory lookups in flight at once; past this (a comment storm while the ledger is
/// locked) replies start without the viewer's memory instead of queueing behind the lock.
const MAX_MEMORY_LOOKUPS: usize = 8;

/// How the show ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Run until the process is stopped.
    Never,
    /// Stop once the source is exhausted and everything paid has been thanked on air.
    WhenDone,
}

/// Counters for the end-of-show summary.
#[derive(Debug, Default, Clone)]
pub struct ShowSummary {
    pub events: u64,
    pub gifts_recorded: u64,
    /// Events whose message id had been admitted before (re-deliveries).
    pub duplicates: u64,
    pub lines_aired: u64,
    pub lines_interrupted: u64,
    pub lines_dropped: u64,
    pub speech_failures: u64,
    /// Comments answered by the LLM, and answered from a template because it was too slow or
    /// failed.
    pub llm_replies: u64,
    pub llm_fallbacks: u64,
    pub unthanked_at_exit: u64,
    /// Gift lines that were not heard and were offered again, and those finally thanked in a
    /// text overlay instead.
    pub unheard_retries: u64,
    /// Thank-you lines merged into storm lines (`[gifts] aggregate_after`).
    pub thanks_merged: u64,
    pub thanked_in_text: u64,
    /// Ledger commits that had to be retried (the ledger was locked, the disk full…).
    pub ledger_retries: u64,
    /// Why the show ended early, when something could not heal (the process exits non-zero).
    pub fatal: Option<String>,
    /// The timeline's own counters (offers, starts, interruptions, drops by reason).
    pub scheduler: crate::scheduler::timeline::Stats,
    /// Trigger firings: run, queued and let go by their groups, held by cooldowns.
    pub triggers: crate::triggers::RunnerStats,
    pub triggers_held: crate::triggers::Held,
}

pub struct Show {
    config: Config,
    ledger: LedgerHandle,
    /// Where cue effects go (OBS, the avatar's motions).
    outputs: Outputs,
    voice: Arc<Voice>,
    /// LLM replies in flight (None: templates answer).
    replies: Option<Replies>,
    reply_rx: Option<mpsc::UnboundedReceiver<(u64, ReplyUpdate)>>,
    rewards: RewardEngine,
    script: Script,
    combos: ComboAggregator,
    /// The seller's rundown (None: `[rundown]` off).
    rundown: Option<crate::rundown::Rundown>,
    /// The timeline, clips, utterances and watchdog.
    on_air: OnAir,
    /// Clips made by the voice for the on-air unit.
    synth_rx: mpsc::UnboundedReceiver<(u64, ClipResult)>,
    /// Viewer memory looked up for an LLM reply, arriving back from the blocking pool.
    memory_tx: mpsc::UnboundedSender<MemoryLookup>,
    memory_rx: mpsc::UnboundedReceiver<MemoryLookup>,
    /// Lookups on the blocking pool now (bounded: see [`MAX_MEMORY_LOOKUPS`]).
    memory_lookups: usize,
    unheard: UnheardGifts,
    /// The streamer's triggers and their running sequences.
    trig: TriggerState,
    /// The show's one safety screen (rebuilt parts, like the script on a reload, share it).
    safety: Arc<crate::safety::SafetyScreen>,
    obs: Option<ObsController>,
    /// Rules edited on disk while the show runs.
    reloads: Option<mpsc::Receiver<Reload>>,
    /// OBS's stream output, for `stream` triggers, and its last known state.
    streaming: Option<watch::Receiver<Option<bool>>>,
    stream_live: Option<bool>,
    /// Next page of unthanked gifts from an earlier run (row to continue after), the last row
    /// of that run, and the page being read.
    resume_after: Option<i64>,
    resume_until: i64,
    resume_job: Option<tokio::sync::oneshot::Receiver<Result<ResumePage, LedgerError>>>,
    resume_retry_at: Instant,
    /// When written-behind viewer memory was last flushed in a quiet moment.
    viewers_flushed: Instant,
    /// When the show started (the LLM is told how long the stream has been live).
    started: Instant,
    rng: StdRng,
    summary: ShowSummary,
    /// The operator's console: its controls and what it is shown.
    desk: console::Desk,
}

impl Show {
    pub fn new(
        config: Config,
        ledger: LedgerHandle,
        hub: LinkHub,
        obs: Option<ObsController>,
        voice: Arc<Voice>,
        safety: Arc<crate::safety::SafetyScreen>,
        triggers: crate::triggers::TriggerSet,
    ) -> Self {
        let rules = config.scheduler.timeline_rules();
        let policy = ComboPolicy {
            idle_ms: config.gifts.combo_idle_ms,
            max_hold_ms: config.gifts.combo_max_hold_ms,
            ..ComboPolicy::default()
        };
        let sounds = SoundShelf::default();
        let mut outputs = Outputs::default().with(AvatarOutput::new(hub.clone(), sounds.clone()));
        if let Some(obs) = &obs {
            outputs = outputs.with(ObsOutput::new(obs.clone()));
        }
        let (remembered_tx, remembered_rx) = mpsc::unbounded_channel();
        let trig = TriggerState {
            runner: crate::triggers::Runner::new(&triggers, safety.clone()),
            triggers: crate::triggers::Triggers::new(
                triggers,
                config.scheduler.vip_level,
                safety.clone(),
                now_ms(),
            ),
            remembered_tx,
            remembered_rx,
            lookups: 0,
            sounds,
        };
        let (synth_tx, synth_rx) = mpsc::unbounded_channel();
        let clips = VoiceClips {
            voice: voice.clone(),
            done: synth_tx,
        };
        let (memory_tx, memory_rx) = mpsc::unbounded_channel();
        Self {
            rewards: RewardEngine::new(&config.gifts, safety.clone())
                .with_vip_level(config.scheduler.vip_level),
            script: Script::new(
                &config.lines,
                &config.scheduler,
                &config.persona.name,
                safety.clone(),
            ),
            combos: ComboAggregator::new(policy, config.tier_table()),
            rundown: None,
            on_air: OnAir::new(rules, hub, clips),
            config,
            ledger,
            outputs,
            voice,
            replies: None,
            reply_rx: None,
            synth_rx,
            memory_tx,
            memory_rx,
            memory_lookups: 0,
            unheard: UnheardGifts::default(),
            trig,
            safety,
            streaming: obs.as_ref().map(|o| o.streaming()),
            stream_live: None,
            obs,
            reloads: None,
            resume_after: Some(0),
            resume_until: 0,
            resume_job: None,
            resume_retry_at: Instant::now(),
            viewers_flushed: Instant::now(),
            started: Instant::now(),
            rng: StdRng::from_os_rng(),
            summary: ShowSummary::default(),
            desk: console::Desk::default(),
        }
    }

    /// The sound files the triggers mix into the voice (decoded with the scenes).
    pub fn with_sounds(self, sounds: crate::outputs::sounds::SoundBank) -> Self {
        *self.trig.sounds.write().unwrap_or_else(|e| e.into_inner()) = sounds;
        self
    }

    /// Applies rules edited on disk while the show runs (the `reload` module watches them).
    pub fn with_reloads(mut self, reloads: mpsc::Receiver<Reload>) -> Self {
        self.reloads = Some(reloads);
        self
    }

    /// Runs the show until `events` closes and `ending` says so (or forever), or until the
    /// ledger cannot heal (`ShowSummary::fatal`).
    pub async fn run(
        mut self,
        events: mpsc::Receiver<Delivery>,
        mut link: mpsc::Receiver<LinkEvent>,
        ending: Ending,
    ) -> ShowSummary {
        // Read before admission starts: everything after it is this run's, thanked as it comes.
        self.resume_until = self
            .with_ledger(|l| l.last_gift_row())
            .await
            .unwrap_or(i64::MAX);
        let mut intake = Admitter::new(
            self.ledger.clone(),
            self.rewards.tiers().clone(),
            self.config.gifts.pricing(),
        )
        .spawn(events);
        self.resume_first_page().await;
        let mut source_open = true;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger_due = self.trig.runner.next_due_ms();
            tokio::select! {
                intake = intake.recv(), if source_open => match intake {
                    Some(Intake::Admitted(group)) => self.on_admitted(group).await,
                    Some(Intake::Fatal(why)) => {
                        self.summary.fatal = Some(why);
                        break;
                    }
                    None => {
                        source_open = false;
                        tracing::info!("event source finished");
                    }
                },
                Some(event) = link.recv() => self.on_link(event),
                Some((line_id, result)) = self.synth_rx.recv() => self.on_clip(line_id, result),
                Some(lookup) = self.memory_rx.recv() => self.on_memory(lookup),
                Some((reply, update)) = next_reply(&mut self.reply_rx) => self.on_reply(reply, update),
                Some(remembered) = self.trig.remembered_rx.recv() => self.on_remembered(remembered),
                Some(reload) = next(&mut self.reloads) => self.on_reload(reload),
                Some(control) = self.desk.next_control() => self.on_control(control),
                Some(live) = stream_change(&mut self.streaming, &mut self.stream_live) => self.trigger_on_stream(live),
                // A trigger's next step, on time (not at the next tick).
                _ = sleep_until_ms(trigger_due) => self.run_triggers(),
                _ = tick.tick() => self.on_tick(source_open),
            }
            self.pump();
            self.publish_view(false);
            if ending == Ending::WhenDone && !source_open && self.all_done() {
                tracing::info!("replay finished and every line has aired");
                break;
            }
        }
        self.summary.scheduler = self.on_air.stats();
        self.summary.triggers = self.trig.runner.stats();
        self.summary.triggers_held = self.trig.triggers.held();
        let counts = self.on_air.counts();
        self.summary.lines_interrupted = counts.interrupted;
        self.summary.lines_dropped = counts.dropped;
        self.summary.speech_failures = counts.speech_failures;
        if let Some(replies) = &self.replies {
            self.summary.llm_replies = replies.llm_replies;
            self.summary.llm_fallbacks = replies.fallbacks;
        }
        for stats in self.voice.stats() {
            tracing::info!(?stats, "TTS engine statistics");
        }
        self.drain_notes().await;
        self.summary.unthanked_at_exit =
            self.with_ledger(|l| l.unthanked_count()).await.unwrap_or(0);
        self.summary
    }

    fn all_done(&self) -> bool {
        self.on_air.is_idle()
            && self.combos.next_due_ms().is_none()
            && self.unheard.is_empty()
            && self.resume_after.is_none()
            && self.replies.as_ref().is_none_or(|r| r.in_flight() == 0)
            && self.trig.runner.in_flight() == 0
    }

    /// Runs `f` on the ledger's thread and waits for it, logging a failure. Only at the start
    /// and the end of the show: inside its loop, the show never waits on the ledger.
    async fn with_ledger<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::ledger::Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Option<T> {
        self.ledger
            .call(f)
            .await
            .map_err(|e| tracing::error!(error = %e, "ledger operation failed"))
            .ok()
    }

    /// Waits (a few seconds at most) for the ledger's queue, so the summary counts what was
    /// thanked and a gift thanked just before the end is not thanked again next time.
    async fn drain_notes(&self) {
        if tokio::time::timeout(Duration::from_secs(10), self.ledger.flushed())
            .await
            .is_err()
        {
            tracing::warn!("ledger notes still queued at the end of the show");
        }
    }

    /// A committed group from admission: react to what was new, in arrival order.
    async fn on_admitted(&mut self, group: AdmittedGroup) {
        self.summary.events += group.received;
        self.summary.duplicates += group.duplicates;
        self.summary.ledger_retries += u64::from(group.retries);
        measure::duplicates(group.duplicates);
        for event in group.fresh {
            let kind = event.kind.name();
            measure::event(&event);
            self.on_event(event);
            measure::decided(kind, group.taken_at);
        }
    }

    fn on_event(&mut self, event: LiveEvent) {
        let now = now_ms();
        // Which platforms are live decides whether thank-yous name theirs.
        self.rewards.saw(&event.platform, now);
        self.desk.saw(&event);
        // Triggers see every event (gifts once folded, in `release`), answered or not.
        if !matches!(event.kind, EventKind::Gift(_)) {
            self.trigger_on_event(&event);
        }
        if self.ask_rundown(&event, now) {
            return;
        }
        if let EventKind::Gift(_) = &event.kind {
            self.summary.gifts_recorded += 1;
            let ready = self.combos.push(&event, now);
            for batch in ready {
                self.release(batch);
            }
            return;
        }
        let Some(cue) = self.script.react(&event, now, &mut self.rng) else {
            return;
        };
        match (&event.kind, &cue.kind, self.replies.is_some()) {
            (EventKind::Comment { text }, CueKind::Reply, true) => {
                let text = text.clone();
                self.start_llm_reply(&event, text, cue);
            }
            _ => self.offer(cue),
        }
    }

    /// A gift batch is ready to be thanked: its captions now, the line through the timeline.
    fn release(&mut self, batch: GiftBatch) {
        let cue = self.rewards.thank(&batch, &mut self.rng);
        tracing::info!(user = %batch.viewer.name, gift = %batch.gift_name, count = batch.count, fen = batch.value_fen, "gift");
        self.desk.gift(&batch);
        self.offer(cue);
        measure::gift_to_obs(&batch, now_ms());
        self.trigger_on_gift(&batch);
    }

    fn on_tick(&mut self, source_open: bool) {
        for batch in self.combos.poll(now_ms()) {
            self.release(batch);
        }
        for cue in self.unheard.due(Instant::now()) {
            self.offer(cue);
        }
        self.resume_more();
        // Admission writes viewer memory behind and carries it in its own transactions; when
        // the room goes quiet, nothing would.
        if self.viewers_flushed.elapsed() >= Duration::from_secs(1) {
            self.viewers_flushed = Instant::now();
            let now = now_ms();
            self.ledger
                .submit("viewer memory", move |l| l.flush_viewers(now, false));
        }
        self.watchdog();
        self.trigger_on_tick();
        if source_open {
            self.offer_rundown_line(now_ms());
        }
        let idle_for = Duration::from_secs(self.config.scheduler.idle_after_secs);
        if source_open && self.on_air.due_for_idle_line(idle_for) {
            if let Some(cue) = self.script.idle_line(&mut self.rng) {
                self.offer(cue);
            }
        }
    }
}

async fn next<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The stream state when it changes from a known state (the first report, at the first
/// connection, is not a change: a show started while live did not see the stream start).
/// Never, without OBS or once its task is gone.
async fn stream_change(
    rx: &mut Option<watch::Receiver<Option<bool>>>,
    last: &mut Option<bool>,
) -> Option<bool> {
    loop {
        let Some(watch) = rx else {
            return std::future::pending().await;
        };
        if watch.changed().await.is_err() {
            *rx = None;
            continue;
        }
        let Some(now) = *watch.borrow_and_update() else {
            continue;
        };
        if last.replace(now).is_some_and(|was| was != now) {
            return Some(now);
        }
    }
}

/// Sleeps until the process-clock time `due` (forever for `None`).
async fn sleep_until_ms(due: Option<u64>) {
    match due {
        Some(due) => {
            let wait = due.saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await
        }
        None => std::future::pending().await,
    }
}

/// Unthanked gifts of an earlier run, each with its ledger row.
type ResumePage = Vec<(i64, LiveEvent)>;
