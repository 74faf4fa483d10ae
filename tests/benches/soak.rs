//! Soak: the real sidecar under a busy room for an hour, sampled every minute.
//!
//! `cargo bench -p e2e --bench soak` (an hour at 500 events/s; `SOAK_SECS`, `SOAK_RATE`,
//! `SOAK_SAMPLE_SECS`, `SOAK_SEED`, `SOAK_WARMUP_SECS` override; `SOAK_ASSERT=1` exits non-zero when a limit is
//! broken; `SOAK_DEBUG=1` runs `target/debug/sidecar`, the build the e2e tests use, instead of
//! the release build a streamer runs).
//!
//! A DouyinBarrageGrab stand-in sends a steady mix of comments, likes, entries, follows,
//! shares, viewer counts and gifts (combos, bundles, big gifts) to the sidecar; this program is
//! the avatar on the link, reporting every line started and finished so lines keep airing. It
//! prints a table of samples (RSS, CPU time, open files, threads, ledger and WAL size, events
//! sent and admitted, gifts and how many wait to be thanked, lines aired) and a summary: RSS at
//! warm-up (the first sample at or after max(60 s, a third of the run)) and at the end, growth
//! in between, the least-squares slope after warm-up, most open files, largest WAL. Limits:
//! RSS +10 % after warm-up, open files +8, WAL 128 MiB, ≥ 90 % of what was sent admitted,
//! admission and lines still going after warm-up. See `e2e::soak`.

use std::process::Command;

use anyhow::{ensure, Result};
use e2e::soak::{self, Limits, Options};

#[tokio::main]
async fn main() -> Result<()> {
    let options = Options::from_env(Options {
        secs: 3_600,
        rate: 500.0,
        sample_secs: 60,
        seed: 1,
        warmup_secs: None,
    })?;
    let bin = if std::env::var("SOAK_DEBUG").is_ok_and(|v| v == "1") {
        e2e::sidecar::binary()?
    } else {
        let root = e2e::workspace_root();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["build", "--release", "-p", "sidecar", "--bin", "sidecar"])
            .status()?;
        ensure!(status.success(), "cargo build --release -p sidecar failed");
        e2e::target_dir().join("release/sidecar")
    };
    let outcome = soak::run(&options, &bin).await?;
    println!("\n{}", outcome.summary.render());
    println!(
        "room connections {}; avatar heard {} lines, {:.0} s of audio",
        outcome.connections,
        outcome.played.said,
        outcome.played.samples as f64 / avatar_link::SAMPLE_RATE as f64
    );
    let verdict = outcome.check(&Limits::default());
    match (
        &verdict,
        std::env::var("SOAK_ASSERT").is_ok_and(|v| v == "1"),
    ) {
        (Ok(()), _) => println!("within limits"),
        (Err(e), true) => return Err(anyhow::anyhow!("{e:#}")),
        (Err(e), false) => println!("{e:#}\n(SOAK_ASSERT=1 makes this an error)"),
    }
    Ok(())
}
