//! Runs a headless OBS Studio (Xvfb + private config) until Ctrl-C or SIGTERM, for the demo
//! script and for manual poking with any obs-websocket client.
//!
//! Prints `KEY=VALUE` lines that a shell can parse once OBS is ready:
//! `OBS_WS=127.0.0.1:PORT`, `OBS_WS_PASSWORD=...` (only when it made the password up: it takes
//! one from the environment variable `OBS_WS_PASSWORD`, never from its command line),
//! `OBS_HOME=...`, `OBS_RECORDING_DIR=...`,
//! `OBS_DISPLAY=...`, then `OBS_READY=1` last.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
#[cfg(unix)]
use e2e::{HeadlessObs, ObsOptions, PluginFiles, StreamTarget};
#[cfg(unix)]
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(about = "Run OBS Studio headless with obs-websocket enabled")]
struct Args {
    /// obs-websocket port (0 = pick a free one).
    #[arg(long, env = "OBS_WS_PORT", default_value_t = 4455)]
    ws_port: u16,
    /// obs-websocket password: from the environment variable OBS_WS_PASSWORD only (a command
    /// line is visible to every user); random if unset, and then printed.
    #[arg(skip = std::env::var("OBS_WS_PASSWORD").unwrap_or_default())]
    ws_password: String,
    /// Directory for recordings (default: inside the private OBS home).
    #[arg(long)]
    recording_dir: Option<PathBuf>,
    /// Install this workspace's OBS plugin built with this cargo profile (`debug`, `release`).
    #[arg(long)]
    plugin_profile: Option<String>,
    /// Canvas width.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Canvas height.
    #[arg(long, default_value_t = 360)]
    height: u32,
    /// Use an existing X display instead of starting Xvfb.
    #[arg(long)]
    display: Option<String>,
    /// Custom RTMP server to stream to (e.g. rtmp://127.0.0.1:1935/live).
    #[arg(long)]
    stream_server: Option<String>,
    /// Stream key for --stream-server.
    #[arg(long, default_value = "test", requires = "stream_server")]
    stream_key: String,
    /// Seconds to wait for obs-websocket.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Extra arguments passed to obs (e.g. --startstreaming), after `--`.
    #[arg(last = true)]
    obs_args: Vec<String>,
}

// Xvfb and signals: a headless OBS is a Unix thing; elsewhere the binary only says so.
#[cfg(not(unix))]
fn main() {
    eprintln!("headless-obs runs OBS under Xvfb: Unix only");
    std::process::exit(2);
}

#[cfg(unix)]
#[tokio::main]
async fn main() -> Result<()> {
    tracing_init();
    let args = Args::parse();
    let plugin = args
        .plugin_profile
        .as_deref()
        .map(PluginFiles::from_workspace)
        .transpose()?;
    // The caller who set the password knows it; print only one we made up.
    let print_password = args.ws_password.is_empty();
    let opts = ObsOptions {
        ws_port: args.ws_port,
        ws_password: args.ws_password,
        width: args.width,
        height: args.height,
        recording_dir: args.recording_dir,
        plugin,
        display: args.display,
        startup_timeout: Duration::from_secs(args.timeout_secs),
        stream: args.stream_server.map(|server| StreamTarget {
            server,
            key: args.stream_key,
        }),
        extra_args: args.obs_args,
        ..ObsOptions::default()
    };
    let mut obs = HeadlessObs::start(opts).await?;
    println!("OBS_WS=127.0.0.1:{}", obs.ws_port());
    if print_password {
        println!("OBS_WS_PASSWORD={}", obs.ws_password());
    }
    println!("OBS_HOME={}", obs.home().display());
    println!("OBS_RECORDING_DIR={}", obs.recording_dir().display());
    println!("OBS_DISPLAY={}", obs.display());
    println!("OBS_READY=1");
    eprintln!(
        "OBS ready after {:.1} s; Ctrl-C to stop",
        obs.startup_time().as_secs_f64()
    );

    // Scripts stop us with SIGTERM, people with Ctrl-C; both must shut OBS down cleanly.
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = watchdog.tick() => {
                // A crashed OBS must end the demo visibly instead of leaving a dead endpoint.
                if let Some(status) = obs.try_exit_status()? {
                    anyhow::bail!("OBS exited unexpectedly ({status})\n{}", obs.diagnostics());
                }
            }
        }
    }
    eprintln!("stopping OBS");
    tokio::task::spawn_blocking(move || obs.stop()).await??;
    Ok(())
}

/// Logs go to stderr so stdout stays machine-readable; `RUST_LOG=e2e=debug` shows more.
fn tracing_init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // No colour escapes in the log files the demo script redirects stderr to.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_not_a_command_line_option() {
        assert!(Args::try_parse_from(["headless-obs", "--ws-password", "x"]).is_err());
    }

    /// No script hands a secret to a program on its command line (visible in `ps` to every
    /// user): the flags that would carry one must not appear in any of them.
    #[test]
    fn no_script_passes_a_secret_on_a_command_line() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("scripts"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sh"))
            .collect();
        scripts.push(root.join(".ci/run"));
        let flags = [
            "--ws-password",
            "--password",
            "--token ",
            "--token=",
            "--api-key",
            "--secret",
        ];
        for script in scripts.iter().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(script).unwrap();
            for (n, line) in text.lines().enumerate() {
                for flag in flags {
                    assert!(
                        !line.contains(flag),
                        "{}:{}: passes {flag} on a command line",
                        script.display(),
                        n + 1
                    );
                }
            }
        }
        assert!(scripts.len() >= 3, "{scripts:?}");
    }
}
