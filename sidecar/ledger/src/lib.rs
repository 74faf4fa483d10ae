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

mod admit;
mod combo_cache;
mod config;
mod maintenance;
mod recent;
mod viewers;
mod worker;

pub use admit::{Admission, AdmitError, Batch};
pub use config::LedgerConfig;
pub use viewers::ViewerMemory;
pub use worker::{LedgerHandle, NOTE_ATTEMPTS};

use std::cell::RefCell;
use std::path::Path;

use rusqlite::{params, Connection};

use aivs_core::event::{EventKind, LiveEvent};
use aivs_core::tiers::Tier;

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

/// What identifies the database file on disk: it must still be there, and be the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
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

/// A gift as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GiftRow {
    pub platform: String,
    pub msg_id: String,
    pub user_id: String,
    pub user_name: String,
    pub gift_name: String,
    pub count: u64,
    pub value_fen: u64,
    pub aired_text: Option<String>,
}

/// One line that went on air, for the airtime log.
#[derive(Debug, Clone)]
pub struct AiredLine<'a> {
    pub utterance: u64,
    pub kind: &'a str,
    pub priority: i32,
    pub text: &'a str,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub played_ms: u32,
    pub interrupted: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gifts (
    platform      TEXT NOT NULL,
    msg_id        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    gift_id       TEXT NOT NULL,
    gift_name     TEXT NOT NULL,
    count         INTEGER NOT NULL,
    diamonds      INTEGER NOT NULL,
    value_fen     INTEGER NOT NULL,
    tier          INTEGER NOT NULL,
    received_ms   INTEGER NOT NULL,
    aired_text    TEXT,
    aired_ms      INTEGER,
    PRIMARY KEY (platform, msg_id)
);
CREATE TABLE IF NOT EXISTS viewers (
    platform      TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    events        INTEGER NOT NULL DEFAULT 0,
    gift_fen      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (platform, user_id)
);
CREATE TABLE IF NOT EXISTS airtime (
    id            INTEGER PRIMARY KEY,
    utterance     INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    text          TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER NOT NULL,
    played_ms     INTEGER NOT NULL,
    interrupted   INTEGER NOT NULL
);
-- The message ids each admission group added to the duplicate window (`recent.rs`): 64-bit
-- hashes, little-endian, 8 bytes each. The window is rebuilt from the newest rows at start;
-- rows are pruned after a day.
CREATE TABLE IF NOT EXISTS seen_log (
    id            INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    ids           BLOB NOT NULL
);
-- How much of each combo's running total has been counted; pruned after a day.
CREATE TABLE IF NOT EXISTS combos (
    platform      TEXT NOT NULL,
    combo_key     TEXT NOT NULL,
    counted       INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (platform, combo_key)
) WITHOUT ROWID;
-- The last exchanges with each viewer (comment, reply), for the LLM's per-viewer context.
CREATE TABLE IF NOT EXISTS exchanges (
    id            INTEGER PRIMARY KEY,
    platform      TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    comment       TEXT NOT NULL,
    reply         TEXT NOT NULL,
    at_ms         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_by_viewer ON exchanges (platform, user_id, id);
-- Resume state of each source (Douyin cursor…), committed with the events it covers.
CREATE TABLE IF NOT EXISTS checkpoints (
    source        TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    updated_ms    INTEGER NOT NULL
);
";

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

    /// Ids in the duplicate window (for diagnostics and tests).
    pub fn recent_ids(&self) -> usize {
        self.recent.borrow().len()
    }

    /// Records one gift (its `count` already resolved); false when the message id is known.
    /// Callers go through [`Ledger::admit_group`], which de-duplicates first and updates
    /// viewer memory.
    fn insert_gift(&self, event: &LiveEvent, tier: Tier, now_ms: u64) -> Result<bool, LedgerError> {
        let EventKind::Gift(gift) = &event.kind else {
            return Ok(false);
        };
        let (user_id, user_name) = event
            .user
            .as_ref()
            .map_or(("", "朋友"), |u| (u.id.as_str(), u.name.as_str()));
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO gifts (platform, msg_id, user_id, user_name, gift_id,
                    gift_name, count, diamonds, value_fen, tier, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                event.platform,
                event.msg_id,
                user_id,
                user_name,
                gift.gift_id,
                gift.gift_name,
                gift.count,
                clamp_i64(gift.diamonds),
                clamp_i64(gift.value_fen()),
                tier.number(),
                clamp_i64(now_ms)
            ])?;
        Ok(inserted == 1)
    }

    /// Notes what was aired to thank these gifts.
    pub fn mark_aired(
        &self,
        platform: &str,
        msg_ids: &[String],
        text: &str,
        now_ms: u64,
    ) -> Result<(), LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE gifts SET aired_text = ?1, aired_ms = ?2 WHERE platform = ?3 AND msg_id = ?4",
        )?;
        for id in msg_ids {
            stmt.execute(params![text, clamp_i64(now_ms), platform, id])?;
        }
        Ok(())
    }

    pub fn log_airtime(&self, line: &AiredLine<'_>) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO airtime (utterance, kind, priority, text, started_ms, ended_ms, played_ms, interrupted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                clamp_i64(line.utterance),
                line.kind,
                line.priority,
                line.text,
                clamp_i64(line.started_ms),
                clamp_i64(line.ended_ms),
                line.played_ms,
                line.interrupted
            ],
        )?;
        Ok(())
    }

    /// Gifts recorded but never thanked on air (e.g. the sidecar stopped first), oldest first.
    pub fn unthanked_gifts(&self) -> Result<Vec<LiveEvent>, LedgerError> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.unthanked_page(after, i64::MAX, 1024)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(all);
            };
            after = last;
            all.extend(page.into_iter().map(|(_, event)| event));
        }
    }

    /// Up to `limit` unthanked gifts recorded after row `after_row` (0: from the start) and up
    /// to row `until_row`, oldest first, each with its row number to continue from. Paged so
    /// that a backlog of thousands of gifts left by a crash is fed to the show a page at a time,
    /// never loaded whole; bounded by the last row of the earlier run ([`Ledger::last_gift_row`]
    /// at start), so gifts of this run, which the show thanks as they come, are never resumed.
    pub fn unthanked_page(
        &self,
        after_row: i64,
        until_row: i64,
        limit: usize,
    ) -> Result<Vec<(i64, LiveEvent)>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, platform, msg_id, user_id, user_name, gift_id, gift_name, diamonds, count
             FROM gifts WHERE rowid > ?1 AND rowid <= ?2 AND aired_text IS NULL
             ORDER BY rowid LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![after_row, until_row, limit as i64], |r| {
            Ok((
                r.get(0)?,
                LiveEvent {
                    platform: r.get(1)?,
                    msg_id: r.get(2)?,
                    user: Some(aivs_core::event::Viewer {
                        id: r.get(3)?,
                        name: r.get(4)?,
                        level: 0,
                    }),
                    kind: EventKind::Gift(aivs_core::event::Gift {
                        gift_id: r.get(5)?,
                        gift_name: r.get(6)?,
                        diamonds: r.get::<_, i64>(7)?.max(0) as u64,
                        count: r.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
                        combo: None,
                    }),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest gift row (0 in an empty ledger).
    pub fn last_gift_row(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(rowid), 0) FROM gifts", [], |r| {
                r.get(0)
            })?)
    }

    /// How many gifts were never thanked (for the end-of-show summary).
    pub fn unthanked_count(&self) -> Result<u64, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM gifts WHERE aired_text IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
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

    pub fn gifts(&self) -> Result<Vec<GiftRow>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT platform, msg_id, user_id, user_name, gift_name, count, value_fen, aired_text
             FROM gifts ORDER BY received_ms, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(GiftRow {
                platform: r.get(0)?,
                msg_id: r.get(1)?,
                user_id: r.get(2)?,
                user_name: r.get(3)?,
                gift_name: r.get(4)?,
                count: r.get::<_, i64>(5)? as u64,
                value_fen: r.get::<_, i64>(6)? as u64,
                aired_text: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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

/// Ledgers written before the duplicate window kept one `seen` row per message id; their ids
/// move into one `seen_log` row and the table goes.
fn migrate_seen_table(conn: &Connection) -> Result<(), LedgerError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seen')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let (hashes, newest) = {
        let mut stmt = tx.prepare("SELECT platform, msg_id, at_ms FROM seen ORDER BY at_ms")?;
        let mut hashes = Vec::new();
        let mut newest = 0i64;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (platform, msg_id): (String, String) = (row.get(0)?, row.get(1)?);
            hashes.push(recent::id_hash(&platform, &msg_id));
            newest = newest.max(row.get(2)?);
        }
        (hashes, newest)
    };
    if !hashes.is_empty() {
        tx.execute(
            "INSERT INTO seen_log (at_ms, ids) VALUES (?1, ?2)",
            params![newest, recent::encode(&hashes)],
        )?;
    }
    tx.execute_batch("DROP TABLE seen")?;
    tx.commit()?;
    tracing::info!(
        ids = hashes.len(),
        "moved the ledger's seen ids into seen_log"
    );
    Ok(())
}

/// SQLite integers are i64; absurd upstream numbers saturate rather than wrap negative.
fn clamp_i64(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivs_core::event::{Gift, Viewer};

    fn gift(msg: &str, diamonds: u64, count: u32) -> LiveEvent {
        LiveEvent {
            platform: "douyin".into(),
            msg_id: msg.into(),
            user: Some(Viewer {
                id: "u1".into(),
                name: "小明".into(),
                level: 3,
            }),
            kind: EventKind::Gift(Gift {
                gift_id: "g".into(),
                gift_name: "小心心".into(),
                diamonds,
                count,
                combo: None,
            }),
        }
    }

    /// Admits one gift on its own; true when it was new.
    fn record(ledger: &Ledger, event: LiveEvent, now_ms: u64) -> bool {
        let out = ledger
            .admit(vec![event], None, &|_| Tier::Small, now_ms)
            .unwrap();
        matches!(out[0], Admission::Fresh(_))
    }

    #[test]
    fn a_gift_is_recorded_once_per_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("sub/ledger.sqlite3")).unwrap();
        assert!(record(&ledger, gift("m1", 1, 3), 1));
        assert!(!record(&ledger, gift("m1", 1, 3), 2));
        assert!(record(&ledger, gift("m2", 1, 1), 3));
        let rows = ledger.gifts().unwrap();
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 4);
        // A gift's viewer memory is written with it, not behind.
        let viewer_fen: i64 = ledger
            .conn
            .query_row(
                "SELECT gift_fen FROM viewers WHERE user_id = 'u1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(viewer_fen, 40, "viewer memory counts each gift once");
    }

    #[test]
    fn unthanked_gifts_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let ledger = Ledger::open(&path).unwrap();
            record(&ledger, gift("m1", 1, 1), 1);
            record(&ledger, gift("m2", 1, 1), 2);
            ledger
                .mark_aired("douyin", &["m1".into()], "谢谢", 3)
                .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        let pending = ledger.unthanked_gifts().unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|e| e.msg_id.as_str())
                .collect::<Vec<_>>(),
            vec!["m2"]
        );
    }

    #[test]
    fn pruning_forgets_old_ids_and_combos_but_never_gifts() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        let day = maintenance::RETENTION.as_millis() as u64;
        let mut comment = gift("c-old", 1, 1);
        comment.kind = EventKind::Comment { text: "hi".into() };
        ledger
            .admit(vec![comment.clone()], None, &|_| Tier::Small, 1)
            .unwrap();
        record(&ledger, gift("g-old", 1, 1), 2);
        let mut recent = comment.clone();
        recent.msg_id = "c-new".into();
        ledger
            .admit(vec![recent], None, &|_| Tier::Small, day + 10)
            .unwrap();

        let deleted = maintenance::prune(&ledger.conn, day + 5).unwrap();
        assert_eq!(deleted, 2, "the two day-old seen_log rows");
        drop(ledger);
        // Reopened, the window holds only what is left: the old comment id is forgotten; the
        // old gift is still a duplicate (gifts are kept).
        let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        assert_eq!(ledger.recent_ids(), 1);
        let again = ledger
            .admit(vec![comment], None, &|_| Tier::Small, day + 20)
            .unwrap();
        assert!(matches!(again[0], Admission::Fresh(_)));
        assert!(!record(&ledger, gift("g-old", 1, 1), day + 20));
        assert_eq!(ledger.gifts().unwrap().len(), 1);
    }

    #[test]
    fn absurd_values_are_clamped_not_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        record(&ledger, gift("m", u64::MAX, u32::MAX), 1);
        assert_eq!(ledger.gifts().unwrap()[0].value_fen, i64::MAX as u64);
    }
}
