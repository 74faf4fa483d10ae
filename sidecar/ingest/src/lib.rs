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
//! 2. gift combos reported as running totals travel as [`aivs_core::event::ComboTotal`]s; the ledger
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

pub mod barrage_grab;
pub mod bilibili;
mod config;
pub mod douyin;
pub mod open_platform;
pub mod recorder;
mod rejected;
pub mod replay;
mod sink;
mod spec;
mod status;
mod supervisor;

pub use config::{RoomConfig, SourceConfig, SourceEntry, SourceKind, SourceSection};
pub use rejected::Rejected;
pub use sink::{Delivery, EventSink, IngestCounters, RawFrame, SinkClosed};
pub use spec::SourceSpec;
pub use status::{SourceState, SourceStatus, SourceStatuses};

use std::future::Future;

/// A platform adapter. `run` keeps the connection up (reconnecting with backoff on its own)
/// until the sink closes or an error it cannot fix by reconnecting (bad configuration, a
/// signature the platform rejects) ends it; the supervisor (`supervisor.rs`) then starts a
/// fresh one after a longer backoff, so a source never stays down for the night.
pub trait LiveSource: Send + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// A short human name for logs, e.g. `douyin room 7312345678901234567`.
    fn describe(&self) -> String;

    fn run(self, sink: EventSink) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The running sources, each on its own supervised task.
pub struct SourceTask {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl SourceTask {
    /// Resolves when every source has ended (a replay is over, or the show stopped them).
    /// Can be called again after it returned (or after a timeout cut it short).
    pub async fn wait(&mut self) {
        for handle in &mut self.handles {
            if !handle.is_finished() {
                // The task's panic or cancellation was logged where it happened.
                let _ = handle.await;
            }
        }
    }

    pub fn abort(&self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// A configuration that names a source but cannot start it.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("cannot load replay: {0}")]
    Replay(#[from] replay::ReplayError),
    #[error("source.kind = \"{kind}\" needs a [source.{kind}] section")]
    MissingSection { kind: &'static str },
    #[error("no [[source]] entry has kind = \"{kind}\"")]
    NoEntry { kind: &'static str },
    #[error("the [[source]] list is empty")]
    NoSource,
    #[error("two sources would share the checkpoint key {key:?}; give them different rooms")]
    SharedKey { key: String },
}

/// Starts every source in `sources`, each under its own supervisor with its own clone of
/// `sink` (all feeding the one admission channel). `resume` looks up the last checkpoint the
/// ledger stored for a source key. Nothing is started unless all of them can be.
pub fn spawn_configured(
    sources: &[SourceEntry],
    resume: &dyn Fn(&str) -> Option<String>,
    sink: EventSink,
) -> Result<SourceTask, SelectError> {
    let mut keys = std::collections::HashSet::new();
    for source in sources {
        let key = source.key();
        if !keys.insert(key.clone()) {
            return Err(SelectError::SharedKey { key });
        }
    }
    let mut task = SourceTask {
        handles: Vec::with_capacity(sources.len()),
    };
    for source in sources {
        let spec = source.spec();
        match spec.start(resume(&spec.key()), sink.clone()) {
            Ok(handle) => task.handles.push(handle),
            Err(e) => {
                task.abort();
                return Err(e);
            }
        }
    }
    Ok(task)
}
