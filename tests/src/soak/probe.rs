//! What a soak samples of a running sidecar: from `/proc/<pid>` (resident memory, threads, open
//! file descriptors), the ledger's file sizes, and the ledger's contents read the way any other
//! SQLite client would.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

/// One sample of the sidecar and what it was fed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Since the room started sending.
    pub at_secs: f64,
    /// `VmRSS`.
    pub rss_kib: u64,
    pub threads: u64,
    /// CPU time used so far (user + system).
    pub cpu_secs: f64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: u64,
    pub ledger_bytes: u64,
    /// The `-wal` file (0 when absent).
    pub wal_bytes: u64,
    /// Messages the room sent.
    pub sent: u64,
    /// Message ids the ledger admitted (`seen_log`).
    pub admitted: u64,
    /// Gift rows in the ledger, and how many of them are not thanked on air yet.
    pub gifts: u64,
    pub unthanked: u64,
    /// Lines the avatar played to the end.
    pub aired: u64,
}

/// `(VmRSS KiB, threads, open fds, CPU seconds)` of `pid`.
pub fn process(pid: u32) -> Result<(u64, u64, u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (has the sidecar exited?)"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as u64;
    Ok((field("VmRSS:")?, field("Threads:")?, fds, cpu_secs(pid)?))
}

/// utime + stime from `/proc/<pid>/stat`, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its `)` are fixed.
    let after = stat.rsplit_once(')').context("bad /proc/pid/stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("bad /proc/pid/stat")
    };
    // /proc counts in USER_HZ, which the kernel fixes at 100 for user space.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Ledger and WAL size in bytes.
pub fn ledger_files(ledger: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = ledger.as_os_str().to_owned();
    wal.push("-wal");
    (size(ledger), size(Path::new(&wal)))
}

/// `(admitted ids, gift rows, unthanked gift rows)`; zeros while the ledger does not exist.
///
/// A short read-only transaction: a reader that kept its snapshot would hold the WAL back,
/// which is exactly what the soak watches.
pub fn ledger_figures(ledger: &Path) -> (u64, u64, u64) {
    let read = || -> rusqlite::Result<(u64, u64, u64)> {
        let conn = rusqlite::Connection::open_with_flags(
            ledger,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(2))?;
        // Each seen_log row is a blob of 8-byte hashes.
        let admitted: i64 = conn.query_row(
            "SELECT coalesce(sum(length(ids)), 0) / 8 FROM seen_log",
            [],
            |r| r.get(0),
        )?;
        let (gifts, unthanked): (i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(sum(aired_text IS NULL), 0) FROM gifts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((admitted as u64, gifts as u64, unthanked as u64))
    };
    read().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let (rss, threads, fds, cpu) = process(std::process::id()).unwrap();
        assert!(cpu >= 0.0);
        assert!(rss > 1_000, "{rss} KiB");
        assert!(threads >= 1);
        // stdin, stdout, stderr at least, plus the directory being listed.
        assert!(fds >= 3, "{fds}");
    }

    #[test]
    fn ledger_figures_count_ids_gifts_and_unthanked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE seen_log (id INTEGER PRIMARY KEY, at_ms INTEGER, ids BLOB);
             CREATE TABLE gifts (msg_id TEXT, aired_text TEXT);
             INSERT INTO seen_log (at_ms, ids) VALUES (1, zeroblob(24)), (2, zeroblob(16));
             INSERT INTO gifts VALUES ('a', 'thanks'), ('b', NULL), ('c', NULL);",
        )
        .unwrap();
        assert_eq!(ledger_figures(&path), (5, 3, 2));
        let (db, wal) = ledger_files(&path);
        assert!(db > 0 && wal > 0, "{db} {wal}");
        assert_eq!(ledger_figures(&dir.path().join("missing")), (0, 0, 0));
    }
}
