//! Admission of incoming batches: the one place where "counted exactly once" is decided.
//!
//! For each event of a [`Delivery`](crate::source::Delivery) batch, inside one transaction:
//!
//! * a message id seen before (in `gifts` or `seen`) is a [`Admission::Duplicate`];
//! * a gift with a [`ComboTotal`] is resolved against the combo's progress row: the increment is
//!   `total − counted` (never negative: a total going backwards, a late message of an already
//!   counted combo, or an end-of-combo summary that adds nothing is [`Admission::NothingNew`]);
//! * anything else is [`Admission::Fresh`], with the gift's `count` resolved.
//!
//! The batch's checkpoint is written in the same transaction, so after a crash the source
//! resumes exactly after the last batch whose gifts are on disk. Because combo progress lives in
//! SQLite too, a combo that was half counted before a restart continues from where it was
//! instead of being counted again from 1.

use rusqlite::{params, OptionalExtension};

use super::{clamp_i64, Ledger, LedgerError};
use crate::event::{EventKind, LiveEvent};
use crate::rewards::tiers::Tier;

/// Rows in `seen` and `combos` older than this are pruned (a day: far longer than any combo or
/// any upstream resend window).
const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// Prune once every this many admitted batches.
const PRUNE_EVERY: u64 = 4096;

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
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            out.push(self.admit_one(event, classify, now_ms)?);
        }
        if let Some((source, state)) = checkpoint {
            tx.execute(
                "INSERT INTO checkpoints (source, state, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(source) DO UPDATE SET state = excluded.state,
                    updated_ms = excluded.updated_ms",
                params![source, state, clamp_i64(now_ms)],
            )?;
        }
        tx.commit()?;
        let batches = self.batches.get() + 1;
        self.batches.set(batches);
        if batches % PRUNE_EVERY == 1 {
            self.prune(now_ms)?;
        }
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
        if self.known(&event.platform, &event.msg_id)? {
            return Ok(Admission::Duplicate);
        }
        let EventKind::Gift(gift) = &mut event.kind else {
            self.mark_seen(&event.platform, &event.msg_id, now_ms)?;
            return Ok(Admission::Fresh(event));
        };
        if let Some(combo) = &gift.combo {
            let counted: u64 = self
                .conn
                .prepare_cached(
                    "SELECT counted FROM combos WHERE platform = ?1 AND combo_key = ?2",
                )?
                .query_row(params![event.platform, combo.key], |r| r.get::<_, i64>(0))
                .optional()?
                .map_or(0, |v| v.max(0) as u64);
            let increment = combo.total.saturating_sub(counted);
            if increment == 0 {
                self.mark_seen(&event.platform, &event.msg_id, now_ms)?;
                return Ok(Admission::NothingNew);
            }
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
            gift.count = u32::try_from(increment).unwrap_or(u32::MAX);
        } else if gift.count == 0 {
            self.mark_seen(&event.platform, &event.msg_id, now_ms)?;
            return Ok(Admission::NothingNew);
        }
        let tier = classify(gift.value_fen());
        self.insert_gift(&event, tier, now_ms)?;
        Ok(Admission::Fresh(event))
    }

    fn known(&self, platform: &str, msg_id: &str) -> Result<bool, LedgerError> {
        let in_gifts = self
            .conn
            .prepare_cached("SELECT 1 FROM gifts WHERE platform = ?1 AND msg_id = ?2")?
            .exists(params![platform, msg_id])?;
        Ok(in_gifts
            || self
                .conn
                .prepare_cached("SELECT 1 FROM seen WHERE platform = ?1 AND msg_id = ?2")?
                .exists(params![platform, msg_id])?)
    }

    fn mark_seen(&self, platform: &str, msg_id: &str, now_ms: u64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO seen (platform, msg_id, at_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![platform, msg_id, clamp_i64(now_ms)])?;
        Ok(())
    }

    fn prune(&self, now_ms: u64) -> Result<(), LedgerError> {
        let cutoff = clamp_i64(now_ms.saturating_sub(RETENTION_MS));
        self.conn
            .execute("DELETE FROM seen WHERE at_ms < ?1", [cutoff])?;
        self.conn
            .execute("DELETE FROM combos WHERE updated_ms < ?1", [cutoff])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
