//! One connected session with the sidecar (proven and introduced by
//! [`avatar_link::client::connect`]): commands and audio in, reports out.

use std::sync::mpsc::Sender;
use std::time::Duration;

pub use avatar_link::client::Socket;
use avatar_link::{Command, Frame, Report, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::LinkSettings;
use crate::clock::ClockInput;
use crate::log::{log_info, log_warn};

/// How long a closing handshake may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Malformed messages are logged individually up to this count, then only every 100th.
const LOGGED_ERRORS: u64 = 5;

/// Why a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The source is going away.
    Shutdown,
    /// URL or token changed: reconnect right away.
    SettingsChanged,
    /// The connection failed or the sidecar closed it.
    Lost(String),
}

/// Counts malformed input without flooding the OBS log.
#[derive(Debug, Default)]
pub struct ErrorCounter {
    count: u64,
}

impl ErrorCounter {
    pub fn record(&mut self, what: &str, error: &dyn std::fmt::Display) {
        self.count += 1;
        if self.count <= LOGGED_ERRORS || self.count % 100 == 0 {
            log_warn!(
                "ignoring {what} from the sidecar ({} so far): {error}",
                self.count
            );
        }
    }
}

/// Runs one session until it ends. Everything received goes to the clock through `inputs`.
pub async fn run(
    socket: Socket,
    settings: &mut watch::Receiver<LinkSettings>,
    inputs: &Sender<ClockInput>,
    reports: &mut mpsc::UnboundedReceiver<Report>,
) -> SessionEnd {
    let (mut tx, mut rx) = socket.split();
    // Reports queued while disconnected refer to a previous sidecar session; drop them.
    while reports.try_recv().is_ok() {}
    let mut errors = ErrorCounter::default();
    loop {
        tokio::select! {
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => handle_text(&text, inputs, &mut errors),
                Some(Ok(Message::Binary(bytes))) => handle_binary(&bytes, inputs, &mut errors),
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                    let reason = reason.as_deref().unwrap_or("no reason");
                    return SessionEnd::Lost(format!("closed by the sidecar ({reason})"));
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => {}
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("connection closed".into()),
            },
            report = reports.recv() => match report {
                Some(report) => {
                    if let Err(e) = tx.send(report_message(&report)).await {
                        return SessionEnd::Lost(e.to_string());
                    }
                }
                // The clock is gone: the source is being destroyed, or its clock thread died
                // for good. Either way nothing will be played any more, so the link is left
                // (the sidecar then requeues what it sent instead of waiting for reports).
                None => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(Message::Close(None))).await;
                    return SessionEnd::Shutdown;
                }
            },
            changed = settings.changed() => {
                // Best effort: tell the sidecar we are leaving on purpose.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(Message::Close(None))).await;
                return if changed.is_ok() {
                    SessionEnd::SettingsChanged
                } else {
                    SessionEnd::Shutdown
                };
            }
        }
    }
}

fn report_message(report: &Report) -> Message {
    // Serialising these plain enums cannot fail; an empty object would only be ignored.
    Message::text(serde_json::to_string(report).unwrap_or_else(|_| "{}".into()))
}

fn handle_text(text: &str, inputs: &Sender<ClockInput>, errors: &mut ErrorCounter) {
    match serde_json::from_str::<Command>(text) {
        Ok(command) => {
            if let Some(input) = command_to_input(command) {
                // Fails only while the source is being destroyed.
                let _ = inputs.send(input);
            }
        }
        Err(e) => errors.record("a malformed command", &e),
    }
}

fn handle_binary(bytes: &[u8], inputs: &Sender<ClockInput>, errors: &mut ErrorCounter) {
    match Frame::decode(bytes) {
        Ok(Frame::Voice(chunk)) => {
            let _ = inputs.send(ClockInput::Audio(chunk));
        }
        Ok(Frame::Sound(chunk)) => {
            let _ = inputs.send(ClockInput::Sound(chunk));
        }
        Err(e) => errors.record("an audio frame", &e),
    }
}

/// Maps a sidecar command onto clock input; `None` for commands handled here (hello) or
/// naming an expression/motion this avatar does not have.
pub fn command_to_input(command: Command) -> Option<ClockInput> {
    match command {
        Command::Hello {
            protocol,
            sidecar_version,
        } => {
            if protocol == PROTOCOL_VERSION {
                log_info!("sidecar {sidecar_version} says hello (protocol {protocol})");
            } else {
                log_warn!(
                    "sidecar {sidecar_version} speaks protocol {protocol}, this plugin \
                     {PROTOCOL_VERSION}; update the plugin or the sidecar"
                );
            }
            None
        }
        Command::Say {
            utterance,
            expression,
            ..
        } => {
            let expression = expression.and_then(|name| {
                name.parse()
                    .map_err(|e| {
                        log_warn!("utterance {utterance}: {e}; keeping the current expression")
                    })
                    .ok()
            });
            Some(ClockInput::Say {
                utterance,
                expression,
            })
        }
        Command::Stop { utterance } => Some(ClockInput::Stop { utterance }),
        Command::Expression { name, duration_ms } => match name.parse() {
            Ok(expression) => Some(ClockInput::Expression {
                expression,
                duration_ms,
            }),
            Err(e) => {
                log_warn!("{e}; ignored");
                None
            }
        },
        Command::Motion { name } => match name.parse() {
            Ok(motion) => Some(ClockInput::Motion(motion)),
            Err(e) => {
                log_warn!("{e}; ignored");
                None
            }
        },
    }
}
