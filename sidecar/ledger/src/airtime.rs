//! The airtime log: one row per line that went on air, with when and how much of it played.

use rusqlite::params;

use super::{clamp_i64, Ledger, LedgerError};

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

impl Ledger {
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
}
