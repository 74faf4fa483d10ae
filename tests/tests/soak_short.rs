//! The 3-minute soak CI runs (issue 8): the real sidecar (`target/debug/sidecar`) under a
//! BarrageGrab stand-in offering 500 events/s for 180 s, sampled every 15 s, with the test
//! avatar on the link. After warm-up (60 s) RSS must stay within 10 % (at the end and on the
//! least-squares line), open files within +8 of warm-up, the WAL under 128 MiB, and admission
//! and airing must go on. `cargo bench -p e2e --bench soak` is the long version, on the
//! release build; see `e2e::soak`. No OBS.
//!
//! What is not asserted here: that the debug build admits all of the 500 events/s. Its voice
//! (unoptimised resampling FFTs) takes a whole core on a shared 2-core CI machine, and the
//! BarrageGrab source then reads only as fast as admission commits (backpressure, measured
//! ~100–130 events/s here); the memory bounds hold either way, and saturation is the harder
//! case for every queue. The release bench asserts ≥ 90 % admitted.

use anyhow::Result;
use e2e::soak::{self, Limits, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_minutes_at_500_events_per_second_stay_flat() -> Result<()> {
    let bin = e2e::sidecar::binary()?;
    let outcome = soak::run(
        &Options {
            secs: 180,
            rate: 500.0,
            sample_secs: 15,
            seed: 3,
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
