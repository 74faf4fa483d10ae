//! Viewer memory for replies: who a viewer is to the show (name, how long and how often they
//! have been around, what they gave) and the last few exchanges with them, so the LLM can answer
//! a regular like a regular. Written by admission (`admit.rs`) and after each LLM reply; read
//! when a reply is written.
//!
//! Admission writes it behind, because under a storm one upsert per viewer per frame was most
//! of the ledger's work: what a group adds is folded into [`PendingViewers`] and written once
//! it has gathered for [`GATHER_MS`], at most [`FLUSH_PER_GROUP`] viewers per admission
//! transaction (so no single commit grows), plus on idle ([`Ledger::flush_viewers`]) and when
//! the ledger is closed. Money is not written behind: a viewer whose gift is in a group is
//! written in that group's transaction, so `gift_fen` is exact even after a kill -9, which can
//! only lose the last second's comment and entry counts. Reads merge what is pending.

use std::collections::{HashMap, VecDeque};

use rusqlite::{params, OptionalExtension};

use super::{clamp_i64, Ledger, LedgerError};
use aivs_core::event::{EventKind, LiveEvent};

/// How long a viewer's touches gather in memory before they are written.
pub(super) const GATHER_MS: u64 = 1_000;
/// Viewers written behind per admission transaction, at most.
pub(super) const FLUSH_PER_GROUP: usize = 64;

/// A viewer in the in-memory maps: the hash of (platform, user id), so a touch costs no string
/// copies once the viewer is known. Two viewers sharing a 64-bit hash would share memory
/// counts (never money: gift totals come from the touches of the gift's own group).
pub(super) type ViewerKey = u64;

pub(super) fn viewer_key(platform: &str, user_id: &str) -> ViewerKey {
    super::recent::id_hash(platform, user_id)
}

type ViewerMap<V> = HashMap<ViewerKey, V, aivs_core::recent_ids::BuildIdHasher>;

/// What some admitted events add to one viewer's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ViewerTouch {
    pub(super) platform: String,
    pub(super) user_id: String,
    pub(super) name: String,
    pub(super) events: u64,
    pub(super) gift_fen: u64,
    pub(super) last_seen_ms: u64,
}

impl ViewerTouch {
    /// Adds `events` more events worth `gift_fen`, seen at `at_ms` under `name`.
    fn add(&mut self, name: &str, events: u64, gift_fen: u64, at_ms: u64) {
        self.name.clear();
        self.name.push_str(name);
        self.events += events;
        self.gift_fen = self.gift_fen.saturating_add(gift_fen);
        self.last_seen_ms = self.last_seen_ms.max(at_ms);
    }

    pub(super) fn merge(&mut self, later: &ViewerTouch) {
        self.add(
            &later.name,
            later.events,
            later.gift_fen,
            later.last_seen_ms,
        );
    }
}

/// The touches of one admission group, per viewer.
#[derive(Default)]
pub(super) struct GroupTouches {
    pub(super) by_viewer: ViewerMap<ViewerTouch>,
}

impl GroupTouches {
    /// Likes and viewer-count updates are too frequent to be worth remembering a viewer by.
    pub(super) fn add(&mut self, event: &LiveEvent, now_ms: u64) {
        let Some(user) = &event.user else { return };
        let gift_fen = match &event.kind {
            EventKind::Gift(gift) => gift.value_fen(),
            EventKind::Like { .. } | EventKind::ViewerStats { .. } => return,
            _ => 0,
        };
        let touch = self
            .by_viewer
            .entry(viewer_key(&event.platform, &user.id))
            .or_insert_with(|| ViewerTouch {
                platform: event.platform.clone(),
                user_id: user.id.clone(),
                ..ViewerTouch::default()
            });
        touch.add(&user.name, 1, gift_fen, now_ms);
    }
}

/// Touches admitted but not yet written, oldest first.
#[derive(Default)]
pub(super) struct PendingViewers {
    /// Viewer → (pending since, what is pending).
    by_viewer: ViewerMap<(u64, ViewerTouch)>,
    /// Viewers in the order they became pending, with that time; one whose entry was written
    /// since (or re-added later) is skipped when it reaches the front.
    order: VecDeque<(u64, ViewerKey)>,
}

impl PendingViewers {
    pub(super) fn get(&self, key: ViewerKey) -> Option<&ViewerTouch> {
        self.by_viewer.get(&key).map(|(_, t)| t)
    }

    /// Adds a committed group's touch (one not written with it).
    pub(super) fn merge(&mut self, key: ViewerKey, touch: &ViewerTouch, now_ms: u64) {
        match self.by_viewer.get_mut(&key) {
            Some((_, pending)) => pending.merge(touch),
            None => {
                self.order.push_back((now_ms, key));
                self.by_viewer.insert(key, (now_ms, touch.clone()));
            }
        }
    }

    /// Up to `max` viewers pending since before `cutoff_ms`, oldest first (left pending).
    pub(super) fn due(&self, cutoff_ms: u64, max: usize) -> Vec<ViewerKey> {
        self.order
            .iter()
            .take_while(|(since, _)| *since <= cutoff_ms)
            .filter(|(since, key)| self.is_current(*since, *key))
            .take(max)
            .map(|(_, key)| *key)
            .collect()
    }

    /// Forgets viewers whose touches were committed.
    pub(super) fn written(&mut self, keys: impl IntoIterator<Item = ViewerKey>) {
        for key in keys {
            self.by_viewer.remove(&key);
        }
        while let Some(&(since, key)) = self.order.front() {
            if self.is_current(since, key) {
                break;
            }
            self.order.pop_front();
        }
    }

    /// Whether an `order` entry still stands for what is pending.
    fn is_current(&self, since: u64, key: ViewerKey) -> bool {
        self.by_viewer.get(&key).is_some_and(|(s, _)| *s == since)
    }

    pub(super) fn all(&self) -> Vec<ViewerKey> {
        self.by_viewer.keys().copied().collect()
    }
}

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
    /// Writes viewer memory that has gathered long enough (all of it with `everything`); for
    /// quiet moments, when no admission transaction comes along to carry it.
    pub fn flush_viewers(&self, now_ms: u64, everything: bool) -> Result<(), LedgerError> {
        let pending = self.pending_viewers.borrow();
        let keys = if everything {
            pending.all()
        } else {
            pending.due(now_ms.saturating_sub(GATHER_MS), usize::MAX)
        };
        if keys.is_empty() {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction()?;
        for key in &keys {
            if let Some(touch) = pending.get(*key) {
                self.upsert_viewer(touch)?;
            }
        }
        tx.commit()?;
        drop(pending);
        self.pending_viewers.borrow_mut().written(keys);
        Ok(())
    }

    /// Viewer memory: latest name, last seen, and `touch.events` more events worth
    /// `touch.gift_fen`.
    pub(super) fn upsert_viewer(&self, touch: &ViewerTouch) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO viewers (platform, user_id, name, first_seen_ms, last_seen_ms,
                    events, gift_fen)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
                 ON CONFLICT(platform, user_id) DO UPDATE SET
                    name = excluded.name,
                    last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                    events = events + excluded.events,
                    gift_fen = gift_fen + excluded.gift_fen",
            )?
            .execute(params![
                touch.platform,
                touch.user_id,
                touch.name,
                clamp_i64(touch.last_seen_ms),
                clamp_i64(touch.events),
                clamp_i64(touch.gift_fen)
            ])?;
        Ok(())
    }

    /// The viewer's memory with up to `last_exchanges` recent exchanges; `None` for a stranger.
    pub fn viewer_memory(
        &self,
        platform: &str,
        user_id: &str,
        last_exchanges: usize,
    ) -> Result<Option<ViewerMemory>, LedgerError> {
        let pending = self
            .pending_viewers
            .borrow()
            .get(viewer_key(platform, user_id))
            .cloned();
        let stored = self
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
            .optional()?;
        let mut memory = match (stored, pending) {
            (None, None) => return Ok(None),
            (Some(memory), None) => memory,
            (stored, Some(touch)) => {
                let mut memory = stored.unwrap_or(ViewerMemory {
                    first_seen_ms: touch.last_seen_ms,
                    ..ViewerMemory::default()
                });
                memory.name = touch.name;
                memory.last_seen_ms = memory.last_seen_ms.max(touch.last_seen_ms);
                memory.events += touch.events;
                memory.gift_fen = memory.gift_fen.saturating_add(touch.gift_fen);
                memory
            }
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
    use aivs_core::event::{EventKind, LiveEvent, Viewer};
    use aivs_core::tiers::Tier;

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
                fan_level: 0,
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
