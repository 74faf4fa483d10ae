//! The link client: keeps a WebSocket connection to the sidecar and relays its traffic.
//!
//! A dedicated thread runs a single-threaded tokio runtime (OBS threads must never block on
//! the network). It connects to `link_url`, has the server prove it knows `link_token` (the
//! challenge of [`avatar_link::auth`]: the token itself never leaves the plugin, and nothing is
//! sent to a server that cannot prove it), proves the same in return, says hello, feeds commands
//! and audio to the clock thread, and sends the clock's reports back. (A sidecar from before the
//! challenge answers 401 without a proof: plugin and sidecar are updated together.)
//! When the connection fails it retries on its own with a backoff; when the settings change
//! it reconnects with the new ones; dropping the settings channel shuts it down.
//!
//! If the sidecar goes away mid-utterance the clock is told ([`ClockInput::LinkLost`]) so the
//! audio already received still plays out instead of waiting for chunks that will never come.
//! Reports produced while disconnected are dropped: a new sidecar session starts from scratch.

mod session;

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use avatar_link::client::{self, ConnectError as HandshakeError};
use avatar_link::Report;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::http::StatusCode;

use self::session::{SessionEnd, Socket};
use crate::clock::ClockInput;
use crate::guard;
use crate::log::{log_error, log_info, log_warn};
use avatar_link::backoff::Backoff;

pub use self::session::command_to_input;

/// Where the sidecar listens by default.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:7780/avatar";
/// Name in the hello; the sidecar logs it.
const CLIENT_NAME: &str = "obs-plugin";
/// A connection attempt that takes longer than this is abandoned and retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings (the `link_url` and `link_token` properties).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct LinkSettings {
    pub url: String,
    pub token: String,
}

impl fmt::Debug for LinkSettings {
    /// Never prints the token: settings end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSettings")
            .field("url", &self.url)
            .field(
                "token",
                &if self.token.is_empty() {
                    "<none>"
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// Connection state, shown in the source's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkStatus {
    Connecting = 0,
    Connected = 1,
    Disconnected = 2,
    /// The sidecar rejected the token (HTTP 401/403), or the server on the port could not prove
    /// that it knows the token (a different token, or not our sidecar).
    Unauthorized = 3,
}

/// [`LinkStatus`] shared between the link thread and OBS's UI thread.
#[derive(Debug)]
pub struct SharedStatus(AtomicU8);

impl SharedStatus {
    fn new() -> Self {
        Self(AtomicU8::new(LinkStatus::Connecting as u8))
    }

    fn set(&self, status: LinkStatus) {
        self.0.store(status as u8, Ordering::Relaxed);
    }

    pub fn get(&self) -> LinkStatus {
        match self.0.load(Ordering::Relaxed) {
            1 => LinkStatus::Connected,
            2 => LinkStatus::Disconnected,
            3 => LinkStatus::Unauthorized,
            _ => LinkStatus::Connecting,
        }
    }
}

/// Handle of the link thread. Stopping (or dropping) it closes the connection and joins.
pub struct LinkClient {
    settings: Option<watch::Sender<LinkSettings>>,
    status: Arc<SharedStatus>,
    handle: Option<JoinHandle<()>>,
}

impl LinkClient {
    /// Starts connecting. `inputs` goes to the clock; `reports` comes from it.
    pub fn spawn(
        settings: LinkSettings,
        inputs: Sender<ClockInput>,
        reports: mpsc::UnboundedReceiver<Report>,
    ) -> std::io::Result<Self> {
        let (settings_tx, settings_rx) = watch::channel(settings);
        let status = Arc::new(SharedStatus::new());
        let thread_status = Arc::clone(&status);
        let handle = std::thread::Builder::new()
            .name("ai-avatar-link".into())
            .spawn(move || thread_main(settings_rx, inputs, reports, &thread_status))?;
        Ok(Self {
            settings: Some(settings_tx),
            status,
            handle: Some(handle),
        })
    }

    /// Applies new settings; reconnects only if they actually changed.
    pub fn update(&self, new: LinkSettings) {
        if let Some(settings) = &self.settings {
            settings.send_if_modified(|current| {
                let changed = *current != new;
                *current = new;
                changed
            });
        }
    }

    pub fn status(&self) -> LinkStatus {
        self.status.get()
    }

    /// Closes the connection and joins the thread (bounded by the close timeout).
    pub fn stop(&mut self) {
        // Dropping the only sender wakes every `settings.changed()` with an error, which is
        // the link thread's shutdown signal at every await point.
        self.settings = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for LinkClient {
    fn drop(&mut self) {
        self.stop();
    }
}

fn thread_main(
    mut settings: watch::Receiver<LinkSettings>,
    inputs: Sender<ClockInput>,
    mut reports: mpsc::UnboundedReceiver<Report>,
    status: &SharedStatus,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log_error!("cannot start the sidecar link: {e}");
            return;
        }
    };
    // Restart the loop after an internal error, unless we are shutting down.
    while settings.has_changed().is_ok() {
        let done = guard::catch("sidecar link", false, || {
            runtime.block_on(run(&mut settings, &inputs, &mut reports, status));
            true
        });
        if done {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    status.set(LinkStatus::Disconnected);
}

/// Why a connection attempt failed, reduced to what the log and the status need.
#[derive(Debug, PartialEq, Eq)]
struct ConnectError {
    status: LinkStatus,
    message: String,
}

/// Connect / run session / back off, until shutdown.
async fn run(
    settings: &mut watch::Receiver<LinkSettings>,
    inputs: &Sender<ClockInput>,
    reports: &mut mpsc::UnboundedReceiver<Report>,
    status: &SharedStatus,
) {
    let mut backoff = Backoff::new();
    // The last problem logged, so a sidecar that is down logs once, not every attempt.
    let mut last_problem: Option<String> = None;
    loop {
        if reports.is_closed() {
            // The audio clock stopped: claiming the clock role now would have the sidecar
            // send lines nobody plays (and wait for reports that never come).
            log_error!("the audio clock has stopped; not connecting to the sidecar");
            return;
        }
        let current = settings.borrow_and_update().clone();
        if last_problem.is_none() {
            log_info!("connecting to the sidecar at {}", current.url);
        }
        status.set(LinkStatus::Connecting);
        let attempt = tokio::select! {
            result = connect(&current) => result,
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                last_problem = None;
                continue;
            }
        };
        match attempt {
            Ok(socket) => {
                log_info!("connected to the sidecar at {}", current.url);
                status.set(LinkStatus::Connected);
                backoff.reset();
                last_problem = None;
                let end = session::run(socket, settings, inputs, reports).await;
                // Whatever happened, no more audio will come for the utterances queued so far.
                let _ = inputs.send(ClockInput::LinkLost);
                match end {
                    SessionEnd::Shutdown => return,
                    SessionEnd::SettingsChanged => {
                        log_info!("link settings changed; reconnecting");
                        continue;
                    }
                    SessionEnd::Lost(reason) => {
                        log_warn!("lost the sidecar connection: {reason}; reconnecting");
                        status.set(LinkStatus::Disconnected);
                        last_problem = Some(reason);
                    }
                }
            }
            Err(error) => {
                status.set(error.status);
                if last_problem.as_deref() != Some(error.message.as_str()) {
                    log_warn!(
                        "cannot connect to the sidecar at {}: {}; retrying in the background",
                        current.url,
                        error.message
                    );
                    last_problem = Some(error.message);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                // New settings: try them right away, and log the next outcome afresh.
                backoff.reset();
                last_problem = None;
            }
        }
    }
}

async fn connect(settings: &LinkSettings) -> Result<Socket, ConnectError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_and_prove(settings))
        .await
        .unwrap_or_else(|_| Err(fail(LinkStatus::Disconnected, "timed out".into())))
}

fn fail(status: LinkStatus, message: String) -> ConnectError {
    ConnectError { status, message }
}

/// The shared handshake (our nonce, the server's proof checked, our proof and hello sent), its
/// failures sorted into what the status and the log need.
async fn connect_and_prove(settings: &LinkSettings) -> Result<Socket, ConnectError> {
    client::connect(settings.url.as_str(), &settings.token, CLIENT_NAME, true)
        .await
        .map_err(|error| match error {
            HandshakeError::Refused(
                status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            ) => fail(
                LinkStatus::Unauthorized,
                format!(
                    "the sidecar refused the connection (HTTP {status}); is it older than \
                         this plugin?"
                ),
            ),
            HandshakeError::Refused(status) => {
                fail(LinkStatus::Disconnected, format!("HTTP error: {status}"))
            }
            // Nothing but our nonce went out.
            HandshakeError::Unproven(_) => {
                let why = if settings.token.is_empty() {
                    "no link token is set"
                } else {
                    "the server on this port did not prove it knows the link token (another \
                     token, or not our sidecar); nothing secret was sent"
                };
                fail(LinkStatus::Unauthorized, why.into())
            }
            other => fail(LinkStatus::Disconnected, other.to_string()),
        })
}

#[cfg(test)]
mod tests;
