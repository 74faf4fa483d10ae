//! What the show counts for `/metrics` as it goes (the rest is read from its parts at scrape
//! time: `crate::console`'s health module). Through the `metrics` facade: without a recorder
//! (tests, tools) these are no-ops.

use tokio::time::Instant;

use crate::event::LiveEvent;
use crate::rewards::combo::GiftBatch;

/// An admitted event, by platform and kind.
pub(super) fn event(event: &LiveEvent) {
    metrics::counter!("aivs_events_total", "platform" => event.platform.clone(), "kind" => event.kind.name())
        .increment(1);
}

/// The show decided what to do about an event of `kind` (a cue offered, a combo folded, a
/// trigger fired, or nothing): from admission taking its delivery, the ledger commit included.
pub(super) fn decided(kind: &'static str, taken_at: Option<Instant>) {
    if let Some(taken) = taken_at {
        metrics::histogram!("aivs_event_to_decision_seconds", "kind" => kind)
            .record(taken.elapsed().as_secs_f64());
    }
}

pub(super) fn duplicates(n: u64) {
    metrics::counter!("aivs_duplicates_total").increment(n);
}

/// A gift batch's caption went to OBS (with its thank-you's offer): from the batch's last
/// gift, after the combo window, the time a viewer waits to see the thanks.
pub(super) fn gift_to_obs(batch: &GiftBatch, now_ms: u64) {
    metrics::histogram!("aivs_gift_to_obs_seconds")
        .record(now_ms.saturating_sub(batch.last_ms()) as f64 / 1000.0);
}
