//! The show: one task that turns live-room events into what the audience sees and hears.
//!
//! ```text
//! source ──LiveEvent──▶ ledger (gift written first) ──▶ combo ─▶ rewards ─┐
//!                      └──────────────▶ script (replies, thanks, welcomes) ─┴▶ timeline
//! timeline ──line──▶ speech (blocking pool) ──clip──▶ link: Say + audio ──▶ avatar (OBS source)
//! avatar ──Started/Progress/Finished──▶ timeline (interrupt rule uses real playout progress)
//! rewards ──LatestGift/Celebrate──▶ OBS controller (never waited on)
//! ```
//!
//! Everything here runs on one task and owns its state; the slow parts (synthesis, SQLite) run
//! on the blocking pool and report back through channels, so no event waits behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use avatar_link::{AudioChunk, Command, Report};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::cue::{Cue, CueKind};
use crate::event::{EventKind, LiveEvent};
use crate::ledger::{Admission, AiredLine, Batch, Ledger};
use crate::link::{LinkEvent, LinkHub};
use crate::obs::{ObsAction, ObsController};
use crate::replies::{Asker, Outcome, Replies, ReplyUpdate};
use crate::rewards::combo::{ComboAggregator, ComboPolicy, GiftBatch};
use crate::rewards::RewardEngine;
use crate::scheduler::{InterruptRules, Line, Timeline};
use crate::script::Script;
use crate::source::Delivery;
use crate::speech::{Clip, Prosody, SpeechError, Voice};

/// Audio is sent to the avatar in 100 ms chunks: small enough that a `Stop` cuts promptly on
/// the avatar side, large enough to keep per-message overhead negligible.
const CHUNK_SAMPLES: usize = avatar_link::SAMPLE_RATE as usize / 10;
/// A playing line with no `Finished` report this long after its expected end is given up on.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);
/// At most this many waiting batches are admitted in one ledger transaction.
const MAX_GROUP: usize = 256;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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
    pub unthanked_at_exit: usize,
    /// The timeline's own counters (offers, starts, interruptions, drops by reason).
    pub scheduler: crate::scheduler::timeline::Stats,
}

struct OnAir {
    line_id: u64,
    cue: Cue,
    started_ms: u64,
    expected_end: Instant,
}

enum ClipState {
    Pending,
    Ready(Arc<Clip>),
    Failed,
}

pub struct Show {
    config: Config,
    ledger: Arc<Mutex<Ledger>>,
    hub: LinkHub,
    obs: Option<ObsController>,
    voice: Arc<Voice>,
    /// LLM replies in flight (None: templates answer).
    replies: Option<Replies>,
    reply_rx: Option<mpsc::UnboundedReceiver<(u64, ReplyUpdate)>>,
    rewards: RewardEngine,
    script: Script,
    combos: ComboAggregator,
    timeline: Timeline<Cue>,
    clips: HashMap<u64, ClipState>,
    synth_tx: mpsc::UnboundedSender<(u64, Result<Arc<Clip>, SpeechError>)>,
    synth_rx: mpsc::UnboundedReceiver<(u64, Result<Arc<Clip>, SpeechError>)>,
    /// Utterance id → what is being played under it.
    on_air: HashMap<u64, OnAir>,
    /// Utterance currently owned by the timeline's playing line.
    current_utterance: Option<u64>,
    next_line_id: u64,
    next_utterance: u64,
    last_spoke: Instant,
    /// When written-behind viewer memory was last flushed in a quiet moment.
    viewers_flushed: Instant,
    /// When the show started (the LLM is told how long the stream has been live).
    started: Instant,
    rng: StdRng,
    summary: ShowSummary,
}

impl Show {
    pub fn new(
        config: Config,
        ledger: Ledger,
        hub: LinkHub,
        obs: Option<ObsController>,
        voice: Arc<Voice>,
    ) -> Self {
        let s = &config.scheduler;
        let rules = InterruptRules {
            gap: s.interrupt_gap,
            gap_late: s.interrupt_gap_late,
            late_progress: s.late_progress,
            max_unpaid: s.max_queued_unpaid,
        };
        let policy = ComboPolicy {
            idle_ms: config.gifts.combo_idle_ms,
            max_hold_ms: config.gifts.combo_max_hold_ms,
            ..ComboPolicy::default()
        };
        let (synth_tx, synth_rx) = mpsc::unbounded_channel();
        Self {
            rewards: RewardEngine::new(&config),
            script: Script::new(&config),
            combos: ComboAggregator::new(policy, config.tier_table()),
            timeline: Timeline::new(rules),
            config,
            ledger: Arc::new(Mutex::new(ledger)),
            hub,
            obs,
            voice,
            replies: None,
            reply_rx: None,
            clips: HashMap::new(),
            synth_tx,
            synth_rx,
            on_air: HashMap::new(),
            current_utterance: None,
            next_line_id: 1,
            next_utterance: 1,
            last_spoke: Instant::now(),
            viewers_flushed: Instant::now(),
            started: Instant::now(),
            rng: StdRng::from_os_rng(),
            summary: ShowSummary::default(),
        }
    }

    /// Runs the show until `events` closes and `ending` says so (or forever).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Delivery>,
        mut link: mpsc::Receiver<LinkEvent>,
        ending: Ending,
    ) -> ShowSummary {
        self.resume_unthanked().await;
        let mut source_open = true;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                delivery = events.recv(), if source_open => match delivery {
                    Some(first) => {
                        let group = take_waiting(first, &mut events);
                        self.on_deliveries(group).await;
                    }
                    None => {
                        source_open = false;
                        tracing::info!("event source finished");
                    }
                },
                Some(event) = link.recv() => self.on_link(event).await,
                Some((line_id, result)) = self.synth_rx.recv() => self.on_clip(line_id, result),
                Some((reply, update)) = next_reply(&mut self.reply_rx) => self.on_reply(reply, update),
                _ = tick.tick() => self.on_tick(source_open).await,
            }
            self.pump();
            if ending == Ending::WhenDone && !source_open && self.all_done() {
                tracing::info!("replay finished and every line has aired");
                break;
            }
        }
        self.summary.scheduler = self.timeline.stats();
        if let Some(replies) = &self.replies {
            self.summary.llm_replies = replies.llm_replies;
            self.summary.llm_fallbacks = replies.fallbacks;
        }
        for stats in self.voice.stats() {
            tracing::info!(?stats, "TTS engine statistics");
        }
        self.summary.unthanked_at_exit = self
            .with_ledger(|l| l.unthanked_gifts())
            .await
            .map_or(0, |v| v.len());
        self.summary
    }

    fn all_done(&self) -> bool {
        self.timeline.is_idle()
            && self.combos.next_due_ms().is_none()
            && self.on_air.is_empty()
            && self.replies.as_ref().is_none_or(|r| r.in_flight() == 0)
    }

    /// Runs `f` on the ledger on the blocking pool, logging a failure; the returned task can be
    /// awaited for the result or left to finish on its own.
    fn ledger_task<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, crate::ledger::LedgerError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Option<T>> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            f(&ledger.lock().unwrap_or_else(|e| e.into_inner()))
                .map_err(|e| tracing::error!(error = %e, "ledger operation failed"))
                .ok()
        })
    }

    async fn with_ledger<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, crate::ledger::LedgerError> + Send + 'static,
    ) -> Option<T> {
        self.ledger_task(f).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "ledger task panicked");
            None
        })
    }

    /// Gifts recorded by an earlier run but never thanked on air are thanked first.
    async fn resume_unthanked(&mut self) {
        let pending = self
            .with_ledger(|l| l.unthanked_gifts())
            .await
            .unwrap_or_default();
        if pending.is_empty() {
            return;
        }
        tracing::info!(
            count = pending.len(),
            "thanking gifts left over from the last run"
        );
        let now = now_ms();
        for event in &pending {
            self.combos.push(event, now);
        }
        for batch in self.combos.drain() {
            self.release(batch);
        }
    }

    /// Admits a group of batches through the ledger (one transaction: de-duplication, combo
    /// totals, viewer memory, checkpoints), tells each source its batch is committed, then
    /// reacts to what was new, in arrival order.
    async fn on_deliveries(&mut self, group: Vec<Delivery>) {
        let mut batches = Vec::with_capacity(group.len());
        let mut acks = Vec::with_capacity(group.len());
        for Delivery {
            mut events,
            checkpoint,
            committed,
        } in group
        {
            self.apply_price_overrides(&mut events);
            self.summary.events += events.len() as u64;
            batches.push(Batch { events, checkpoint });
            acks.extend(committed);
        }
        let now = now_ms();
        let tiers = self.rewards.tiers().clone();
        let admitted = self
            .with_ledger(move |l| l.admit_group(batches, &|fen| tiers.classify(fen), now))
            .await;
        let Some(admitted) = admitted else {
            // The ledger is unwritable (disk full…). Not acknowledging makes the platform
            // resend; the error is logged by `with_ledger`. Nothing is thanked twice because
            // nothing was admitted.
            return;
        };
        for committed in acks {
            let _ = committed.send(());
        }
        for admission in admitted.into_iter().flatten() {
            match admission {
                Admission::Fresh(event) => self.on_event(event).await,
                Admission::Duplicate => self.summary.duplicates += 1,
                Admission::NothingNew => {}
            }
        }
    }

    /// `[gifts] diamonds` overrides the platform's price of a gift id, for every source.
    fn apply_price_overrides(&self, events: &mut [LiveEvent]) {
        let overrides = &self.config.gifts.diamonds;
        if overrides.is_empty() {
            return;
        }
        for event in events {
            if let EventKind::Gift(gift) = &mut event.kind {
                if let Some(diamonds) = overrides.get(&gift.gift_id) {
                    gift.diamonds = *diamonds;
                }
            }
        }
    }

    async fn on_event(&mut self, event: LiveEvent) {
        let now = now_ms();
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
                self.start_llm_reply(&event, text, cue).await;
            }
            _ => self.offer(cue),
        }
    }

    /// Answers comments with the LLM from now on (templates stay the fallback).
    pub fn with_llm(mut self, writer: crate::llm::ReplyWriter) -> Self {
        let (replies, rx) = Replies::new(writer);
        self.replies = Some(replies);
        self.reply_rx = Some(rx);
        self
    }

    /// Asks the LLM for a reply to `comment`, with what the ledger remembers of the viewer and
    /// what is going on in the room; `fallback` (the template reply) airs if it is too slow.
    async fn start_llm_reply(&mut self, event: &LiveEvent, comment: String, fallback: Cue) {
        let platform = event.platform.clone();
        let user_id = event
            .user
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_default();
        let history = self.config.llm.history_exchanges;
        let memory = {
            let (platform, user_id) = (platform.clone(), user_id.clone());
            self.with_ledger(move |l| l.viewer_memory(&platform, &user_id, history))
                .await
                .flatten()
        };
        let viewer = crate::llm::ViewerContext {
            name: event.viewer_name().to_string(),
            visits: memory
                .as_ref()
                .map_or(1, |m| m.events.clamp(1, u32::MAX as u64) as u32),
            gift_total_yuan: memory.as_ref().map_or(0.0, |m| m.gift_fen as f64 / 100.0),
            recent: memory
                .map(|m| m.recent)
                .unwrap_or_default()
                .into_iter()
                .map(|(comment, reply)| crate::llm::Exchange { comment, reply })
                .collect(),
        };
        let scene = crate::llm::SceneContext {
            viewer_count: self.script.online(),
            now_showing: self.config.llm.now_showing.clone(),
            minutes_live: Some(self.started.elapsed().as_secs() / 60),
        };
        let asker = Asker {
            platform,
            user_id,
            comment,
        };
        if let Some(replies) = &mut self.replies {
            replies.start(fallback, asker, &viewer, &scene);
        }
    }

    fn on_reply(&mut self, reply: u64, update: ReplyUpdate) {
        let Some(replies) = &mut self.replies else {
            return;
        };
        match replies.on_update(reply, update) {
            Outcome::Say(cue) => self.offer(cue),
            Outcome::Remember { asker, reply } => {
                let now = now_ms();
                // Fire and forget: viewer memory is not worth holding the show for.
                self.ledger_task(move |l| {
                    l.record_exchange(&asker.platform, &asker.user_id, &asker.comment, &reply, now)
                });
            }
            Outcome::Nothing => {}
        }
    }

    /// A gift batch is ready to be thanked: OBS effects now, the line through the timeline.
    fn release(&mut self, batch: GiftBatch) {
        let cue = self.rewards.thank(&batch, &mut self.rng);
        if let (Some(obs), CueKind::GiftThanks { caption, .. }) = (&self.obs, &cue.kind) {
            obs.send(ObsAction::LatestGift {
                text: format!("最新礼物：{caption}"),
            });
            if let Some(secs) = cue.celebrate_secs {
                obs.send(ObsAction::Celebrate {
                    caption: format!("感谢 {caption}！"),
                    secs,
                });
            }
        }
        tracing::info!(user = %batch.viewer.name, gift = %batch.gift_name, count = batch.count, fen = batch.value_fen, "gift");
        self.offer(cue);
    }

    fn offer(&mut self, cue: Cue) {
        let id = self.next_line_id;
        self.next_line_id += 1;
        let expires = cue.ttl_ms.map(|ttl| now_ms() + ttl);
        let line = Line::new(id, cue.priority, cue.paid, expires, cue);
        self.synthesize(id, line.payload.text.clone(), line.payload.prosody);
        let offer = self.timeline.offer(line);
        if let Some(cut) = offer.interrupted {
            tracing::info!(
                line = cut.id,
                requeued = cut.requeued,
                by = id,
                "interrupting the current line"
            );
            if let Some(utterance) = self.current_utterance.take() {
                self.hub.send_command(&Command::Stop { utterance });
            }
            self.summary.lines_interrupted += 1;
        }
        for dropped in offer.dropped {
            self.summary.lines_dropped += 1;
            self.clips.remove(&dropped.id);
            tracing::info!(line = dropped.id, text = %dropped.payload.text, "queue full: dropped an unpaid line");
        }
    }

    /// Starts synthesis as soon as a line is offered (ahead of its turn, so the clip is usually
    /// ready when it comes; for LLM replies, while the model is still writing the next
    /// sentence).
    fn synthesize(&mut self, line_id: u64, text: String, prosody: Prosody) {
        self.clips.insert(line_id, ClipState::Pending);
        let voice = self.voice.clone();
        let tx = self.synth_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send((line_id, voice.speak(&text, prosody).await));
        });
    }

    fn on_clip(&mut self, line_id: u64, result: Result<Arc<Clip>, SpeechError>) {
        if !self.clips.contains_key(&line_id) {
            return; // the line was dropped meanwhile
        }
        let state = match result {
            Ok(clip) => ClipState::Ready(clip),
            Err(e) => {
                self.summary.speech_failures += 1;
                tracing::error!(line = line_id, engine = self.voice.primary_engine(), error = %e, "speech synthesis failed");
                ClipState::Failed
            }
        };
        self.clips.insert(line_id, state);
    }

    /// Starts the next line when the avatar is free and its audio is ready.
    fn pump(&mut self) {
        if !self.hub.has_audio_clock() {
            return;
        }
        if self.timeline.playing().is_none() {
            let mut skipped = Vec::new();
            self.timeline.start_next(now_ms(), &mut skipped);
            for line in skipped {
                self.clips.remove(&line.id);
                self.summary.lines_dropped += 1;
                tracing::debug!(line = line.id, "stale line skipped");
            }
        }
        let Some(line) = self.timeline.playing() else {
            return;
        };
        if self.current_utterance.is_some() {
            return; // already on air
        }
        let line_id = line.id;
        match self.clips.get(&line_id) {
            Some(ClipState::Ready(clip)) => {
                let clip = clip.clone();
                self.air(line_id, &clip);
            }
            Some(ClipState::Pending) => {}
            Some(ClipState::Failed) | None => {
                // Nothing to play. A paid line is still marked as handled so the gift is not
                // re-thanked forever; the failure is in the log and the summary.
                let line = self.timeline.finish(line_id).expect("playing");
                self.clips.remove(&line_id);
                self.finish_cue(&line.payload, now_ms(), None);
            }
        }
    }

    fn air(&mut self, line_id: u64, clip: &Clip) {
        let cue = self.timeline.playing().expect("playing").payload.clone();
        let utterance = self.next_utterance;
        self.next_utterance += 1;
        self.timeline.set_duration(line_id, clip.duration_ms());
        if let Some(motion) = &cue.motion {
            self.hub.send_command(&Command::Motion {
                name: motion.clone(),
            });
        }
        self.hub.send_command(&Command::Say {
            utterance,
            priority: cue.priority,
            text: cue.text.clone(),
            expression: cue.expression.clone(),
        });
        let chunks = clip.samples.chunks(CHUNK_SAMPLES);
        let n = chunks.len();
        for (i, samples) in chunks.enumerate() {
            self.hub.send_audio(&AudioChunk {
                utterance,
                last: i + 1 == n,
                samples: samples.to_vec(),
            });
        }
        tracing::info!(utterance, kind = cue.kind.name(), priority = cue.priority, ms = clip.duration_ms(), text = %cue.text, "on air");
        self.current_utterance = Some(utterance);
        let expected_end =
            Instant::now() + Duration::from_millis(clip.duration_ms() as u64) + WATCHDOG_GRACE;
        self.on_air.insert(
            utterance,
            OnAir {
                line_id,
                cue,
                started_ms: now_ms(),
                expected_end,
            },
        );
    }

    async fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected { .. } => {}
            LinkEvent::Disconnected { audio_clock, .. } => {
                if audio_clock && !self.hub.has_audio_clock() {
                    // The line may be half heard; give it another go when the avatar is back.
                    if let Some(utterance) = self.current_utterance.take() {
                        self.on_air.remove(&utterance);
                        if let Some(id) = self.timeline.requeue_playing() {
                            tracing::warn!(
                                line = id,
                                "avatar went away mid-line; it will be said again"
                            );
                        }
                    }
                }
            }
            LinkEvent::Report { report, .. } => self.on_report(report).await,
        }
    }

    async fn on_report(&mut self, report: Report) {
        match report {
            Report::Progress {
                utterance,
                played_ms,
                ..
            } => {
                if let Some(on_air) = self.on_air.get(&utterance) {
                    self.timeline.progress(on_air.line_id, played_ms);
                }
            }
            Report::Finished {
                utterance,
                played_ms,
                interrupted,
            } => {
                let Some(on_air) = self.on_air.remove(&utterance) else {
                    return;
                };
                let end = now_ms();
                self.log_airtime(utterance, &on_air, end, played_ms, interrupted)
                    .await;
                if self.current_utterance == Some(utterance) {
                    self.current_utterance = None;
                }
                if let Some(line) = self.timeline.finish(on_air.line_id) {
                    self.clips.remove(&line.id);
                    self.finish_cue(
                        &line.payload,
                        end,
                        (!interrupted).then_some(line.payload.text.as_str()),
                    );
                }
                self.last_spoke = Instant::now();
            }
            Report::Started { .. } | Report::Hello { .. } => {}
        }
    }

    async fn log_airtime(
        &mut self,
        utterance: u64,
        on_air: &OnAir,
        end: u64,
        played_ms: u32,
        interrupted: bool,
    ) {
        self.summary.lines_aired += 1;
        let kind = on_air.cue.kind.name().to_string();
        let text = on_air.cue.text.clone();
        let (priority, started) = (on_air.cue.priority, on_air.started_ms);
        self.with_ledger(move |l| {
            l.log_airtime(&AiredLine {
                utterance,
                kind: &kind,
                priority,
                text: &text,
                started_ms: started,
                ended_ms: end,
                played_ms,
                interrupted,
            })
        })
        .await;
    }

    /// Notes in the ledger that a gift line was aired (or why not).
    fn finish_cue(&mut self, cue: &Cue, now: u64, aired: Option<&str>) {
        let CueKind::GiftThanks {
            platform, msg_ids, ..
        } = &cue.kind
        else {
            return;
        };
        let text = aired.map_or_else(|| format!("(voice failed) {}", cue.text), str::to_string);
        let (platform, msg_ids) = (platform.clone(), msg_ids.clone());
        // Not awaited: the next line need not wait for this note.
        self.ledger_task(move |l| l.mark_aired(&platform, &msg_ids, &text, now));
    }

    async fn on_tick(&mut self, source_open: bool) {
        for batch in self.combos.poll(now_ms()) {
            self.release(batch);
        }
        // Admission writes viewer memory behind and carries it in its own transactions; when
        // the room goes quiet, nothing would.
        if self.viewers_flushed.elapsed() >= Duration::from_secs(1) {
            self.viewers_flushed = Instant::now();
            let now = now_ms();
            drop(self.ledger_task(move |l| l.flush_viewers(now, false)));
        }
        // Watchdog: an avatar that never reports the end must not stall the show.
        if let Some(utterance) = self.current_utterance {
            if self
                .on_air
                .get(&utterance)
                .is_some_and(|a| Instant::now() > a.expected_end)
            {
                tracing::warn!(utterance, "no end report from the avatar; moving on");
                self.on_report(Report::Finished {
                    utterance,
                    played_ms: 0,
                    interrupted: false,
                })
                .await;
            }
        }
        let idle_for = Duration::from_secs(self.config.scheduler.idle_after_secs);
        if source_open
            && self.timeline.is_idle()
            && self.hub.has_audio_clock()
            && self.last_spoke.elapsed() > idle_for
        {
            self.last_spoke = Instant::now();
            if let Some(cue) = self.script.idle_line(&mut self.rng) {
                self.offer(cue);
            }
        }
    }
}

/// `first` plus every delivery already waiting behind it (up to [`MAX_GROUP`]): under load one
/// ledger commit then covers many frames; when idle a frame is admitted on its own at once.
fn take_waiting(first: Delivery, events: &mut mpsc::Receiver<Delivery>) -> Vec<Delivery> {
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match events.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    group
}

/// The next LLM reply update, or never when replies are off.
async fn next_reply(
    rx: &mut Option<mpsc::UnboundedReceiver<(u64, ReplyUpdate)>>,
) -> Option<(u64, ReplyUpdate)> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
