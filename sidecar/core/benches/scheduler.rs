//! Scheduler decisions per second.
//!
//! `cargo bench -p aivs-core --bench scheduler`
//!
//! A decision is one `offer` (with its interruption, class-cap and capacity checks) or one
//! `start_next`/`finish` pair. The workload mixes priorities like a busy room (mostly comment
//! replies, some gifts, a few big ones) and keeps a realistic backlog: the queue is capped at
//! `max_unpaid` unpaid lines and paid lines accumulate until played. It runs twice: under the
//! seed's plain rules (no class caps, no aging: the workload of earlier runs) and under the
//! default `[scheduler]` rules (class caps, aging after 3 s so that it happens, ranks).

use std::hint::black_box;
use std::time::Instant;

use aivs_core::scheduler::priority::*;
use aivs_core::scheduler::{InterruptRules, Line, LineClass, SchedulerConfig, Timeline};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn run(rules: InterruptRules, backlog_paid: usize, ops: usize) -> f64 {
    let mut rng = StdRng::seed_from_u64(42);
    let mut t: Timeline<u32> = Timeline::new(rules);
    for id in 0..backlog_paid as u64 {
        t.offer(Line::new(id, GIFT_NORMAL, true, None, 0));
    }
    let mut skipped = Vec::new();
    let start = Instant::now();
    let mut decisions = 0usize;
    let mut id = backlog_paid as u64;
    while decisions < ops {
        id += 1;
        let roll: f32 = rng.random();
        let (priority, paid, class) = if roll < 0.70 {
            (NORMAL, false, LineClass::Reply)
        } else if roll < 0.80 {
            (SCRIPT, false, LineClass::Welcome)
        } else if roll < 0.97 {
            (GIFT_NORMAL, true, LineClass::Gift)
        } else {
            (GIFT_LARGE, true, LineClass::Gift)
        };
        let line = Line::new(id, priority, paid, Some(id * 10 + 5_000), 0)
            .with_class(class)
            .with_rank(-((id % 7) as i32));
        black_box(t.offer_at(line, id * 10));
        decisions += 1;
        if let Some(playing) = t.start_next(id * 10, &mut skipped).map(|l| l.id) {
            t.set_duration(playing, 3_000);
            t.progress(playing, 1_500);
            black_box(t.finish(playing));
            decisions += 1;
        }
        skipped.clear();
    }
    decisions as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!("scheduler decisions per second (one core)");
    let config = SchedulerConfig {
        max_wait_secs: 3,
        ..SchedulerConfig::default()
    };
    for (name, rules) in [
        ("seed rules", InterruptRules::default()),
        ("caps + aging", config.timeline_rules()),
    ] {
        for backlog in [0usize, 100, 10_000] {
            // Warm up, then take the median of 5 runs.
            run(rules, backlog, 100_000);
            let mut rates: Vec<f64> = (0..5).map(|_| run(rules, backlog, 1_000_000)).collect();
            rates.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {name:<12} paid backlog {backlog:>6}: {:>12.0} decisions/s (median of 5)",
                rates[2]
            );
        }
    }
}
