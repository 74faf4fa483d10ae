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

/// `target/debug/sidecar`, built once per test process (`cargo build -p sidecar --bin sidecar`).
///
/// The first call blocks for as long as that build takes (a minute on a fresh checkout, where
/// building the package alone relinks it): call it before starting stand-in servers or
/// anything else with a timeout.
pub fn binary() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = crate::workspace_root();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(&root)
                .args(["build", "-p", "sidecar", "--bin", "sidecar"])
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = err.lines().rev().take(40).collect();
                return Err(format!(
                    "cargo build -p sidecar failed:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            Ok(root.join("target/debug/sidecar"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// SIGINT (the sidecar's clean stop), then SIGKILL if it has not exited within [`STOP_GRACE`].
/// Returns whether it exited on its own.
pub fn stop(child: &mut Child) -> Result<bool> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
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

/// Message ids of the non-gift events of `platform` the ledger admitted.
pub fn ledger_seen(ledger: &Path, platform: &str) -> Result<Vec<String>> {
    let conn = open_read_only(ledger)?;
    let mut stmt = conn.prepare("SELECT msg_id FROM seen WHERE platform = ?1")?;
    let rows = stmt.query_map([platform], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn open_read_only(ledger: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(conn)
}
