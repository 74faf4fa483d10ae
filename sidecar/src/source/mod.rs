//! Event sources: where live-room events come from.
//!
//! Every platform adapter implements [`LiveSource`]: it connects to its platform, turns the
//! platform's messages into normalized [`LiveEvent`]s and hands them to an [`EventSink`] in
//! [`Delivery`] batches (one batch per upstream frame or request). The sink is a bounded
//! channel into the show: when it is full the adapter waits (backpressure), it never drops.
//!
//! Exactly-once rests on three rules every adapter follows:
//!
//! 1. events carry the platform's message id (`msg_id`); the ledger ignores ids it has seen;
//! 2. gift combos reported as running totals travel as [`crate::event::ComboTotal`]s; the ledger
//!    resolves them into increments in the same transaction that records the message;
//! 3. an adapter acknowledges upstream (Douyin `needAck`, a webhook's HTTP 200) only after
//!    [`EventSink::deliver`] returned, i.e. after the ledger transaction committed. If the
//!    sidecar dies before that, the platform resends and rule 1 removes what was already in.
//!
//! Input that cannot be used (malformed frames, gzip bombs, absurd numbers…) is counted by
//! reason with [`EventSink::reject`] and logged; the connection goes on.
//!
//! Modules: one per platform ([`douyin`], [`open_platform`], [`barrage_grab`], [`bilibili`]),
//! the JSON Lines [`replay`] format and its [`recorder`].

pub mod replay;
mod sink;

pub use sink::{Delivery, EventSink, IngestCounters, RawFrame, SinkClosed};

use std::future::Future;



/// A platform adapter. `run` keeps the connection up (reconnecting with backoff on its own)
/// until the sink closes or an error that retrying cannot fix (bad configuration, a signature
/// the platform rejects) ends it.
pub trait LiveSource: Send + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// A short human name for logs, e.g. `douyin room 7312345678901234567`.
    fn describe(&self) -> String;

    fn run(self, sink: EventSink) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

