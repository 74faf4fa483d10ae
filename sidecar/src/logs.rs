//! Where the process's logs go: human text on stderr (colours only on a terminal) and, when
//! `[log] dir` is set, JSON lines to a file rotated daily (the newest `keep_days` kept), every
//! line inside the show carrying the room (the `show` span's `room` field).
//!
//! The obws crate is pinned at warn whatever `RUST_LOG` says: its trace level would log
//! `set_targets` requests, stream keys included.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Directory for the JSON-lines file (`sidecar.YYYY-MM-DD.jsonl`); empty: no file.
    pub dir: PathBuf,
    /// Days of files kept.
    pub keep_days: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            keep_days: 7,
        }
    }
}

/// Keeps the file writer's thread alive: drop it last (it flushes what is queued).
#[must_use = "dropping the guard stops the log file's writer"]
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into())
        .add_directive("obws=warn".parse().expect("a valid directive"))
}

/// Sets up logging for the process. A log directory that cannot be used is reported on
/// stderr and the process goes on with the terminal only.
pub fn init(config: Option<&LogConfig>) -> LogGuard {
    let terminal = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    let mut problem = None;
    let (file, guard) = match config.filter(|c| !c.dir.as_os_str().is_empty()) {
        Some(c) => match open(c) {
            Ok((writer, guard)) => {
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer)
                    .with_filter(filter());
                (Some(layer), Some(guard))
            }
            Err(e) => {
                problem = Some(format!("{}: {e}", c.dir.display()));
                (None, None)
            }
        },
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(terminal)
        .with(file)
        .init();
    if let Some(problem) = problem {
        tracing::error!(%problem, "the log directory cannot be used; logging to the terminal only");
    }
    LogGuard { _writer: guard }
}

fn open(
    config: &LogConfig,
) -> Result<
    (
        tracing_appender::non_blocking::NonBlocking,
        tracing_appender::non_blocking::WorkerGuard,
    ),
    String,
> {
    std::fs::create_dir_all(&config.dir).map_err(|e| e.to_string())?;
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("sidecar")
        .filename_suffix("jsonl")
        .max_log_files(config.keep_days.max(1))
        .build(&config.dir)
        .map_err(|e| e.to_string())?;
    Ok(tracing_appender::non_blocking(appender))
}
