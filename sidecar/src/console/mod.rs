//! The operator's console: a page for a normal browser or an OBS custom browser dock, served
//! on loopback behind a token, with live updates and the controls a person needs to run the
//! show (pause, skip, veto, type a line, the human mic, triggers, push targets). The same
//! server answers Prometheus on `/metrics` and health checks on `/healthz` and `/readyz`.
//!
//! ```text
//!  page ──POST /api/control──▶ http ──ControlRequest──▶ show (carries it out, answers)
//!  page ◀──SSE /api/events─── http ◀── Panels = ShowView (watch, from the show)
//!                                       + sources, voice, OBS, avatar link, push (read here)
//! ```
//!
//! Modules: [`view`] (what is shown), [`control`] (what can be done), `http` (routes, the
//! token, the page), `health` (`/metrics`, `/readyz`). The show's half is
//! the show's `console` module (the show uses this module, never the other way round).

pub mod control;
mod health;
mod http;
pub mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::link::LinkHub;
use crate::obs::ObsController;
use crate::source::{IngestCounters, SourceStatuses};
use crate::speech::Voice;
pub use health::install_metrics;

/// The console's port by default (the avatar link is 7780).
pub const DEFAULT_PORT: u16 = 7790;

/// `[console]`. `Debug` never prints the token.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// Loopback by default; anything else is logged as a warning.
    pub bind: SocketAddr,
    /// What the page must present (env `AIVS_CONSOLE_TOKEN`; empty: a random one is made at
    /// start and written, in the console's address, to `url_file`).
    pub token: String,
    /// The scene the human mic control puts on program (empty: no such control).
    pub human_scene: String,
    /// Where the console's address with its token is written at start (relative to the
    /// config file; empty: next to the ledger, `console-url.txt`).
    pub url_file: PathBuf,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: String::new(),
            human_scene: String::new(),
            url_file: PathBuf::new(),
        }
    }
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("enabled", &self.enabled)
            .field("bind", &self.bind)
            .field("token", &"<redacted>")
            .field("human_scene", &self.human_scene)
            .field("url_file", &self.url_file)
            .finish()
    }
}

/// What the console reads besides the show's view.
#[derive(Clone)]
pub struct Readings {
    pub sources: SourceStatuses,
    pub rejected: IngestCounters,
    pub voice: Arc<Voice>,
    pub hub: LinkHub,
    pub obs: Option<ObsController>,
}

/// The show's ends of the console's channels (`Show::with_console`).
pub struct ConsoleTap {
    pub controls: mpsc::Receiver<control::ControlRequest>,
    pub view: watch::Sender<Arc<view::ShowView>>,
    /// `[console] human_scene` (empty: no human mic scene).
    pub human_scene: String,
}

/// The console's ends: the show takes the [`ConsoleTap`], the server the rest.
pub fn channels(
    config: &ConsoleConfig,
) -> (
    ConsoleTap,
    mpsc::Sender<control::ControlRequest>,
    watch::Receiver<Arc<view::ShowView>>,
) {
    let (control_tx, controls) = mpsc::channel(64);
    let (view, view_rx) = watch::channel(Arc::new(view::ShowView::default()));
    let tap = ConsoleTap {
        controls,
        view,
        human_scene: config.human_scene.clone(),
    };
    (tap, control_tx, view_rx)
}

/// Binds the console and returns its address and the server to spawn.
pub async fn bind(
    config: &ConsoleConfig,
    controls: mpsc::Sender<control::ControlRequest>,
    show: watch::Receiver<Arc<view::ShowView>>,
    readings: Readings,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    if !config.bind.ip().is_loopback() {
        tracing::warn!(bind = %config.bind, "the console is not on loopback: anyone who can reach it and knows the token can run the show");
    }
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let state = http::State::new(config.token.clone(), controls, show, readings);
    Ok((addr, http::serve(listener, state)))
}

/// Binds the console, spawns its server and writes its address (with the token) to the URL
/// file, readable by the user only. An empty token gets a random one: the operator opens the
/// address from that file (or pastes it as an OBS custom browser dock). Returns the show's
/// ends, or the error that kept the console from starting (the show goes on without it).
pub async fn start(
    config: &ConsoleConfig,
    default_url_file: &std::path::Path,
    readings: Readings,
) -> std::io::Result<ConsoleTap> {
    let mut config = config.clone();
    if config.token.is_empty() {
        config.token = format!("{:032x}", rand::random::<u128>());
    }
    let (tap, controls, show) = channels(&config);
    let (addr, server) = bind(&config, controls, show, readings).await?;
    tokio::spawn(server);
    let url_file = if config.url_file.as_os_str().is_empty() {
        default_url_file.to_path_buf()
    } else {
        config.url_file.clone()
    };
    write_private(
        &url_file,
        &format!("http://{addr}/?token={}\n", config.token),
    )?;
    tracing::info!(%addr, url_file = %url_file.display(), "operator console listening (its address with the token is in the file)");
    Ok(tap)
}

/// Writes `text` to `path`, readable and writable by the owner only where the OS has modes.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())
}
