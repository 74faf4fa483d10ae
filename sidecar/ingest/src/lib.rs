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
pub mod replay;
mod sink;
mod supervisor;

pub use config::{RoomConfig, SourceConfig, SourceKind};
pub use sink::{Delivery, EventSink, IngestCounters, RawFrame, SinkClosed};

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

/// A running source task.
pub struct SourceTask {
    handle: tokio::task::JoinHandle<()>,
}

impl SourceTask {
    /// Resolves when the source has ended (a replay is over, or a fatal error was logged).
    /// Can be called again after it returned (or after a timeout cut it short).
    pub async fn wait(&mut self) {
        if !self.handle.is_finished() {
            // The task's panic or cancellation was logged where it happened.
            let _ = (&mut self.handle).await;
        }
    }

    pub fn abort(&self) {
        self.handle.abort();
    }
}

/// A configuration that names a source but cannot start it.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("cannot load replay: {0}")]
    Replay(#[from] replay::ReplayError),
    #[error("source.kind = \"{kind}\" needs a [source.{kind}] section")]
    MissingSection { kind: &'static str },
}

/// Starts the source `source.kind` names, feeding `sink`. `resume` looks up the last
/// checkpoint the ledger stored for a source key.
pub fn spawn_configured(
    source: &SourceConfig,
    room: &RoomConfig,
    resume: &dyn Fn(&str) -> Option<String>,
    sink: EventSink,
) -> Result<SourceTask, SelectError> {
    let handle = match source.kind {
        SourceKind::Replay => {
            let replay = replay::Replay::load(&room.replay)?;
            let speed = room.speed;
            tracing::info!(
                file = %room.replay.display(), events = replay.entries.len(),
                minutes = replay.duration_ms() as f64 / 60_000.0, speed, "replaying room"
            );
            tokio::spawn(async move {
                // Give OBS and the avatar a moment to connect before the room starts talking.
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                replay.play(speed, sink).await;
            })
        }
        SourceKind::Douyin => {
            let cfg = section(&source.douyin, SourceKind::Douyin)?.clone();
            let key = douyin::DouyinSource::checkpoint_key(&cfg);
            let stored = resume(&key);
            let make = move |state| douyin::DouyinSource::new(cfg.clone(), state);
            tokio::spawn(supervisor::supervise(make, key, stored, sink))
        }
        SourceKind::DouyinOpenPlatform => {
            let kind = SourceKind::DouyinOpenPlatform;
            let cfg = section(&source.douyin_open_platform, kind)?.clone();
            let key = open_platform::OpenPlatformSource::checkpoint_key(&cfg);
            let stored = resume(&key);
            let make = move |state| open_platform::OpenPlatformSource::new(cfg.clone(), state);
            tokio::spawn(supervisor::supervise(make, key, stored, sink))
        }
        SourceKind::BarrageGrab => {
            let cfg = section(&source.barrage_grab, SourceKind::BarrageGrab)?.clone();
            let key = barrage_grab::BarrageGrabSource::checkpoint_key(&cfg);
            let stored = resume(&key);
            let make = move |state| barrage_grab::BarrageGrabSource::new(cfg.clone(), state);
            tokio::spawn(supervisor::supervise(make, key, stored, sink))
        }
        SourceKind::Bilibili => {
            let cfg = section(&source.bilibili, SourceKind::Bilibili)?.clone();
            let key = bilibili::BilibiliSource::checkpoint_key(&cfg);
            let stored = resume(&key);
            let make = move |state| bilibili::BilibiliSource::new(cfg.clone(), state);
            tokio::spawn(supervisor::supervise(make, key, stored, sink))
        }
    };
    Ok(SourceTask { handle })
}

fn section<T>(section: &Option<T>, kind: SourceKind) -> Result<&T, SelectError> {
    section.as_ref().ok_or(SelectError::MissingSection {
        kind: kind_name(kind),
    })
}

fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Replay => "replay",
        SourceKind::Douyin => "douyin",
        SourceKind::DouyinOpenPlatform => "douyin_open_platform",
        SourceKind::BarrageGrab => "barrage_grab",
        SourceKind::Bilibili => "bilibili",
    }
}
