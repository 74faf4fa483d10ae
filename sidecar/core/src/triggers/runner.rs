//! Plays fired rules' `do` sequences in time.
//!
//! Each firing becomes a sequence that runs its steps in order; `wait_secs` and
//! `wait_for_line` pause it. A firing of a rule in a concurrency group waits (policy `queue`,
//! bounded by `max_queued`, oldest let go first) or is let go (policy `drop`) while another
//! firing of the group runs, so a group plays one firing at a time, like Streamer.bot's
//! blocking queues. A firing holds its group until its last step ran and everything it waits
//! for ended: its lines (with `wait_for_line`, or a scene that returns at `line_end`).
//!
//! The runner only decides *when*; it says what to do as [`Command`]s. Timed undo that must
//! be exact to the frame (a scene's `return_after_secs`, a source shown for `secs`) travels
//! with the act itself and is timed by the output (OBS) that applies it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::Rng;

use super::engine::Fired;
use super::spec::GroupPolicy;
use super::step::{Return, Step};
use super::TriggerSet;
use crate::cue::{Act, Cue, CueKind, Prosody};
use crate::safety::{SafetyScreen, Verdict};

/// What a running sequence asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Offer this line to the timeline (its kind names the firing, to report its end with
    /// [`Runner::line_ended`]).
    Speak(Cue),
    /// Hand this act to the outputs now.
    Act(Act),
}

/// Counts for the show's summary and `simulate`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunnerStats {
    pub started: u64,
    pub queued: u64,
    /// Let go: the group was busy (policy `drop`) or its queue full.
    pub dropped_busy: u64,
    pub dropped_queue_full: u64,
    /// Lines refused by the safety screen after their template was filled.
    pub lines_refused: u64,
    /// Waits for a line that never reported its end, cut at [`LINE_WAIT_MAX_MS`].
    pub line_waits_timed_out: u64,
}

/// A sequence waits at most this long for its lines to end (a line the timeline let go
/// and nobody reported must not hold a group forever).
pub const LINE_WAIT_MAX_MS: u64 = 90_000;
/// How long an unpaid trigger line stays worth saying.
const LINE_TTL_MS: u64 = 60_000;

struct Sequence {
    firing: u64,
    fired: Fired,
    pc: usize,
    /// When the next step is due (its due time, not when it ran: waits do not drift).
    wake_ms: u64,
    /// Lines offered and not yet ended.
    lines_out: u32,
    /// Paused until `lines_out` is 0, at most until this time.
    waiting_lines_until: Option<u64>,
    /// Scene holds released when the firing's lines end.
    line_end_holds: Vec<u64>,
}

impl Sequence {
    fn steps_done(&self) -> bool {
        self.pc >= self.fired.rule.steps.len()
    }
}

struct Group {
    policy: GroupPolicy,
    max_queued: usize,
    busy: bool,
    waiting: VecDeque<Fired>,
}

pub struct Runner {
    next_firing: u64,
    running: Vec<Sequence>,
    groups: HashMap<String, Group>,
    safety: Arc<SafetyScreen>,
    stats: RunnerStats,
}

impl Runner {
    pub fn new(set: &TriggerSet, safety: Arc<SafetyScreen>) -> Self {
        let mut runner = Self {
            next_firing: 1,
            running: Vec::new(),
            groups: HashMap::new(),
            safety,
            stats: RunnerStats::default(),
        };
        runner.adopt_groups(set);
        runner
    }

    /// Takes the groups of new rules (a reload): running and waiting firings keep going.
    pub fn adopt_groups(&mut self, set: &TriggerSet) {
        for spec in set.groups() {
            let group = self.groups.entry(spec.name.clone()).or_insert(Group {
                policy: spec.policy,
                max_queued: spec.max_queued,
                busy: false,
                waiting: VecDeque::new(),
            });
            group.policy = spec.policy;
            group.max_queued = spec.max_queued;
        }
    }

    pub fn stats(&self) -> RunnerStats {
        self.stats
    }

    /// Firings running or waiting.
    pub fn in_flight(&self) -> usize {
        self.running.len() + self.groups.values().map(|g| g.waiting.len()).sum::<usize>()
    }

    /// Starts `fired` now, queues it behind its group, or lets it go.
    pub fn start(&mut self, fired: Fired, now_ms: u64) {
        if let Some(name) = fired.rule.group.clone() {
            let group = self.groups.entry(name).or_insert(Group {
                policy: GroupPolicy::Queue,
                max_queued: 8,
                busy: false,
                waiting: VecDeque::new(),
            });
            if group.busy {
                match group.policy {
                    GroupPolicy::Drop => self.stats.dropped_busy += 1,
                    GroupPolicy::Queue => {
                        if group.waiting.len() >= group.max_queued {
                            group.waiting.pop_front();
                            self.stats.dropped_queue_full += 1;
                        }
                        group.waiting.push_back(fired);
                        self.stats.queued += 1;
                    }
                }
                return;
            }
            group.busy = true;
        }
        self.launch(fired, now_ms);
    }

    fn launch(&mut self, fired: Fired, now_ms: u64) {
        self.stats.started += 1;
        let firing = self.next_firing;
        self.next_firing += 1;
        self.running.push(Sequence {
            firing,
            fired,
            pc: 0,
            wake_ms: now_ms,
            lines_out: 0,
            waiting_lines_until: None,
            line_end_holds: Vec::new(),
        });
    }

    /// A line offered by `firing` was said, cut or let go.
    pub fn line_ended(&mut self, firing: u64) {
        if let Some(seq) = self.running.iter_mut().find(|s| s.firing == firing) {
            seq.lines_out = seq.lines_out.saturating_sub(1);
        }
    }

    /// When [`Runner::poll`] has something to do next, if ever.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.running
            .iter()
            .map(|s| match s.waiting_lines_until {
                // Paused for lines: due at the deadline, or at once when they have ended.
                Some(until) if s.lines_out > 0 => until,
                Some(_) => 0,
                None => s.wake_ms,
            })
            .min()
    }

    /// Runs every step that is due by `now_ms`, in order.
    pub fn poll<R: Rng>(&mut self, now_ms: u64, rng: &mut R) -> Vec<Command> {
        let mut out = Vec::new();
        loop {
            for i in 0..self.running.len() {
                self.advance(i, now_ms, rng, &mut out);
            }
            let before = self.running.len();
            let mut freed = Vec::new();
            self.running.retain(|s| {
                // A trailing wait holds the group too.
                let done = s.steps_done()
                    && s.wake_ms <= now_ms
                    && s.waiting_lines_until.is_none()
                    && s.line_end_holds.is_empty();
                if done {
                    if let Some(group) = &s.fired.rule.group {
                        freed.push(group.clone());
                    }
                }
                !done
            });
            let ended = before - self.running.len();
            for name in freed {
                let next = self.groups.get_mut(&name).and_then(|g| {
                    let next = g.waiting.pop_front();
                    g.busy = next.is_some();
                    next
                });
                if let Some(fired) = next {
                    self.launch(fired, now_ms);
                }
            }
            // A firing ended: the next of its group may already have steps due.
            if ended == 0 {
                return out;
            }
        }
    }

    fn advance<R: Rng>(&mut self, i: usize, now_ms: u64, rng: &mut R, out: &mut Vec<Command>) {
        let seq = &mut self.running[i];
        // Paused for lines: go on once they ended, or at the deadline.
        if let Some(until) = seq.waiting_lines_until {
            if seq.lines_out > 0 && now_ms < until {
                return;
            }
            if seq.lines_out > 0 {
                self.stats.line_waits_timed_out += 1;
                seq.lines_out = 0;
            }
            seq.waiting_lines_until = None;
            seq.wake_ms = seq.wake_ms.max(now_ms.min(until));
            for hold in seq.line_end_holds.drain(..) {
                out.push(Command::Act(Act::ReleaseScene { hold }));
            }
        }
        while !seq.steps_done() && seq.wake_ms <= now_ms {
            let rule = seq.fired.rule.clone();
            let (step, _line) = &rule.steps[seq.pc];
            let hold = seq.firing * 64 + seq.pc as u64;
            seq.pc += 1;
            match step {
                Step::Wait { ms } => seq.wake_ms += ms,
                Step::Speak { template, wait } => {
                    let vars = &seq.fired.vars;
                    let text = template.render(
                        &|name| {
                            vars.iter()
                                .find(|(k, _)| *k == name)
                                .map(|(_, v)| v.clone())
                        },
                        rng,
                    );
                    if text.trim().is_empty() {
                        continue;
                    }
                    if let Verdict::Refuse(why) = self.safety.screen_output(&text) {
                        tracing::warn!(trigger = %rule.name, ?why, "trigger line refused by the safety screen");
                        self.stats.lines_refused += 1;
                        continue;
                    }
                    seq.lines_out += 1;
                    out.push(Command::Speak(Cue {
                        cause: crate::cue::Cause::Trigger {
                            name: rule.name.clone(),
                        },
                        kind: CueKind::Triggered {
                            trigger: rule.name.clone(),
                            firing: seq.firing,
                        },
                        text,
                        priority: rule.priority,
                        rank: 0,
                        paid: rule.paid,
                        ttl_ms: (!rule.paid).then_some(LINE_TTL_MS),
                        prosody: Prosody::default(),
                        effects: Vec::new(),
                    }));
                    if *wait {
                        seq.waiting_lines_until = Some(now_ms + LINE_WAIT_MAX_MS);
                        return;
                    }
                }
                Step::Scene { scene, back } => match back {
                    Return::Stay => out.push(Command::Act(Act::SwitchScene {
                        scene: scene.clone(),
                    })),
                    Return::AfterMs(ms) => out.push(Command::Act(Act::HoldScene {
                        scene: scene.clone(),
                        hold,
                        secs: Some(*ms as f64 / 1000.0),
                    })),
                    Return::LineEnd => {
                        seq.line_end_holds.push(hold);
                        out.push(Command::Act(Act::HoldScene {
                            scene: scene.clone(),
                            hold,
                            secs: None,
                        }));
                    }
                },
                other => {
                    if let Some(act) = plain_act(other, &seq.fired, rng) {
                        out.push(Command::Act(act));
                    }
                }
            }
        }
        // Every step ran: a firing that returns a scene at its lines' end waits for them.
        if seq.steps_done() && !seq.line_end_holds.is_empty() && seq.waiting_lines_until.is_none() {
            if seq.lines_out == 0 {
                for hold in seq.line_end_holds.drain(..) {
                    out.push(Command::Act(Act::ReleaseScene { hold }));
                }
            } else {
                seq.waiting_lines_until = Some(now_ms + LINE_WAIT_MAX_MS);
            }
        }
    }
}

/// The act of a step that is neither a wait, a line nor a scene switch.
fn plain_act<R: Rng>(step: &Step, fired: &Fired, rng: &mut R) -> Option<Act> {
    let secs = |ms: &u64| *ms as f64 / 1000.0;
    Some(match step {
        Step::Expression { name, ms } => Act::ShowExpression {
            name: name.clone(),
            secs: secs(ms),
        },
        Step::Motion(name) => Act::Motion(name.clone()),
        Step::Visibility {
            source,
            scene,
            visible,
            ms,
        } => Act::SourceVisible {
            source: source.clone(),
            scene: scene.clone(),
            visible: *visible,
            secs: ms.as_ref().map(secs),
        },
        Step::SetText { source, text } => {
            let vars = &fired.vars;
            Act::SetText {
                source: source.clone(),
                text: text.render(
                    &|name| {
                        vars.iter()
                            .find(|(k, _)| *k == name)
                            .map(|(_, v)| v.clone())
                    },
                    rng,
                ),
            }
        }
        Step::RestartMedia(input) => Act::RestartMedia {
            input: input.clone(),
        },
        Step::VoiceSound { file, gain_db } => Act::VoiceSound {
            file: file.clone(),
            gain_db: *gain_db,
        },
        Step::Filter {
            source,
            filter,
            enabled,
        } => Act::Filter {
            source: source.clone(),
            filter: filter.clone(),
            enabled: *enabled,
        },
        Step::InputSettings { input, settings } => Act::InputSettings {
            input: input.clone(),
            settings: settings.clone(),
        },
        Step::Push { target, start } => Act::Push {
            target: target.clone(),
            start: *start,
        },
        Step::Wait { .. } | Step::Speak { .. } | Step::Scene { .. } => return None,
    })
}
