//! A target's run-time state: the state machine fed by OBS's output signals, the counters that
//! survive reconnects, the measured bitrate, and the status object every reply and event
//! carries. Pure Rust, driven by explicit instants so it is tested without OBS.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::{EncoderConfig, TargetConfig};

/// Bitrate is measured over this much history.
pub const BITRATE_WINDOW: Duration = Duration::from_secs(2);

/// `obs_output` stop codes (`obs-output.h`), for readable errors.
pub const OBS_OUTPUT_SUCCESS: i64 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Starting,
    Live,
    Reconnecting,
    Stopping,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Starting => "starting",
            State::Live => "live",
            State::Reconnecting => "reconnecting",
            State::Stopping => "stopping",
            State::Failed => "failed",
        }
    }

    /// Whether the output is (or is trying to be) on air, i.e. a start would be a no-op.
    pub fn is_running(self) -> bool {
        matches!(self, State::Starting | State::Live | State::Reconnecting)
    }
}

/// What happened to the output: our own requests and OBS's signals.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    StartRequested,
    /// The worker starts a failed target again on its own ([`RetryPolicy`]).
    Retry,
    /// `obs_output_start` refused at once (the error is already redacted).
    StartFailed(String),
    /// Signal `start`: connected, data flowing.
    Started,
    /// Signal `reconnect`: the connection dropped (or a retry failed); next try in that many s.
    Reconnect {
        timeout_secs: i64,
    },
    /// Signal `reconnect_success`.
    Reconnected,
    StopRequested,
    /// Signal `stopping`.
    Stopping,
    /// Signal `stop` with its code and OBS's last error (redacted), if any.
    Stopped {
        code: i64,
        error: Option<String>,
    },
}

/// The part of a target's state that changes while it runs.
#[derive(Debug)]
pub struct Runtime {
    pub state: State,
    pub last_error: String,
    pub reconnects: u64,
    /// Set by a stop request, so the `stop` signal that follows reads as "stopped", not "failed".
    stop_requested: bool,
    /// The stop code of the last failure (0: none).
    last_code: i64,
    live_since: Option<Instant>,
    bytes: Counter,
    frames: Counter,
    dropped: Counter,
    congestion: f64,
    /// `(when, bytes_sent)` samples of the last [`BITRATE_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            state: State::Idle,
            last_error: String::new(),
            reconnects: 0,
            stop_requested: false,
            last_code: 0,
            live_since: None,
            bytes: Counter::default(),
            frames: Counter::default(),
            dropped: Counter::default(),
            congestion: 0.0,
            samples: VecDeque::new(),
        }
    }
}

impl Runtime {
    /// Applies `what`; returns the reason to report when the state changed (every reconnect
    /// attempt counts as a change, so clients see the retries).
    pub fn apply(&mut self, what: Happening, now: Instant) -> Option<String> {
        let before = self.state;
        let reason = match what {
            Happening::StartRequested => {
                self.stop_requested = false;
                self.last_error.clear();
                self.last_code = 0;
                self.state = State::Starting;
                "start requested".to_string()
            }
            Happening::Retry => {
                self.stop_requested = false;
                self.reconnects += 1;
                self.state = State::Starting;
                // The old error stays visible until the target is live again.
                return Some(format!(
                    "retrying after a failure (attempt {}): {}",
                    self.reconnects, self.last_error
                ));
            }
            Happening::StartFailed(error) => {
                self.last_code = 0;
                self.state = State::Failed;
                self.last_error = error;
                format!("start failed: {}", self.last_error)
            }
            Happening::Started | Happening::Reconnected => {
                if self.stop_requested {
                    return None;
                }
                let reconnected = matches!(self.state, State::Reconnecting)
                    || (self.state == State::Starting && self.last_code != 0);
                self.state = State::Live;
                self.last_error.clear();
                self.last_code = 0;
                if self.live_since.is_none() {
                    self.live_since = Some(now);
                }
                if reconnected {
                    "reconnected".to_string()
                } else {
                    "connected".to_string()
                }
            }
            Happening::Reconnect { timeout_secs } => {
                self.reconnects += 1;
                self.state = State::Reconnecting;
                self.samples.clear();
                return Some(format!(
                    "connection lost, reconnecting in {timeout_secs} s (attempt {})",
                    self.reconnects
                ));
            }
            Happening::StopRequested => {
                self.stop_requested = true;
                self.state = State::Stopping;
                "stop requested".to_string()
            }
            Happening::Stopping => {
                self.state = State::Stopping;
                "stopping".to_string()
            }
            Happening::Stopped { code, error } => {
                self.live_since = None;
                self.samples.clear();
                self.congestion = 0.0;
                if code == OBS_OUTPUT_SUCCESS || self.stop_requested {
                    self.state = State::Idle;
                    "stopped".to_string()
                } else {
                    self.state = State::Failed;
                    self.last_code = code;
                    self.last_error = error.unwrap_or_else(|| stop_code_text(code).to_string());
                    format!("failed: {}", self.last_error)
                }
            }
        };
        (self.state != before).then_some(reason)
    }

    /// Whether the target failed in a way that trying again can cure: no connection, a lost
    /// connection libobs gave up on, an output error. Not a refused key or a bad URL.
    pub fn retryable(&self) -> bool {
        self.state == State::Failed && matches!(self.last_code, -2 | -4 | -5)
    }

    /// Records the output's counters (raw values, which OBS resets on every reconnect).
    pub fn sample(&mut self, now: Instant, bytes: u64, frames: u64, dropped: u64, congestion: f64) {
        self.bytes.observe(bytes);
        self.frames.observe(frames);
        self.dropped.observe(dropped);
        self.congestion = if congestion.is_finite() {
            congestion.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.samples.push_back((now, self.bytes.total()));
        // Keep one sample older than the window so the measurement spans all of it.
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= BITRATE_WINDOW {
            self.samples.pop_front();
        }
    }

    /// kbit/s over the sampled window (0 until two samples exist).
    pub fn bitrate_kbps(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 > t0 => {
                (b1.saturating_sub(b0) as f64) * 8.0 / 1000.0 / (t1 - t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// The status object (see the vendor API in the README); never contains the key.
    pub fn status(&self, config: &TargetConfig, now: Instant) -> Value {
        let (width, height, bitrate, keyint, kind) = match &config.encoder {
            EncoderConfig::Shared => (0, 0, 0, 0, "shared"),
            EncoderConfig::Own(e) => (e.width, e.height, e.bitrate_kbps, e.keyint_secs, "own"),
        };
        json!({
            "name": config.name,
            "server": config.server,
            "protocol": config.protocol.as_str(),
            "key_set": config.key.is_set(),
            "key_hint": config.key.hint(),
            "encoder": kind,
            "width": width,
            "height": height,
            "bitrate_kbps": bitrate,
            "keyint_secs": keyint,
            "with_main": config.with_main,
            "state": self.state.as_str(),
            "last_error": config.key.redact(&self.last_error),
            "bytes_sent": self.bytes.total(),
            "frames_sent": self.frames.total(),
            "frames_dropped": self.dropped.total(),
            "reconnects": self.reconnects,
            "bitrate_kbps_now": self.bitrate_kbps(),
            "congestion": self.congestion,
            "uptime_secs": self.live_since.map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
        })
    }
}

/// When the worker starts a failed target again. libobs reconnects only outputs that were
/// live; a target whose server was down when it started (or that libobs gave up on) would stay
/// failed for good, which an unattended stream cannot afford.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    delay: Duration,
    next: Option<Instant>,
}

impl RetryPolicy {
    pub const FIRST: Duration = Duration::from_secs(2);
    pub const MAX: Duration = Duration::from_secs(60);

    /// Back to the first delay (the target went live).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Called on every worker tick with whether the target is failed, retryable and wanted on
    /// air; true when a retry is due (then the next delay grows by half, up to [`Self::MAX`]).
    pub fn poll(&mut self, failed: bool, now: Instant) -> bool {
        if !failed {
            self.next = None;
            return false;
        }
        match self.next {
            None => {
                self.next = Some(now + self.delay);
                false
            }
            Some(at) if now >= at => {
                self.next = None;
                self.delay = self.delay.mul_f64(1.5).min(Self::MAX);
                true
            }
            Some(_) => false,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            delay: Self::FIRST,
            next: None,
        }
    }
}

/// A counter that OBS resets now and then (each reconnect starts a new connection): whenever
/// the raw value goes down, what was counted so far is banked.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter {
    banked: u64,
    last_raw: u64,
}

impl Counter {
    pub fn observe(&mut self, raw: u64) {
        if raw < self.last_raw {
            self.banked += self.last_raw;
        }
        self.last_raw = raw;
    }

    pub fn total(&self) -> u64 {
        self.banked + self.last_raw
    }
}

/// Text for an `obs_output` stop code when OBS gave no error message.
pub fn stop_code_text(code: i64) -> &'static str {
    match code {
        -1 => "bad path (check the server URL)",
        -2 => "could not connect to the server",
        -3 => "the server refused the stream (invalid stream key or path?)",
        -4 => "output error",
        -5 => "disconnected, gave up reconnecting",
        -6 => "unsupported by the server",
        -7 => "no space",
        -8 => "encoder error",
        _ => "stopped unexpectedly",
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
