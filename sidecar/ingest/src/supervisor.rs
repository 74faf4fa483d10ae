//! Keeps a live-room source running for the whole show.
//!
//! An adapter reconnects on its own after ordinary drops; this is the layer above it, for when
//! `run` itself ends: an error it gave up on (the signer refused ten times, BarrageGrab gone
//! with `reconnect = false`), a clean end the show did not ask for, or a panic. The supervisor
//! logs why, waits a backoff with jitter (1 s doubling to 60 s; back to 1 s after a source ran
//! well for a minute), and starts a fresh adapter that resumes from the last checkpoint the
//! ledger committed ([`EventSink::committed_checkpoint`], else the one stored at start). Only
//! the show going away ends it.

use std::time::Duration;

use avatar_link::backoff::Backoff;
use tokio::time::Instant;

use crate::{EventSink, LiveSource, SourceSpec};

const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A source that ran this long before ending was healthy: the next restart is quick again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs `first`, then adapters built from `spec`, one after another until `sink` closes (or,
/// for a spec that does not restart, until the first one ended). `stored` is the checkpoint the
/// ledger had at start: the resume state until one is committed through `sink`.
pub(super) async fn supervise<S: SourceSpec>(
    spec: S,
    first: S::Source,
    stored: Option<String>,
    sink: EventSink,
) {
    let key = spec.key();
    let sink = sink.for_source(&key);
    let mut backoff = Backoff::between(RESTART_MIN, RESTART_MAX);
    let mut restarts = 0u32;
    let mut next = Some(first);
    loop {
        let built = match next.take() {
            Some(source) => Ok(source),
            None => spec.build(sink.committed_checkpoint(&key).or_else(|| stored.clone())),
        };
        let started = Instant::now();
        let (name, why) = match built {
            Ok(source) => {
                let name = source.describe();
                tracing::info!(source = %name, restarts, "live-room source starting");
                // Aborted with the supervisor, so a stopped show leaves no adapter running on
                // its own.
                let mut run = AbortOnDrop(tokio::spawn(source.run(sink.clone())));
                let why = match (&mut run.0).await {
                    Ok(Ok(())) => "it ended by itself".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) if e.is_panic() => {
                        format!("it panicked: {}", panic_message(e.into_panic()))
                    }
                    Err(e) => format!("its task was cancelled: {e}"),
                };
                (name, why)
            }
            Err(e) => (key.clone(), format!("it could not be built: {e}")),
        };
        if sink.is_closed() {
            tracing::info!(source = %name, "live-room source stopped with the show");
            return;
        }
        if !spec.restarts() {
            sink.report(crate::SourceState::Ended, Some(why.clone()));
            tracing::info!(source = %name, reason = %why, "source ended");
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        restarts += 1;
        sink.source_down(&why);
        tracing::warn!(source = %name, reason = %why, restart_in = ?delay, restarts, "live-room source stopped; restarting it");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = sink.closed() => return,
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;
    use aivs_core::event::{EventKind, LiveEvent};

    /// Delivers one event with a checkpoint naming its run, then fails (or panics, or ends).
    struct Flaky {
        run: u32,
        resume: Option<String>,
        seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("upstream refused us")]
    struct Refused;

    impl LiveSource for Flaky {
        type Error = Refused;
        fn describe(&self) -> String {
            format!("flaky #{}", self.run)
        }
        async fn run(self, sink: EventSink) -> Result<(), Refused> {
            self.seen.lock().unwrap().push(self.resume.clone());
            let event = LiveEvent {
                platform: "test".into(),
                msg_id: format!("m{}", self.run),
                user: None,
                kind: EventKind::Like { count: 1 },
            };
            let checkpoint = Some(("test:1".to_string(), format!("after-run-{}", self.run)));
            if sink.deliver(vec![event], checkpoint).await.is_err() {
                return Ok(());
            }
            match self.run % 3 {
                0 => Err(Refused),
                1 => panic!("adapter bug"),
                _ => Ok(()),
            }
        }
    }

    /// Makes the next `Flaky`, numbering the runs.
    #[derive(Clone)]
    struct FlakySpec {
        seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
        runs: Arc<AtomicU32>,
    }

    impl SourceSpec for FlakySpec {
        type Source = Flaky;
        const KIND: crate::SourceKind = crate::SourceKind::Douyin;
        fn key(&self) -> String {
            "test:1".into()
        }
        fn build(&self, resume: Option<String>) -> Result<Flaky, crate::SelectError> {
            Ok(Flaky {
                run: self.runs.fetch_add(1, Ordering::SeqCst),
                resume,
                seen: self.seen.clone(),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_fails_panics_or_ends_is_restarted_from_the_committed_checkpoint() {
        let (tx, mut rx) = mpsc::channel(4);
        let sink = EventSink::new(tx);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let runs = Arc::new(AtomicU32::new(0));
        let spec = FlakySpec {
            seen: seen.clone(),
            runs,
        };
        let first = spec.build(Some("stored".into())).unwrap();
        let task = tokio::spawn(supervise(spec, first, Some("stored".into()), sink));
        for _ in 0..4 {
            let delivery = rx.recv().await.expect("the source is running again");
            delivery.committed.unwrap().send(()).unwrap(); // "committed"
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                Some("stored".to_string()),
                Some("after-run-0".to_string()),
                Some("after-run-1".to_string()),
                Some("after-run-2".to_string()),
            ],
            "each run resumes where the last committed one left off"
        );
        drop(rx); // the show is over
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("the supervisor stops with the show")
            .unwrap();
    }
}
