//! `sidecar record`: writes a live room to a replay file.
//!
//! Everything a source produces goes in, in arrival order: every raw upstream frame (base64,
//! exactly the bytes that came off the wire) and every normalized event *as the adapter
//! delivered it* — before de-duplication and with combo running totals unresolved — so that
//! playing the file through the show admits exactly what the live room would have. The file is
//! the [`super::replay`] format; `at_ms` counts from the start of the recording.
//!
//! A batch is acknowledged to the source once its lines are written and flushed, so a source
//! that acks upstream (Douyin `needAck`) only does so for what is on disk.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Delivery, RawFrame};
use aivs_core::event::LiveEvent;

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot write recording {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordingStats {
    pub events: u64,
    pub raw_frames: u64,
}

#[derive(Serialize)]
struct EventLine<'a> {
    at_ms: u64,
    event: &'a LiveEvent,
}

#[derive(Serialize)]
struct RawLine<'a> {
    at_ms: u64,
    raw: RawBody<'a>,
}

#[derive(Serialize)]
struct RawBody<'a> {
    platform: &'a str,
    b64: String,
}

/// Writes until both channels close (the source stopped) and returns what was written.
/// `header` becomes the `{"replay": …}` first line.
pub async fn record(
    path: &Path,
    header: serde_json::Value,
    mut deliveries: mpsc::Receiver<Delivery>,
    mut raw: mpsc::UnboundedReceiver<RawFrame>,
) -> Result<RecordingStats, RecorderError> {
    let io_err = |source| RecorderError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io_err)?);
    writeln!(out, "{}", serde_json::json!({ "replay": header })).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    let start = aivs_core::clock::now_ms();
    let mut stats = RecordingStats::default();
    let (mut deliveries_open, mut raw_open) = (true, true);
    while deliveries_open || raw_open {
        tokio::select! {
            // Raw frames first: a frame's bytes are sent before the events decoded from it.
            biased;
            frame = raw.recv(), if raw_open => match frame {
                Some(frame) => {
                    let line = RawLine {
                        at_ms: frame.at_ms.saturating_sub(start),
                        raw: RawBody {
                            platform: &frame.platform,
                            b64: base64::engine::general_purpose::STANDARD.encode(&frame.bytes),
                        },
                    };
                    write_line(&mut out, &line).map_err(io_err)?;
                    stats.raw_frames += 1;
                }
                None => raw_open = false,
            },
            delivery = deliveries.recv(), if deliveries_open => match delivery {
                Some(delivery) => {
                    let at_ms = aivs_core::clock::now_ms().saturating_sub(start);
                    for event in &delivery.events {
                        write_line(&mut out, &EventLine { at_ms, event }).map_err(io_err)?;
                        stats.events += 1;
                    }
                    out.flush().map_err(io_err)?;
                    if let Some(committed) = delivery.committed {
                        let _ = committed.send(());
                    }
                }
                None => deliveries_open = false,
            },
        }
    }
    out.flush().map_err(io_err)?;
    Ok(stats)
}

fn write_line(out: &mut impl Write, line: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Replay;
    use crate::EventSink;
    use aivs_core::event::{EventKind, Gift};

    #[tokio::test]
    async fn a_recording_plays_back_as_the_same_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rooms/rec.jsonl");
        let (tx, rx) = mpsc::channel(8);
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let sink = EventSink::new(tx).with_raw_recorder(raw_tx);
        let writer = tokio::spawn({
            let path = path.clone();
            async move { record(&path, serde_json::json!({"room": "t"}), rx, raw_rx).await }
        });
        let gift = LiveEvent {
            platform: "douyin".into(),
            msg_id: "1".into(),
            user: None,
            kind: EventKind::Gift(Gift {
                gift_id: "463".into(),
                gift_name: "小心心".into(),
                diamonds: 1,
                count: 0,
                price: None,
                message: None,
                combo: Some(aivs_core::event::ComboTotal {
                    key: "k".into(),
                    total: 3,
                    end: false,
                }),
            }),
        };
        sink.raw_frame("douyin", b"\x3a\x02hb");
        // `deliver` returns only once the line is on disk.
        sink.deliver(vec![gift.clone()], None).await.unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"total\":3"));
        drop(sink);
        let stats = writer.await.unwrap().unwrap();
        assert_eq!(
            stats,
            RecordingStats {
                events: 1,
                raw_frames: 1
            }
        );
        let replay = Replay::load(&path).unwrap();
        assert!(replay.rejected.is_empty(), "{:?}", replay.rejected);
        assert_eq!(replay.entries.len(), 1);
        assert_eq!(replay.entries[0].1, gift);
    }
}
