//! The SQLite ledger: every gift exactly once, what was aired, and viewer memory.
//!
//! WAL mode, so a reader (a dashboard, the e2e test) never blocks the writer. A gift is written
//! *before* anything else happens to it: if the sidecar dies a millisecond later, the gift is
//! on disk and is thanked after restart (`unthanked_gifts`). The primary key
//! `(platform, msg_id)` makes a duplicate delivery a no-op, which is what "counted exactly once"
//! rests on. Incoming batches go through [`Ledger::admit_group`] (see `admit.rs`): one
//! transaction per group of batches de-duplicates every message id (in memory, against the
//! window `recent.rs` rebuilds from `seen_log`), resolves combo running totals into
//! increments, updates viewer memory (`viewers.rs`, written behind except for gifts) and stores
//! the sources' resume checkpoints.
//!
//! The writer never checkpoints the WAL itself (that is where SQLite fsyncs) nor prunes old
//! rows: a background thread does both on its own connection (see `maintenance.rs`). A commit is
//! then a write into the WAL without waiting for the disk, and the ingestion path has no
//! periodic multi-millisecond stall.
//!
//! This file holds the [`Ledger`] and its error; `open` opening the file (schema, migration,
//! duplicate window) and noticing it vanish; `schema` the tables; `gifts` the gift rows
//! (recorded, thanked, resumed after a crash); `airtime` the log of what went on air.

mod admit;
mod airtime;
mod combo_cache;
mod config;
mod gifts;
mod maintenance;
mod open;
mod recent;
mod schema;
#[cfg(test)]
mod tests;
mod viewers;
mod worker;

pub use admit::{Admission, AdmitError, Batch};
pub use airtime::{AiredLine, LineRecord, LoggedLine};
pub use config::LedgerConfig;
pub use gifts::{EarnedGift, GiftRow};
pub use viewers::ViewerMemory;
pub use worker::{LedgerHandle, NOTE_ATTEMPTS};

use std::cell::RefCell;

use rusqlite::Connection;

use open::FileIdentity;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the ledger's maintenance thread: {source}")]
    Thread { source: std::io::Error },
    #[error("cannot create ledger directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    /// The database file was deleted or replaced under the open connection. SQLite would go on
    /// writing into the orphaned file and everything would be lost at exit, so this cannot heal.
    #[error("the ledger file {path} was deleted or replaced while the show was running")]
    FileGone { path: String },
    /// A ledger call panicked. What it held is gone with it, so the caller must not pretend
    /// it can retry: unacknowledged upstream data is resent after a restart instead.
    #[error("a ledger operation panicked: {0}")]
    Panicked(String),
    /// The ledger's thread ([`LedgerHandle`]) is gone; nothing can be written any more.
    #[error("the ledger's thread has stopped")]
    Gone,
}

impl LedgerError {
    /// Errors that retrying cannot fix: the file is gone or is not (any more) a database.
    /// Everything else (locked by another process, disk full, I/O hiccups, read-only for a
    /// moment) may heal, and the caller retries with backoff.
    pub fn cannot_heal(&self) -> bool {
        match self {
            LedgerError::FileGone { .. } | LedgerError::Panicked(_) | LedgerError::Gone => true,
            LedgerError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ),
            _ => false,
        }
    }
}

pub struct Ledger {
    /// Declared before `conn` so it stops (and closes its connection) first: the last
    /// connection to close then checkpoints and removes the WAL.
    _maintenance: maintenance::Maintenance,
    conn: Connection,
    /// The duplicate window (`recent.rs`), rebuilt from `seen_log` at open.
    recent: RefCell<recent::RecentIds>,
    /// Viewer memory admitted but not yet written (`viewers.rs`).
    pending_viewers: RefCell<viewers::PendingViewers>,
    /// `combos.counted`, cached (`combo_cache.rs`).
    combos: RefCell<combo_cache::ComboCache>,
    path: std::path::PathBuf,
    identity: Option<FileIdentity>,
}

impl Drop for Ledger {
    /// Viewer memory written behind is written on a clean close.
    fn drop(&mut self) {
        if let Err(e) = self.flush_viewers(0, true) {
            tracing::warn!(error = %e, "could not write the last viewer memory");
        }
    }
}

impl Ledger {
    /// Ids in the duplicate window (for diagnostics and tests).
    pub fn recent_ids(&self) -> usize {
        self.recent.borrow().len()
    }

    /// The last checkpoint stored for `source` by [`Ledger::admit`].
    pub fn checkpoint(&self, source: &str) -> Result<Option<String>, LedgerError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM checkpoints WHERE source = ?1",
                [source],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// SQLite integers are i64; absurd upstream numbers saturate rather than wrap negative.
fn clamp_i64(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}
