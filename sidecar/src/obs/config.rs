//! `[obs]`: the obs-websocket connection, the scene files and the reconnection timings.

use std::path::PathBuf;

use serde::Deserialize;

/// `Debug` is in `redact.rs`: it never prints the password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObsConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub password: String,
    /// Directory of scene definitions (`*.toml`).
    pub scenes_dir: PathBuf,
    /// Record the program output while the show runs.
    pub record: bool,
    /// Switch the program to the main scene when the show starts.
    pub start_on_main: bool,
    /// Seconds between reconnection attempts while OBS is unreachable (doubles each time, up
    /// to `retry_max_secs`).
    pub retry_secs: f64,
    /// Longest wait between reconnection attempts: bounds how long a restarted OBS stays bare.
    pub retry_max_secs: f64,
    /// Seconds one obs-websocket request may take. An unanswered request (a frozen OBS) counts
    /// as a lost connection: the client is dropped and the controller reconnects.
    pub request_timeout_secs: f64,
    /// Seconds to open the WebSocket and finish obs-websocket's handshake.
    pub connect_timeout_secs: f64,
}

impl ObsConfig {
    /// Every duration must be a positive, finite number of seconds.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let durations = [
            ("retry_secs", self.retry_secs),
            ("retry_max_secs", self.retry_max_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
        ];
        for (key, secs) in durations {
            // Also caps at a day: Duration::from_secs_f64 panics on absurdly large values.
            if !(secs > 0.0 && secs <= 86_400.0) {
                return Err((
                    format!("obs.{key}"),
                    "must be a positive number of seconds (at most 86400)".into(),
                ));
            }
        }
        if self.retry_max_secs < self.retry_secs {
            return Err((
                "obs.retry_max_secs".into(),
                "must be at least obs.retry_secs".into(),
            ));
        }
        Ok(())
    }
}

impl Default for ObsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 4455,
            password: String::new(),
            scenes_dir: PathBuf::from("scenes"),
            record: false,
            start_on_main: true,
            retry_secs: 1.0,
            retry_max_secs: 2.0,
            request_timeout_secs: 3.0,
            connect_timeout_secs: 5.0,
        }
    }
}
