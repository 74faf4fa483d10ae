//! Periodic cleanup: expired clips are removed and the size caps enforced, on demand
//! ([`AudioCache::prune`]) or on a timer on the blocking pool.

use std::time::Duration;

use super::AudioCache;

/// What [`AudioCache::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub expired: usize,
    pub evicted: usize,
}

impl AudioCache {
    /// Removes expired entries and enforces the size caps. Cheap when there is nothing to do
    /// (one pass over the in-memory index); run it periodically
    /// ([`AudioCache::spawn_periodic_prune`]).
    pub fn prune(&self) -> PruneReport {
        if !self.inner.config.enabled {
            return PruneReport::default();
        }
        let now = self.now();
        let mut st = self.lock();
        let expired = st.disk.keys_where(|e| self.expired(e.created, now));
        for key in &expired {
            st.disk.remove(key);
            st.hot.remove(key);
        }
        for key in st.hot.keys_where(|e| self.expired(e.created, now)) {
            st.hot.remove(&key);
        }
        st.stats.expired += expired.len() as u64;
        self.delete_files(&expired);
        let evicted = self.evict_over_cap(&mut st);
        PruneReport {
            expired: expired.len(),
            evicted,
        }
    }

    /// Runs [`AudioCache::prune`] every `every` on the blocking pool until the task is aborted.
    pub fn spawn_periodic_prune(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let c = cache.clone();
                match tokio::task::spawn_blocking(move || c.prune()).await {
                    Ok(report) if report != PruneReport::default() => {
                        tracing::info!(
                            expired = report.expired,
                            evicted = report.evicted,
                            "audio cache pruned"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "audio cache prune task failed"),
                }
            }
        })
    }
}
