//! Running the real `sidecar` binary in a test and reading its ledger from the outside, the way
//! any other SQLite client would (the e2e crate does not depend on the sidecar crate).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Result;

/// How long the sidecar gets to exit after SIGINT before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// `target/debug/sidecar` (under `CARGO_TARGET_DIR` when set), built once per test process.
///
/// Built with the feature set `cargo test --workspace` resolves, so it reuses that build's
/// artifacts: `-p sidecar` alone (or `--workspace --bin sidecar` alone, which leaves out
/// dev-dependency features such as tokio's `test-util`) rebuilt the dependency tree, ~3 min on
/// a fresh CI clone. Naming one of the sidecar's own small test targets is what makes cargo
/// include the dev-dependencies in the resolution.
///
/// The first call blocks for as long as the build takes: call it before starting stand-in
/// servers or anything else with a timeout.
pub fn binary() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = crate::workspace_root();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(&root)
                .args([
                    "build",
                    "--workspace",
                    "--bin",
                    "sidecar",
                    "--test",
                    "without_obs",
                ])
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = err.lines().rev().take(40).collect();
                return Err(format!(
                    "cargo build of the sidecar failed:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            Ok(crate::target_dir().join("debug/sidecar"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// SIGINT (the sidecar's clean stop), then SIGKILL if it has not exited within [`STOP_GRACE`].
/// Returns whether it exited on its own.
pub fn stop(child: &mut Child) -> Result<bool> {
    #[cfg(unix)]
    {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
    }
    // No SIGINT elsewhere: the grace period passes and the child is killed.
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait()?;
    Ok(false)
}

/// One recorded gift message: `(count, diamonds per gift, value in fen)`.
pub type GiftRow = (u64, u64, u64);

/// The ledger's gift rows of `platform` by message id; empty while the ledger does not exist
/// yet (tests poll it while the sidecar starts).
pub fn ledger_gifts(ledger: &Path, platform: &str) -> BTreeMap<String, GiftRow> {
    let read = || -> rusqlite::Result<BTreeMap<String, GiftRow>> {
        let conn = open_read_only(ledger)?;
        let mut stmt = conn
            .prepare("SELECT msg_id, count, diamonds, value_fen FROM gifts WHERE platform = ?1")?;
        let rows = stmt.query_map([platform], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ),
            ))
        })?;
        rows.collect()
    };
    read().unwrap_or_default()
}

/// How many gift rows the ledger holds per platform (empty while it does not exist yet).
pub fn ledger_gift_platforms(ledger: &Path) -> BTreeMap<String, u64> {
    let read = || -> rusqlite::Result<BTreeMap<String, u64>> {
        let conn = open_read_only(ledger)?;
        let mut stmt = conn.prepare("SELECT platform, COUNT(*) FROM gifts GROUP BY platform")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        rows.collect()
    };
    read().unwrap_or_default()
}

/// What the ledger noted as aired to thank each gift of `platform` (`None`: not thanked yet).
pub fn ledger_thanks(ledger: &Path, platform: &str) -> BTreeMap<String, Option<String>> {
    let read = || -> rusqlite::Result<BTreeMap<String, Option<String>>> {
        let conn = open_read_only(ledger)?;
        let mut stmt = conn.prepare("SELECT msg_id, aired_text FROM gifts WHERE platform = ?1")?;
        let rows = stmt.query_map([platform], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    read().unwrap_or_default()
}

/// The message ids the ledger admitted, as its `seen_log` records them: per admission group a
/// blob of 64-bit hashes (little-endian), each `XXH3-64(msg_id, seed = XXH3-64(platform))`.
/// Only membership can be asked: the ledger keeps hashes, not ids.
#[derive(Default)]
pub struct AdmittedIds {
    platform_seed: u64,
    hashes: std::collections::HashSet<u64>,
}

impl AdmittedIds {
    pub fn contains(&self, msg_id: impl AsRef<str>) -> bool {
        let hash =
            xxhash_rust::xxh3::xxh3_64_with_seed(msg_id.as_ref().as_bytes(), self.platform_seed);
        self.hashes.contains(&hash)
    }
}

impl std::fmt::Debug for AdmittedIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} admitted ids (all platforms)", self.hashes.len())
    }
}

/// Every id the ledger admitted, to be asked about ids of `platform`.
pub fn ledger_seen(ledger: &Path, platform: &str) -> Result<AdmittedIds> {
    let conn = open_read_only(ledger)?;
    let mut stmt = conn.prepare("SELECT ids FROM seen_log")?;
    let mut hashes = std::collections::HashSet::new();
    for blob in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
        for chunk in blob?.chunks_exact(8) {
            hashes.insert(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
    }
    Ok(AdmittedIds {
        platform_seed: xxhash_rust::xxh3::xxh3_64(platform.as_bytes()),
        hashes,
    })
}

fn open_read_only(ledger: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(conn)
}

/// Longer than the sidecar's SQLite busy timeout (5 s): a commit attempted while the lock is
/// held fails with `database is locked` instead of just waiting it out.
pub const LOCK_LONGER_THAN_BUSY_TIMEOUT: Duration = Duration::from_secs(8);

/// What the sidecar logs when a ledger commit failed and it keeps the group to retry it.
pub const COMMIT_RETRY_WARNING: &str = "ledger commit failed; holding the group";

/// What the sidecar logs when a live-room source ended (before sources were supervised, the
/// end of the show's intake; now the supervisor's restart notice).
pub const SOURCE_ENDED: [&str; 2] = [
    "event source finished",
    "live-room source stopped; restarting",
];

/// Plays another process holding the ledger's write lock (a backup tool, a DB browser,
/// antivirus): a writable connection of its own that takes `BEGIN IMMEDIATE` — in WAL mode the
/// write lock; readers go on — and keeps it for `for_`. Returns once the lock is held; the
/// thread rolls back (writing nothing) and ends when the time is up.
pub fn hold_ledger_write_lock(
    ledger: &Path,
    for_: Duration,
) -> Result<std::thread::JoinHandle<()>> {
    let conn = rusqlite::Connection::open(ledger)?;
    // The sidecar may be mid-commit: wait for it like any client would.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    Ok(std::thread::spawn(move || {
        std::thread::sleep(for_);
        let _ = conn.execute_batch("ROLLBACK");
    }))
}

/// `sidecar run --config <config>` from the workspace root, its log (`RUST_LOG=info`, no
/// colours) in `log`.
pub fn spawn(config: &Path, log: &Path) -> Result<Child> {
    spawn_with(config, log, |_| {})
}

/// [`spawn`], with `adjust` given the command first (extra environment, a preload library…).
pub fn spawn_with(config: &Path, log: &Path, adjust: impl FnOnce(&mut Command)) -> Result<Child> {
    use anyhow::Context;
    let mut command = Command::new(binary()?);
    command
        .current_dir(crate::workspace_root())
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info,obws=warn")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log)?);
    adjust(&mut command);
    command.spawn().context("starting the sidecar")
}

/// Writes `dir/show.toml`: a show fed by a BarrageGrab stand-in at `grab_url`, without OBS, its
/// ledger (returned) and audio cache in `dir`, the avatar link on `link_port` with `token`;
/// `extra` (more TOML) is appended.
pub fn barrage_grab_show(
    dir: &Path,
    grab_url: &str,
    link_port: u16,
    token: &str,
    extra: &str,
) -> Result<(PathBuf, PathBuf)> {
    let (config, ledger) = (dir.join("show.toml"), dir.join("ledger.sqlite3"));
    let scenes_dir = crate::shipped_scenes_toml();
    std::fs::write(
        &config,
        format!(
            r#"[source]
kind = "barrage_grab"

[source.barrage_grab]
url = "{grab_url}"

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:{link_port}"
token = "{token}"

[voice.cache]
dir = "{cache}"

{extra}"#,
            ledger = ledger.display(),
            cache = dir.join("cache").display(),
        ),
    )?;
    Ok((config, ledger))
}

/// The sidecar's log so far (empty if it cannot be read yet).
pub fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Checks what a ledger lock must leave behind in the log: the commit was retried (the lock
/// did bite), and no source ended because of it.
pub fn ensure_lock_survived(log: &str) -> Result<()> {
    anyhow::ensure!(
        log.contains(COMMIT_RETRY_WARNING),
        "no {COMMIT_RETRY_WARNING:?} in the log: the lock never made a commit fail:\n{log}"
    );
    for ended in SOURCE_ENDED {
        anyhow::ensure!(
            !log.contains(ended),
            "a source ended during the lock ({ended:?}):\n{log}"
        );
    }
    Ok(())
}
