//! The gift rows: each recorded once (by [`Ledger::admit_group`]), marked when it was thanked
//! on air, and paged back after a crash so no gift goes unthanked.

use rusqlite::params;

use aivs_core::event::{EventKind, LiveEvent};
use aivs_core::tiers::Tier;

use super::{clamp_i64, Ledger, LedgerError};

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

impl Ledger {
    /// Records one gift (its `count` already resolved); false when the message id is known.
    /// Callers go through [`Ledger::admit_group`], which de-duplicates first and updates
    /// viewer memory.
    pub(super) fn insert_gift(
        &self,
        event: &LiveEvent,
        tier: Tier,
        now_ms: u64,
    ) -> Result<bool, LedgerError> {
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
                    gift_name, count, diamonds, value_fen, tier, received_ms, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                clamp_i64(now_ms),
                gift.message
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
            "SELECT rowid, platform, msg_id, user_id, user_name, gift_id, gift_name, diamonds, count,
                    message
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
                        fan_level: 0,
                    }),
                    kind: EventKind::Gift(aivs_core::event::Gift {
                        gift_id: r.get(5)?,
                        gift_name: r.get(6)?,
                        diamonds: r.get::<_, i64>(7)?.max(0) as u64,
                        count: r.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
                        price: None,
                        message: r.get(9)?,
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

/// A gift received in a period, for what was earned (`sidecar report`).
#[derive(Debug, Clone, PartialEq)]
pub struct EarnedGift {
    pub platform: String,
    pub msg_id: String,
    pub user_id: String,
    pub user_name: String,
    pub gift_name: String,
    pub count: u64,
    pub value_fen: u64,
    /// The tier stored at admission.
    pub tier: u8,
    pub received_ms: u64,
    pub thanked: bool,
}

impl Ledger {
    /// Gifts received from `since_ms` on, in ledger order.
    pub fn gifts_since(&self, since_ms: u64) -> Result<Vec<EarnedGift>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT platform, msg_id, user_id, user_name, gift_name, count, value_fen, tier,
                    received_ms, aired_ms IS NOT NULL
             FROM gifts WHERE received_ms >= ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([clamp_i64(since_ms)], |r| {
            Ok(EarnedGift {
                platform: r.get(0)?,
                msg_id: r.get(1)?,
                user_id: r.get(2)?,
                user_name: r.get(3)?,
                gift_name: r.get(4)?,
                count: r.get::<_, i64>(5)?.max(0) as u64,
                value_fen: r.get::<_, i64>(6)?.max(0) as u64,
                tier: r.get::<_, i64>(7)?.clamp(0, 255) as u8,
                received_ms: r.get::<_, i64>(8)?.max(0) as u64,
                thanked: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
