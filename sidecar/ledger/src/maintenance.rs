//! Ledger housekeeping on a background thread, so the ingestion path never waits for it.
//!
//! * **WAL checkpoints.** In WAL mode with `synchronous = NORMAL` a commit only appends to the
//!   WAL; the disk is waited for when the WAL is checkpointed into the database. SQLite
//!   normally does that inside the commit that crosses 1 000 pages, a multi-millisecond stall on
//!   the ingestion path every few thousand events. The writer has auto-checkpointing off and
//!   this thread runs a PASSIVE checkpoint (never blocks the writer or readers) once a second.
//!   A PASSIVE checkpoint cannot go past a reader's snapshot, so a reader that stays open (a DB
//!   browser left on a query, a backup tool) would let the WAL grow without end. When the WAL
//!   is past [`WAL_SOFT_LIMIT_PAGES`] the checkpoint escalates to TRUNCATE, waiting at most
//!   [`ESCALATION_WAIT`] (so the writer is held for no longer than that), and names the
//!   starving reader in the log if that fails too; the writer's `journal_size_limit` keeps the
//!   file itself at [`WAL_SIZE_LIMIT_BYTES`] once it was reset.
//! * **Pruning** `seen_log` and `combos` rows older than [`RETENTION`]. Finding expired rows is a
//!   scan, done in a read transaction (WAL readers do not block the writer); they are then
//!   deleted by key in small write transactions, so the writer waits at most one short delete.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::{clamp_i64, LedgerError};

/// How often the WAL is folded back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often expired rows are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Rows in `seen_log` and `combos` older than this are pruned: a day, far longer than any combo or
/// any upstream resend window. (`gifts` is the ledger itself and is never pruned.)
pub(super) const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Rows deleted per write transaction (about a millisecond of holding the write lock).
const DELETE_CHUNK: usize = 256;
/// WAL pages (4 KiB) past which a checkpoint escalates from PASSIVE to TRUNCATE: 64 MiB.
pub(super) const WAL_SOFT_LIMIT_PAGES: i64 = 16_384;
/// What the WAL file is truncated to after a reset (`PRAGMA journal_size_limit`).
pub(super) const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// Longest wait of an escalated checkpoint for readers and the writer.
const ESCALATION_WAIT: Duration = Duration::from_millis(250);
/// The busy timeout of the maintenance connection otherwise.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// "The WAL cannot be reset" is logged at most this often.
const STARVED_LOG_EVERY: Duration = Duration::from_secs(60);

/// Stops and joins the thread when dropped.
pub(super) struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub(super) fn start(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ledger-maintenance".into())
            .spawn(move || {
                let mut next_prune = Instant::now() + PRUNE_EVERY;
                let mut starved_logged: Option<Instant> = None;
                // Any message or a dropped sender ends the loop.
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    match checkpoint(&conn, WAL_SOFT_LIMIT_PAGES) {
                        Ok(Checkpoint::Starved { wal_pages }) => {
                            if starved_logged.is_none_or(|t| t.elapsed() >= STARVED_LOG_EVERY) {
                                starved_logged = Some(Instant::now());
                                tracing::warn!(
                                    wal_mib = wal_pages * 4 / 1024,
                                    "another program keeps a read transaction open on the ledger (a DB browser or backup tool?); its WAL cannot be reset and grows until it is closed"
                                );
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "ledger WAL checkpoint failed; retrying")
                        }
                    }
                    if Instant::now() >= next_prune {
                        next_prune = Instant::now() + PRUNE_EVERY;
                        let cutoff =
                            aivs_core::clock::now_ms().saturating_sub(RETENTION.as_millis() as u64);
                        if let Err(e) = prune(&conn, cutoff) {
                            tracing::warn!(error = %e, "ledger pruning failed; retrying later");
                        }
                    }
                }
            })
            .map_err(|source| LedgerError::Thread { source })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a checkpoint achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checkpoint {
    /// Everything in the WAL is in the database (or what is left is under the soft limit).
    Done,
    /// The WAL was over the limit and has been reset to empty.
    Reset,
    /// The WAL is over the limit and a reader's snapshot keeps it from being reset.
    Starved { wal_pages: i64 },
}

/// A PASSIVE checkpoint, escalated to TRUNCATE when the WAL is past `limit_pages`.
pub(super) fn checkpoint(conn: &Connection, limit_pages: i64) -> rusqlite::Result<Checkpoint> {
    // (busy, pages in the WAL, pages checkpointed); -1s when the database is not in WAL mode.
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
    };
    let (_, wal_pages, done) = run("PASSIVE")?;
    if wal_pages <= limit_pages {
        return Ok(Checkpoint::Done);
    }
    let _ = done;
    conn.busy_timeout(ESCALATION_WAIT)?;
    let truncated = run("TRUNCATE");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match truncated {
        Ok((0, _, _)) => Ok(Checkpoint::Reset),
        Ok(_) => Ok(Checkpoint::Starved { wal_pages }),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Ok(Checkpoint::Starved { wal_pages })
        }
        Err(e) => Err(e),
    }
}

/// Deletes `seen_log` and `combos` rows last touched before `cutoff_ms`; returns how many.
pub(super) fn prune(conn: &Connection, cutoff_ms: u64) -> rusqlite::Result<usize> {
    let cutoff = clamp_i64(cutoff_ms);
    // Read phase: a snapshot, never blocking the writer.
    let expired_logs: Vec<i64> = conn
        .prepare("SELECT id FROM seen_log WHERE at_ms < ?1")?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let expired_combos: Vec<(String, String)> = conn
        .prepare("SELECT platform, combo_key FROM combos WHERE updated_ms < ?1")?
        .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // Write phase: short transactions; a combo's time is re-checked in case it continued since
    // the snapshot.
    let logs = delete_in_chunks(
        conn,
        "DELETE FROM seen_log WHERE id = ?1",
        &expired_logs,
        |delete, id| delete.execute([id]),
    )?;
    let combos = delete_in_chunks(
        conn,
        "DELETE FROM combos WHERE platform = ?1 AND combo_key = ?2 AND updated_ms < ?3",
        &expired_combos,
        |delete, (platform, key)| delete.execute(params![platform, key, cutoff]),
    )?;
    Ok(logs + combos)
}

/// Runs `delete` (the statement `sql`) for each of `rows`, [`DELETE_CHUNK`] rows per write
/// transaction; returns the rows deleted.
fn delete_in_chunks<T>(
    conn: &Connection,
    sql: &str,
    rows: &[T],
    delete: impl Fn(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    for chunk in rows.chunks(DELETE_CHUNK) {
        let tx = conn.unchecked_transaction()?;
        {
            let mut statement = tx.prepare_cached(sql)?;
            for row in chunk {
                deleted += delete(&mut statement, row)?;
            }
        }
        tx.commit()?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_size(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    #[test]
    fn a_reader_that_stays_open_is_reported_and_the_wal_is_reset_once_it_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(4096));")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        for _ in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4096))", [])
                .unwrap();
        }
        let maintenance = Connection::open(&path).unwrap();
        maintenance.busy_timeout(BUSY_TIMEOUT).unwrap();
        let started = std::time::Instant::now();
        let outcome = checkpoint(&maintenance, 50).unwrap();
        assert!(
            matches!(outcome, Checkpoint::Starved { wal_pages } if wal_pages > 50),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < ESCALATION_WAIT * 4,
            "the escalation waited {:?}",
            started.elapsed()
        );
        // The writer is not blocked by the attempt.
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        reader.execute_batch("COMMIT").unwrap();
        assert_eq!(checkpoint(&maintenance, 50).unwrap(), Checkpoint::Reset);
        assert_eq!(wal_size(&path), 0, "TRUNCATE empties the WAL file");
        assert_eq!(checkpoint(&maintenance, 50).unwrap(), Checkpoint::Done);
    }
}
