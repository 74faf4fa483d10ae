//! Folding a gift combo into one thank-you.
//!
//! A viewer tapping 小心心 thirty times produces thirty gift messages. Each is recorded in the
//! ledger as it arrives, but thanking each would flood the show, so small gifts from one viewer
//! of one kind are held in a [`GiftBatch`] until the combo goes quiet (`idle`) or has been held
//! for `max_hold`, then thanked once for the total. Big gifts are thanked at once: the moment
//! matters more than the tally.

use std::collections::HashMap;

use crate::event::{EventKind, LiveEvent, Viewer};
use crate::tiers::{Tier, TierTable};

/// Consecutive gifts of one kind from one viewer, to be thanked together.
#[derive(Debug, Clone, PartialEq)]
pub struct GiftBatch {
    pub platform: String,
    pub viewer: Viewer,
    pub gift_id: String,
    pub gift_name: String,
    pub count: u64,
    pub value_fen: u64,
    /// Message ids covered, so the ledger can note what was aired for each.
    pub msg_ids: Vec<String>,
    /// The paid message of a gift that carries one (a Super Chat); such a gift is a batch of
    /// its own, never folded with another.
    pub message: Option<String>,
    opened_ms: u64,
    last_ms: u64,
}

impl GiftBatch {
    /// When the batch's last gift arrived.
    pub fn last_ms(&self) -> u64 {
        self.last_ms
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ComboPolicy {
    /// Close a combo after this long without a new message.
    pub idle_ms: u64,
    /// Never hold a combo longer than this, even if it keeps going.
    pub max_hold_ms: u64,
    /// Gifts whose single message reaches this tier skip batching.
    pub immediate_tier: Tier,
}

impl Default for ComboPolicy {
    fn default() -> Self {
        Self {
            idle_ms: 2_000,
            max_hold_ms: 8_000,
            immediate_tier: Tier::Big,
        }
    }
}

type Key = (String, String, String);

pub struct ComboAggregator {
    policy: ComboPolicy,
    tiers: TierTable,
    open: HashMap<Key, GiftBatch>,
}

impl ComboAggregator {
    pub fn new(policy: ComboPolicy, tiers: TierTable) -> Self {
        Self {
            policy,
            tiers,
            open: HashMap::new(),
        }
    }

    /// Adds a gift event; returns the batches that are ready now (the event's own batch if it is
    /// a big gift). Non-gift events are ignored.
    pub fn push(&mut self, event: &LiveEvent, now_ms: u64) -> Vec<GiftBatch> {
        let EventKind::Gift(gift) = &event.kind else {
            return Vec::new();
        };
        let viewer = event.user.clone().unwrap_or(Viewer {
            id: String::new(),
            name: "朋友".into(),
            level: 0,
            fan_level: 0,
        });
        let fresh = |viewer: Viewer| GiftBatch {
            platform: event.platform.clone(),
            viewer,
            gift_id: gift.gift_id.clone(),
            gift_name: gift.gift_name.clone(),
            count: gift.count as u64,
            value_fen: gift.value_fen(),
            msg_ids: vec![event.msg_id.clone()],
            message: gift.message.clone(),
            opened_ms: now_ms,
            last_ms: now_ms,
        };
        if gift.message.is_some() {
            // Each paid message is read out on its own, at once.
            return vec![fresh(viewer)];
        }
        let key = (
            event.platform.clone(),
            viewer.id.clone(),
            gift.gift_id.clone(),
        );
        let batch = self.open.entry(key.clone()).or_insert_with(|| GiftBatch {
            count: 0,
            value_fen: 0,
            msg_ids: Vec::new(),
            ..fresh(viewer)
        });
        batch.count += gift.count as u64;
        batch.value_fen = batch.value_fen.saturating_add(gift.value_fen());
        batch.msg_ids.push(event.msg_id.clone());
        batch.last_ms = now_ms;
        if self.tiers.classify(gift.value_fen()) >= self.policy.immediate_tier {
            return self.open.remove(&key).into_iter().collect();
        }
        Vec::new()
    }

    /// Closes and returns every batch that has gone idle or been held long enough.
    pub fn poll(&mut self, now_ms: u64) -> Vec<GiftBatch> {
        let policy = self.policy;
        let due: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, b)| {
                now_ms.saturating_sub(b.last_ms) >= policy.idle_ms
                    || now_ms.saturating_sub(b.opened_ms) >= policy.max_hold_ms
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut ready: Vec<GiftBatch> = due.iter().filter_map(|k| self.open.remove(k)).collect();
        ready.sort_by_key(|b| b.opened_ms);
        ready
    }

    /// Closes everything (shutdown): nothing paid is left unthanked.
    pub fn drain(&mut self) -> Vec<GiftBatch> {
        self.poll(u64::MAX)
    }

    /// When the next batch will become due, if any is open.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.open
            .values()
            .map(|b| (b.last_ms + self.policy.idle_ms).min(b.opened_ms + self.policy.max_hold_ms))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Gift;

    fn gift(msg: &str, user: &str, id: &str, diamonds: u64, count: u32) -> LiveEvent {
        LiveEvent {
            platform: "douyin".into(),
            msg_id: msg.into(),
            user: Some(Viewer {
                id: user.into(),
                name: user.into(),
                level: 0,
                fan_level: 0,
            }),
            kind: EventKind::Gift(Gift {
                gift_id: id.into(),
                gift_name: id.into(),
                diamonds,
                count,
                price: None,
                message: None,
                combo: None,
            }),
        }
    }

    #[test]
    fn a_combo_is_thanked_once_for_its_total_after_going_quiet() {
        let mut agg = ComboAggregator::new(ComboPolicy::default(), TierTable::default());
        for i in 0..10 {
            assert!(agg
                .push(&gift(&format!("m{i}"), "u1", "heart", 1, 1), i * 300)
                .is_empty());
        }
        assert!(agg.poll(2_000).is_empty());
        let done = agg.poll(2_700 + 2_000);
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].count, done[0].value_fen, done[0].msg_ids.len()),
            (10, 100, 10)
        );
        assert_eq!(agg.next_due_ms(), None);
    }

    #[test]
    fn big_gifts_are_released_at_once_and_viewers_are_kept_apart() {
        let mut agg = ComboAggregator::new(ComboPolicy::default(), TierTable::default());
        agg.push(&gift("a", "u1", "heart", 1, 1), 0);
        agg.push(&gift("b", "u2", "heart", 1, 1), 0);
        let rocket = agg.push(&gift("c", "u1", "rocket", 10_000, 1), 10);
        assert_eq!(rocket.len(), 1);
        assert_eq!(rocket[0].value_fen, 100_000);
        assert_eq!(agg.drain().len(), 2);
    }

    #[test]
    fn endless_combos_are_still_thanked_after_max_hold() {
        let mut agg = ComboAggregator::new(ComboPolicy::default(), TierTable::default());
        let mut released = 0;
        for i in 0..40u64 {
            agg.push(&gift(&format!("m{i}"), "u1", "heart", 1, 1), i * 500);
            released += agg.poll(i * 500).len();
        }
        assert!(released >= 2, "released {released}");
    }
}
