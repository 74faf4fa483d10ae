//! Replaying a recorded room (JSON Lines).
//!
//! Format: an optional header line `{"replay": {"version": 1, "room": "...", ...}}`, then one
//! event per line: `{"at_ms": 1200, "event": {<LiveEvent>}}` with `at_ms` relative to the start.
//! Files written by `sidecar record` (see [`super::recorder`]) also hold the raw upstream frames,
//! `{"at_ms": 1195, "raw": {"platform": "douyin", "b64": "..."}}`; playing a room skips them
//! (they are there to re-decode a session after a decoder fix, and for bug reports).
//! Blank lines and `#` comments are skipped. A malformed line is logged with its number and
//! skipped; the rest of the room still plays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::event::LiveEvent;
use crate::source::EventSink;

/// Replay entries whose commit may be outstanding at once.
const COMMIT_WINDOW: usize = 256;

#[derive(Debug, Deserialize)]
struct Entry {
    at_ms: u64,
    event: LiveEvent,
}

/// Lines that are not events: the header and raw frames.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // only recognised, not used, when playing
enum Other {
    Header { replay: serde_json::Value },
    Raw { at_ms: u64, raw: serde_json::Value },
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read replay {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A parsed replay, ready to play.
#[derive(Debug, Default)]
pub struct Replay {
    pub entries: Vec<(u64, LiveEvent)>,
    /// (line number, reason) of every line that was skipped.
    pub rejected: Vec<(usize, String)>,
}

impl Replay {
    pub fn load(path: &Path) -> Result<Self, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let mut replay = Replay::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => replay.entries.push((entry.at_ms, entry.event)),
                Err(_) if serde_json::from_str::<Other>(line).is_ok() => {}
                Err(e) => replay.rejected.push((i + 1, e.to_string())),
            }
        }
        // Recorded files are in order, but hand-edited ones may not be; stable sort keeps the
        // file order of simultaneous events.
        replay.entries.sort_by_key(|(at, _)| *at);
        replay
    }

    pub fn duration_ms(&self) -> u64 {
        self.entries.last().map_or(0, |(at, _)| *at)
    }

    /// Sends every event at its time (scaled by `speed`; infinite plays as fast as the show
    /// takes them), waiting for room in the channel. Returns the number of events sent; stops
    /// early if the show is gone.
    /// Plays the room into `sink`; returns how many entries were handed over. Returns once the
    /// last of them is committed (or the show stopped).
    pub async fn play(self, speed: f64, sink: EventSink) -> usize {
        for (line, reason) in &self.rejected {
            tracing::warn!(line, %reason, "replay line skipped");
        }
        let start = Instant::now();
        let mut sent = 0;
        // Commits awaited in order, up to a window of them in flight: a fast replay keeps the
        // show's group commits full, and the replay is over only once all of it is durable.
        let mut in_flight = std::collections::VecDeque::new();
        for (at_ms, event) in self.entries {
            if speed.is_finite() {
                let due = start + Duration::from_secs_f64(at_ms as f64 / 1_000.0 / speed);
                tokio::time::sleep_until(due).await;
            }
            let Ok(committed) = sink.submit(vec![event], None).await else {
                return sent;
            };
            in_flight.push_back(committed);
            if in_flight.len() >= COMMIT_WINDOW {
                let oldest = in_flight.pop_front().expect("window is full");
                if oldest.await.is_err() {
                    return sent;
                }
            }
            sent += 1;
        }
        for committed in in_flight {
            if committed.await.is_err() {
                break;
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    const ROOM: &str = r#"{"replay":{"version":1,"room":"test"}}
# a comment
{"at_ms":90,"raw":{"platform":"douyin","b64":"OgJoYg=="}}
{"at_ms":200,"event":{"platform":"replay","msg_id":"2","type":"follow","user":{"id":"u","name":"n"}}}
{"at_ms":100,"event":{"platform":"replay","msg_id":"1","type":"comment","text":"hi"}}
{"at_ms":300,"event":{"platform":"replay","msg_id":"3","type":"teleport"}}
not json
"#;

    #[test]
    fn malformed_lines_are_reported_and_the_rest_plays_in_order() {
        let replay = Replay::parse(ROOM);
        assert_eq!(
            replay
                .entries
                .iter()
                .map(|(_, e)| e.msg_id.as_str())
                .collect::<Vec<_>>(),
            vec!["1", "2"]
        );
        assert_eq!(
            replay.rejected.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![6, 7]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_sent_at_their_scaled_times() {
        let replay = Replay::parse(ROOM);
        let (tx, mut rx) = mpsc::channel(1);
        let start = Instant::now();
        let task = tokio::spawn(replay.play(2.0, EventSink::new(tx)));
        rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(task.await.unwrap(), 2);
    }

    #[test]
    fn the_shipped_sample_room_parses_cleanly() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/rooms/sample-room.jsonl");
        let replay = Replay::load(&path).unwrap();
        assert!(replay.rejected.is_empty(), "{:?}", replay.rejected);
        assert!(
            replay.duration_ms() >= 180_000,
            "sample room must be at least 3 minutes"
        );
    }
}
