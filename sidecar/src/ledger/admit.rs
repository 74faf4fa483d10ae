//! Admission of incoming batches: the one place where "counted exactly once" is decided.
//!
//! For each event of a [`Batch`], inside one transaction per *group* of batches:
//!
//! * a message id seen before is a [`Admission::Duplicate`]. The check and the mark are one
//!   statement (`INSERT OR IGNORE INTO seen`): no changed row means the id was there already.
//!   Gifts are also unique in `gifts`, which is never pruned, so a gift resent after `seen`
//!   forgot it is still caught;
//! * a gift with a [`ComboTotal`] is resolved against the combo's progress row: the increment is
//!   `total − counted` (never negative: a total going backwards, a late message of an already
//!   counted combo, or an end-of-combo summary that adds nothing is [`Admission::NothingNew`]);
//! * anything else is [`Admission::Fresh`], with the gift's `count` resolved.
//!
//! Viewer memory (name, last seen, event count, gift total) is updated in the same transaction,
//! once per distinct viewer of the group.
//!
//! Each batch's checkpoint is written in the same transaction, so after a crash the source
//! resumes exactly after the last batch whose gifts are on disk. Because combo progress lives in
//! SQLite too, a combo that was half counted before a restart continues from where it was
//! instead of being counted again from 1.
//!
//! Why groups: under a storm the show takes every batch that is already waiting and admits them
//! together. One commit then covers many upstream frames, each acknowledged once it is covered,
//! so throughput grows with load instead of queueing behind one commit per frame.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::{clamp_i64, Ledger, LedgerError};
use crate::event::{ComboTotal, EventKind, LiveEvent};
use crate::rewards::tiers::Tier;

/// One upstream frame's (or request's) events, with the source's resume state as of it.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub events: Vec<LiveEvent>,
    /// `(source key, opaque state)`, stored with the batch.
    pub checkpoint: Option<(String, String)>,
}

/// What the ledger made of one incoming event.
// Admissions live for one call; boxing the event would cost an allocation per event on the
// ingestion hot path to save a few bytes for the rare duplicates.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// New: pass it on. Gifts carry their resolved increment in `count`.
    Fresh(LiveEvent),
    /// This message id was admitted before.
    Duplicate,
    /// A new message that adds nothing (a combo total that was already counted).
    NothingNew,
}

/// Viewer-memory changes of one group, applied once per viewer at the end of the transaction.
#[derive(Default)]
struct ViewerTouches {
    by_viewer: HashMap<(String, String), ViewerTouch>,
}

struct ViewerTouch {
    name: String,
    events: u64,
    gift_fen: u64,
}

impl ViewerTouches {
    /// Likes and viewer-count updates are too frequent to be worth remembering a viewer by.
    fn add(&mut self, event: &LiveEvent) {
        let Some(user) = &event.user else { return };
        let gift_fen = match &event.kind {
            EventKind::Gift(gift) => gift.value_fen(),
            EventKind::Like { .. } | EventKind::ViewerStats { .. } => return,
            _ => 0,
        };
        let touch = self
            .by_viewer
            .entry((event.platform.clone(), user.id.clone()))
            .or_insert_with(|| ViewerTouch {
                name: String::new(),
                events: 0,
                gift_fen: 0,
            });
        touch.name.clone_from(&user.name);
        touch.events += 1;
        touch.gift_fen = touch.gift_fen.saturating_add(gift_fen);
    }
}

impl Ledger {
    /// Admits one batch in one transaction (see the module docs). `classify` tiers a gift by
    /// its value in fen. `checkpoint` is `(source key, state)` to store with the batch.
    pub fn admit(
        &self,
        events: Vec<LiveEvent>,
        checkpoint: Option<(&str, &str)>,
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
    ) -> Result<Vec<Admission>, LedgerError> {
        let batch = Batch {
            events,
            checkpoint: checkpoint.map(|(k, v)| (k.to_string(), v.to_string())),
        };
        let mut out = self.admit_group(vec![batch], classify, now_ms)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Admits several batches in one transaction; one admission list per batch, in order.
    /// Either every batch is committed or (on error) none is.
    pub fn admit_group(
        &self,
        batches: Vec<Batch>,
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
    ) -> Result<Vec<Vec<Admission>>, LedgerError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut touches = ViewerTouches::default();
        // Only the newest state of each source matters; it is written once.
        let mut checkpoints: Vec<(String, String)> = Vec::new();
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches {
            let mut admitted = Vec::with_capacity(batch.events.len());
            for event in batch.events {
                let admission = self.admit_one(event, classify, now_ms)?;
                if let Admission::Fresh(event) = &admission {
                    touches.add(event);
                }
                admitted.push(admission);
            }
            if let Some((source, state)) = batch.checkpoint {
                match checkpoints.iter_mut().find(|(s, _)| *s == source) {
                    Some(slot) => slot.1 = state,
                    None => checkpoints.push((source, state)),
                }
            }
            out.push(admitted);
        }
        for ((platform, user_id), touch) in touches.by_viewer {
            self.upsert_viewer(
                &platform,
                &user_id,
                &touch.name,
                touch.events,
                touch.gift_fen,
                now_ms,
            )?;
        }
        let mut store = self.conn.prepare_cached(
            "INSERT INTO checkpoints (source, state, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(source) DO UPDATE SET state = excluded.state,
                updated_ms = excluded.updated_ms",
        )?;
        for (source, state) in &checkpoints {
            store.execute(params![source, state, clamp_i64(now_ms)])?;
        }
        drop(store);
        tx.commit()?;
        Ok(out)
    }

    fn admit_one(
        &self,
        mut event: LiveEvent,
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
    ) -> Result<Admission, LedgerError> {
        if event.msg_id.is_empty() {
            // Nothing to de-duplicate on (viewer-count updates): always new.
            return Ok(match event.kind {
                EventKind::Gift(_) => Admission::NothingNew, // a gift without id is unusable
                _ => Admission::Fresh(event),
            });
        }
        if !self.mark_seen(&event.platform, &event.msg_id, now_ms)? {
            return Ok(Admission::Duplicate);
        }
        let EventKind::Gift(gift) = &mut event.kind else {
            return Ok(Admission::Fresh(event));
        };
        let combo = gift.combo.clone();
        if let Some(combo) = &combo {
            let increment = combo
                .total
                .saturating_sub(self.combo_counted(&event.platform, combo)?);
            if increment == 0 {
                return Ok(Admission::NothingNew);
            }
            gift.count = u32::try_from(increment).unwrap_or(u32::MAX);
        } else if gift.count == 0 {
            return Ok(Admission::NothingNew);
        }
        let tier = classify(gift.value_fen());
        if !self.insert_gift(&event, tier, now_ms)? {
            // In `gifts` but no longer in `seen` (older than the retention): a late resend.
            return Ok(Admission::Duplicate);
        }
        if let Some(combo) = &combo {
            self.conn
                .prepare_cached(
                    "INSERT INTO combos (platform, combo_key, counted, updated_ms)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(platform, combo_key) DO UPDATE SET
                        counted = excluded.counted, updated_ms = excluded.updated_ms",
                )?
                .execute(params![
                    event.platform,
                    combo.key,
                    clamp_i64(combo.total),
                    clamp_i64(now_ms)
                ])?;
        }
        Ok(Admission::Fresh(event))
    }

    /// How much of this combo's running total is already in the ledger.
    fn combo_counted(&self, platform: &str, combo: &ComboTotal) -> Result<u64, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT counted FROM combos WHERE platform = ?1 AND combo_key = ?2")?
            .query_row(params![platform, combo.key], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, |v| v.max(0) as u64))
    }

    /// Marks a message id as admitted; false when it already was.
    fn mark_seen(&self, platform: &str, msg_id: &str, now_ms: u64) -> Result<bool, LedgerError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO seen (platform, msg_id, at_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![platform, msg_id, clamp_i64(now_ms)])?;
        Ok(inserted == 1)
    }
}

#[cfg(test)]
mod tests;
