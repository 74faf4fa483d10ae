//! `sidecar simulate ROOM.jsonl`: a recorded room through the streamer's rules, as fast as
//! the machine goes, with no OBS and no audio, printing per event what would happen: the
//! thank-you or reply, which triggers fired (with file:line) and each of their steps at the
//! time it would run. A streamer tests new rules on last night's room before going live.
//!
//! The room runs on a virtual clock (the recording's own times). Gifts go through a real,
//! throw-away ledger, so duplicates and combo totals count exactly as they would live; lines
//! are taken to last a quarter of a second per character (Mandarin at an easy pace), which is
//! what a trigger that waits for its line waits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::config::Config;
use crate::cue::{Act, Cue, CueKind};
use crate::event::{EventKind, LiveEvent};
use crate::ledger::{Admission, Ledger};
use crate::rewards::combo::{ComboAggregator, ComboPolicy};
use crate::rewards::RewardEngine;
use crate::safety::SafetyScreen;
use crate::scene_dir::SceneDir;
use crate::script::Script;
use crate::source::replay::Replay;
use crate::triggers::{Command, Runner, Triggers};

/// How long a simulated line lasts per character.
const MS_PER_CHAR: u64 = 250;
/// The virtual clock's tick between events (schedules, quiet spells, combo ends).
const TICK_MS: u64 = 100;
/// The simulation starts at this process-clock time (a round number: times print from 0).
const START_MS: u64 = 1_000_000_000;

/// What a simulation saw, for the summary (and tests).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Simulated {
    pub events: u64,
    pub duplicates: u64,
    pub fired: BTreeMap<String, u64>,
    pub lines: u64,
    pub acts: u64,
}

struct Sim<'a> {
    out: &'a mut String,
    triggers: Triggers,
    runner: Runner,
    rewards: RewardEngine,
    script: Script,
    combos: ComboAggregator,
    rng: StdRng,
    /// Simulated lines in flight: (ends at, firing).
    lines: Vec<(u64, u64)>,
    /// Local minute of day at the room's start.
    minute0: u32,
    seen: Simulated,
}

/// Runs `replay` through the rules of `config` and `scenes`, writing the report to `out`.
pub fn run(
    config: &Config,
    scenes: &SceneDir,
    safety: Arc<SafetyScreen>,
    replay: Replay,
    ledger_path: &Path,
    out: &mut String,
) -> anyhow::Result<Simulated> {
    let ledger = Ledger::open(ledger_path)?;
    let policy = ComboPolicy {
        idle_ms: config.gifts.combo_idle_ms,
        max_hold_ms: config.gifts.combo_max_hold_ms,
        ..ComboPolicy::default()
    };
    let tiers = config.tier_table();
    let mut sim = Sim {
        triggers: Triggers::new(
            scenes.triggers.clone(),
            config.scheduler.vip_level,
            safety.clone(),
            START_MS,
        ),
        runner: Runner::new(&scenes.triggers, safety.clone()),
        rewards: RewardEngine::new(&config.gifts, safety.clone()),
        script: Script::new(
            &config.lines,
            &config.scheduler,
            &config.persona.name,
            safety,
        ),
        combos: ComboAggregator::new(policy, tiers.clone()),
        rng: StdRng::seed_from_u64(7),
        lines: Vec::new(),
        minute0: crate::show::minute_of_day(),
        seen: Simulated::default(),
        out,
    };
    let _ = writeln!(
        sim.out,
        "{} rules; {} events",
        scenes.triggers.rules().len(),
        replay.entries.len()
    );
    let pricing = config.gifts.pricing();
    let mut clock = START_MS;
    for (at, event) in replay.entries {
        let at = START_MS + at;
        while clock + TICK_MS <= at {
            clock += TICK_MS;
            sim.tick(clock);
        }
        clock = clock.max(at);
        sim.seen.events += 1;
        let mut event = event;
        pricing.apply(std::slice::from_mut(&mut event));
        let admitted = ledger.admit(vec![event.clone()], None, &|fen| tiers.classify(fen), at)?;
        match admitted.into_iter().next() {
            Some(Admission::Fresh(fresh)) => sim.event(fresh, at),
            Some(Admission::Duplicate) => {
                sim.seen.duplicates += 1;
                let _ = writeln!(
                    sim.out,
                    "{}  {} {}: duplicate, skipped",
                    stamp(at),
                    event.kind_name(),
                    event.msg_id
                );
            }
            _ => {}
        }
    }
    // Let everything pending play out.
    let end = clock + 120_000;
    while clock < end {
        clock += TICK_MS;
        sim.tick(clock);
        if sim.runner.in_flight() == 0 && sim.combos.next_due_ms().is_none() && sim.lines.is_empty()
        {
            break;
        }
    }
    let s = &sim.seen;
    let _ = writeln!(
        sim.out,
        "\n{} events ({} duplicates); {} lines, {} effects",
        s.events, s.duplicates, s.lines, s.acts
    );
    for (name, n) in &s.fired {
        let _ = writeln!(sim.out, "  trigger {name:?} fired {n}×");
    }
    let held = sim.triggers.held();
    let runs = sim.runner.stats();
    let _ = writeln!(
        sim.out,
        "  held: {} by cooldown, {} by viewer cooldown, {} by max_per_minute; groups: {} queued, {} let go busy, {} let go queue full",
        held.cooldown, held.viewer_cooldown, held.per_minute, runs.queued, runs.dropped_busy, runs.dropped_queue_full
    );
    Ok(sim.seen.clone())
}

fn stamp(at: u64) -> String {
    let ms = at - START_MS;
    format!("{:02}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}

impl Sim<'_> {
    fn minute(&self, at: u64) -> u32 {
        (self.minute0 + ((at - START_MS) / 60_000) as u32) % 1440
    }

    fn event(&mut self, event: LiveEvent, at: u64) {
        let who = event.viewer_name().to_string();
        if let EventKind::Gift(g) = &event.kind {
            let _ = writeln!(
                self.out,
                "{}  gift {who}: {} ×{}",
                stamp(at),
                g.gift_name,
                g.count
            );
            for batch in self.combos.push(&event, at) {
                self.release(batch, at);
            }
            return;
        }
        let what = match &event.kind {
            EventKind::Comment { text } => format!("comment {who}: {text}"),
            EventKind::Like { count } => format!("like {who} ×{count}"),
            EventKind::ViewerStats { online, .. } => format!("viewers {online}"),
            other => format!(
                "{} {who}",
                LiveEvent {
                    kind: other.clone(),
                    ..event.clone()
                }
                .kind_name()
            ),
        };
        let _ = writeln!(self.out, "{}  {what}", stamp(at));
        let fired = self.triggers.on_event(&event, at, self.minute(at));
        if let Some(cue) = self.script.react(&event, at, &mut self.rng) {
            self.say("line", &cue, at);
        }
        self.start(fired, at);
    }

    fn release(&mut self, batch: crate::rewards::combo::GiftBatch, at: u64) {
        let cue = self.rewards.thank(&batch, &mut self.rng);
        self.say("thanks", &cue, at);
        let tier = self.rewards.tiers().classify(batch.value_fen);
        let fired = self.triggers.on_gift(&batch, tier, at, self.minute(at));
        self.start(fired, at);
    }

    fn tick(&mut self, at: u64) {
        for batch in self.combos.poll(at) {
            self.release(batch, at);
        }
        let ended: Vec<u64> = self
            .lines
            .iter()
            .filter(|(end, _)| *end <= at)
            .map(|(_, f)| *f)
            .collect();
        self.lines.retain(|(end, _)| *end > at);
        for firing in ended {
            self.runner.line_ended(firing);
        }
        let fired = self.triggers.on_tick(at, self.minute(at));
        self.start(fired, at);
    }

    fn start(&mut self, fired: Vec<crate::triggers::Fired>, at: u64) {
        for f in fired {
            let _ = writeln!(
                self.out,
                "           trigger {:?} ({}:{}) fired",
                f.rule.name, f.rule.file, f.rule.line
            );
            *self.seen.fired.entry(f.rule.name.clone()).or_default() += 1;
            self.runner.start(f, at);
        }
        for command in self.runner.poll(at, &mut self.rng) {
            match command {
                Command::Speak(cue) => {
                    if let CueKind::Triggered { firing, .. } = cue.kind {
                        self.lines
                            .push((at + MS_PER_CHAR * cue.text.chars().count() as u64, firing));
                    }
                    self.say("trigger line", &cue, at);
                }
                Command::Act(act) => {
                    self.seen.acts += 1;
                    let _ = writeln!(self.out, "           {}  → {}", stamp(at), describe(&act));
                }
            }
        }
    }

    fn say(&mut self, what: &str, cue: &Cue, at: u64) {
        self.seen.lines += 1;
        let paid = if cue.paid { ", paid" } else { "" };
        let _ = writeln!(
            self.out,
            "           {}  {what} [{}{paid}]: {}",
            stamp(at),
            cue.priority,
            cue.text
        );
    }
}

fn describe(act: &Act) -> String {
    match act {
        Act::HoldScene {
            scene,
            secs: Some(s),
            ..
        } => format!("scene {scene:?} for {s:.1} s"),
        Act::HoldScene {
            scene, secs: None, ..
        } => format!("scene {scene:?} until the line ends"),
        Act::ReleaseScene { .. } => "scene back".into(),
        Act::SwitchScene { scene } => format!("scene {scene:?} (stays)"),
        Act::SourceVisible {
            source,
            visible,
            secs,
            ..
        } => {
            let verb = if *visible { "show" } else { "hide" };
            match secs {
                Some(s) => format!("{verb} {source:?} for {s:.1} s"),
                None => format!("{verb} {source:?}"),
            }
        }
        Act::SetText { source, text } => format!("text {source:?} = {text:?}"),
        Act::RestartMedia { input } => format!("play {input:?}"),
        Act::VoiceSound { file, gain_db } => {
            format!("mix {file:?} into the voice ({gain_db:+.1} dB)")
        }
        Act::Filter {
            source,
            filter,
            enabled,
        } => format!(
            "filter {filter:?} on {source:?}: {}",
            match enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "toggle",
            }
        ),
        Act::InputSettings { input, settings } => format!("settings of {input:?}: {settings}"),
        Act::Push { target, start } => format!(
            "{} push {}",
            if *start { "start" } else { "stop" },
            target
                .as_deref()
                .map_or("targets: all".to_string(), |t| format!("target {t:?}"))
        ),
        Act::ShowExpression { name, secs } => format!("expression {name} for {secs:.1} s"),
        Act::Motion(name) => format!("motion {name}"),
        Act::Expression(name) => format!("expression {name}"),
        Act::LatestGiftText(text) => format!("latest gift text {text:?}"),
        Act::Celebrate { caption, secs } => format!("celebrate {caption:?} for {secs:.1} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample room through the shipped config and rules: the report names what fired
    /// where, and counts what the room holds.
    #[test]
    fn the_sample_room_fires_the_shipped_triggers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = Config::load(&root.join("config/default.toml")).unwrap();
        let scenes = SceneDir::load(&root.join("scenes")).unwrap();
        let replay = Replay::load(&root.join("config/rooms/sample-room.jsonl")).unwrap();
        let safety = Arc::new(SafetyScreen::new(&[], &[], "*"));
        let dir = tempfile::tempdir().unwrap();
        let mut out = String::new();
        let seen = run(
            &config,
            &scenes,
            safety,
            replay,
            &dir.path().join("l.db"),
            &mut out,
        )
        .unwrap();
        assert_eq!((seen.events, seen.duplicates), (217, 1), "{out}");
        assert_eq!(seen.fired.get("新关注点头"), Some(&3), "{out}");
        assert!(
            seen.fired.get("大礼物礼花").is_some_and(|n| *n >= 1),
            "{out}"
        );
        assert!(
            out.contains("trigger \"大礼物礼花\" (") && out.contains("scenes/triggers.toml:"),
            "{out}"
        );
        assert!(out.contains("→ show \"Gift banner\" for 5.0 s"), "{out}");
        assert!(out.contains("→ text \"Gift banner\" = "), "{out}");
    }
}
