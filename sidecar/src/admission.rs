//! Admission: the task between the sources and the show that makes every delivery durable.
//!
//! ```text
//! sources ──Delivery──▶ [bounded channel] ──▶ admission ──commit──▶ ledger (one transaction
//!    ▲                                          │  per group of waiting deliveries)
//!    └──────────── ack after the commit ◀───────┤
//!                                               └──Intake::Admitted (fresh events)──▶ show
//! ```
//!
//! Why a task of its own: a commit can take seconds when another process holds the ledger's
//! write lock (a backup tool, a DB browser, antivirus on Windows), and the show must keep
//! talking meanwhile. A group that fails to commit is **retried with backoff, whole**, until it
//! commits: its sources are not acknowledged meanwhile (they wait in `EventSink::deliver`,
//! keeping their connections: Douyin goes on sending heartbeats), so nothing is lost, and
//! because the failed transaction left no trace (the ledger hands the group back untouched),
//! nothing is doubled either. Backpressure does the rest: while the ledger is stuck, the channel
//! fills and the sources stop reading.
//!
//! Only what cannot heal ends the show ([`Intake::Fatal`]): the database file deleted or
//! replaced under the open connection (checked every second, because SQLite would silently
//! go on writing into the orphaned file), or a file that is not a database any more.

use std::time::Duration;

use avatar_link::backoff::Backoff;
use tokio::sync::mpsc;

use crate::event::LiveEvent;
use crate::ledger::{Admission, AdmitError, Batch, LedgerError, LedgerHandle};
use crate::source::Delivery;
use crate::tiers::TierTable;
use aivs_core::pricing::Pricing;

/// At most this many waiting deliveries are admitted in one ledger transaction.
pub const MAX_GROUP: usize = 256;
/// How often the database file is checked to still be the one that was opened.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Commit retries start this soon and back off to this (a local database: seconds, not more).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What admission tells the show.
#[derive(Debug)]
pub enum Intake {
    /// A group is committed (and acknowledged): what it held, in arrival order.
    Admitted(AdmittedGroup),
    /// The ledger cannot heal: the show ends and the process exits non-zero with this message.
    Fatal(String),
}

#[derive(Debug, Default)]
pub struct AdmittedGroup {
    /// Events new to the ledger (gifts with their resolved count), in arrival order.
    pub fresh: Vec<LiveEvent>,
    /// Events received in the group, and how many of them were re-deliveries.
    pub received: u64,
    pub duplicates: u64,
    /// Failed commit attempts before this group went in.
    pub retries: u32,
    /// When admission took the group's first delivery (event → decision latency).
    pub taken_at: Option<tokio::time::Instant>,
}

/// How admission prepares and commits groups.
pub struct Admitter {
    ledger: LedgerHandle,
    tiers: TierTable,
    /// `[gifts.rates]` and `[gifts] diamonds`: one currency for every platform, and the price
    /// of a gift id overriding the platform's.
    pricing: Pricing,
}

impl Admitter {
    pub fn new(ledger: LedgerHandle, tiers: TierTable, pricing: Pricing) -> Self {
        Self {
            ledger,
            tiers,
            pricing,
        }
    }

    /// Runs admission until `deliveries` closes (every source ended) or the ledger cannot
    /// heal. The returned receiver closes after the last group.
    pub fn spawn(self, deliveries: mpsc::Receiver<Delivery>) -> mpsc::Receiver<Intake> {
        // Small: the show drains it at once; when it cannot, admission (and then the sources)
        // wait rather than piling up admitted events in memory.
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(self.run(deliveries, tx));
        rx
    }

    async fn run(self, mut deliveries: mpsc::Receiver<Delivery>, out: mpsc::Sender<Intake>) {
        let mut file_check = tokio::time::interval(FILE_CHECK_EVERY);
        file_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                delivery = deliveries.recv() => match delivery {
                    Some(first) => {
                        let group = take_waiting(first, &mut deliveries);
                        self.admit(group).await
                    }
                    None => return,
                },
                _ = file_check.tick() => self.check_file().await,
                // The show is gone: stop taking deliveries, so the sources see their sink
                // closed and wind down.
                _ = out.closed() => return,
            };
            let intake = match result {
                Ok(Some(group)) => Intake::Admitted(group),
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "the ledger cannot be written any more; stopping");
                    let _ = out.send(Intake::Fatal(e.to_string())).await;
                    return;
                }
            };
            if out.send(intake).await.is_err() {
                return; // the show is gone
            }
        }
    }

    async fn check_file(&self) -> Result<Option<AdmittedGroup>, LedgerError> {
        self.ledger.call(|l| l.check_file()).await.map(|()| None)
    }

    /// Commits `group`, retrying until it is in, then acknowledges each delivery.
    async fn admit(&self, group: Vec<Delivery>) -> Result<Option<AdmittedGroup>, LedgerError> {
        let taken_at = tokio::time::Instant::now();
        let mut batches = Vec::with_capacity(group.len());
        let mut acks = Vec::with_capacity(group.len());
        let mut received = 0u64;
        for Delivery {
            mut events,
            checkpoint,
            committed,
        } in group
        {
            self.pricing.apply(&mut events);
            received += events.len() as u64;
            batches.push(Batch { events, checkpoint });
            acks.extend(committed);
        }
        let mut backoff = Backoff::between(RETRY_MIN, RETRY_MAX);
        let mut retries = 0u32;
        let admitted = loop {
            let tiers = self.tiers.clone();
            let now = crate::clock::now_ms();
            let attempt = self
                .ledger
                .call(move |l| {
                    l.admit_group(batches, &|fen| tiers.classify(fen), now)
                        .map_err(|e| Box::new(e) as Box<AdmitError>)
                })
                .await;
            match attempt {
                Ok(admitted) => break admitted,
                Err(failed) => {
                    let AdmitError {
                        error,
                        batches: back,
                    } = *failed;
                    if error.cannot_heal() {
                        return Err(error);
                    }
                    // The file may have gone away (the error is then e.g. a read-only or I/O
                    // failure): that is not worth retrying.
                    self.ledger.call(|l| l.check_file()).await?;
                    retries += 1;
                    let delay = backoff.next_delay();
                    if retries.is_power_of_two() {
                        tracing::warn!(
                            error = %error, retries, deliveries = acks.len(),
                            "ledger commit failed; holding the group (unacknowledged) and retrying"
                        );
                    }
                    batches = back;
                    tokio::time::sleep(delay).await;
                }
            }
        };
        if retries > 0 {
            tracing::info!(retries, "ledger commit went through after retries");
        }
        for committed in acks {
            let _ = committed.send(());
        }
        let mut group = AdmittedGroup {
            received,
            retries,
            taken_at: Some(taken_at),
            ..AdmittedGroup::default()
        };
        for admission in admitted.into_iter().flatten() {
            match admission {
                Admission::Fresh(event) => group.fresh.push(event),
                Admission::Duplicate => group.duplicates += 1,
                Admission::NothingNew => {}
            }
        }
        Ok(Some(group))
    }
}

/// `first` plus every delivery already waiting behind it (up to [`MAX_GROUP`]): under load one
/// ledger commit then covers many frames; when idle a frame is admitted on its own at once.
fn take_waiting(first: Delivery, deliveries: &mut mpsc::Receiver<Delivery>) -> Vec<Delivery> {
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match deliveries.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    group
}

#[cfg(test)]
mod tests;
