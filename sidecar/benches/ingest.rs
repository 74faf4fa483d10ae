//! Douyin ingestion: frame decode + normalize + exactly-once admission, on one core.
//!
//! `cargo bench -p sidecar --bench ingest` — plain `main` (harness = false). It builds a storm of
//! realistic gzip-compressed `PushFrame`s (20 messages each: comments, likes, entries, follows,
//! viewer counts and gift combos with running totals, 3 % duplicates) and prints:
//!
//! 1. **decode + normalize** throughput: frame bytes → `LiveEvent`s (what the adapter does);
//! 2. **end to end** throughput: the same plus the ledger's admission transaction per frame
//!    (de-duplication, combo running totals → increments, checkpoint) on a real SQLite file in
//!    WAL mode: the point where the show hands events to the scheduler;
//! 3. **latency at 20 000 events/s**: frames paced at 1 000 frames/s for 5 s; each frame's time
//!    from its arrival instant to its events being admitted, p50 / p99 / max;
//! 4. **memory** under a sustained storm: resident set before and after 1 000 000 events.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use prost::Message as _;
use sidecar::event::{EventKind, LiveEvent};
use sidecar::ledger::Ledger;
use sidecar::rewards::tiers::Tier;
use sidecar::source::douyin::frame::decode_frame_to_events;
use sidecar::source::douyin::normalize::Normalizer;
use sidecar::source::douyin::proto;

const MESSAGES_PER_FRAME: usize = 20;

fn main() {
    let frames = storm(5_000, 0);
    let events_total = (frames.len() * MESSAGES_PER_FRAME) as f64;
    let bytes: usize = frames.iter().map(Vec::len).sum();
    println!(
        "douyin ingestion: {} frames, {} messages, {:.1} MB on the wire",
        frames.len(),
        events_total,
        bytes as f64 / 1e6
    );

    // 1. decode + normalize
    let mut best = f64::MAX;
    let mut produced = 0;
    for _ in 0..3 {
        let mut normalizer = Normalizer::new();
        let start = Instant::now();
        produced = 0;
        for frame in &frames {
            produced += decode_frame_to_events(frame, &mut normalizer)
                .expect("valid frame")
                .events
                .len();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "  decode + normalize      {:>10.0} events/s  ({} events out, duplicates removed)",
        events_total / best,
        produced
    );

    // 2. end to end through the ledger
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("bench.sqlite3")).unwrap();
    let mut normalizer = Normalizer::new();
    let start = Instant::now();
    let mut fresh_gifts = 0u64;
    for (i, frame) in frames.iter().enumerate() {
        fresh_gifts += admit_frame(&ledger, &mut normalizer, frame, i);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  + ledger admission      {:>10.0} events/s  ({fresh_gifts} gift increments recorded)",
        events_total / secs
    );

    // 3. latency at 20 000 events/s
    let paced = storm(5_000, 1);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("paced.sqlite3")).unwrap();
    let mut normalizer = Normalizer::new();
    let period = Duration::from_secs(1) / 1_000; // 1 000 frames × 20 events
    let mut latencies = Vec::with_capacity(paced.len());
    let start = Instant::now();
    for (i, frame) in paced.iter().enumerate() {
        let arrival = start + period * i as u32;
        while Instant::now() < arrival {
            std::hint::spin_loop();
        }
        admit_frame(&ledger, &mut normalizer, frame, i);
        latencies.push(arrival.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "  latency @ 20k events/s  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  (frame arrival → events admitted)",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*latencies.last().unwrap())
    );

    // 4. memory under a sustained storm
    let before = rss_kib();
    let mut normalizer = Normalizer::new();
    let mut round = 0;
    while round * frames.len() * MESSAGES_PER_FRAME < 1_000_000 {
        // Fresh message ids every round, so the de-duplication memory is exercised.
        for frame in storm(1_000, 100 + round as u64) {
            let _ = decode_frame_to_events(&frame, &mut normalizer);
        }
        round += 1;
        if round * 1_000 * MESSAGES_PER_FRAME >= 1_000_000 {
            break;
        }
    }
    let after = rss_kib();
    println!(
        "  memory                  RSS {} MiB before, {} MiB after 1 000 000 more events (peak {} MiB)",
        before.0 / 1024,
        after.0 / 1024,
        after.1 / 1024
    );
}

/// Decodes one frame and admits its events in one ledger transaction; returns gift increments.
fn admit_frame(ledger: &Ledger, normalizer: &mut Normalizer, frame: &[u8], i: usize) -> u64 {
    let decoded = decode_frame_to_events(frame, normalizer).expect("valid frame");
    let checkpoint = format!("{{\"cursor\":\"c-{i}\"}}");
    let admitted = ledger
        .admit(
            decoded.events,
            Some(("douyin:bench", &checkpoint)),
            &|_| Tier::Small,
            i as u64,
        )
        .unwrap();
    admitted
        .iter()
        .filter(|a| {
            matches!(
                a,
                sidecar::ledger::Admission::Fresh(LiveEvent {
                    kind: EventKind::Gift(_),
                    ..
                })
            )
        })
        .count() as u64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (VmRSS, VmHWM) in KiB, from /proc (0 where unavailable).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `frames` gzip-compressed push frames; `seed` makes message ids distinct between storms.
fn storm(frames: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut next_id = seed * 100_000_000 + 7_300_000_000_000_000_000 / 1_000;
    let mut combos: Vec<(u64, u64, u64)> = Vec::new(); // (user, group, taps so far)
    let mut out = Vec::with_capacity(frames);
    let mut recent: Vec<proto::Message> = Vec::new();
    for f in 0..frames {
        let mut messages = Vec::with_capacity(MESSAGES_PER_FRAME);
        for m in 0..MESSAGES_PER_FRAME {
            next_id += 1;
            let k = (f * MESSAGES_PER_FRAME + m) as u64;
            // 3 % exact re-deliveries of a recent message.
            if k.is_multiple_of(33) && !recent.is_empty() {
                messages.push(recent[(k as usize / 33) % recent.len()].clone());
                continue;
            }
            let user = k % 5_000;
            let message = match k % 20 {
                0..=9 => message(
                    "WebcastChatMessage",
                    next_id,
                    proto::ChatMessage {
                        common: Some(common(next_id)),
                        user: Some(viewer(user)),
                        content: format!("主播好呀，今天唱什么歌？{k}"),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
                10..=13 => message(
                    "WebcastLikeMessage",
                    next_id,
                    proto::LikeMessage {
                        common: Some(common(next_id)),
                        count: 3,
                        total: k,
                        user: Some(viewer(user)),
                    }
                    .encode_to_vec(),
                ),
                14 | 15 => message(
                    "WebcastMemberMessage",
                    next_id,
                    proto::MemberMessage {
                        common: Some(common(next_id)),
                        user: Some(viewer(user)),
                        member_count: k,
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
                16 => message(
                    "WebcastSocialMessage",
                    next_id,
                    proto::SocialMessage {
                        common: Some(common(next_id)),
                        user: Some(viewer(user)),
                        action: 1,
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
                17 => message(
                    "WebcastRoomUserSeqMessage",
                    next_id,
                    proto::RoomUserSeqMessage {
                        common: Some(common(next_id)),
                        total: 1_000 + k,
                        total_user: 50_000 + k,
                    }
                    .encode_to_vec(),
                ),
                _ => {
                    // Gift combos: a running repeatCount per (user, group), 8 taps each.
                    if combos.len() < 50 {
                        combos.push((user, next_id, 0));
                    }
                    let slot = (k as usize / 20) % combos.len();
                    let combo = &mut combos[slot];
                    combo.2 += 1;
                    let (giver, group, taps) = *combo;
                    if taps >= 8 {
                        combos.swap_remove(slot);
                    }
                    message(
                        "WebcastGiftMessage",
                        next_id,
                        proto::GiftMessage {
                            common: Some(common(next_id)),
                            gift_id: 463,
                            group_count: 1,
                            repeat_count: taps,
                            user: Some(viewer(giver)),
                            repeat_end: u32::from(taps >= 8),
                            group_id: group,
                            gift: Some(proto::GiftStruct {
                                id: 463,
                                combo: true,
                                diamond_count: 1,
                                name: "小心心".into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }
                        .encode_to_vec(),
                    )
                }
            };
            if recent.len() < 64 {
                recent.push(message.clone());
            } else {
                recent[k as usize % 64] = message.clone();
            }
            messages.push(message);
        }
        let response = proto::Response {
            messages_list: messages,
            cursor: format!("c-{f}"),
            internal_ext: format!("internal_src:dim|wss_push_room_id:7000|fetch_time:{f}"),
            need_ack: true,
            ..Default::default()
        };
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&response.encode_to_vec()).unwrap();
        let frame = proto::PushFrame {
            seq_id: f as u64,
            log_id: f as u64 + 1,
            headers_list: vec![proto::HeadersList {
                key: "compress_type".into(),
                value: "gzip".into(),
            }],
            payload_type: "msg".into(),
            payload: gz.finish().unwrap(),
            ..Default::default()
        };
        out.push(frame.encode_to_vec());
    }
    out
}

fn message(method: &str, id: u64, payload: Vec<u8>) -> proto::Message {
    proto::Message {
        method: method.into(),
        payload,
        msg_id: id as i64,
        ..Default::default()
    }
}

fn common(id: u64) -> proto::Common {
    proto::Common {
        msg_id: id,
        room_id: 7_000,
        create_time: id,
        ..Default::default()
    }
}

fn viewer(user: u64) -> proto::User {
    proto::User {
        id: 1_000_000 + user,
        nick_name: format!("观众{user}"),
        id_str: (1_000_000 + user).to_string(),
        ..Default::default()
    }
}
