//! What the ledger's filesystem does to the sidecar, end to end: the real
//! `target/debug/sidecar` binary fed by the loopback BarrageGrab stand-in
//! ([`e2e::fake_barrage_grab`]) while the test fills the ledger's filesystem (a small tmpfs it
//! mounts) or deletes the ledger file. Checked from the outside: the SQLite ledger, the exit
//! status and the log.
//!
//! - A full filesystem heals: commits fail (SQLITE_FULL) and are retried, the gifts wait
//!   unacknowledged, and once there is room again the ledger is exactly the truth and the
//!   sidecar is still running. Needs to mount a tmpfs (root): skipped, saying so, where the
//!   mount is refused.
//! - A deleted or replaced ledger file does not heal (SQLite would go on writing into the
//!   orphaned file, and everything would be lost at exit): the process exits non-zero within
//!   seconds, naming the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_barrage_grab::{gift_stream, FakeBarrageGrab};

const ROOM: u64 = 7_300_000_000_000_000_002;
const PLATFORM: &str = "barrage_grab";
const FIRST_ID: u64 = 8_100_000_000_000_000_000;

fn write_config(dir: &Path, url: &str, ledger: &Path) -> Result<PathBuf> {
    let path = dir.join("barrage_grab.toml");
    let scenes_dir = e2e::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[source]
kind = "barrage_grab"

[source.barrage_grab]
url = "{url}"

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:0"
"#,
            ledger = ledger.display(),
        ),
    )?;
    Ok(path)
}

/// The ledger's gifts of this platform as `msg_id → (count, value_fen)`, the truth's shape.
fn ledger_gifts(ledger: &Path) -> BTreeMap<String, (u64, u64)> {
    e2e::sidecar::ledger_gifts(ledger, PLATFORM)
        .into_iter()
        .map(|(id, (count, _diamonds, fen))| (id, (count, fen)))
        .collect()
}

/// A tmpfs of its own, unmounted when dropped (the test's sidecar must be gone by then:
/// declare this before it).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"8m"`) on a fresh directory; `None` (after saying why
    /// on stderr) where mounting is impossible, e.g. not root.
    fn mount(size: &str, test: &str) -> Result<Option<Self>> {
        let dir = tempfile::tempdir()?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Ok(Some(Self { dir })),
            Ok(out) => {
                eprintln!(
                    "SKIPPED {test}: cannot mount a tmpfs for the ledger ({}; {}); this test \
                     needs root (CI runs as root)",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                Ok(None)
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: cannot run mount ({e}); this test needs root");
                Ok(None)
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let path = self.dir.path();
        let unmounted = Command::new("umount")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process that outlived the test): detach it rather than leak it.
            let _ = Command::new("umount").arg("-l").arg(path).status();
        }
    }
}

/// Writes zeros into `path` until the filesystem refuses (ENOSPC); returns the bytes written.
fn fill(path: &Path) -> Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e).context("filling the filesystem"),
        }
    }
    Ok(written)
}

/// A sidecar whose log is in `log`; killed if still running when dropped.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        e2e::sidecar::read_log(&self.log)
    }

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the sidecar exited with {status}:\n{}", self.log());
        }
        Ok(())
    }

    /// Polls `done` every 100 ms; fails after `limit` or if the sidecar exits.
    async fn wait_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&str) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !done(&self.log()) {
            self.ensure_running()?;
            ensure!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}\n--- sidecar log ---\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_filesystem_under_the_ledger_heals_with_nothing_lost_or_doubled() -> Result<()> {
    let Some(fs) = Tmpfs::mount("8m", "a_full_filesystem_under_the_ledger_heals")? else {
        return Ok(());
    };
    e2e::sidecar::binary()?;
    // ~20 s of gifts: the filesystem is full from 30 % on until commits have failed for a
    // while, and the rest of the stream comes after there is room again.
    let (script, truth) = gift_stream(ROOM, FIRST_ID, 400, Duration::from_millis(50));
    let sends = script.len() / 2;
    let mut fake = FakeBarrageGrab::start(script).await?;
    let work = tempfile::tempdir()?;
    let ledger = fs.path().join("ledger.sqlite3");
    let config = write_config(work.path(), &fake.url(), &ledger)?;
    let log = work.path().join("sidecar.log");
    let mut sidecar = Running {
        child: e2e::sidecar::spawn(&config, &log)?,
        log,
    };

    sidecar
        .wait_until(Duration::from_secs(30), "30 % of the gifts", |_| {
            ledger_gifts(&ledger).len() * 10 >= truth.len() * 3
        })
        .await?;
    let filler = fs.path().join("filler");
    let filled = fill(&filler)?;
    ensure!(filled > 0, "the filesystem was already full");
    sidecar
        .wait_until(
            Duration::from_secs(15),
            "a commit to fail on the full filesystem",
            |log| log.contains(e2e::sidecar::COMMIT_RETRY_WARNING),
        )
        .await?;
    // Full for a while longer: several retries, gifts piling up unacknowledged.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sidecar.ensure_running()?;
    let while_full = ledger_gifts(&ledger).len();
    std::fs::remove_file(&filler)?;
    ensure!(
        while_full < truth.len(),
        "every gift was in while the filesystem was full: the test proves nothing"
    );

    sidecar
        .wait_until(
            Duration::from_secs(40),
            "the ledger to match the truth",
            |_| ledger_gifts(&ledger) == truth,
        )
        .await
        .with_context(|| {
            let got = ledger_gifts(&ledger);
            format!("ledger has {} of {} gifts", got.len(), truth.len())
        })?;
    let report = fake.script_played(Duration::from_secs(30)).await?;
    ensure!(
        (report.connections, report.sent) == (1, sends),
        "the connection did not survive the full filesystem: {report:?}"
    );
    // A late double count would show up now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sidecar.ensure_running()?;
    let gifts = ledger_gifts(&ledger);
    ensure!(gifts == truth, "the ledger moved past the truth");
    e2e::sidecar::stop(&mut sidecar.child)?;
    let log = sidecar.log();
    e2e::sidecar::ensure_lock_survived(&log)?;
    ensure!(
        log.contains("full"),
        "the log does not say the disk was full:\n{log}"
    );
    drop(sidecar);
    drop(fs);
    Ok(())
}

/// Runs the sidecar on a gift stream, then `break_it` does something to the ledger file: the
/// process must exit non-zero within a few seconds, naming the file.
async fn ledger_file_gone(name: &str, break_it: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    e2e::sidecar::binary()?;
    let (script, _truth) = gift_stream(ROOM, FIRST_ID, 400, Duration::from_millis(50));
    let fake = FakeBarrageGrab::start(script).await?;
    let work = tempfile::tempdir()?;
    let ledger = work.path().join("ledger.sqlite3");
    let config = write_config(work.path(), &fake.url(), &ledger)?;
    let log = work.path().join(format!("{name}.log"));
    let mut sidecar = Running {
        child: e2e::sidecar::spawn(&config, &log)?,
        log,
    };
    sidecar
        .wait_until(Duration::from_secs(30), "gifts in the ledger", |_| {
            ledger_gifts(&ledger).len() >= 20
        })
        .await?;
    break_it(&ledger)?;
    let broken = Instant::now();
    let limit = Duration::from_secs(5);
    let status = loop {
        if let Some(status) = sidecar.child.try_wait()? {
            break status;
        }
        ensure!(
            broken.elapsed() < limit,
            "the sidecar still runs {limit:?} after the ledger file was {name}:\n{}",
            sidecar.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = sidecar.log();
    ensure!(
        !status.success(),
        "the sidecar exited with {status}:\n{log}"
    );
    let path = ledger.display().to_string();
    let said = log.lines().any(|l| {
        l.contains("the show stopped because the ledger cannot heal")
            && l.contains(&format!("the ledger file {path} was deleted or replaced"))
    });
    ensure!(
        said,
        "no message naming the {name} ledger file {path}:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_ledger_file_ends_the_show_naming_it() -> Result<()> {
    ledger_file_gone("deleted", |ledger| Ok(std::fs::remove_file(ledger)?)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_ledger_file_ends_the_show_naming_it() -> Result<()> {
    ledger_file_gone("replaced", |ledger| {
        // What a restore from backup does: another file renamed over it.
        let copy = ledger.with_extension("restored");
        std::fs::copy(ledger, &copy)?;
        Ok(std::fs::rename(&copy, ledger)?)
    })
    .await
}
