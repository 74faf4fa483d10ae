//! The short soak CI runs (issue 8): the real sidecar (`target/debug/sidecar`) under a
//! BarrageGrab stand-in offering 500 events/s for 210 s, sampled every 15 s, with the test
//! avatar on the link. After warm-up (90 s) RSS must stay within 10 % (at the end and on the
//! least-squares line), open files within +8 of warm-up, the WAL under 128 MiB, and admission
//! and airing must go on.
//!
//! Why 90 s of warm-up, not the bench's 60: the debug build synthesises more slowly, so what
//! fills once (the clip cache's 32 MiB hot set, the blocking pool's threads and their
//! allocator arenas) is still filling at 60 s (+18–26 MiB from 30 to 60 s in these runs); 90 s
//! leaves 120 s, nine samples, to fit a slope through. On the shared 2-core VM of 2026-12-02
//! the growth after warm-up was +8.4 % (60 → 180 s, an earlier 180 s version), then +10.2 %
//! (failed) and +9.0 % (passed) from 90 to 210 s: the sidecar's RSS
//! is still rising slowly there (BENCHMARKS.md, "Soak"), so this test sits near its limit
//! until that is understood — by design it fails rather than hide it.
//!
//! What is not asserted here: that the debug build admits all of the 500 events/s. Its voice
//! (unoptimised resampling FFTs) takes a whole core on a shared 2-core CI machine, and the
//! BarrageGrab source then reads only as fast as admission commits (backpressure, measured
//! ~95–145 events/s here); the memory bounds hold either way, and saturation is the harder
//! case for every queue. The release bench asserts ≥ 90 % admitted.

use anyhow::Result;
use e2e::soak::{self, Limits, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_minutes_at_500_events_per_second_stay_flat() -> Result<()> {
    let bin = e2e::sidecar::binary()?;
    let outcome = soak::run(
        &Options {
            secs: 210,
            rate: 500.0,
            sample_secs: 15,
            seed: 3,
            warmup_secs: Some(90),
        },
        &bin,
    )
    .await?;
    println!("{}", outcome.summary.render());
    outcome.check(&Limits {
        min_admitted_share: 0.0,
        ..Limits::default()
    })
}
