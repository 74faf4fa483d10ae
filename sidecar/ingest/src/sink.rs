//! The adapters' side of the channel into the show.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use aivs_core::event::LiveEvent;

/// One batch of events from one upstream frame / request.
#[derive(Debug)]
pub struct Delivery {
    pub events: Vec<LiveEvent>,
    /// Resume state of the source (e.g. Douyin's cursor + internal_ext) as of this batch,
    /// stored in the same ledger transaction as the events: `(source key, opaque state)`.
    pub checkpoint: Option<(String, String)>,
    /// Fired once the batch is durably in the ledger.
    pub committed: Option<oneshot::Sender<()>>,
}

/// The show is gone (shutting down); the adapter should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the event sink is closed (the show stopped)")]
pub struct SinkClosed;

/// Rejected-input counters by (platform, reason); shared by all clones of a sink.
#[derive(Debug, Default, Clone)]
pub struct IngestCounters {
    inner: Arc<Mutex<BTreeMap<(String, &'static str), u64>>>,
}

impl IngestCounters {
    pub fn add(&self, platform: &str, reason: &'static str) -> u64 {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry((platform.to_string(), reason)).or_default();
        *n += 1;
        *n
    }

    /// `(platform, reason, count)`, sorted.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|((p, r), n)| (p.clone(), *r, *n)).collect()
    }

    pub fn total(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.values().sum()
    }
}

/// What a raw upstream frame looked like, for `sidecar record`.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub platform: String,
    pub at_ms: u64,
    pub bytes: Vec<u8>,
}

/// Where adapters put what they decoded. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: mpsc::Sender<Delivery>,
    rejected: IngestCounters,
    raw: Option<mpsc::UnboundedSender<RawFrame>>,
    /// The newest checkpoint of each source key known to be committed: where a restarted
    /// source resumes (see `supervisor.rs`).
    committed: Arc<Mutex<HashMap<String, String>>>,
    /// Which source this clone belongs to (set by the supervisor) and every source's status
    /// (`status.rs`).
    pub(crate) source_key: Option<Arc<str>>,
    pub(crate) statuses: crate::status::SourceStatuses,
}

impl EventSink {
    pub fn new(tx: mpsc::Sender<Delivery>) -> Self {
        Self {
            tx,
            rejected: IngestCounters::default(),
            raw: None,
            committed: Arc::default(),
            source_key: None,
            statuses: Default::default(),
        }
    }

    /// The last checkpoint committed through this sink for `key`, if any.
    pub fn committed_checkpoint(&self, key: &str) -> Option<String> {
        let map = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    /// Also hand every raw frame to a recorder.
    pub fn with_raw_recorder(mut self, raw: mpsc::UnboundedSender<RawFrame>) -> Self {
        self.raw = Some(raw);
        self
    }

    /// Delivers a batch and waits until it is committed to the ledger. Adapters acknowledge
    /// upstream only after this returns `Ok`. [`SinkClosed`] if the show stopped first (the
    /// batch may or may not be in: the ledger's de-duplication covers the resend). While the
    /// ledger cannot commit (locked by another process, disk full) this keeps waiting: the
    /// show retries the commit, and the adapter keeps its connection meanwhile.
    pub async fn deliver(
        &self,
        events: Vec<LiveEvent>,
        checkpoint: Option<(String, String)>,
    ) -> Result<(), SinkClosed> {
        self.submit(events, checkpoint).await?.await
    }

    /// Hands a batch over (waiting for room in the channel: backpressure, never loss) and
    /// returns the wait for its commit, so a source with nothing to acknowledge upstream (a
    /// replay) can keep several batches in flight and still know when each is durable.
    pub async fn submit(
        &self,
        events: Vec<LiveEvent>,
        checkpoint: Option<(String, String)>,
    ) -> Result<impl Future<Output = Result<(), SinkClosed>> + Send + 'static, SinkClosed> {
        let (done, committed) = oneshot::channel();
        self.tx
            .send(Delivery {
                events,
                checkpoint: checkpoint.clone(),
                committed: Some(done),
            })
            .await
            .map_err(|_| SinkClosed)?;
        let remember = self.committed.clone();
        Ok(async move {
            committed.await.map_err(|_| SinkClosed)?;
            if let Some((key, state)) = checkpoint {
                remember
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, state);
            }
            Ok(())
        })
    }

    /// Counts (and logs, rate-limited by powers of two) one piece of unusable input.
    pub fn reject(&self, platform: &str, reason: &'static str, detail: &dyn std::fmt::Display) {
        let n = self.rejected.add(platform, reason);
        if n.is_power_of_two() {
            tracing::warn!(platform, reason, count = n, %detail, "rejected input");
        }
    }

    pub fn counters(&self) -> &IngestCounters {
        &self.rejected
    }

    /// Records a raw frame if a recorder is attached (cheap no-op otherwise).
    pub fn raw_frame(&self, platform: &str, bytes: &[u8]) {
        if let Some(raw) = &self.raw {
            let _ = raw.send(RawFrame {
                platform: platform.to_string(),
                at_ms: aivs_core::clock::now_ms(),
                bytes: bytes.to_vec(),
            });
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the show has gone away.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}
