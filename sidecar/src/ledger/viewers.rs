//! Viewer memory for replies: who a viewer is to the show (name, how long and how often they
//! have been around, what they gave) and the last few exchanges with them, so the LLM can answer
//! a regular like a regular. Written by admission (`admit.rs`, once per group) and after each
//! LLM reply; read when a reply is written.

use rusqlite::{params, OptionalExtension};

use super::{clamp_i64, Ledger, LedgerError};

/// What the show remembers about one viewer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewerMemory {
    pub name: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Comments, entries, follows and gifts admitted from this viewer (likes are not counted).
    pub events: u64,
    pub gift_fen: u64,
    /// The most recent exchanges, oldest first: (what they said, what we answered).
    pub recent: Vec<(String, String)>,
}

/// Exchanges kept per viewer; older ones are deleted when a new one is recorded.
const EXCHANGES_KEPT: i64 = 20;

impl Ledger {
    /// The viewer's memory with up to `last_exchanges` recent exchanges; `None` for a stranger.
    pub fn viewer_memory(
        &self,
        platform: &str,
        user_id: &str,
        last_exchanges: usize,
    ) -> Result<Option<ViewerMemory>, LedgerError> {
        let Some(mut memory) = self
            .conn
            .prepare_cached(
                "SELECT name, first_seen_ms, last_seen_ms, events, gift_fen FROM viewers
                 WHERE platform = ?1 AND user_id = ?2",
            )?
            .query_row(params![platform, user_id], |r| {
                Ok(ViewerMemory {
                    name: r.get(0)?,
                    first_seen_ms: r.get::<_, i64>(1)?.max(0) as u64,
                    last_seen_ms: r.get::<_, i64>(2)?.max(0) as u64,
                    events: r.get::<_, i64>(3)?.max(0) as u64,
                    gift_fen: r.get::<_, i64>(4)?.max(0) as u64,
                    recent: Vec::new(),
                })
            })
            .optional()?
        else {
            return Ok(None);
        };
        let mut recent: Vec<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT comment, reply FROM exchanges WHERE platform = ?1 AND user_id = ?2
                 ORDER BY id DESC LIMIT ?3",
            )?
            .query_map(params![platform, user_id, last_exchanges as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        recent.reverse();
        memory.recent = recent;
        Ok(Some(memory))
    }

    /// Remembers one exchange (a comment and the reply that aired for it).
    pub fn record_exchange(
        &self,
        platform: &str,
        user_id: &str,
        comment: &str,
        reply: &str,
        now_ms: u64,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.prepare_cached(
            "INSERT INTO exchanges (platform, user_id, comment, reply, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            platform,
            user_id,
            comment,
            reply,
            clamp_i64(now_ms)
        ])?;
        tx.prepare_cached(
            "DELETE FROM exchanges WHERE platform = ?1 AND user_id = ?2 AND id NOT IN
                (SELECT id FROM exchanges WHERE platform = ?1 AND user_id = ?2
                 ORDER BY id DESC LIMIT ?3)",
        )?
        .execute(params![platform, user_id, EXCHANGES_KEPT])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, LiveEvent, Viewer};
    use crate::rewards::tiers::Tier;

    #[test]
    fn a_regular_is_remembered_with_their_last_exchanges() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
        assert_eq!(ledger.viewer_memory("douyin", "u1", 3).unwrap(), None);
        let comment = |id: &str| LiveEvent {
            platform: "douyin".into(),
            msg_id: id.into(),
            user: Some(Viewer {
                id: "u1".into(),
                name: "小明".into(),
                level: 1,
            }),
            kind: EventKind::Comment {
                text: "你好".into(),
            },
        };
        ledger
            .admit(
                vec![comment("c1"), comment("c2")],
                None,
                &|_| Tier::Small,
                5,
            )
            .unwrap();
        for i in 0..25 {
            ledger
                .record_exchange("douyin", "u1", &format!("问{i}"), &format!("答{i}"), 10 + i)
                .unwrap();
        }
        let memory = ledger.viewer_memory("douyin", "u1", 2).unwrap().unwrap();
        assert_eq!((memory.name.as_str(), memory.events), ("小明", 2));
        assert_eq!(
            memory.recent,
            vec![
                ("问23".into(), "答23".into()),
                ("问24".into(), "答24".into())
            ]
        );
        let kept: i64 = ledger
            .conn
            .query_row("SELECT COUNT(*) FROM exchanges", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, EXCHANGES_KEPT);
    }
}
