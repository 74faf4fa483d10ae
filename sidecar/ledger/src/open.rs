//! Opening the ledger: the file and its directory are created, WAL mode and the pragmas set,
//! the schema created or migrated, and the duplicate window reloaded from `seen_log`. Also the
//! file's identity, so a database deleted or replaced under the open connection is noticed
//! ([`Ledger::check_file`]) instead of the show writing into an orphaned file.

use std::cell::RefCell;
use std::path::Path;

use rusqlite::Connection;

use super::schema::{migrate_gift_messages, migrate_seen_table, SCHEMA};
use super::{maintenance, recent, Ledger, LedgerError};

/// What identifies the database file on disk: it must still be there, and be the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileIdentity {
    #[cfg(unix)]
    dev_ino: (u64, u64),
}

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(Self {
                dev_ino: (meta.dev(), meta.ino()),
            })
        }
        #[cfg(not(unix))]
        {
            // Windows refuses to delete a file SQLite holds open; existence is what can change.
            let _ = meta;
            Ok(Self {})
        }
    }
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL is durable across a process crash in WAL mode (only an OS crash can lose the
        // last transactions), at a fraction of FULL's fsync cost.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate_seen_table(&conn)?;
        migrate_gift_messages(&conn)?;
        let recent = load_recent_ids(&conn, recent::CAPACITY)?;
        // The maintenance thread checkpoints instead (module docs); a reset WAL is cut back to
        // this size rather than kept at its largest.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(
            None,
            "journal_size_limit",
            maintenance::WAL_SIZE_LIMIT_BYTES,
        )?;
        Ok(Self {
            _maintenance: maintenance::Maintenance::start(path)?,
            conn,
            recent: RefCell::new(recent),
            pending_viewers: RefCell::default(),
            combos: RefCell::default(),
            path: path.to_path_buf(),
            identity: FileIdentity::of(path).ok(),
        })
    }

    /// Fails with [`LedgerError::FileGone`] when the database file was deleted or replaced
    /// since it was opened (a cleaner, a user, an antivirus quarantine). A stat call: cheap
    /// enough to run every second.
    pub fn check_file(&self) -> Result<(), LedgerError> {
        let Some(identity) = &self.identity else {
            return Ok(()); // an in-memory or unstat-able database: nothing to compare
        };
        match FileIdentity::of(&self.path) {
            Ok(now) if now == *identity => Ok(()),
            _ => Err(LedgerError::FileGone {
                path: self.path.display().to_string(),
            }),
        }
    }
}

/// The newest `capacity` ids of `seen_log`, in admission order.
fn load_recent_ids(conn: &Connection, capacity: usize) -> Result<recent::RecentIds, LedgerError> {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let mut ids = 0;
    let mut newest_first = conn.prepare("SELECT ids FROM seen_log ORDER BY id DESC")?;
    let mut cursor = newest_first.query([])?;
    while ids < capacity {
        let Some(row) = cursor.next()? else { break };
        let blob: Vec<u8> = row.get(0)?;
        ids += blob.len() / 8;
        rows.push(blob);
    }
    let mut window = recent::RecentIds::new(capacity);
    for blob in rows.iter().rev() {
        for hash in recent::decode(blob) {
            window.insert(hash);
        }
    }
    Ok(window)
}
