//! What each live-room source is doing, for the operator's console, `/readyz` and `/metrics`.
//!
//! The supervisor names each source's sink after the source's key ([`EventSink::for_source`]);
//! adapters say when their connection is up and when it dropped, and why
//! ([`EventSink::source_up`], [`EventSink::source_down`]). The registry is shared by every
//! clone of the sink, so the sidecar reads all sources' states from the one it built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::EventSink;

/// A source's connection, as its adapter last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// Started, not connected yet.
    Starting,
    /// Connected (or, for a replay, playing; for a webhook, listening).
    Connected,
    /// The connection dropped or the adapter ended; it is being tried again.
    Reconnecting,
    /// It ended for good (a replay that finished, a source that does not restart).
    Ended,
}

impl SourceState {
    pub fn name(self) -> &'static str {
        match self {
            SourceState::Starting => "starting",
            SourceState::Connected => "connected",
            SourceState::Reconnecting => "reconnecting",
            SourceState::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    pub state: SourceState,
    /// Why it is reconnecting or ended (the last error), if it said.
    pub reason: Option<String>,
    /// When it entered this state (process clock, ms).
    pub since_ms: u64,
    /// Times it went from connected to down (the connection dropped or the adapter ended).
    pub reconnects: u64,
}

/// Every source's status by key. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SourceStatuses(Arc<Mutex<BTreeMap<String, SourceStatus>>>);

impl SourceStatuses {
    /// Every source's status, in key order.
    pub fn snapshot(&self) -> Vec<(String, SourceStatus)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn set(&self, key: &str, state: SourceState, reason: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = aivs_core::clock::now_ms();
        let entry = map.entry(key.to_string()).or_insert(SourceStatus {
            state,
            reason: None,
            since_ms: now,
            reconnects: 0,
        });
        if entry.state == state && reason.is_none() {
            return;
        }
        if entry.state == SourceState::Connected && state != SourceState::Connected {
            entry.reconnects += 1;
        }
        if entry.state != state {
            entry.since_ms = now;
        }
        entry.state = state;
        entry.reason = reason;
    }
}

impl EventSink {
    /// This sink, with what its adapter reports filed under `key` (done by the supervisor).
    pub fn for_source(&self, key: &str) -> EventSink {
        let mut sink = self.clone();
        sink.source_key = Some(Arc::from(key));
        sink.report(SourceState::Starting, None);
        sink
    }

    /// Every source's status (shared by all clones of the sink).
    pub fn source_statuses(&self) -> &SourceStatuses {
        &self.statuses
    }

    /// The adapter's connection is up (the room is being heard).
    pub fn source_up(&self) {
        self.report(SourceState::Connected, None);
    }

    /// The adapter's connection dropped; it will try again.
    pub fn source_down(&self, reason: &dyn std::fmt::Display) {
        self.report(SourceState::Reconnecting, Some(reason.to_string()));
    }

    pub(crate) fn report(&self, state: SourceState, reason: Option<String>) {
        if let Some(key) = &self.source_key {
            self.statuses.set(key, state, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_goes_up_and_down_and_counts_its_drops() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let sink = EventSink::new(tx);
        let a = sink.for_source("douyin:1");
        let statuses = sink.source_statuses().clone();
        assert_eq!(statuses.snapshot()[0].1.state, SourceState::Starting);
        a.source_up();
        a.source_up();
        a.source_down(&"timed out");
        let (key, status) = &statuses.snapshot()[0];
        assert_eq!(key, "douyin:1");
        assert_eq!(status.state, SourceState::Reconnecting);
        assert_eq!(status.reason.as_deref(), Some("timed out"));
        assert_eq!(status.reconnects, 1);
        a.source_up();
        assert_eq!(statuses.snapshot()[0].1.reason, None);
        // An unnamed sink reports nothing.
        sink.source_up();
        assert_eq!(statuses.snapshot().len(), 1);
    }
}
