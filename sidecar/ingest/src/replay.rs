//! Replaying a recorded room (JSON Lines).
//!
//! Format: an optional header line `{"replay": {"version": 1, "room": "...", ...}}`, then one
//! event per line: `{"at_ms": 1200, "event": {<LiveEvent>}}` with `at_ms` relative to the start.
//! Files written by `sidecar record` (see [`super::recorder`]) also hold the raw upstream frames,
//! `{"at_ms": 1195, "raw": {"platform": "douyin", "b64": "..."}}`; playing a room skips them
//! (they are there to re-decode a session after a decoder fix, and for bug reports).
//! Blank lines and `#` comments are skipped. A malformed line is logged with its number and
//! skipped; the rest of the room still plays.
//!
//! Absurd times reject the whole file, with the line: a negative `at_ms`, one more than
//! [`MAX_BACKWARDS_MS`] before an earlier line's (the file is not one recording), or more than
//! [`MAX_SPAN_MS`] (30 days) after the start (typically epoch milliseconds instead of time since
//! the start: the room would sit silent for decades).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::{EventSink, LiveSource, RoomConfig, SelectError, SourceKind, SourceSpec};
use aivs_core::event::LiveEvent;

/// Replay entries whose commit may be outstanding at once.
const COMMIT_WINDOW: usize = 256;
/// Latest time an event may have, relative to the start of the room.
pub const MAX_SPAN_MS: i64 = 30 * 24 * 3_600_000;
/// How far an event may lie before the latest one above it (hand-edited files are sorted, but
/// a jump back by more than this means two files were pasted together, or a typo).
pub const MAX_BACKWARDS_MS: i64 = 60_000;

#[derive(Debug, Deserialize)]
struct Entry {
    /// Signed so that a negative time is reported as such, not as a type error.
    at_ms: i64,
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
    #[error("replay {path}:{}: {}", .time.line, .time.reason)]
    Time { path: PathBuf, time: AbsurdTime },
}

/// A line whose `at_ms` cannot belong to a recorded room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct AbsurdTime {
    pub line: usize,
    pub reason: String,
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
        Self::parse(&text).map_err(|time| ReplayError::Time {
            path: path.to_path_buf(),
            time,
        })
    }

    pub fn parse(text: &str) -> Result<Self, AbsurdTime> {
        let mut replay = Replay::default();
        let mut latest: Option<i64> = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => {
                    let at_ms = check_time(entry.at_ms, latest).map_err(|reason| AbsurdTime {
                        line: i + 1,
                        reason,
                    })?;
                    latest = Some(latest.map_or(entry.at_ms, |l| l.max(entry.at_ms)));
                    replay.entries.push((at_ms, entry.event));
                }
                Err(_) if serde_json::from_str::<Other>(line).is_ok() => {}
                Err(e) => replay.rejected.push((i + 1, e.to_string())),
            }
        }
        // Recorded files are in order, but hand-edited ones may not be; stable sort keeps the
        // file order of simultaneous events.
        replay.entries.sort_by_key(|(at, _)| *at);
        Ok(replay)
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

/// A replay playing as a source: once through, then it ends (and is not restarted).
#[derive(Debug)]
pub struct ReplaySource {
    file: PathBuf,
    replay: Replay,
    speed: f64,
}

impl LiveSource for ReplaySource {
    type Error = std::convert::Infallible;

    fn describe(&self) -> String {
        format!("replay {}", self.file.display())
    }

    async fn run(self, sink: EventSink) -> Result<(), Self::Error> {
        // Give OBS and the avatar a moment to connect before the room starts talking.
        tokio::time::sleep(Duration::from_millis(500)).await;
        sink.source_up();
        self.replay.play(self.speed, sink).await;
        Ok(())
    }
}

/// `[room]`, or a `kind = "replay"` entry.
impl SourceSpec for RoomConfig {
    type Source = ReplaySource;
    const KIND: SourceKind = SourceKind::Replay;

    /// A replay stores no checkpoint (it always plays from the start; the ledger drops what it
    /// already has); the key only tells two replays apart.
    fn key(&self) -> String {
        format!("replay:{}", self.replay.display())
    }

    fn build(&self, _resume: Option<String>) -> Result<ReplaySource, SelectError> {
        let replay = Replay::load(&self.replay)?;
        tracing::info!(
            file = %self.replay.display(), events = replay.entries.len(),
            minutes = replay.duration_ms() as f64 / 60_000.0, speed = self.speed, "replaying room"
        );
        Ok(ReplaySource {
            file: self.replay.clone(),
            replay,
            speed: self.speed,
        })
    }

    fn restarts(&self) -> bool {
        false
    }
}

/// `at_ms` as a time to play at, or why it cannot be one (`latest`: the latest time so far).
fn check_time(at_ms: i64, latest: Option<i64>) -> Result<u64, String> {
    if at_ms < 0 {
        return Err(format!(
            "at_ms {at_ms} is negative (times count from the start of the room)"
        ));
    }
    if at_ms > MAX_SPAN_MS {
        return Err(format!(
            "at_ms {at_ms} is more than 30 days after the start of the room (epoch milliseconds \
             instead of milliseconds since the start?)"
        ));
    }
    if let Some(latest) = latest.filter(|&l| l - at_ms > MAX_BACKWARDS_MS) {
        return Err(format!(
            "at_ms {at_ms} goes back {} s from an earlier line's {latest} (two files pasted \
             together?)",
            (latest - at_ms) / 1_000
        ));
    }
    Ok(at_ms as u64)
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
        let replay = Replay::parse(ROOM).unwrap();
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
        let replay = Replay::parse(ROOM).unwrap();
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
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/rooms/sample-room.jsonl");
        let replay = Replay::load(&path).unwrap();
        assert!(replay.rejected.is_empty(), "{:?}", replay.rejected);
        assert!(
            replay.duration_ms() >= 180_000,
            "sample room must be at least 3 minutes"
        );
    }

    #[test]
    fn absurd_times_reject_the_file_with_their_line() {
        let event = r#""event":{"platform":"replay","msg_id":"1","type":"comment","text":"hi"}"#;
        let line = |at: &str| format!("{{\"at_ms\":{at},{event}}}");
        let cases = [
            (vec!["0", "-5"], 2, "negative"),
            (vec!["100", "200000", "# c", "100"], 4, "goes back 199 s"),
            (vec!["0", "1700000000000"], 2, "30 days"),
            (vec!["2592000001"], 1, "30 days"),
        ];
        for (times, bad_line, why) in cases {
            let text: Vec<String> = times
                .iter()
                .map(|t| {
                    if t.starts_with('#') {
                        t.to_string()
                    } else {
                        line(t)
                    }
                })
                .collect();
            let err = Replay::parse(&text.join("\n")).unwrap_err();
            assert_eq!(err.line, bad_line, "{times:?}: {err}");
            assert!(err.reason.contains(why), "{times:?}: {err}");
        }
        // Slightly out of order and up to 30 days long is fine.
        let fine = [line("5000"), line("1000"), line("2592000000")].join("\n");
        assert_eq!(Replay::parse(&fine).unwrap().entries.len(), 3);
    }

    #[test]
    fn loading_a_file_with_an_absurd_time_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("room.jsonl");
        let text = format!(
            "# header\n{}\n",
            r#"{"at_ms":-1,"event":{"platform":"replay","msg_id":"1","type":"follow","user":{"id":"u","name":"n"}}}"#
        );
        std::fs::write(&path, text).unwrap();
        let err = Replay::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("room.jsonl:2:") && err.contains("negative"),
            "{err}"
        );
    }
}
