//! live2d-bridge: drives a Live2D model in VTube Studio from the sidecar's avatar link.
//!
//! The sidecar streams every line the avatar says (a `Say` command, then the speech audio in
//! chunks) plus expressions and motions to each connected avatar output. The OBS plugin's source
//! plays that audio on air and owns the audio clock. This bridge is a *follower*: it receives the
//! same stream, plays nothing, and moves a VTube Studio model in step with what the OBS source is
//! playing:
//!
//! ```text
//!  sidecar ──ws (avatar link)──▶ link_client ──LinkInput──▶ driver ──AvatarFrame──▶ vts ──ws──▶ VTube Studio
//!                                                            │
//!                                                        follower (mirrored playout, mouth envelope,
//!                                                                  expression timers, motions)
//! ```
//!
//! * [`link_client`]: connects to the sidecar (token challenge, hello as a non-clock follower),
//!   forwards commands and audio, reconnects with backoff.
//! * [`follower`]: re-enacts the OBS source's playout in wall time and computes the mouth with
//!   the shared [`avatar_link::lipsync`] envelope, so both avatars move alike.
//! * [`driver`]: the ~30 fps loop that advances the follower and hands frames to the sink.
//! * [`vts`]: the VTube Studio sink: parameter injection, expressions, hotkeys, the saved token.
//! * [`mapping`]: the user's table from avatar names to the model's expression files and hotkeys.
//!
//! [`run`] ties them together; the `live2d-bridge` binary is a thin CLI around it.

pub mod driver;
pub mod follower;
pub mod link_client;
pub mod mapping;
pub mod vts;

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use link_client::{LinkConfig, LinkError};
pub use mapping::{Mapping, MappingError};
pub use vts::{VtsConfig, VtsError};

/// How long shutdown may spend putting the model back at rest.
const REST_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything the bridge needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub link: LinkConfig,
    pub vts: VtsConfig,
    pub mapping: Mapping,
}

/// Why the bridge could not start. Once running, it never fails: both connections retry.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Vts(#[from] VtsError),
}

/// Runs the bridge until `shutdown` completes, then closes the model's mouth, switches off its
/// expression and returns. Must be called within a tokio runtime.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), BridgeError> {
    let link = link_client::LinkClient::new(&config.link)?;
    tracing::info!(mapping = %config.mapping, "live2d-bridge starting");
    let mut sink = vts::VtsSink::new(&config.vts, config.mapping)?;
    let (tx, rx) = mpsc::unbounded_channel();
    // The link runs on its own task so it keeps reading (and answering pings) while the frame
    // loop waits on VTube Studio.
    let link_task = AbortOnDrop(tokio::spawn(link.run(tx)));
    tokio::select! {
        () = shutdown => tracing::info!("live2d-bridge stopping"),
        () = driver::drive(rx, &mut sink) => {}
    }
    drop(link_task);
    let _ = tokio::time::timeout(REST_TIMEOUT, sink.rest()).await;
    Ok(())
}

/// Ends the task when the bridge's future is dropped, however it ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
