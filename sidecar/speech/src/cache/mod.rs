//! Content-addressed on-disk cache of finished clips (seed 000 "本地音频缓存策略": LRU, hash
//! index, periodic cleanup).
//!
//! * **Key**: SHA-256 of everything that decides how a clip sounds ([`CacheKeyParts::key`]:
//!   text, engine, voice, prosody, engine version, clip pipeline version and loudness target).
//! * **Value**: the finished 48 kHz mono i16 [`Clip`], one file per key (format in `file.rs`:
//!   header with a checksum, written to a temp file and renamed).
//! * **Index**: in memory (key → size, created, recency), rebuilt at open by scanning the
//!   directory headers; recency starts from the files' mtimes and a disk hit refreshes the
//!   mtime, so LRU order survives a restart approximately.
//! * **Hot tier**: the most recently used clips kept decoded in memory (bounded by bytes), so a
//!   hit is a hash lookup and an `Arc` clone (sub-microsecond; see `benches/audio_cache.rs`).
//! * **Limits**: LRU eviction beyond `max_bytes`; entries older than `max_age_days` (counted
//!   from creation, pre-warmed ones too: the pre-warm at start makes them again) are removed
//!   at open, by [`AudioCache::prune`] and when met by `get`.
//! * **Failure**: a corrupt or vanished file is removed and reported as a miss, never served;
//!   disk errors are logged and degrade to misses. The speech path never fails because of
//!   the cache.
//!
//! Thread-safe: one mutex guards the index and the hot tier and is never held during file
//! I/O. `AudioCache` is a cheap clone (an `Arc`) usable from async code and the blocking pool.
//! Races between writers and the evictor on the same key can only ever cost a miss.

//!
//! This file holds the cache's types and its lookups and writes; `open` builds the index from
//! the directory at start, `prune` the expiry and size-cap sweeps, `prewarm` the filling of the
//! cache with the lines a show is known to say.

mod file;
mod key;
mod lru;
mod open;
mod prewarm;
mod prune;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Deserialize;

pub use file::FileProblem;
pub use key::{CacheKey, CacheKeyParts, CLIP_PIPELINE_VERSION};
use lru::Lru;
pub use prewarm::PrewarmReport;
pub use prune::PruneReport;

use crate::Clip;

const MIB: u64 = 1024 * 1024;
const DAY_SECS: u64 = 86_400;

/// `[voice.cache]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Where clips are stored (created if missing). Only `*.pcm` files named by a key and our
    /// own `*.tmp` leftovers are ever touched there.
    pub dir: PathBuf,
    /// Size cap of the files on disk, in bytes; least recently used clips go first.
    /// 256 MiB ≈ 45 minutes of 48 kHz mono speech.
    pub max_bytes: u64,
    /// Size cap of the decoded clips kept in memory for sub-millisecond hits, in bytes.
    pub hot_bytes: u64,
    /// Clips older than this are removed (engines and voices drift; a month-old clip may no
    /// longer match what the engine makes today).
    pub max_age_days: u32,
    /// Off: every lookup misses and nothing is written.
    pub enabled: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/audio-cache"),
            max_bytes: 256 * MIB,
            hot_bytes: 32 * MIB,
            max_age_days: 30,
            enabled: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("audio cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("clip of {bytes} bytes exceeds the cache size cap of {max} bytes")]
    TooLarge { bytes: u64, max: u64 },
}

/// Counters since open, and the current size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub disk_bytes: u64,
    pub hot_entries: usize,
    pub hot_bytes: u64,
    pub hits_hot: u64,
    pub hits_disk: u64,
    pub misses: u64,
    pub puts: u64,
    pub evictions: u64,
    pub expired: u64,
    /// Files refused (bad header, wrong key, size or checksum) and removed.
    pub corrupt: u64,
    pub io_errors: u64,
}

/// The on-disk clip cache with its in-memory hot tier.
#[derive(Clone)]
pub struct AudioCache {
    inner: Arc<Inner>,
}

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

struct Inner {
    config: CacheConfig,
    max_age_secs: u64,
    /// Unix seconds; replaceable in tests to cross the expiry without waiting a month.
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Clone, Copy)]
struct DiskEntry {
    created: u64,
    /// Distinguishes successive files for one key, so a reader that found a bad file only
    /// removes the entry it read, not a newer one written meanwhile.
    generation: u64,
}

#[derive(Clone)]
struct HotEntry {
    clip: Arc<Clip>,
    created: u64,
}

#[derive(Default)]
struct State {
    disk: Lru<DiskEntry>,
    hot: Lru<HotEntry>,
    tick: u64,
    generation: u64,
    stats: CacheStats,
}

impl State {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

fn clip_bytes(clip: &Clip) -> u64 {
    clip.samples.len() as u64 * 2
}

impl AudioCache {
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state (counters and maps are
        // updated together); keep serving rather than poisoning the speech path.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, created: u64, now: u64) -> bool {
        now.saturating_sub(created) > self.inner.max_age_secs
    }

    /// The key for these parts (see [`CacheKeyParts::key`] for the encoding).
    pub fn key(parts: &CacheKeyParts) -> CacheKey {
        parts.key()
    }

    /// Whether a non-expired entry exists (in memory or on disk; not verified).
    pub fn contains(&self, key: &CacheKey) -> bool {
        if !self.inner.config.enabled {
            return false;
        }
        let now = self.now();
        let st = self.lock();
        st.hot
            .peek(key)
            .is_some_and(|s| !self.expired(s.value.created, now))
            || st
                .disk
                .peek(key)
                .is_some_and(|s| !self.expired(s.value.created, now))
    }

    /// Looks a clip up. Hot tier: a map lookup. Disk tier: one file read and checksum (the
    /// clip then joins the hot tier). Anything wrong with the file → removed, `None`.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Clip>> {
        if !self.inner.config.enabled {
            return None;
        }
        let now = self.now();
        let generation = {
            let mut st = self.lock();
            let tick = st.next_tick();
            if let Some(hot) = st.hot.touch(key, tick).map(|s| s.value.clone()) {
                if !self.expired(hot.created, now) {
                    st.disk.touch(key, tick);
                    st.stats.hits_hot += 1;
                    return Some(hot.clip);
                }
            }
            match st.disk.peek(key).map(|s| s.value) {
                Some(entry) if !self.expired(entry.created, now) => entry.generation,
                found => {
                    st.hot.remove(key);
                    if found.is_some() {
                        st.disk.remove(key);
                        st.stats.expired += 1;
                        self.delete_files(&[*key]);
                        return None;
                    }
                    st.stats.misses += 1;
                    return None;
                }
            }
        };
        let path = file::path_for(self.dir(), key);
        let read = std::fs::read(&path);
        let outcome = match &read {
            Ok(bytes) => file::decode(key, bytes).map_err(Some),
            Err(_) => Err(None),
        };
        let mut st = self.lock();
        let current = st.disk.peek(key).map(|s| s.value.generation) == Some(generation);
        match outcome {
            Ok((clip, header)) => {
                let clip = Arc::new(clip);
                let tick = st.next_tick();
                if current {
                    st.disk.touch(key, tick);
                }
                self.admit_hot(&mut st, *key, clip.clone(), header.created, tick);
                st.stats.hits_disk += 1;
                drop(st);
                // Persist recency for the next start; failure only makes LRU less exact.
                if let Ok(f) = std::fs::File::open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Some(clip)
            }
            Err(problem) => {
                st.stats.misses += 1;
                if current {
                    st.disk.remove(key);
                    match &problem {
                        Some(problem) => {
                            st.stats.corrupt += 1;
                            tracing::warn!(file = %path.display(), %problem, "removing corrupt cached clip");
                            self.delete_files(&[*key]);
                        }
                        None => st.stats.io_errors += 1,
                    }
                }
                drop(st);
                if let Err(e) = read {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read cached clip");
                }
                None
            }
        }
    }

    /// Stores a finished clip: into the hot tier at once, then to disk. A disk failure is
    /// logged and returned, but the clip stays usable from memory; callers on the speech path
    /// should ignore the error.
    pub fn put(&self, key: &CacheKey, clip: &Clip) -> Result<(), CacheError> {
        if !self.inner.config.enabled {
            return Ok(());
        }
        let created = self.now();
        let bytes = file::encode(key, clip, created);
        let size = bytes.len() as u64;
        if size > self.inner.config.max_bytes {
            return Err(CacheError::TooLarge {
                bytes: size,
                max: self.inner.config.max_bytes,
            });
        }
        {
            let mut st = self.lock();
            let tick = st.next_tick();
            self.admit_hot(&mut st, *key, Arc::new(clip.clone()), created, tick);
        }
        let written = file::write_temp(self.dir(), key, &bytes);
        let mut st = self.lock();
        // Rename and index update under the lock: an eviction of this key can then never
        // delete the new file after the index has recorded it.
        let published = written.and_then(|temp| file::publish(&temp, self.dir(), key));
        if let Err(source) = published {
            st.stats.io_errors += 1;
            // A previous file for this key may or may not still be there: forget it.
            st.disk.remove(key);
            drop(st);
            tracing::warn!(dir = %self.dir().display(), error = %source, "cannot write cached clip");
            return Err(CacheError::Io {
                path: file::path_for(self.dir(), key),
                source,
            });
        }
        st.generation += 1;
        let entry = DiskEntry {
            created,
            generation: st.generation,
        };
        let tick = st.next_tick();
        st.disk.insert(*key, entry, size, tick);
        st.stats.puts += 1;
        self.evict_over_cap(&mut st);
        Ok(())
    }

    /// Puts a clip into the hot tier (if it fits at all) and trims the tier to its cap.
    fn admit_hot(&self, st: &mut State, key: CacheKey, clip: Arc<Clip>, created: u64, tick: u64) {
        let bytes = clip_bytes(&clip);
        let cap = self.inner.config.hot_bytes;
        if bytes > cap {
            st.hot.remove(&key);
            return;
        }
        st.hot.insert(key, HotEntry { clip, created }, bytes, tick);
        while st.hot.bytes() > cap {
            if st.hot.pop_lru().is_none() {
                break;
            }
        }
    }

    /// Pops least recently used disk entries until under the cap and deletes their files.
    /// Called with the lock held (see `put`); returns how many went.
    fn evict_over_cap(&self, st: &mut State) -> usize {
        let mut evicted = Vec::new();
        while st.disk.bytes() > self.inner.config.max_bytes {
            let Some((key, _)) = st.disk.pop_lru() else {
                break;
            };
            st.hot.remove(&key);
            st.stats.evictions += 1;
            evicted.push(key);
        }
        self.delete_files(&evicted);
        evicted.len()
    }

    /// Deletes the files of entries just removed from the index; callers hold the lock, so a
    /// concurrent `put` of the same key is ordered entirely before or after.
    fn delete_files(&self, keys: &[CacheKey]) {
        for key in keys {
            let path = file::path_for(self.dir(), key);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), error = %e, "cannot delete cached clip");
                }
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats {
            entries: st.disk.len(),
            disk_bytes: st.disk.bytes(),
            hot_entries: st.hot.len(),
            hot_bytes: st.hot.bytes(),
            ..st.stats.clone()
        }
    }
}
