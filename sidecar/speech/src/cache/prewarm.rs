//! Pre-warming: lines known before the show (the thank-you clauses) are synthesised ahead of
//! time, a few at a time, so their first airing is a cache hit rather than a synthesis.

use std::future::Future;

use futures_util::stream::{self, StreamExt};

use super::{AudioCache, CacheKey, CacheKeyParts};
use crate::{Clip, SpeechError};

/// What [`AudioCache::prewarm`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrewarmReport {
    /// Distinct lines asked for.
    pub lines: usize,
    pub already_cached: usize,
    pub synthesized: usize,
    pub failed: usize,
}

impl AudioCache {
    /// Makes sure every line is cached: lines already cached are skipped, the others are
    /// synthesised by `synth` (at most `concurrency` at a time) and stored. Failures are
    /// counted and logged, never fatal: a line that could not be pre-warmed is simply
    /// synthesised when it is needed. Disk writes run on the blocking pool.
    pub async fn prewarm<F, Fut>(
        &self,
        lines: Vec<CacheKeyParts>,
        concurrency: usize,
        synth: F,
    ) -> PrewarmReport
    where
        F: Fn(CacheKeyParts) -> Fut,
        Fut: Future<Output = Result<Clip, SpeechError>>,
    {
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<(CacheKey, CacheKeyParts)> = lines
            .into_iter()
            .map(|parts| (parts.key(), parts))
            .filter(|(key, _)| seen.insert(*key))
            .collect();
        let mut report = PrewarmReport {
            lines: lines.len(),
            ..PrewarmReport::default()
        };
        let todo: Vec<(CacheKey, CacheKeyParts)> = lines
            .into_iter()
            .filter(|(key, _)| {
                let cached = self.contains(key);
                report.already_cached += usize::from(cached);
                !cached
            })
            .collect();
        let synth = &synth;
        let results: Vec<bool> = stream::iter(todo)
            .map(|(key, parts)| async move {
                let text = parts.text.clone();
                match synth(parts).await {
                    Ok(clip) => {
                        let cache = self.clone();
                        let stored =
                            tokio::task::spawn_blocking(move || cache.put(&key, &clip)).await;
                        // A failed disk write still leaves the clip in the hot tier.
                        if let Ok(Err(e)) = &stored {
                            tracing::warn!(error = %e, "pre-warmed clip not stored on disk");
                        }
                        stored.is_ok()
                    }
                    Err(e) => {
                        tracing::warn!(%text, error = %e, "cannot pre-warm line");
                        false
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        report.synthesized = results.iter().filter(|ok| **ok).count();
        report.failed = results.len() - report.synthesized;
        report
    }
}
