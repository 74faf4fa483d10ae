//! Ledger housekeeping on a background thread, so the ingestion path never waits for it.
//!
//! * **WAL checkpoints.** In WAL mode with `synchronous = NORMAL` a commit only appends to the
//!   WAL; the disk is waited for when the WAL is checkpointed into the database. SQLite
//!   normally does that inside the commit that crosses 1 000 pages, a multi-millisecond stall on
//!   the ingestion path every few thousand events. The writer has auto-checkpointing off and
//!   this thread runs a PASSIVE checkpoint (never blocks the writer or readers) once a second.
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

/// Stops and joins the thread when dropped.
pub(super) struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub(super) fn start(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ledger-maintenance".into())
            .spawn(move || {
                let mut next_prune = Instant::now() + PRUNE_EVERY;
                // Any message or a dropped sender ends the loop.
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = checkpoint(&conn) {
                        tracing::warn!(error = %e, "ledger WAL checkpoint failed; retrying");
                    }
                    if Instant::now() >= next_prune {
                        next_prune = Instant::now() + PRUNE_EVERY;
                        let cutoff =
                            crate::clock::now_ms().saturating_sub(RETENTION.as_millis() as u64);
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

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
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
