//! The airtime log: one row per line that went on air, with when and how much of it played;
//! and the line log: every line's fate (aired, interrupted, not heard, skipped, vetoed, merged,
//! expired, dropped) with its reason and cause, which `sidecar report` reads.

use aivs_core::cue::{Cue, LineFate};
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

/// One step of a line's life for the line log: what it was, what became of it and why, and
/// what caused it. Every line the show made ends up here at least once.
#[derive(Debug, Clone)]
pub struct LineRecord<'a> {
    pub at_ms: u64,
    pub cue: &'a Cue,
    pub fate: LineFate,
    /// Why (`capacity`, `expired`, an unheard reason, an operator's words…); may be empty.
    pub reason: &'a str,
    /// The operator, when one did it.
    pub who: Option<&'a str>,
    /// The airtime row's utterance, for aired and interrupted lines.
    pub utterance: Option<u64>,
    pub played_ms: Option<u32>,
}

/// A line log row as read back (by `sidecar report`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedLine {
    pub at_ms: u64,
    pub text: String,
    pub kind: String,
    pub priority: i32,
    pub paid: bool,
    pub fate: String,
    pub reason: String,
    pub cause_kind: String,
    pub cause_platform: Option<String>,
    pub cause_ids: String,
    pub who: Option<String>,
    pub played_ms: Option<u32>,
}

impl Ledger {
    pub fn log_line(&self, line: &LineRecord<'_>) -> Result<(), LedgerError> {
        let cause = &line.cue.cause;
        self.conn
            .prepare_cached(
                "INSERT INTO line_log (at_ms, text, kind, priority, paid, fate, reason,
                    cause_kind, cause_platform, cause_ids, who, utterance, played_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                clamp_i64(line.at_ms),
                line.cue.text,
                line.cue.kind.name(),
                line.cue.priority,
                line.cue.paid,
                line.fate.name(),
                line.reason,
                cause.kind(),
                cause.platform(),
                cause.ids(),
                line.who,
                line.utterance.map(clamp_i64),
                line.played_ms,
            ])?;
        Ok(())
    }

    /// The line log from `since_ms` on, oldest first.
    pub fn lines_since(&self, since_ms: u64) -> Result<Vec<LoggedLine>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, text, kind, priority, paid, fate, reason, cause_kind,
                    cause_platform, cause_ids, who, played_ms
             FROM line_log WHERE at_ms >= ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([clamp_i64(since_ms)], |r| {
            Ok(LoggedLine {
                at_ms: r.get::<_, i64>(0)?.max(0) as u64,
                text: r.get(1)?,
                kind: r.get(2)?,
                priority: r.get(3)?,
                paid: r.get(4)?,
                fate: r.get(5)?,
                reason: r.get(6)?,
                cause_kind: r.get(7)?,
                cause_platform: r.get(8)?,
                cause_ids: r.get(9)?,
                who: r.get(10)?,
                played_ms: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use aivs_core::cue::{Cause, Cue, CueKind, LineFate};

    use crate::{Ledger, LineRecord};

    fn cue(cause: Cause) -> Cue {
        Cue {
            kind: CueKind::Reply,
            text: "你好".into(),
            priority: 5,
            rank: 0,
            paid: false,
            ttl_ms: None,
            prosody: Default::default(),
            effects: Vec::new(),
            cause,
        }
    }

    #[test]
    fn every_fate_is_written_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let causes = [
            Cause::Event {
                platform: "douyin".into(),
                kind: "comment".into(),
                msg_id: "c1".into(),
            },
            Cause::Gifts {
                platform: "bilibili".into(),
                msg_ids: vec!["g1".into(), "g2".into()],
            },
            Cause::Trigger {
                name: "整点".into(),
            },
            Cause::Rundown {
                product: "杯子".into(),
            },
            Cause::Idle,
            Cause::Operator {
                who: "阿明".into()
            },
            Cause::Resumed {
                platform: "douyin".into(),
                msg_ids: vec!["g0".into()],
            },
            Cause::System,
        ];
        for (i, (fate, cause)) in LineFate::ALL.into_iter().zip(causes.iter()).enumerate() {
            let cue = cue(cause.clone());
            let who = matches!(fate, LineFate::Skipped | LineFate::Vetoed).then_some("阿明");
            ledger
                .log_line(&LineRecord {
                    at_ms: 1_000 + i as u64,
                    cue: &cue,
                    fate,
                    reason: fate.name(),
                    who,
                    utterance: None,
                    played_ms: None,
                })
                .unwrap();
        }
        let rows = ledger.lines_since(1_002).unwrap();
        assert_eq!(rows.len(), 6, "only rows from the given time");
        let all = ledger.lines_since(0).unwrap();
        assert_eq!(all.len(), LineFate::ALL.len());
        for ((row, fate), cause) in all.iter().zip(LineFate::ALL).zip(causes.iter()) {
            assert_eq!(row.fate, fate.name());
            assert_eq!(row.reason, fate.name());
            assert_eq!(row.cause_kind, cause.kind());
            assert_eq!(row.cause_ids, cause.ids());
            assert_eq!(row.cause_platform.as_deref(), cause.platform());
            assert_eq!(row.kind, "reply");
            assert_eq!(row.text, "你好");
            assert_eq!(
                row.who.is_some(),
                matches!(fate, LineFate::Skipped | LineFate::Vetoed)
            );
        }
        assert_eq!(all[0].cause_ids, "comment:c1");
        assert_eq!(all[1].cause_ids, "g1,g2");
        assert_eq!(all[5].cause_ids, "阿明");
    }

    #[test]
    fn an_old_ledger_gets_the_line_log_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            // A ledger as an earlier version left it: its tables, no line log.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE airtime (id INTEGER PRIMARY KEY, utterance INTEGER NOT NULL,
                    kind TEXT NOT NULL, priority INTEGER NOT NULL, text TEXT NOT NULL,
                    started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL,
                    played_ms INTEGER NOT NULL, interrupted INTEGER NOT NULL);
                 INSERT INTO airtime VALUES (1, 1, 'reply', 5, '旧的', 1, 2, 1, 0);",
            )
            .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        assert!(ledger.lines_since(0).unwrap().is_empty());
        let cue = cue(Cause::Idle);
        ledger
            .log_line(&LineRecord {
                at_ms: 5,
                cue: &cue,
                fate: LineFate::Expired,
                reason: "expired",
                who: None,
                utterance: None,
                played_ms: None,
            })
            .unwrap();
        assert_eq!(ledger.lines_since(0).unwrap()[0].fate, "expired");
    }
}
