//! Opening the cache: the directory is scanned once and every clip file's header read, so the
//! index (and the LRU order, from the files' mtimes) is rebuilt without reading any audio.
//! Interrupted writes, unusable files and expired clips are deleted on the way.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    file, AudioCache, CacheConfig, CacheError, CacheKey, Clock, DiskEntry, FileProblem, Inner,
    State, DAY_SECS,
};

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AudioCache {
    /// Opens (creating the directory) and indexes what is on disk: stale temp files, refused
    /// files and expired clips are deleted, then the size cap is enforced.
    pub fn open(config: CacheConfig) -> Result<Self, CacheError> {
        Self::open_with_clock(config, Arc::new(system_clock))
    }

    /// [`AudioCache::open`], or a disabled cache (logged) when the directory is unusable: the
    /// show goes on without a cache rather than not at all.
    pub fn open_or_disabled(config: CacheConfig) -> Self {
        let dir = config.dir.clone();
        Self::open(config).unwrap_or_else(|e| {
            tracing::warn!(dir = %dir.display(), error = %e, "audio cache unavailable; running without it");
            Self::disabled()
        })
    }

    /// A cache that never hits and never writes.
    pub fn disabled() -> Self {
        let config = CacheConfig {
            enabled: false,
            ..CacheConfig::default()
        };
        Self::new(config, Arc::new(system_clock))
    }

    fn new(config: CacheConfig, clock: Clock) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_age_secs: u64::from(config.max_age_days) * DAY_SECS,
                config,
                clock,
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub(crate) fn open_with_clock(config: CacheConfig, clock: Clock) -> Result<Self, CacheError> {
        let cache = Self::new(config, clock);
        if !cache.inner.config.enabled {
            return Ok(cache);
        }
        let dir = cache.dir().to_path_buf();
        let io = |source| CacheError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let now = cache.now();
        let mut found: Vec<(CacheKey, u64, DiskEntry, SystemTime)> = Vec::new();
        let (mut corrupt, mut expired) = (0u64, 0u64);
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(&format!(".{}", file::TEMP_EXTENSION)) {
                // A write interrupted by a crash.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(key) = name
                .strip_suffix(&format!(".{}", file::EXTENSION))
                .and_then(CacheKey::from_hex)
            else {
                continue;
            };
            match read_header(&path, &key) {
                Ok((header, len, mtime))
                    if now.saturating_sub(header.created) <= cache.inner.max_age_secs =>
                {
                    let entry = DiskEntry {
                        created: header.created,
                        generation: 0,
                    };
                    found.push((key, len, entry, mtime));
                }
                Ok(_) => {
                    expired += 1;
                    let _ = std::fs::remove_file(&path);
                }
                Err(problem) => {
                    tracing::warn!(file = %path.display(), %problem, "removing unusable cached clip");
                    corrupt += 1;
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        // Oldest mtime = least recently used.
        found.sort_by_key(|(_, _, _, mtime)| *mtime);
        {
            let mut st = cache.lock();
            for (key, len, mut entry, _) in found {
                st.generation += 1;
                entry.generation = st.generation;
                let tick = st.next_tick();
                st.disk.insert(key, entry, len, tick);
            }
            st.stats.corrupt += corrupt;
            st.stats.expired += expired;
        }
        cache.prune();
        Ok(cache)
    }
}

fn read_header(
    path: &Path,
    key: &CacheKey,
) -> Result<(file::Header, u64, SystemTime), FileProblem> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|_| FileProblem::Short)?;
    let meta = f.metadata().map_err(|_| FileProblem::Short)?;
    let mut head = [0u8; file::HEADER_LEN];
    f.read_exact(&mut head).map_err(|_| FileProblem::Short)?;
    let header = file::parse_header(key, &head, meta.len())?;
    Ok((header, meta.len(), meta.modified().unwrap_or(UNIX_EPOCH)))
}
