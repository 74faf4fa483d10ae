//! Douyin ingestion end to end: the real `sidecar` binary against `FakeDouyin`, a loopback
//! stand-in for Douyin's room page and webcast push WebSocket that speaks the real wire format.
//!
//! Everything is judged from the outside: what the fake saw the client do (cookie, query,
//! signature, acks, heartbeats, pongs, resume cursors), the ledger file (SQLite `gifts`), and
//! the sidecar's log. The fake knows the storm's ground truth — the gift count and value a
//! correct client ends up with despite combos, bundles, duplicates, reordering, bad input,
//! dropped connections, stalls and a `kill -9`.
//!
//! Builds the sidecar first (`cargo build -p sidecar`; a no-op when it is up to date).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_douyin::{FakeDouyin, Fault, Scenario, ScenarioOptions, SessionEnd};

const HEARTBEAT_SECS: f64 = 1.0;
const STALL_SECS: f64 = 3.0;

/// One sidecar setup: config, ledger and logs in a private directory (kept, and its path
/// printed, when `E2E_KEEP_DIRS=1`: for reading the sidecar's logs after a failure).
struct Setup {
    _dir: Option<tempfile::TempDir>,
    dir: PathBuf,
    config: PathBuf,
    ledger: PathBuf,
}

impl Setup {
    /// `signer_args` follow the signer program (e.g. `--wrong`).
    fn new(fake: &FakeDouyin, signer_args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_path_buf();
        let dir = if std::env::var_os("E2E_KEEP_DIRS").is_some_and(|v| v == "1") {
            eprintln!("keeping {}", dir.keep().display());
            None
        } else {
            Some(dir)
        };
        let ledger = path.join("ledger.sqlite3");
        let command: Vec<&str> = std::iter::once(env!("CARGO_BIN_EXE_fake-douyin-signer"))
            .chain(signer_args.iter().copied())
            .collect();
        // JSON strings and arrays of strings are valid TOML.
        let q = |v: &str| serde_json::to_string(v).expect("a string serializes");
        let scenes_dir = e2e::shipped_scenes_toml();
        let config = format!(
            "[source]\n\
             kind = \"douyin\"\n\n\
             [source.douyin]\n\
             room = {room}\n\
             endpoint = {endpoint}\n\
             heartbeat_secs = {HEARTBEAT_SECS:?}\n\
             stall_secs = {STALL_SECS:?}\n\
             signer = {{ command = {command} }}\n\n\
             [ledger]\n\
             path = {ledger}\n\n\
             [obs]\n\
             enabled = false\n\
             scenes_dir = {scenes_dir}\n\n\
             [link]\n\
             bind = \"127.0.0.1:0\"\n",
            room = q(fake.web_rid()),
            endpoint = q(&fake.base_url()),
            command = serde_json::to_string(&command)?,
            ledger = q(ledger.to_str().context("temp path is not UTF-8")?),
        );
        let config_path = path.join("sidecar.toml");
        std::fs::write(&config_path, config)?;
        Ok(Self {
            _dir: dir,
            dir: path,
            config: config_path,
            ledger,
        })
    }

    /// Starts `sidecar run` with its log in `<dir>/<name>.log`.
    fn start(&self, name: &str) -> Result<Sidecar> {
        let log = self.dir.join(format!("{name}.log"));
        let child = Command::new(e2e::sidecar::binary()?)
            .current_dir(e2e::workspace_root())
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,obws=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting the sidecar")?;
        Ok(Sidecar { child, log })
    }

    /// `(sum(count), sum(value_fen))` of Douyin gifts, read like any SQLite client would.
    fn ledger_totals(&self) -> Result<(u64, u64)> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.ledger,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(2))?;
        let (count, fen): (i64, i64) = conn.query_row(
            "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(value_fen), 0)
             FROM gifts WHERE platform = 'douyin'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((count as u64, fen as u64))
    }
}

struct Sidecar {
    child: Child,
    log: PathBuf,
}

impl Sidecar {
    /// The log so far, without colour codes.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        strip_ansi(&raw)
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the sidecar exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    /// Ctrl-C, then SIGKILL if it does not stop within 10 s. Shutting down is not what these
    /// tests are about (and the ledger is already checked when they stop the sidecar), so a
    /// slow exit is reported on stderr rather than failing the test.
    fn stop(mut self) -> Result<String> {
        if !e2e::sidecar::stop(&mut self.child)? {
            eprintln!(
                "WARNING: the sidecar did not exit within 10 s of Ctrl-C; killed it. Log tail:\n{}",
                self.log_tail()
            );
        }
        Ok(self.log())
    }

    /// `kill -9`: no chance to flush or say goodbye.
    fn kill_9(mut self) -> Result<String> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(self.log())
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // A failed test must not leave a sidecar running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ … final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `done` every 100 ms until it holds; fails after `timeout` or if the sidecar exits.
async fn wait_until(
    sidecar: &mut Sidecar,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        sidecar.ensure_running()?;
        if Instant::now() > deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}\nsidecar log:\n{}",
                sidecar.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn storm(seed: u64, frames: usize, drops: usize, stalls: usize) -> Scenario {
    Scenario::generate(ScenarioOptions {
        seed,
        frames,
        frame_interval: Duration::from_millis(12),
        drops,
        stalls,
        stall_for: Duration::from_secs_f64(STALL_SECS * 2.5),
        duplicate_frames: 2,
        bad_input: true,
        ..ScenarioOptions::default()
    })
}

/// Lines of the sidecar log that report rejected input.
fn rejection_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("rejected input"))
        .collect()
}

/// Seconds between consecutive heartbeats on each connection.
fn heartbeat_gaps(fake: &FakeDouyin) -> Vec<f64> {
    let beats = fake.heartbeats();
    let mut gaps = Vec::new();
    for c in &fake.connections() {
        let at: Vec<f64> = beats
            .iter()
            .filter(|b| b.connection == c.id)
            .map(|b| b.at.as_secs_f64())
            .collect();
        gaps.extend(at.windows(2).map(|w| w[1] - w[0]));
    }
    gaps
}

/// The `q` quantile (0..=1) of `v`, NaN when empty.
fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round().max(0.0) as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_with_drops_and_stalls_ends_with_the_exact_ledger() -> Result<()> {
    e2e::sidecar::binary()?;
    let fake = FakeDouyin::start(storm(0x5eed_0001, 120, 2, 1)).await?;
    let truth = fake.truth().clone();
    let setup = Setup::new(&fake, &[])?;
    let mut sidecar = setup.start("storm")?;

    let want = (truth.gift_count, truth.value_fen());
    wait_until(
        &mut sidecar,
        Duration::from_secs(45),
        "the ledger to match the truth",
        || setup.ledger_totals().ok() == Some(want),
    )
    .await
    .with_context(|| format!("ledger {:?}, truth {want:?}", setup.ledger_totals().ok()))?;
    wait_until(
        &mut sidecar,
        Duration::from_secs(5),
        "every frame acked",
        || fake.storm_complete() && fake.unacked_frames().is_empty(),
    )
    .await
    .with_context(|| format!("unacked frames {:?}", fake.unacked_frames()))?;
    // Nothing counted twice later on (idle frames keep coming, resends are over); and the
    // connection lives long enough for the heartbeat-interval check below (a fast machine can
    // finish the storm within a few heartbeats).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_until(
        &mut sidecar,
        Duration::from_secs(15),
        "enough heartbeats to measure their interval",
        || heartbeat_gaps(&fake).len() >= 4,
    )
    .await?;
    ensure!(
        setup.ledger_totals()? == want,
        "the ledger moved past the truth"
    );
    let log = sidecar.stop()?;

    ensure!(
        fake.violations().is_empty(),
        "contract violations: {:#?}",
        fake.violations()
    );
    ensure!(fake.signature_refusals() == 0, "signatures refused");
    ensure!(fake.max_open_sessions() <= 1, "connections leaked");

    // Reconnects: one per drop and stall, each resuming where the previous one had committed.
    let conns = fake.connections();
    let fired = fake.faults_fired();
    let faults = &fake.scenario().faults;
    let drops = fired.keys().filter(|s| faults[*s] == Fault::Drop).count();
    ensure!(
        drops == 2 && fired.len() == faults.len(),
        "faults fired: {fired:?}"
    );
    ensure!(conns.iter().all(|c| c.accepted), "refused: {conns:#?}");
    ensure!(
        conns.len() >= 4,
        "expected a reconnect per drop and stall: {conns:#?}"
    );
    let acks = fake.acks();
    for pair in conns.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let last_acked = acks
            .iter()
            .filter(|a| a.connection == before.id)
            .filter_map(|a| a.seq)
            .max();
        let Some(last_acked) = last_acked else {
            continue;
        };
        let resumed = after
            .resumed_at_seq
            .with_context(|| format!("connection {} did not resume: {after:?}", after.id))?;
        ensure!(
            resumed >= last_acked,
            "connection {} resumed at frame {resumed}, before frame {last_acked} it had acked",
            after.id
        );
    }
    ensure!(
        conns
            .iter()
            .filter(|c| matches!(c.ended, Some((_, SessionEnd::ServerDropped))))
            .count()
            == 2
    );

    // The stall was noticed about stall_secs after the client had caught up, by the client.
    let stalled = conns
        .iter()
        .find(|c| c.stall_started.is_some())
        .context("no connection stalled")?;
    let (ended, how) = stalled
        .ended
        .clone()
        .context("stalled connection never ended")?;
    let noticed = (ended - stalled.stall_started.unwrap()).as_secs_f64();
    ensure!(
        how != SessionEnd::ServerDropped
            && (STALL_SECS - 0.3..=STALL_SECS + 2.5).contains(&noticed),
        "stall noticed after {noticed:.1} s ({how:?}), stall_secs = {STALL_SECS}"
    );

    // Heartbeats at the configured interval, on every connection; pongs to the pings.
    let gaps = heartbeat_gaps(&fake);
    let (gap, p90) = (percentile(&gaps, 0.5), percentile(&gaps, 0.9));
    ensure!(
        gaps.len() >= 4 && (HEARTBEAT_SECS * 0.8..=HEARTBEAT_SECS * 1.3).contains(&gap),
        "heartbeat gaps {gaps:?} (median {gap:.2} s), expected about {HEARTBEAT_SECS} s"
    );
    ensure!(
        p90 <= HEARTBEAT_SECS * 2.0,
        "heartbeats often late: 90th percentile gap {p90:.2} s in {gaps:?}"
    );
    ensure!(!fake.pongs().is_empty(), "no pong to the server's pings");

    // Bad input was counted and logged, and the cookie stayed out of the log.
    let rejections = rejection_lines(&log);
    ensure!(
        rejections.len() >= 3,
        "expected rejected-input lines for {:?}, got {rejections:#?}",
        truth.bad_input
    );
    for ttwid in fake.issued_ttwids() {
        ensure!(
            !log.contains(&ttwid),
            "the ttwid cookie leaked into the log"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_storm_then_restart_loses_and_doubles_nothing() -> Result<()> {
    e2e::sidecar::binary()?;
    let fake = FakeDouyin::start(storm(0x5eed_0002, 160, 1, 0)).await?;
    let truth = fake.truth().clone();
    let want = (truth.gift_count, truth.value_fen());
    let setup = Setup::new(&fake, &[])?;

    let mut first = setup.start("first")?;
    let frames = fake.scenario().frames.len();
    wait_until(
        &mut first,
        Duration::from_secs(30),
        "40 % of the storm acked",
        || fake.acks().len() * 10 >= frames * 4,
    )
    .await?;
    first.kill_9()?;
    let acked_before: Vec<u64> = fake.acks().iter().filter_map(|a| a.seq).collect();
    let last_acked = acked_before
        .iter()
        .copied()
        .max()
        .context("nothing acked")?;
    let midway = setup.ledger_totals()?;
    ensure!(
        midway.0 > 0 && midway.0 < want.0,
        "killed too early or too late: ledger {midway:?}, truth {want:?}"
    );
    let conns_before = fake.connections().len();

    let mut second = setup.start("second")?;
    wait_until(
        &mut second,
        Duration::from_secs(40),
        "the ledger to match the truth",
        || setup.ledger_totals().ok() == Some(want),
    )
    .await
    .with_context(|| format!("ledger {:?}, truth {want:?}", setup.ledger_totals().ok()))?;
    wait_until(
        &mut second,
        Duration::from_secs(5),
        "every frame acked",
        || fake.storm_complete() && fake.unacked_frames().is_empty(),
    )
    .await
    .with_context(|| format!("unacked frames {:?}", fake.unacked_frames()))?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(
        setup.ledger_totals()? == want,
        "the ledger moved past the truth"
    );
    second.stop()?;

    // The restarted sidecar resumed from its stored checkpoint, not from scratch.
    let conns = fake.connections();
    let restarted = conns
        .get(conns_before)
        .context("the restarted sidecar never connected")?;
    let resumed = restarted
        .resumed_at_seq
        .with_context(|| format!("the restart did not resume: {restarted:?}"))?;
    ensure!(
        resumed >= last_acked,
        "resumed at frame {resumed}, before frame {last_acked} it had acked before the kill"
    );
    ensure!(
        fake.violations().is_empty(),
        "contract violations: {:#?}",
        fake.violations()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signature_is_reported_and_not_hammered() -> Result<()> {
    e2e::sidecar::binary()?;
    let fake = FakeDouyin::start(storm(0x5eed_0003, 40, 0, 0)).await?;
    let setup = Setup::new(&fake, &["--wrong"])?;
    let mut sidecar = setup.start("wrong-signer")?;
    wait_until(
        &mut sidecar,
        Duration::from_secs(15),
        "a connection attempt",
        || !fake.connections().is_empty(),
    )
    .await?;
    let first = fake.connections()[0].at;
    let window = Duration::from_secs(5);
    // Giving up (exiting) is as acceptable as retrying slowly; hammering is not.
    while fake.elapsed() < first + window && sidecar.child.try_wait()?.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = sidecar.stop()?;

    let conns = fake.connections();
    let attempts = conns.iter().filter(|c| c.at <= first + window).count();
    ensure!(
        (1..=3).contains(&attempts),
        "{attempts} connection attempts in {window:?}: {conns:#?}"
    );
    ensure!(
        conns.iter().all(|c| !c.accepted),
        "a wrong signature was accepted"
    );
    ensure!(fake.signature_refusals() == conns.len());
    let reported = log.lines().any(|l| {
        let l = l.to_lowercase();
        l.contains("error") && l.contains("signature") && l.contains("reject")
    });
    ensure!(
        reported,
        "no error saying the signature was rejected in the log:\n{log}"
    );
    ensure!(setup.ledger_totals().map_or(true, |t| t == (0, 0)));
    Ok(())
}

/// Another process (a backup tool, a DB browser) holds the ledger's write lock for longer than
/// the busy timeout in the middle of a storm: the commits fail and are retried, the frames wait
/// unacknowledged meanwhile, and afterwards the ledger is exactly the truth, every frame is
/// acked, and the connection goes on (the rest of the storm and the idle frames after it are
/// admitted and acked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_locked_by_another_process_mid_storm_loses_and_doubles_nothing() -> Result<()> {
    e2e::sidecar::binary()?;
    // ~16 s of storm: it is still going when the 8 s lock, taken at 30 %, is released.
    let fake = FakeDouyin::start(Scenario::generate(ScenarioOptions {
        seed: 0x5eed_0004,
        frames: 400,
        frame_interval: Duration::from_millis(40),
        drops: 0,
        stalls: 0,
        duplicate_frames: 2,
        bad_input: false,
        ..ScenarioOptions::default()
    }))
    .await?;
    let truth = fake.truth().clone();
    let want = (truth.gift_count, truth.value_fen());
    let setup = Setup::new(&fake, &[])?;
    let mut sidecar = setup.start("locked")?;

    wait_until(
        &mut sidecar,
        Duration::from_secs(30),
        "30 % of the storm's gifts in the ledger",
        || {
            setup
                .ledger_totals()
                .is_ok_and(|(n, _)| n * 10 >= want.0 * 3)
        },
    )
    .await?;
    let ledger = setup.ledger.clone();
    let lock = tokio::task::spawn_blocking(move || {
        e2e::sidecar::hold_ledger_write_lock(&ledger, e2e::sidecar::LOCK_LONGER_THAN_BUSY_TIMEOUT)
    })
    .await??;
    let during = setup.ledger_totals()?;
    tokio::task::spawn_blocking(move || lock.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the lock holder panicked"))?;
    let released = fake.elapsed();
    let sent_at_release = fake.frames_sent();
    sidecar.ensure_running()?;
    ensure!(
        during.0 < want.0 && sent_at_release < fake.scenario().frames.len(),
        "the storm was over before the lock was released (ledger {during:?}, truth {want:?}, \
         {sent_at_release} frames sent): nothing would show that the source is still live"
    );

    wait_until(
        &mut sidecar,
        Duration::from_secs(40),
        "the ledger to match the truth",
        || setup.ledger_totals().ok() == Some(want),
    )
    .await
    .with_context(|| format!("ledger {:?}, truth {want:?}", setup.ledger_totals().ok()))?;
    wait_until(
        &mut sidecar,
        Duration::from_secs(10),
        "every frame acked",
        || fake.storm_complete() && fake.unacked_frames().is_empty(),
    )
    .await
    .with_context(|| format!("unacked frames {:?}", fake.unacked_frames()))?;
    // Still live: the idle frames after the storm go on being acked.
    let idle_acked_after = |fake: &FakeDouyin| {
        fake.acks()
            .iter()
            .filter(|a| a.seq.is_none() && a.at > released)
            .count()
    };
    let before = idle_acked_after(&fake);
    wait_until(
        &mut sidecar,
        Duration::from_secs(10),
        "idle frames acked after the storm",
        || idle_acked_after(&fake) >= before + 2,
    )
    .await?;
    ensure!(
        setup.ledger_totals()? == want,
        "the ledger moved past the truth"
    );
    let log = sidecar.stop()?;

    e2e::sidecar::ensure_lock_survived(&log)?;
    ensure!(
        fake.violations().is_empty(),
        "contract violations: {:#?}",
        fake.violations()
    );
    ensure!(fake.max_open_sessions() <= 1, "connections leaked");
    Ok(())
}
