//! Trigger evaluation cost per event with 500 rules.
//!
//! `cargo bench -p aivs-core --bench triggers`
//!
//! 500 rules of every kind a streamer writes (gift tiers and names, comment keywords and
//! regexes with level filters, follows, likes, viewer milestones, idle and schedules, some
//! with viewer-memory conditions and cooldowns) meet a busy room's mix of events: mostly
//! comments and likes, some gifts, entries, follows and viewer counts. A figure is the mean
//! over all events of one `Triggers::on_event`/`on_gift` call, firing included; 5 runs.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use aivs_core::event::{EventKind, Gift, LiveEvent, Viewer};
use aivs_core::rewards::combo::{ComboAggregator, ComboPolicy};
use aivs_core::safety::SafetyScreen;
use aivs_core::tiers::{Tier, TierTable};
use aivs_core::triggers::{TriggerSet, Triggers};
use rand::{rngs::StdRng, Rng, SeedableRng};

const WORDS: &[&str] = &[
    "多少钱",
    "尺码",
    "怎么买",
    "主播",
    "好看",
    "链接",
    "发货",
    "优惠",
    "唱歌",
    "几点",
];
const GIFTS: &[&str] = &["小心心", "玫瑰", "墨镜", "嘉年华", "跑车", "火箭"];

fn rules(n: usize) -> String {
    let mut text = String::from("[[group]]\nname = \"g\"\n");
    for i in 0..n {
        let when = match i % 10 {
            0 => format!("when.gift = {{ min_tier = {} }}", 1 + i % 4),
            1 => format!(
                "when.gift = {{ names = [\"{}\"], combo_at_least = {} }}",
                GIFTS[i % GIFTS.len()],
                1 + i % 20
            ),
            2 | 3 => format!(
                "when.comment = {{ keywords = [\"{}\", \"{}\"] }}",
                WORDS[i % WORDS.len()],
                WORDS[(i / 3) % WORDS.len()]
            ),
            4 => format!(
                "when.comment = {{ regex = '^{}.*[?？]$', min_level = {} }}",
                WORDS[i % WORDS.len()],
                i % 30
            ),
            5 => "[trigger.when]\ncomment = { keywords = [\"主播\"] }\nviewer = { min_visits = 2 }"
                .to_string(),
            6 => "when.follow = true".to_string(),
            7 => format!("when.likes_every = {}", 100 * (1 + i % 50)),
            8 => format!("when.viewers_every = {}", 50 * (1 + i % 10)),
            _ => format!("when.idle_secs = {}", 30 + i % 60),
        };
        // Keys of the trigger go before a [trigger.when] table.
        let (head, when) = match when.strip_prefix("[trigger.when]\n") {
            Some(rest) => (
                format!("cooldown_secs = {}\n[trigger.when]\n", i % 7),
                rest.to_string(),
            ),
            None => (format!("cooldown_secs = {}\n", i % 7), when),
        };
        let _ = write!(
            text,
            "\n[[trigger]]\nname = \"r{i}\"\n{head}{when}\n[[trigger.do]]\nspeak = \"谢谢{{user}}\"\n"
        );
    }
    text
}

fn viewer(rng: &mut StdRng) -> Viewer {
    let id = rng.random_range(0..5_000u32);
    Viewer {
        id: format!("u{id}"),
        name: format!("观众{id}"),
        level: id % 60,
        fan_level: id % 12,
    }
}

fn run(n_rules: usize, n_events: usize, seed: u64) -> (f64, usize) {
    let set = TriggerSet::parse(&[("bench.toml".into(), rules(n_rules))]).expect("rules parse");
    assert_eq!(set.rules().len(), n_rules);
    let safety = Arc::new(SafetyScreen::new(&[], &[], "*"));
    let mut triggers = Triggers::new(set, 30, safety, 0);
    let mut rng = StdRng::seed_from_u64(seed);
    let tiers = TierTable::default();
    let mut combos = ComboAggregator::new(
        ComboPolicy {
            idle_ms: 0,
            max_hold_ms: 0,
            immediate_tier: Tier::Small,
        },
        tiers.clone(),
    );
    let mut fired = 0usize;
    let mut spent = std::time::Duration::ZERO;
    for i in 0..n_events {
        let now = i as u64 * 50;
        let user = viewer(&mut rng);
        let roll: f32 = rng.random();
        let kind = if roll < 0.45 {
            let a = WORDS[rng.random_range(0..WORDS.len())];
            EventKind::Comment {
                text: format!("{a}呢，{}？", WORDS[rng.random_range(0..WORDS.len())]),
            }
        } else if roll < 0.75 {
            EventKind::Like {
                count: rng.random_range(1..30),
            }
        } else if roll < 0.85 {
            EventKind::Enter
        } else if roll < 0.88 {
            EventKind::Follow
        } else if roll < 0.90 {
            EventKind::ViewerStats {
                online: rng.random_range(100..2_000),
                total: 0,
            }
        } else {
            EventKind::Gift(Gift {
                gift_id: "1".into(),
                gift_name: GIFTS[rng.random_range(0..GIFTS.len())].into(),
                diamonds: [1, 10, 100, 3000][rng.random_range(0..4)],
                count: rng.random_range(1..10),
                price: None,
                message: None,
                combo: None,
            })
        };
        let event = LiveEvent {
            platform: "douyin".into(),
            msg_id: format!("m{i}"),
            user: Some(user),
            kind,
        };
        if let EventKind::Gift(_) = event.kind {
            let mut batches = combos.push(&event, now);
            batches.extend(combos.drain());
            let start = Instant::now();
            for b in &batches {
                fired +=
                    black_box(triggers.on_gift(b, tiers.classify(b.value_fen), now, 1200)).len();
            }
            spent += start.elapsed();
        } else {
            let start = Instant::now();
            fired += black_box(triggers.on_event(&event, now, 1200)).len();
            spent += start.elapsed();
        }
    }
    (spent.as_nanos() as f64 / n_events as f64, fired)
}

fn main() {
    let events = 200_000;
    println!("trigger evaluation, mean per event over {events} events (5 runs)");
    for n in [50, 500] {
        let mut figures = Vec::new();
        let mut fired = 0;
        for seed in 0..5 {
            let (ns, f) = run(n, events, seed);
            figures.push(ns);
            fired = f;
        }
        figures.sort_by(f64::total_cmp);
        println!(
            "{n:>4} rules: {:.2}–{:.2} µs per event (median {:.2} µs); {:.2} firings per event",
            figures[0] / 1000.0,
            figures[4] / 1000.0,
            figures[2] / 1000.0,
            fired as f64 / events as f64
        );
    }
}
