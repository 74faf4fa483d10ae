use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{Prosody, SpeechError};

const NOW: u64 = 1_800_000_000;

fn parts(text: &str) -> CacheKeyParts {
    CacheKeyParts {
        text: text.to_string(),
        engine: "espeak-ng".into(),
        voice: "cmn-latn-pinyin".into(),
        engine_version: "1.51".into(),
        prosody: Prosody::default(),
        pipeline_version: CLIP_PIPELINE_VERSION,
        loudness_dbfs: -20.0,
    }
}

/// A clip whose content identifies it: `n` samples derived from `seed`.
fn clip(seed: u64, n: usize) -> Clip {
    Clip {
        samples: (0..n)
            .map(|i| ((seed as i64 * 7919 + i as i64 * 31) % 30_000) as i16)
            .collect(),
    }
}

/// File size of a clip of `n` samples.
fn file_size(n: usize) -> u64 {
    (file::HEADER_LEN + 2 * n) as u64
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<AtomicU64>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            clock: Arc::new(AtomicU64::new(NOW)),
        }
    }

    fn config(&self) -> CacheConfig {
        CacheConfig {
            dir: self.dir.path().join("cache"),
            ..CacheConfig::default()
        }
    }

    fn open(&self, config: CacheConfig) -> AudioCache {
        let clock = self.clock.clone();
        AudioCache::open_with_clock(config, Arc::new(move || clock.load(Ordering::SeqCst))).unwrap()
    }

    fn advance_days(&self, days: u64) {
        self.clock.fetch_add(days * DAY_SECS, Ordering::SeqCst);
    }

    fn file(&self, key: &CacheKey) -> PathBuf {
        file::path_for(&self.config().dir, key)
    }
}

#[test]
fn miss_then_hot_hit_then_disk_hit_after_reopen() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let key = parts("谢谢老板").key();
    assert!(cache.get(&key).is_none());
    cache.put(&key, &clip(1, 48_000)).unwrap();
    assert!(fx.file(&key).exists());
    assert_eq!(*cache.get(&key).unwrap(), clip(1, 48_000));
    let s = cache.stats();
    assert_eq!((s.misses, s.hits_hot, s.hits_disk, s.puts), (1, 1, 0, 1));
    assert_eq!((s.entries, s.disk_bytes), (1, file_size(48_000)));
    assert_eq!((s.hot_entries, s.hot_bytes), (1, 96_000));

    drop(cache);
    let reopened = fx.open(fx.config());
    assert_eq!(reopened.stats().entries, 1);
    assert_eq!(reopened.stats().hot_entries, 0);
    assert_eq!(*reopened.get(&key).unwrap(), clip(1, 48_000));
    assert_eq!(*reopened.get(&key).unwrap(), clip(1, 48_000));
    let s = reopened.stats();
    assert_eq!(
        (s.hits_disk, s.hits_hot),
        (1, 1),
        "the disk hit promotes the clip"
    );
}

#[test]
fn key_depends_on_every_field_and_only_on_them() {
    let base = parts("你好");
    let k = base.key();
    assert_eq!(k, parts("你好").key());
    assert_eq!(AudioCache::key(&base), k);
    let variants: Vec<(&str, CacheKeyParts)> = vec![
        (
            "text",
            CacheKeyParts {
                text: "你好！".into(),
                ..base.clone()
            },
        ),
        (
            "engine",
            CacheKeyParts {
                engine: "piper".into(),
                ..base.clone()
            },
        ),
        (
            "voice",
            CacheKeyParts {
                voice: "".into(),
                ..base.clone()
            },
        ),
        (
            "engine_version",
            CacheKeyParts {
                engine_version: "1.52".into(),
                ..base.clone()
            },
        ),
        (
            "rate",
            CacheKeyParts {
                prosody: Prosody {
                    rate: 1.1,
                    ..base.prosody
                },
                ..base.clone()
            },
        ),
        (
            "pitch",
            CacheKeyParts {
                prosody: Prosody {
                    pitch_semitones: 1.0,
                    ..base.prosody
                },
                ..base.clone()
            },
        ),
        (
            "pipeline_version",
            CacheKeyParts {
                pipeline_version: 2,
                ..base.clone()
            },
        ),
        (
            "loudness",
            CacheKeyParts {
                loudness_dbfs: -18.0,
                ..base.clone()
            },
        ),
    ];
    let mut seen = std::collections::HashSet::from([k]);
    for (field, p) in variants {
        assert!(seen.insert(p.key()), "changing {field} must change the key");
    }
    // Length prefixes: moving bytes between fields changes the key.
    let a = CacheKeyParts {
        text: "ab".into(),
        engine: "c".into(),
        ..base.clone()
    };
    let b = CacheKeyParts {
        text: "a".into(),
        engine: "bc".into(),
        ..base.clone()
    };
    assert_ne!(a.key(), b.key());
    // Canonical floats: -0.0 is 0.0.
    let neg = CacheKeyParts {
        prosody: Prosody {
            pitch_semitones: -0.0,
            ..base.prosody
        },
        ..base.clone()
    };
    assert_eq!(neg.key(), k);
    assert_eq!(k.hex().len(), 64);
}

#[test]
fn lru_evicts_the_least_recently_used_under_the_byte_cap() {
    let fx = Fixture::new();
    let n = 10_000;
    let config = CacheConfig {
        max_bytes: 3 * file_size(n),
        ..fx.config()
    };
    let cache = fx.open(config.clone());
    let keys: Vec<CacheKey> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|t| parts(t).key())
        .collect();
    for (i, k) in keys[..3].iter().enumerate() {
        cache.put(k, &clip(i as u64, n)).unwrap();
    }
    // Use a: b is now the least recently used.
    assert!(cache.get(&keys[0]).is_some());
    cache.put(&keys[3], &clip(3, n)).unwrap();
    assert!(!fx.file(&keys[1]).exists(), "b evicted from disk");
    assert!(cache.get(&keys[1]).is_none());
    for k in [&keys[0], &keys[2], &keys[3]] {
        assert!(fx.file(k).exists());
    }
    // Next victim is c (a and d used more recently).
    cache.put(&keys[4], &clip(4, n)).unwrap();
    assert!(!fx.file(&keys[2].clone()).exists());
    let s = cache.stats();
    assert_eq!((s.entries, s.evictions), (3, 2));
    assert!(s.disk_bytes <= config.max_bytes);

    // The order survives a restart (from the files' mtimes): shrink the cap, oldest go first.
    drop(cache);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = fx.open(config.clone());
    assert!(again.get(&keys[0]).is_some()); // disk hit refreshes a's mtime
    drop(again);
    let small = fx.open(CacheConfig {
        max_bytes: file_size(n),
        ..config
    });
    assert_eq!(small.stats().entries, 1);
    assert!(
        fx.file(&keys[0]).exists(),
        "the most recently used one is kept"
    );

    // A clip larger than the whole cache is refused, not stored.
    assert!(matches!(
        small.put(&keys[1], &clip(9, 3 * n)),
        Err(CacheError::TooLarge { .. })
    ));
}

#[test]
fn hot_tier_is_bounded_by_bytes() {
    let fx = Fixture::new();
    let cache = fx.open(CacheConfig {
        hot_bytes: 50_000,
        ..fx.config()
    });
    for i in 0..10 {
        cache
            .put(&parts(&i.to_string()).key(), &clip(i, 10_000))
            .unwrap();
    }
    let s = cache.stats();
    assert_eq!(s.hot_entries, 2);
    assert!(s.hot_bytes <= 50_000);
    assert_eq!(s.entries, 10);
    // Older ones come from disk, correctly.
    assert_eq!(*cache.get(&parts("0").key()).unwrap(), clip(0, 10_000));
    assert_eq!(cache.stats().hits_disk, 1);
}

#[test]
fn entries_expire_after_max_age() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let (old, fresh, untouched) = (parts("old").key(), parts("fresh").key(), parts("u").key());
    cache.put(&old, &clip(1, 1000)).unwrap();
    cache.put(&untouched, &clip(3, 1000)).unwrap();
    fx.advance_days(20);
    cache.put(&fresh, &clip(2, 1000)).unwrap();
    fx.advance_days(11); // old: 31 days, fresh: 11 days
    assert!(
        cache.get(&old).is_none(),
        "expired entries are not served, even from memory"
    );
    assert!(!fx.file(&old).exists());
    assert!(cache.get(&fresh).is_some());
    assert!(cache.contains(&fresh) && !cache.contains(&untouched));
    assert_eq!(
        cache.prune(),
        PruneReport {
            expired: 1,
            evicted: 0
        }
    );
    assert!(!fx.file(&untouched).exists());
    assert_eq!(cache.stats().expired, 2);

    // At open, too.
    fx.advance_days(25);
    let reopened = fx.open(fx.config());
    assert_eq!(reopened.stats().entries, 0);
    assert_eq!(reopened.stats().expired, 1);
    assert!(!fx.file(&fresh).exists());
}

#[test]
fn corrupt_files_are_detected_removed_and_never_served() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let keys: Vec<CacheKey> = (0..4).map(|i| parts(&format!("line {i}")).key()).collect();
    for (i, k) in keys.iter().enumerate() {
        cache.put(k, &clip(i as u64, 4800)).unwrap();
    }
    drop(cache);
    // 0: one flipped sample bit; 1: truncated; 2: another key's file under this name;
    // 3: garbage header.
    let mut bytes = std::fs::read(fx.file(&keys[0])).unwrap();
    bytes[file::HEADER_LEN + 1001] ^= 0x10;
    std::fs::write(fx.file(&keys[0]), &bytes).unwrap();
    let bytes = std::fs::read(fx.file(&keys[1])).unwrap();
    std::fs::write(fx.file(&keys[1]), &bytes[..bytes.len() - 2]).unwrap();
    std::fs::copy(fx.file(&keys[3]), fx.file(&keys[2])).unwrap();
    let mut bytes = std::fs::read(fx.file(&keys[3])).unwrap();
    bytes[0] = b'X';
    std::fs::write(fx.file(&keys[3]), &bytes).unwrap();
    // Leftover of an interrupted write, and a stranger's file.
    let temp = fx.config().dir.join(format!("{}.1.1.tmp", keys[0].hex()));
    std::fs::write(&temp, b"partial").unwrap();
    let stranger = fx.config().dir.join("README.txt");
    std::fs::write(&stranger, b"not ours").unwrap();

    let cache = fx.open(fx.config());
    // Header problems are caught by the scan at open; the flipped bit on first read.
    assert_eq!(cache.stats().corrupt, 3);
    assert_eq!(cache.stats().entries, 1);
    assert!(!temp.exists() && stranger.exists());
    assert!(cache.get(&keys[0]).is_none());
    assert!(!fx.file(&keys[0]).exists());
    for k in &keys {
        assert!(cache.get(k).is_none());
        assert!(!fx.file(k).exists());
    }
    assert_eq!(cache.stats().corrupt, 4);
    // Healthy again after a fresh put.
    cache.put(&keys[0], &clip(0, 4800)).unwrap();
    assert_eq!(*cache.get(&keys[0]).unwrap(), clip(0, 4800));
}

#[test]
fn disk_failures_degrade_to_memory_and_misses() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let (a, b) = (parts("a").key(), parts("b").key());
    cache.put(&a, &clip(1, 1000)).unwrap();
    std::fs::remove_dir_all(fx.config().dir).unwrap();
    // Writing fails, but the clip is served from memory.
    assert!(matches!(
        cache.put(&b, &clip(2, 1000)),
        Err(CacheError::Io { .. })
    ));
    assert_eq!(*cache.get(&b).unwrap(), clip(2, 1000));
    assert_eq!(cache.stats().io_errors, 1);
    // A vanished file is a miss, not an error.
    let cold = fx.open(CacheConfig {
        hot_bytes: 0,
        ..fx.config()
    });
    assert!(cold.get(&a).is_none());
}

#[test]
fn disabled_cache_never_hits_and_never_writes() {
    let fx = Fixture::new();
    let cache = fx.open(CacheConfig {
        enabled: false,
        ..fx.config()
    });
    let key = parts("x").key();
    cache.put(&key, &clip(1, 100)).unwrap();
    assert!(cache.get(&key).is_none());
    assert!(!fx.config().dir.exists());
    assert!(AudioCache::disabled().get(&key).is_none());
}

#[test]
fn concurrent_use_from_threads_is_consistent() {
    let fx = Fixture::new();
    let n = 2_000;
    let cache = fx.open(CacheConfig {
        max_bytes: 20 * file_size(n),
        hot_bytes: 5 * 2 * n as u64,
        ..fx.config()
    });
    let served = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..8u64 {
            let cache = cache.clone();
            let served = served.clone();
            scope.spawn(move || {
                for i in 0..300u64 {
                    let id = (i * 7 + t * 13) % 40;
                    let key = parts(&format!("line {id}")).key();
                    if i % 3 == 0 {
                        cache.put(&key, &clip(id, n)).unwrap();
                    } else if let Some(got) = cache.get(&key) {
                        // Whatever tier it came from, it is the clip stored for this key.
                        assert_eq!(*got, clip(id, n));
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let s = cache.stats();
    assert!(served.load(Ordering::Relaxed) > 0);
    assert!(s.disk_bytes <= 20 * file_size(n) && s.entries <= 20);
    assert!(s.hot_bytes <= 5 * 2 * n as u64);
    assert_eq!(s.corrupt, 0);
    // Index and directory agree.
    let files = std::fs::read_dir(fx.config().dir).unwrap().count();
    assert_eq!(files, s.entries);
}

#[tokio::test]
async fn prewarm_synthesises_only_what_is_missing() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let calls = Arc::new(AtomicUsize::new(0));
    let synth = |calls: Arc<AtomicUsize>| {
        move |p: CacheKeyParts| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if p.text.contains("坏") {
                    return Err(SpeechError::BadAudio("silent".into()));
                }
                Ok(clip(p.text.len() as u64, 4800))
            }
        }
    };
    let lines = vec![
        parts("谢谢小明"),
        parts("感谢小红"),
        parts("谢谢小明"),
        parts("坏掉的"),
    ];
    let report = cache.prewarm(lines.clone(), 2, synth(calls.clone())).await;
    assert_eq!(
        report,
        PrewarmReport {
            lines: 3,
            already_cached: 0,
            synthesized: 2,
            failed: 1
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(cache.get(&parts("感谢小红").key()).is_some());

    // At the next start only the failed line is tried again.
    let reopened = fx.open(fx.config());
    let report = reopened.prewarm(lines, 2, synth(calls.clone())).await;
    assert_eq!(
        report,
        PrewarmReport {
            lines: 3,
            already_cached: 2,
            synthesized: 0,
            failed: 1
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn periodic_prune_removes_expired_entries() {
    let fx = Fixture::new();
    let cache = fx.open(fx.config());
    let key = parts("a").key();
    cache.put(&key, &clip(1, 100)).unwrap();
    let task = cache.spawn_periodic_prune(Duration::from_secs(3600));
    fx.advance_days(31);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        if !fx.file(&key).exists() {
            break;
        }
        // Let the blocking prune finish.
        tokio::time::advance(Duration::from_millis(1)).await;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!fx.file(&key).exists());
    task.abort();
}
