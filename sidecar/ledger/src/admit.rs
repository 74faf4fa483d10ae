//! Admission of incoming batches: the one place where "counted exactly once" is decided.
//!
//! For each event of a [`Batch`], inside one transaction per *group* of batches:
//!
//! * a message id in the duplicate window ([`super::recent`]) is a [`Admission::Duplicate`]:
//!   decided in memory, no SQLite lookup. The ids a group adds are logged as one `seen_log`
//!   row in its transaction, which is what the window is rebuilt from after a restart. A gift
//!   is never dropped on the window's hash alone: it is a duplicate only if `gifts` (never
//!   pruned) has its id;
//! * a gift with a [`ComboTotal`] is resolved against the combo's progress row: the increment is
//!   `total − counted` (never negative: a total going backwards, a late message of an already
//!   counted combo, or an end-of-combo summary that adds nothing is [`Admission::NothingNew`]);
//! * anything else is [`Admission::Fresh`], with the gift's `count` resolved.
//!
//! Viewer memory is written behind (`viewers.rs`), except for viewers whose gift is in the
//! group: they are written in its transaction.
//!
//! Each batch's checkpoint is written in the same transaction, so after a crash the source
//! resumes exactly after the last batch whose gifts are on disk. Because combo progress lives in
//! SQLite too, a combo that was half counted before a restart continues from where it was
//! instead of being counted again from 1. If the transaction fails, the window forgets the
//! group's ids, so the platform's resend is admitted then.
//!
//! Why groups: under a storm the show takes every batch that is already waiting and admits them
//! together. One commit then covers many upstream frames, each acknowledged once it is covered,
//! so throughput grows with load instead of queueing behind one commit per frame.

use rusqlite::{params, OptionalExtension};

use super::recent::{encode, id_hash};
use super::viewers::{GroupTouches, FLUSH_PER_GROUP, GATHER_MS};
use super::{clamp_i64, Ledger, LedgerError};
use aivs_core::event::{ComboTotal, EventKind, LiveEvent};
use aivs_core::tiers::Tier;

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

/// A group that could not be committed, handed back whole so it can be retried.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AdmitError {
    pub error: LedgerError,
    pub batches: Vec<Batch>,
}

/// What the transaction decided for one event; turned into an [`Admission`] after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Fresh,
    Duplicate,
    NothingNew,
}

impl Verdict {
    fn admission(self, event: LiveEvent) -> Admission {
        match self {
            Verdict::Fresh => Admission::Fresh(event),
            Verdict::Duplicate => Admission::Duplicate,
            Verdict::NothingNew => Admission::NothingNew,
        }
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
        let mut out = self
            .admit_group(vec![batch], classify, now_ms)
            .map_err(|failed| failed.error)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Admits several batches in one transaction; one admission list per batch, in order.
    /// Either every batch is committed or (on error) none is, and the error hands the batches
    /// back untouched in meaning, so the caller can retry the very same group (see
    /// [`AdmitError`]).
    pub fn admit_group(
        &self,
        mut batches: Vec<Batch>,
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
    ) -> Result<Vec<Vec<Admission>>, AdmitError> {
        let mut added = Vec::new();
        let mut touches = GroupTouches::default();
        let result =
            self.admit_in_transaction(&mut batches, classify, now_ms, &mut added, &mut touches);
        match result {
            Ok((verdicts, written)) => {
                let mut pending = self.pending_viewers.borrow_mut();
                pending.written(written);
                for (key, touch) in &touches.by_viewer {
                    if touch.gift_fen == 0 {
                        pending.merge(*key, touch, now_ms);
                    }
                }
                Ok(batches
                    .into_iter()
                    .zip(verdicts)
                    .map(|(batch, verdicts)| {
                        batch
                            .events
                            .into_iter()
                            .zip(verdicts)
                            .map(|(event, verdict)| verdict.admission(event))
                            .collect()
                    })
                    .collect())
            }
            Err(error) => {
                // Rolled back (the transaction was dropped): nothing of the group happened.
                self.recent.borrow_mut().forget_newest(&added);
                self.combos.borrow_mut().clear();
                Err(AdmitError { error, batches })
            }
        }
    }

    /// The transaction of [`Ledger::admit_group`]. `added` collects the ids put into the
    /// window, `touches` the group's viewer memory; returns a verdict per event and the pending
    /// viewers it wrote. Events are only read (and a combo gift's `count` set to its increment,
    /// which a retry recomputes from the combo total), so a failed group can be retried as is.
    fn admit_in_transaction(
        &self,
        batches: &mut [Batch],
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
        added: &mut Vec<u64>,
        touches: &mut GroupTouches,
    ) -> Result<(Vec<Vec<Verdict>>, Vec<super::viewers::ViewerKey>), LedgerError> {
        let tx = self.conn.unchecked_transaction()?;
        // Only the newest state of each source matters; it is written once.
        let mut checkpoints: Vec<(&str, &str)> = Vec::new();
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches.iter_mut() {
            let mut verdicts = Vec::with_capacity(batch.events.len());
            for event in &mut batch.events {
                let verdict = self.admit_one(event, classify, now_ms, added)?;
                if verdict == Verdict::Fresh {
                    touches.add(event, now_ms);
                }
                verdicts.push(verdict);
            }
            if let Some((source, state)) = &batch.checkpoint {
                match checkpoints.iter_mut().find(|(s, _)| s == source) {
                    Some(slot) => slot.1 = state,
                    None => checkpoints.push((source, state)),
                }
            }
            out.push(verdicts);
        }
        if !added.is_empty() {
            self.conn
                .prepare_cached("INSERT INTO seen_log (at_ms, ids) VALUES (?1, ?2)")?
                .execute(params![clamp_i64(now_ms), encode(added)])?;
        }
        let written = self.write_viewers(touches, now_ms)?;
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
        Ok((out, written))
    }

    /// Viewer memory in the group's transaction: every viewer with a gift in the group (with
    /// what was pending for them), and up to [`FLUSH_PER_GROUP`] viewers pending for longer
    /// than [`GATHER_MS`]. Returns the pending viewers written.
    fn write_viewers(
        &self,
        touches: &GroupTouches,
        now_ms: u64,
    ) -> Result<Vec<super::viewers::ViewerKey>, LedgerError> {
        let pending = self.pending_viewers.borrow();
        let mut written = Vec::new();
        for (key, touch) in &touches.by_viewer {
            if touch.gift_fen == 0 {
                continue;
            }
            match pending.get(*key) {
                Some(earlier) => {
                    let mut all = earlier.clone();
                    all.merge(touch);
                    self.upsert_viewer(&all)?;
                    written.push(*key);
                }
                None => self.upsert_viewer(touch)?,
            }
        }
        for key in pending.due(now_ms.saturating_sub(GATHER_MS), FLUSH_PER_GROUP) {
            if written.contains(&key) {
                continue;
            }
            if let Some(touch) = pending.get(key) {
                self.upsert_viewer(touch)?;
            }
            written.push(key);
        }
        Ok(written)
    }

    fn admit_one(
        &self,
        event: &mut LiveEvent,
        classify: &dyn Fn(u64) -> Tier,
        now_ms: u64,
        added: &mut Vec<u64>,
    ) -> Result<Verdict, LedgerError> {
        if event.msg_id.is_empty() {
            // Nothing to de-duplicate on (viewer-count updates): always new.
            return Ok(match event.kind {
                EventKind::Gift(_) => Verdict::NothingNew, // a gift without id is unusable
                _ => Verdict::Fresh,
            });
        }
        let hash = id_hash(&event.platform, &event.msg_id);
        let is_gift = matches!(event.kind, EventKind::Gift(_));
        if self.recent.borrow_mut().insert(hash) {
            added.push(hash);
        } else if !is_gift || self.gift_recorded(&event.platform, &event.msg_id)? {
            return Ok(Verdict::Duplicate);
        }
        // Otherwise a new id, or a gift the window knows but `gifts` does not (a combo message
        // that added nothing, or a hash collision): the combo arithmetic below decides exactly.
        let EventKind::Gift(gift) = &mut event.kind else {
            return Ok(Verdict::Fresh);
        };
        let combo = gift.combo.clone();
        if let Some(combo) = &combo {
            let increment = combo
                .total
                .saturating_sub(self.combo_counted(&event.platform, combo)?);
            if increment == 0 {
                return Ok(Verdict::NothingNew);
            }
            gift.count = u32::try_from(increment).unwrap_or(u32::MAX);
        } else if gift.count == 0 {
            return Ok(Verdict::NothingNew);
        }
        let tier = classify(gift.value_fen());
        if !self.insert_gift(event, tier, now_ms)? {
            // In `gifts` but no longer in `seen` (older than the retention): a late resend.
            return Ok(Verdict::Duplicate);
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
            self.combos
                .borrow_mut()
                .set(&event.platform, &combo.key, combo.total);
        }
        Ok(Verdict::Fresh)
    }

    /// How much of this combo's running total is already in the ledger (`combo_cache.rs`).
    fn combo_counted(&self, platform: &str, combo: &ComboTotal) -> Result<u64, LedgerError> {
        if let Some(counted) = self.combos.borrow().get(platform, &combo.key) {
            return Ok(counted);
        }
        let counted = self
            .conn
            .prepare_cached("SELECT counted FROM combos WHERE platform = ?1 AND combo_key = ?2")?
            .query_row(params![platform, combo.key], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, |v| v.max(0) as u64);
        self.combos.borrow_mut().set(platform, &combo.key, counted);
        Ok(counted)
    }

    /// Whether `gifts` holds this message id.
    fn gift_recorded(&self, platform: &str, msg_id: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM gifts WHERE platform = ?1 AND msg_id = ?2")?
            .query_row(params![platform, msg_id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// A failure before any group was taken (opening the transaction, a panic on the blocking
/// pool): nothing to hand back.
impl From<LedgerError> for Box<AdmitError> {
    fn from(error: LedgerError) -> Self {
        Box::new(AdmitError {
            error,
            batches: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
