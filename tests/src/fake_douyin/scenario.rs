//! A whole storm as the fake will send it: frames with cursors, bad frames, the faults the
//! server injects and when, and the ground truth.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::messages::{self, ResponseMeta};
use super::storm::{BadInput, Entry, StormBuilder, Truth};
use crate::protobuf_writer::ProtoWriter;

/// How much inflated data the gzip bomb holds: beyond the 4 MiB any client must cap at.
pub const GZIP_BOMB_INFLATED: usize = 5 * 1024 * 1024;

/// What to generate. Everything not given takes the [`Default`].
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    pub seed: u64,
    /// Frames in the storm, bad ones included.
    pub frames: usize,
    /// Pause between two frames.
    pub frame_interval: Duration,
    /// Times the server drops the TCP connection mid-storm.
    pub drops: usize,
    /// Times the server goes silent (no frames, no pings) for [`Self::stall_for`], counted
    /// from when the client has acked the last frame before the silence.
    pub stalls: usize,
    /// Longer than the client's stall timeout, so a client that does not notice is visible.
    pub stall_for: Duration,
    /// Frames the server sends twice in a row.
    pub duplicate_frames: usize,
    /// Put bad input (truncated frame and message, gzip bomb, invalid UTF-8, absurd count) in.
    pub bad_input: bool,
    /// Interval of the server's WebSocket pings.
    pub ping_every: Duration,
    /// After the storm, a viewer-count frame this often (a live room is never silent).
    pub idle_every: Duration,
    /// `Response.heartbeatDuration` in ms (0: not sent, the client keeps its own setting).
    pub heartbeat_ms: u64,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            frames: 200,
            frame_interval: Duration::from_millis(15),
            drops: 1,
            stalls: 1,
            stall_for: Duration::from_secs(8),
            duplicate_frames: 2,
            bad_input: true,
            ping_every: Duration::from_millis(700),
            idle_every: Duration::from_millis(1000),
            heartbeat_ms: 0,
        }
    }
}

/// Something the server does on its own after sending a given frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Closes the TCP connection without a WebSocket close.
    Drop,
    /// Sends nothing at all for `stall_for` (from when the client has caught up).
    Stall,
    /// Sends the same frame (same `logId`) again right away.
    DuplicateFrame,
}

/// How a frame is broken, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Normal,
    /// Cut short inside its payload: cannot be decoded, cannot be acked.
    Truncated,
    /// Its gzip payload inflates beyond 4 MiB: a client must refuse it, and cannot ack it.
    GzipBomb,
}

/// One frame of the storm, ready to send.
#[derive(Debug, Clone)]
pub struct StormFrame {
    /// 1-based position in the storm (`PushFrame.seqId`).
    pub seq: u64,
    pub log_id: u64,
    pub cursor: String,
    pub internal_ext: String,
    pub kind: FrameKind,
    /// The binary WebSocket message.
    pub bytes: Vec<u8>,
    /// `msgId`s of the messages inside (duplicates included).
    pub msg_ids: Vec<u64>,
}

impl StormFrame {
    /// A client can decode it and therefore must ack it.
    pub fn ackable(&self) -> bool {
        self.kind == FrameKind::Normal
    }
}

/// A generated storm. Same options, same storm, byte for byte.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub options: ScenarioOptions,
    /// The room's public id: the page is `GET /{web_rid}`.
    pub web_rid: String,
    /// The numeric id the page reveals and the WebSocket URL must carry.
    pub room_id: u64,
    pub frames: Vec<StormFrame>,
    /// Keyed by the `seq` of the frame after which the fault happens (once).
    pub faults: BTreeMap<u64, Fault>,
    pub truth: Truth,
    by_log_id: HashMap<u64, usize>,
}

impl Scenario {
    pub fn generate(options: ScenarioOptions) -> Self {
        let mut rng = StdRng::seed_from_u64(options.seed);
        let room_id = 7_300_000_000_000_000_000 + rng.random_range(0..100_000_000_000_000_000u64);
        let web_rid = rng
            .random_range(100_000_000_000u64..1_000_000_000_000)
            .to_string();
        let t0_ms = 1_750_000_000_000 + rng.random_range(0..10_000_000_000u64);
        let frames = options.frames.max(1);

        // Frame-level bad input at 30 % and 60 % of the storm.
        let mut bad_frames = BTreeMap::new();
        if options.bad_input && frames >= 10 {
            bad_frames.insert(frames as u64 * 3 / 10, BadInput::TruncatedFrame);
            bad_frames.insert(frames as u64 * 6 / 10, BadInput::GzipBomb);
        }
        let normal_frames = frames - bad_frames.len();

        let mut storm = StormBuilder::new(&mut rng, room_id, t0_ms);
        storm.fill(normal_frames * 3 + 8, options.bad_input);
        storm.roughen();
        // Orphan gifts for the bad frames, made before the builder lets go of the rng.
        let mut orphans: BTreeMap<u64, (u64, Vec<u8>)> = BTreeMap::new();
        for (seq, kind) in &bad_frames {
            storm.note_bad_frame(*kind);
            orphans.insert(*seq, storm.orphan_gift(2));
        }
        let (stream, truth) = storm.finish();
        let chunks = split(&mut rng, stream, normal_frames);

        let mut chunks = chunks.into_iter();
        let mut out = Vec::with_capacity(frames);
        let mut log_id = rng.random_range(1u64 << 60..1u64 << 61);
        let did = rng.random_range(7_000_000_000_000_000_000u64..7_100_000_000_000_000_000);
        for seq in 1..=frames as u64 {
            log_id += rng.random_range(1..1_000_000);
            let now_ms = t0_ms + seq * options.frame_interval.as_millis() as u64;
            let (cursor, internal_ext) = frame_ids(room_id, did, t0_ms, now_ms, seq, log_id);
            let meta = ResponseMeta {
                cursor: &cursor,
                internal_ext: &internal_ext,
                now_ms,
                heartbeat_ms: options.heartbeat_ms,
            };
            let (kind, bytes, msg_ids) = match bad_frames.get(&seq) {
                Some(bad) => {
                    let (msg_id, payload) = &orphans[&seq];
                    let gift = messages::message(messages::GIFT, payload, *msg_id);
                    let (kind, bytes) = bad_frame(*bad, seq, log_id, &gift, &meta);
                    (kind, bytes, vec![*msg_id])
                }
                None => {
                    let entries = chunks.next().unwrap_or_default();
                    let list: Vec<ProtoWriter> =
                        entries.iter().map(|e| e.message.clone()).collect();
                    let payload = messages::gzip(messages::response(&list, &meta).as_bytes());
                    let bytes = messages::push_frame(seq, log_id, &cursor, &payload);
                    let ids = entries.iter().map(|e| e.msg_id).collect();
                    (FrameKind::Normal, bytes, ids)
                }
            };
            out.push(StormFrame {
                seq,
                log_id,
                cursor,
                internal_ext,
                kind,
                bytes,
                msg_ids,
            });
        }

        let faults = schedule_faults(&mut rng, &options, &bad_frames, frames as u64);
        let by_log_id = out.iter().enumerate().map(|(i, f)| (f.log_id, i)).collect();
        Self {
            options,
            web_rid,
            room_id,
            frames: out,
            faults,
            truth,
            by_log_id,
        }
    }

    /// A room written by hand: one frame per entry of `frames`, each holding those messages,
    /// sent `frame_interval` apart; no faults, no bad input. The truth stays empty: the caller
    /// knows what it sent. Messages should carry `room_id` in their `Common`.
    pub fn scripted(room_id: u64, frame_interval: Duration, frames: Vec<Vec<Scripted>>) -> Self {
        let options = ScenarioOptions {
            frames: frames.len(),
            frame_interval,
            drops: 0,
            stalls: 0,
            duplicate_frames: 0,
            bad_input: false,
            ..ScenarioOptions::default()
        };
        let (t0_ms, did) = (1_750_000_000_000, 7_050_000_000_000_000_000);
        let mut out = Vec::with_capacity(frames.len());
        for (seq, messages) in (1u64..).zip(frames) {
            let log_id = (1u64 << 60) + seq * 1_000;
            let now_ms = t0_ms + seq * frame_interval.as_millis() as u64;
            let (cursor, internal_ext) = frame_ids(room_id, did, t0_ms, now_ms, seq, log_id);
            let meta = ResponseMeta {
                cursor: &cursor,
                internal_ext: &internal_ext,
                now_ms,
                heartbeat_ms: 0,
            };
            let list: Vec<ProtoWriter> = messages
                .iter()
                .map(|m| messages::message(m.method, &m.payload, m.msg_id))
                .collect();
            let payload = messages::gzip(messages::response(&list, &meta).as_bytes());
            out.push(StormFrame {
                seq,
                log_id,
                bytes: messages::push_frame(seq, log_id, &cursor, &payload),
                cursor,
                internal_ext,
                kind: FrameKind::Normal,
                msg_ids: messages.iter().map(|m| m.msg_id).collect(),
            });
        }
        let by_log_id = out.iter().enumerate().map(|(i, f)| (f.log_id, i)).collect();
        Self {
            options,
            web_rid: (100_000_000_000 + room_id % 900_000_000_000).to_string(),
            room_id,
            frames: out,
            faults: BTreeMap::new(),
            truth: Truth::default(),
            by_log_id,
        }
    }

    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Where a client resuming with `cursor` continues: `Some(0)` for an empty cursor, the
    /// index of the frame that carried `cursor` otherwise (that frame is sent again, on
    /// purpose: a duplicate the client must absorb), `None` for a cursor this storm never sent
    /// (the server then treats the connection as a first one).
    pub fn resume_index(&self, cursor: &str) -> Option<usize> {
        if cursor.is_empty() {
            return Some(0);
        }
        self.frames.iter().position(|f| f.cursor == cursor)
    }

    /// The frame with this `logId`.
    pub fn frame_by_log_id(&self, log_id: u64) -> Option<&StormFrame> {
        self.by_log_id.get(&log_id).map(|i| &self.frames[*i])
    }
}

/// One message of a [`Scenario::scripted`] frame: `Message { method, payload, msgId }`.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub method: &'static str,
    pub msg_id: u64,
    /// The encoded message (e.g. [`messages::gift`]).
    pub payload: Vec<u8>,
}

/// A frame's cursor and `internalExt`, shaped like the real service's.
fn frame_ids(
    room_id: u64,
    did: u64,
    t0_ms: u64,
    now_ms: u64,
    seq: u64,
    log_id: u64,
) -> (String, String) {
    let cursor = format!("r-{log_id}_d-1_u-1_fh-{seq}_t-{now_ms}");
    let internal_ext = format!(
        "internal_src:dim|wss_push_room_id:{room_id}|wss_push_did:{did}\
         |first_req_ms:{t0_ms}|fetch_time:{now_ms}|seq:{seq}|wss_info:0-{now_ms}-0-0"
    );
    (cursor, internal_ext)
}

/// Cuts the stream into `parts` non-empty chunks of random sizes, in order.
fn split(rng: &mut StdRng, stream: Vec<Entry>, parts: usize) -> Vec<Vec<Entry>> {
    if parts == 0 {
        return Vec::new();
    }
    let len = stream.len();
    let mut cuts: Vec<usize> = rand::seq::index::sample(rng, len - 1, parts - 1)
        .into_iter()
        .map(|i| i + 1)
        .collect();
    cuts.sort_unstable();
    cuts.push(len);
    let mut out = Vec::with_capacity(parts);
    let mut rest = stream.into_iter();
    let mut at = 0;
    for cut in cuts {
        out.push(rest.by_ref().take(cut - at).collect());
        at = cut;
    }
    out
}

/// A bad frame around one orphan gift (see [`FrameKind`]).
fn bad_frame(
    bad: BadInput,
    seq: u64,
    log_id: u64,
    gift: &ProtoWriter,
    meta: &ResponseMeta,
) -> (FrameKind, Vec<u8>) {
    let response = messages::response(std::slice::from_ref(gift), meta);
    match bad {
        BadInput::GzipBomb => {
            // A valid Response with a gift, padded in an unknown field: a client without a size
            // cap would decode it and count the gift, which the truth does not contain.
            let mut padded = response;
            padded.raw_bytes(100, &vec![0u8; GZIP_BOMB_INFLATED]);
            let payload = messages::gzip(padded.as_bytes());
            let frame = messages::push_frame(seq, log_id, meta.cursor, &payload);
            (FrameKind::GzipBomb, frame)
        }
        _ => {
            // The payload is the frame's last field: cutting into it leaves a length prefix
            // that claims more bytes than follow.
            let payload = messages::gzip(response.as_bytes());
            let mut frame = messages::push_frame(seq, log_id, meta.cursor, &payload);
            frame.truncate(frame.len() - payload.len() / 2);
            (FrameKind::Truncated, frame)
        }
    }
}

/// Faults at distinct frames between 10 % and 85 % of the storm, never at a bad frame.
fn schedule_faults(
    rng: &mut StdRng,
    options: &ScenarioOptions,
    bad_frames: &BTreeMap<u64, BadInput>,
    frames: u64,
) -> BTreeMap<u64, Fault> {
    let wanted = [
        (Fault::Drop, options.drops),
        (Fault::Stall, options.stalls),
        (Fault::DuplicateFrame, options.duplicate_frames),
    ];
    let (lo, hi) = ((frames / 10).max(1), (frames * 85 / 100).max(1));
    let mut faults = BTreeMap::new();
    for (fault, n) in wanted {
        for _ in 0..n {
            // Bounded: a storm too short for all faults gets as many as fit.
            for _ in 0..1000 {
                let seq = rng.random_range(lo..=hi);
                if !faults.contains_key(&seq) && !bad_frames.contains_key(&seq) {
                    faults.insert(seq, fault);
                    break;
                }
            }
        }
    }
    faults
}
