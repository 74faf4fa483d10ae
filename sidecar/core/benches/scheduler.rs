//! Scheduler decisions per second.
//!
//! `cargo bench -p sidecar --bench scheduler`
//!
//! A decision is one `offer` (with its interruption and capacity checks) or one
//! `start_next`/`finish` pair. The workload mixes priorities like a busy room (mostly comment
//! replies, some gifts, a few big ones) and keeps a realistic backlog: the queue is capped at
//! `max_unpaid` unpaid lines and paid lines accumulate until played.

use std::hint::black_box;
use std::time::Instant;

use aivs_core::scheduler::priority::*;
use aivs_core::scheduler::{InterruptRules, Line, Timeline};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn run(backlog_paid: usize, ops: usize) -> f64 {
    let mut rng = StdRng::seed_from_u64(42);
    let mut t: Timeline<u32> = Timeline::new(InterruptRules::default());
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
        let (priority, paid) = if roll < 0.70 {
            (NORMAL, false)
        } else if roll < 0.80 {
            (SCRIPT, false)
        } else if roll < 0.97 {
            (GIFT_NORMAL, true)
        } else {
            (GIFT_LARGE, true)
        };
        black_box(t.offer(Line::new(id, priority, paid, Some(id * 10 + 5_000), 0)));
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
    for backlog in [0usize, 100, 10_000] {
        // Warm up, then take the median of 5 runs.
        run(backlog, 100_000);
        let mut rates: Vec<f64> = (0..5).map(|_| run(backlog, 1_000_000)).collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  paid backlog {backlog:>6}: {:>12.0} decisions/s (median of 5)",
            rates[2]
        );
    }
}
