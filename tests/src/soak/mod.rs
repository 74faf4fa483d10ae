//! Soak: the real sidecar binary under a sustained, realistic room for a long time, sampled
//! from the outside, to show that nothing in it grows without bound.
//!
//! The room is a DouyinBarrageGrab stand-in ([`room`]) sending a steady mix of comments,
//! likes, entries, follows, shares, viewer counts and gifts (combos, bundles, big gifts) at a
//! fixed rate; the avatar is [`crate::avatar_client::play_avatar_until`], the audio clock
//! reporting every line started and finished at once, so lines keep airing (as fast as the
//! voice makes them). The local voice speaks (espeak-ng, with the clip checks and cache). No
//! OBS: the OBS controller is a bounded queue the soak cannot fill without OBS anyway.
//!
//! Every `sample_secs` it records ([`probe::Sample`]): RSS, threads, open files, ledger and
//! WAL size, messages sent and admitted, gifts and how many wait to be thanked, lines aired.
//! [`summary`] turns that into figures and a verdict.
//!
//! Used by `cargo bench -p e2e --bench soak` (an hour, or what `SOAK_SECS` says) and by the
//! 3-minute CI test `tests/tests/soak_short.rs`.

pub mod probe;
pub mod room;
pub mod summary;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::avatar_client::{play_avatar_until, Played};
use probe::Sample;
pub use summary::{Limits, Summary};

const LINK_TOKEN: &str = "soak-token";
/// How long the sidecar gets to start and connect to the room.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub secs: u64,
    /// Events per second the room sends.
    pub rate: f64,
    pub sample_secs: u64,
    pub seed: u64,
    /// Where warm-up ends; `None`: [`summary::default_warmup_secs`].
    pub warmup_secs: Option<u64>,
}

impl Options {
    /// `defaults`, overridden by `SOAK_SECS`, `SOAK_RATE`, `SOAK_SAMPLE_SECS`, `SOAK_SEED`,
    /// `SOAK_WARMUP_SECS`.
    pub fn from_env(defaults: Options) -> Result<Options> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid number")),
                Err(_) => Ok(default),
            }
        }
        let o = Options {
            secs: var("SOAK_SECS", defaults.secs)?,
            rate: var("SOAK_RATE", defaults.rate)?,
            sample_secs: var("SOAK_SAMPLE_SECS", defaults.sample_secs)?,
            seed: var("SOAK_SEED", defaults.seed)?,
            warmup_secs: match std::env::var("SOAK_WARMUP_SECS") {
                Ok(_) => Some(var("SOAK_WARMUP_SECS", 0)?),
                Err(_) => defaults.warmup_secs,
            },
        };
        if o.secs == 0 || o.sample_secs == 0 || !(o.rate.is_finite() && o.rate > 0.0) {
            bail!("SOAK_SECS, SOAK_SAMPLE_SECS and SOAK_RATE must be positive: {o:?}");
        }
        Ok(o)
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub options: Options,
    pub samples: Vec<Sample>,
    pub summary: Summary,
    /// Times the sidecar connected to the room (1: it never had to reconnect).
    pub connections: u64,
    pub played: Played,
}

impl Outcome {
    /// Fails with every limit the run broke.
    pub fn check(&self, limits: &Limits) -> Result<()> {
        let mut v = self.summary.violations(limits);
        if self.connections != 1 {
            v.push(format!(
                "the sidecar connected to the room {} times (a source restart mid-soak)",
                self.connections
            ));
        }
        if v.is_empty() {
            Ok(())
        } else {
            bail!("soak limits broken:\n  {}", v.join("\n  "))
        }
    }
}

/// Runs the sidecar binary `bin` under the room for `options.secs`, printing each sample as it
/// is taken.
pub async fn run(options: &Options, bin: &Path) -> Result<Outcome> {
    let root = crate::workspace_root();
    let room = room::RoomServer::start(options.seed, options.rate).await?;
    let work = tempfile::tempdir()?;
    let ledger = work.path().join("ledger.sqlite3");
    let port = crate::free_port()?;
    let config = write_config(work.path(), &room.url(), &ledger, port)?;
    let log = work.path().join("sidecar.log");
    let mut sidecar = Command::new(bin)
        .current_dir(&root)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting the sidecar")?;
    let pid = sidecar.id();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(Played::default());
    let avatar = tokio::spawn(async move {
        play_avatar_until(port, LINK_TOKEN, CONNECT_TIMEOUT, stop_rx, progress_tx).await
    });

    let result = async {
        let connect_by = Instant::now() + CONNECT_TIMEOUT;
        while room.connections() == 0 {
            if Instant::now() > connect_by {
                bail!("the sidecar did not connect to the room");
            }
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited ({status}) before connecting");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let started = Instant::now();
        let every = Duration::from_secs(options.sample_secs);
        let mut samples = Vec::new();
        println!(
            "soak: {} s at {} events/s, sampling every {} s ({}, pid {pid})",
            options.secs,
            options.rate,
            options.sample_secs,
            bin.display()
        );
        println!("{}", summary::header());
        for i in 0.. {
            let at = every * i;
            if at > Duration::from_secs(options.secs) {
                break;
            }
            tokio::time::sleep_until((started + at).into()).await;
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited ({status}) during the soak, at {at:?}");
            }
            if avatar.is_finished() {
                bail!("the avatar left the link at {at:?}");
            }
            let sample = take_sample(pid, &ledger, started, &room, *progress_rx.borrow())?;
            println!("{}", summary::row(&sample));
            samples.push(sample);
        }
        Ok(samples)
    }
    .await;

    stop_tx.send_replace(true);
    let stopped_cleanly = crate::sidecar::stop(&mut sidecar)?;
    let played = avatar.await?;
    let log_tail = || tail(&std::fs::read_to_string(&log).unwrap_or_default(), 30);
    let samples = result.with_context(|| format!("sidecar log (tail):\n{}", log_tail()))?;
    let played = played.with_context(|| format!("sidecar log (tail):\n{}", log_tail()))?;
    if !stopped_cleanly {
        bail!(
            "the sidecar did not stop within {:?} of SIGINT\n{}",
            crate::sidecar::STOP_GRACE,
            log_tail()
        );
    }
    let warmup = options.warmup_secs.map_or_else(
        || summary::default_warmup_secs(options.secs as f64),
        |s| s as f64,
    );
    let summary = summary::summarize(&samples, warmup).context("the soak took no samples")?;
    Ok(Outcome {
        options: options.clone(),
        samples,
        summary,
        connections: room.connections(),
        played,
    })
}

fn take_sample(
    pid: u32,
    ledger: &Path,
    started: Instant,
    room: &room::RoomServer,
    played: Played,
) -> Result<Sample> {
    let (rss_kib, threads, fds, cpu_secs) = probe::process(pid)?;
    let (ledger_bytes, wal_bytes) = probe::ledger_files(ledger);
    let (admitted, gifts, unthanked) = probe::ledger_figures(ledger);
    Ok(Sample {
        at_secs: started.elapsed().as_secs_f64(),
        rss_kib,
        threads,
        cpu_secs,
        fds,
        ledger_bytes,
        wal_bytes,
        sent: room.sent(),
        admitted,
        gifts,
        unthanked,
        aired: played.finished,
    })
}

fn write_config(
    dir: &Path,
    room_url: &str,
    ledger: &Path,
    port: u16,
) -> Result<std::path::PathBuf> {
    let path = dir.join("soak.toml");
    let scenes_dir = crate::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[source]
kind = "barrage_grab"

[source.barrage_grab]
url = "{room_url}"

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:{port}"
token = "{LINK_TOKEN}"

[voice.cache]
dir = "{cache}"
"#,
            ledger = ledger.display(),
            cache = dir.join("cache").display(),
        ),
    )?;
    Ok(path)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
