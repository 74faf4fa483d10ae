//! OBS Studio control through obs-websocket 5 (`obws`).
//!
//! * [`ObsConfig`]: the `[obs]` section.
//! * [`scenes`]: the streamer's scene definitions (`scenes/*.toml`).
//! * [`ensure`]: the idempotent *ensure* that makes OBS match them without duplicating
//!   anything, each scene and item failing on its own.
//! * [`request`]: the deadline on every request and on connecting.
//! * [`state`]: the desired-state cell the show folds its actions into (bounded, never waits).
//! * [`push`]: the plugin's push targets (`[[push]]`), over obs-websocket vendor requests.
//! * [`controller`]: the long-lived connection: reconnects with backoff while OBS is away or
//!   frozen, applies the show's effects (latest-gift text, celebration scene switches) and
//!   keeps the latest state to apply once OBS is back. OBS being down or frozen never blocks
//!   or loses an event.

mod apply_effects;
pub mod compliance;
mod config;
pub mod controller;
mod effects;
pub mod ensure;
pub mod needs;
mod program;
pub mod push;
mod recording;
pub mod request;
pub mod scenes;
mod state;

pub use config::ObsConfig;
pub use controller::{ObsAction, ObsController};
pub use state::Connection as ObsConnection;
