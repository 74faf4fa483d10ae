//! The ledger's tables, and the migration of ledgers written by earlier versions.

use rusqlite::{params, Connection};

use super::{recent, LedgerError};

pub(super) const SCHEMA: &str = "
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
    message       TEXT,
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
-- Every line's fate with its cause (`airtime.rs`): one row per aired or cut utterance, per
-- line let go (not heard, skipped, vetoed, merged, expired, dropped). `CREATE … IF NOT
-- EXISTS` is the migration: an older ledger gets the table when it is opened.
CREATE TABLE IF NOT EXISTS line_log (
    id            INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    text          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    paid          INTEGER NOT NULL,
    fate          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    cause_kind    TEXT NOT NULL,
    cause_platform TEXT,
    cause_ids     TEXT NOT NULL,
    who           TEXT,
    utterance     INTEGER,
    played_ms     INTEGER
);
CREATE INDEX IF NOT EXISTS line_log_by_time ON line_log (at_ms);
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

/// Ledgers written before the duplicate window kept one `seen` row per message id; their ids
/// move into one `seen_log` row and the table goes.
pub(super) fn migrate_seen_table(conn: &Connection) -> Result<(), LedgerError> {
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

/// Ledgers written before gifts could carry a paid message (a Super Chat) get the column, so
/// a message still unthanked at a crash is read out after the restart.
pub(super) fn migrate_gift_messages(conn: &Connection) -> Result<(), LedgerError> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('gifts') WHERE name = 'message')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE gifts ADD COLUMN message TEXT")?;
        tracing::info!("the ledger's gifts can now keep a paid message");
    }
    Ok(())
}
