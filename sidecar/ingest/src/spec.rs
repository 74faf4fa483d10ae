//! How a configured source becomes a running one.
//!
//! Each adapter's settings type (`DouyinConfig`, `BilibiliConfig`, …, and [`RoomConfig`] for a
//! replay) implements [`SourceSpec`]: the key its checkpoint is stored under and how to build a
//! fresh adapter from a resume state. [`crate::spawn_configured`] only loops over the configured
//! entries; nothing outside an adapter's module knows how that adapter is made.
//!
//! [`RoomConfig`]: crate::RoomConfig

use crate::{supervisor, EventSink, LiveSource, SelectError, SourceKind};

/// The settings of one configured source.
pub trait SourceSpec: Clone + Send + Sync + 'static {
    type Source: LiveSource;

    /// Which `kind` these settings belong to.
    const KIND: SourceKind;

    /// The ledger key of this source's resume checkpoint (`douyin:<room>`). Two sources that
    /// run at once need different keys, so each resumes from its own position.
    fn key(&self) -> String;

    /// A fresh adapter that resumes from `resume` (the state last committed under
    /// [`Self::key`], if any). Fails only for settings that cannot work (an unreadable replay
    /// file); the first build happens before the show starts, so such an error stops the start.
    fn build(&self, resume: Option<String>) -> Result<Self::Source, SelectError>;

    /// Whether the adapter is started again when its `run` ends: a live room is, a replay that
    /// is over is not.
    fn restarts(&self) -> bool {
        true
    }
}

/// [`SourceSpec`] without its adapter type, so the configured entries can be handled alike.
pub(crate) trait Startable: Send + Sync {
    fn kind(&self) -> SourceKind;
    fn key(&self) -> String;
    /// Builds the first adapter (from `stored`) and runs it under a supervisor on a new task.
    fn start(
        &self,
        stored: Option<String>,
        sink: EventSink,
    ) -> Result<tokio::task::JoinHandle<()>, SelectError>;
}

impl<S: SourceSpec> Startable for S {
    fn kind(&self) -> SourceKind {
        S::KIND
    }

    fn key(&self) -> String {
        SourceSpec::key(self)
    }

    fn start(
        &self,
        stored: Option<String>,
        sink: EventSink,
    ) -> Result<tokio::task::JoinHandle<()>, SelectError> {
        let first = self.build(stored.clone())?;
        Ok(tokio::spawn(supervisor::supervise(
            self.clone(),
            first,
            stored,
            sink,
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use tokio::sync::mpsc;

    use crate::{spawn_configured, RoomConfig, SelectError, SourceEntry};

    fn room(dir: &tempfile::TempDir, name: &str, ids: &[&str]) -> SourceEntry {
        let path = dir.path().join(name);
        let lines: String = ids
            .iter()
            .map(|id| {
                format!(
                    r#"{{"at_ms":0,"event":{{"platform":"{name}","msg_id":"{id}","type":"like","count":1}}}}"#
                ) + "\n"
            })
            .collect();
        std::fs::write(&path, lines).unwrap();
        SourceEntry::Replay(RoomConfig {
            replay: path,
            speed: f64::INFINITY,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn several_sources_feed_one_sink_and_end_together() {
        let dir = tempfile::tempdir().unwrap();
        let sources = [room(&dir, "a", &["1", "2"]), room(&dir, "b", &["3"])];
        let (tx, mut rx) = mpsc::channel(8);
        let mut task =
            spawn_configured(&sources, &|_| None, crate::EventSink::new(tx)).expect("both start");
        let mut got = Vec::new();
        while let Some(delivery) = rx.recv().await {
            got.extend(delivery.events.into_iter().map(|e| (e.platform, e.msg_id)));
            delivery.committed.unwrap().send(()).unwrap();
        }
        // The channel closed: every source's sink clone is gone, so both have ended.
        tokio::time::timeout(std::time::Duration::from_secs(1), task.wait())
            .await
            .expect("wait resolves once all sources ended");
        got.sort();
        let want = [("a", "1"), ("a", "2"), ("b", "3")].map(|(p, m)| (p.into(), m.into()));
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn sources_that_would_share_a_checkpoint_or_cannot_load_do_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let a = room(&dir, "a", &["1"]);
        let (tx, _rx) = mpsc::channel(8);
        let sink = crate::EventSink::new(tx);
        let err = spawn_configured(&[a.clone(), a.clone()], &|_| None, sink.clone())
            .err()
            .expect("one key twice");
        assert!(matches!(err, SelectError::SharedKey { .. }), "{err}");
        let missing = SourceEntry::Replay(RoomConfig {
            replay: PathBuf::from("/nonexistent/room.jsonl"),
            speed: 1.0,
        });
        let err = spawn_configured(&[a, missing], &|_| None, sink)
            .err()
            .expect("unreadable replay");
        assert!(matches!(err, SelectError::Replay(_)), "{err}");
    }
}
