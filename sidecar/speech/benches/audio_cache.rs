//! Audio cache latency and text normalisation cost.
//!
//! `cargo bench -p sidecar --bench audio_cache`
//!
//! * hit latency p50/p99, separately for the in-memory hot tier and the disk tier (a cache
//!   opened with `hot_bytes = 0`, so every hit reads and checksums the file; the OS page cache
//!   is warm, as it is for recently used clips in production);
//! * miss cost (a lookup of a key that is not there);
//! * put cost for a 3 s clip (encode, checksum, temp file + rename, index update);
//! * key cost (SHA-256 of the canonical encoding);
//! * `normalize_for_speech` and `segments` cost per 1000 characters of mixed chat text.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aivs_speech::cache::{AudioCache, CacheConfig, CacheKey, CacheKeyParts, CLIP_PIPELINE_VERSION};
use aivs_speech::textnorm::{normalize_for_speech, segments, DEFAULT_SEGMENT_MAX_CHARS};
use aivs_speech::{Clip, Prosody};

const CLIP_SAMPLES: usize = 3 * 48_000;

fn parts(i: usize) -> CacheKeyParts {
    CacheKeyParts {
        text: format!("谢谢第{i}位老板送的嘉年华，太感动了！"),
        engine: "gpt-sovits".into(),
        voice: "default".into(),
        engine_version: "v2".into(),
        prosody: Prosody::default(),
        pipeline_version: CLIP_PIPELINE_VERSION,
        loudness_dbfs: -20.0,
    }
}

fn clip(seed: usize) -> Clip {
    let mut x = seed as u32 | 1;
    Clip {
        samples: (0..CLIP_SAMPLES)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let tone = (i as f32 * 0.0577).sin() * 8000.0;
                (tone + (x % 2000) as f32 - 1000.0) as i16
            })
            .collect(),
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

fn report(label: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p99) = percentiles(samples);
    println!(
        "  {label:<34} p50 {:>10.1} µs   p99 {:>10.1} µs   (n = {n})",
        us(p50),
        us(p99)
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

const CHAT: &str = "**感谢**小明送的2个嘉年华🎉！！今天20:30有抽奖，价格¥9.9，库存还剩50%～ \
详情看 https://example.com/item?id=123456 哦。新品只要199元，原价¥299，满2件打8折，\
重量1.5kg，尺寸30cm×20cm，2026年11月22日前发货，客服电话400-123-4567。\
家人们666！主播身高170cm，体重50kg，今年25岁(≧▽≦) 欢迎新来的朋友们，点点关注不迷路~~ \
<b>限时</b>秒杀第3轮马上开始，一共100000份，先到先得！！！";

fn main() {
    println!(
        "audio cache (3 s clips, 48 kHz mono i16 = {} KiB each)",
        CLIP_SAMPLES * 2 / 1024
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CacheConfig {
        dir: dir.path().join("cache"),
        ..CacheConfig::default()
    };
    let cache = AudioCache::open(config.clone()).expect("open cache");
    let keys: Vec<CacheKey> = (0..200).map(|i| parts(i).key()).collect();
    let clips: Vec<Clip> = (0..200).map(clip).collect();

    // Put.
    let put: Vec<Duration> = keys
        .iter()
        .zip(&clips)
        .map(|(k, c)| timed(|| cache.put(k, c).expect("put")).1)
        .collect();

    // Hot tier: the 50 most recent clips (14 MiB) fit the default 32 MiB tier.
    let hot_keys = &keys[150..];
    let mut hot = Vec::with_capacity(100_000);
    for i in 0..100_000 {
        let key = &hot_keys[i % hot_keys.len()];
        let (got, t) = timed(|| cache.get(key));
        assert!(black_box(got).is_some());
        hot.push(t);
    }
    let stats = cache.stats();
    assert_eq!(stats.hits_disk, 0, "hot benchmark must not touch the disk");

    // Disk tier: a second view of the same directory without a hot tier.
    let cold = AudioCache::open(CacheConfig {
        hot_bytes: 0,
        ..config
    })
    .expect("reopen");
    let mut disk = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let key = &keys[i % keys.len()];
        let (got, t) = timed(|| cold.get(key));
        assert!(black_box(got).is_some());
        disk.push(t);
    }
    assert_eq!(cold.stats().hits_hot, 0);

    // Miss.
    let absent: Vec<CacheKey> = (1_000..11_000).map(|i| parts(i).key()).collect();
    let miss: Vec<Duration> = absent
        .iter()
        .map(|k| {
            let (got, t) = timed(|| cache.get(k));
            assert!(black_box(got).is_none());
            t
        })
        .collect();

    // Key.
    let p = parts(7);
    let (_, key_total) = timed(|| {
        for _ in 0..100_000 {
            black_box(black_box(&p).key());
        }
    });

    report("hit, hot tier", hot);
    report("hit, disk tier (read + checksum)", disk);
    report("miss", miss);
    report("put, 3 s clip", put);
    println!(
        "  {:<34} {:>10.2} µs",
        "key (SHA-256)",
        us(key_total) / 100_000.0
    );

    println!(
        "text normalisation (mixed chat text, {} chars)",
        CHAT.chars().count()
    );
    let text = CHAT.repeat(8);
    let chars = text.chars().count() as f64;
    for _ in 0..20 {
        black_box(normalize_for_speech(black_box(&text)));
    }
    let rounds = 300;
    let (_, norm) = timed(|| {
        for _ in 0..rounds {
            black_box(normalize_for_speech(black_box(&text)));
        }
    });
    let (_, seg) = timed(|| {
        for _ in 0..rounds {
            black_box(segments(black_box(&text), DEFAULT_SEGMENT_MAX_CHARS));
        }
    });
    let per_1000 = |d: Duration| us(d) / rounds as f64 / chars * 1000.0;
    println!(
        "  {:<34} {:>10.1} µs per 1000 chars",
        "normalize_for_speech",
        per_1000(norm)
    );
    println!(
        "  {:<34} {:>10.1} µs per 1000 chars",
        "segments (normalise + split)",
        per_1000(seg)
    );
    println!("  sample: {}", normalize_for_speech(CHAT));
}
