//! The ledger's own thread: the one owner of the [`Ledger`] while a show runs, reached through
//! a channel.
//!
//! Why a single owner rather than a shared `Mutex` and the blocking pool: SQLite has one
//! writer anyway, so one thread that takes jobs in the order they were sent keeps every write
//! in that order (a gift's "thanked" note can never overtake the commit that recorded it), and
//! nobody else ever waits on a lock. The show's loop never awaits SQLite: it sends notes it
//! does not wait for ([`LedgerHandle::note`], [`LedgerHandle::submit`]) and reads whose
//! answers it collects later ([`LedgerHandle::request`]); only admission awaits its commit
//! ([`LedgerHandle::call`]), on its own task.
//!
//! A note that fails (the file locked by a backup tool, the disk full for a moment) is retried
//! on this thread with backoff before anything queued behind it runs: losing a "thanked" note
//! would thank the gift again after a restart, and running later writes first would reorder
//! them. A job that panics is answered with [`LedgerError::Panicked`]; the thread goes on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::{Ledger, LedgerError};

/// A failing note is tried this many times, with backoff, before it is given up and logged.
pub const NOTE_ATTEMPTS: u32 = 8;
/// Backoff between note attempts.
const NOTE_RETRY_MIN: Duration = Duration::from_millis(200);
const NOTE_RETRY_MAX: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&Ledger) + Send>;

/// A cheap handle to the ledger's thread. The thread ends (and closes the database) when the
/// last handle is dropped and every job sent has run.
#[derive(Clone)]
pub struct LedgerHandle {
    jobs: mpsc::UnboundedSender<Job>,
}

impl LedgerHandle {
    /// Moves `ledger` onto a thread of its own.
    pub fn spawn(ledger: Ledger) -> Result<Self, LedgerError> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    job(&ledger);
                }
            })
            .map_err(|source| LedgerError::Thread { source })?;
        Ok(Self { jobs })
    }

    /// Runs `f` after every job sent before it; the answer comes back on the receiver, which
    /// may be awaited, polled later, or dropped. A panic in `f` answers `Panicked`.
    pub fn request<T, E>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, E> + Send + 'static,
    ) -> oneshot::Receiver<Result<T, E>>
    where
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |ledger| {
            let _ = tx.send(run_caught(|| f(ledger)));
        });
        // A closed channel drops the job, and with it `tx`: the receiver then reports `Gone`.
        let _ = self.jobs.send(job);
        rx
    }

    /// Runs `f` in order and waits for its answer.
    pub async fn call<T, E>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        self.request(f)
            .await
            .unwrap_or_else(|_| Err(E::from(LedgerError::Gone)))
    }

    /// Runs `f` in order; nobody waits for it, a failure is logged.
    pub fn submit(
        &self,
        what: &'static str,
        f: impl FnOnce(&Ledger) -> Result<(), LedgerError> + Send + 'static,
    ) {
        let job: Job = Box::new(move |ledger| {
            if let Err(e) = run_caught(|| f(ledger)) {
                tracing::warn!(what, error = %e, "ledger operation failed");
            }
        });
        let _ = self.jobs.send(job);
    }

    /// A write nobody waits for that must not be lost (airtime, a thanked gift): retried with
    /// backoff, in place, while the ledger is locked or full; given up (and logged) only after
    /// [`NOTE_ATTEMPTS`] or for what cannot heal.
    pub fn note(
        &self,
        what: &'static str,
        f: impl Fn(&Ledger) -> Result<(), LedgerError> + Send + 'static,
    ) {
        let job: Job = Box::new(move |ledger| {
            let mut delay = NOTE_RETRY_MIN;
            for attempt in 1..=NOTE_ATTEMPTS {
                match run_caught(|| f(ledger)) {
                    Ok(()) => return,
                    Err(e) if attempt == NOTE_ATTEMPTS || e.cannot_heal() => {
                        tracing::error!(what, error = %e, attempt, "ledger note lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(what, error = %e, attempt, "ledger note failed; retrying");
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(NOTE_RETRY_MAX);
                    }
                }
            }
        });
        let _ = self.jobs.send(job);
    }

    /// Resolves once every job sent before it has run (or the thread is gone).
    pub async fn flushed(&self) {
        let _ = self.call(|_| Ok::<(), LedgerError>(())).await;
    }
}

fn run_caught<T, E: From<LedgerError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(E::from(LedgerError::Panicked(message)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivs_core::event::{EventKind, Gift, LiveEvent, Viewer};
    use aivs_core::tiers::Tier;

    fn ledger() -> (LedgerHandle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        (LedgerHandle::spawn(ledger).unwrap(), dir)
    }

    fn gift(msg_id: &str) -> LiveEvent {
        LiveEvent {
            platform: "douyin".into(),
            msg_id: msg_id.into(),
            user: Some(Viewer {
                id: "u".into(),
                name: "小明".into(),
                level: 1,
                fan_level: 0,
            }),
            kind: EventKind::Gift(Gift {
                gift_id: "1".into(),
                gift_name: "玫瑰".into(),
                diamonds: 1,
                count: 1,
                price: None,
                message: None,
                combo: None,
            }),
        }
    }

    #[tokio::test]
    async fn jobs_run_in_the_order_they_were_sent() {
        let (handle, _dir) = ledger();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..50 {
            let order = order.clone();
            handle.submit("test", move |_| {
                order.lock().unwrap().push(i);
                Ok(())
            });
        }
        handle.flushed().await;
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_note_sent_after_a_record_always_sees_it() {
        let (handle, _dir) = ledger();
        handle.submit("record", |l| {
            l.admit(vec![gift("g1")], None, &|_| Tier::Small, 1)
                .map(drop)
        });
        handle.note("thanked", |l| {
            l.mark_aired("douyin", &["g1".to_string()], "谢谢", 1)
        });
        let unthanked = handle.call(|l| l.unthanked_count()).await.unwrap();
        assert_eq!(unthanked, 0, "the note ran after the record it marks");
        assert_eq!(handle.call(|l| l.gifts()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_is_answered_and_the_thread_goes_on() {
        let (handle, _dir) = ledger();
        let answer: Result<(), LedgerError> = handle.call(|_| panic!("boom")).await;
        assert!(matches!(answer, Err(LedgerError::Panicked(m)) if m == "boom"));
        assert_eq!(handle.call(|l| l.unthanked_count()).await.unwrap(), 0);
    }
}
