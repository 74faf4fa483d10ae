//! OBS Studio control through obs-websocket 5 (`obws`).
//!
//! * [`scenes`]: the streamer's scene definitions (`scenes/*.toml`) and the idempotent
//!   *ensure* that makes OBS match them without duplicating anything.
//! * [`controller`]: the long-lived connection: reconnects with backoff while OBS is away,
//!   applies the show's effects (latest-gift text, celebration scene switches) and keeps the
//!   last state to apply once OBS is back. OBS being down never blocks or loses an event.

pub mod controller;
pub mod scenes;

pub use controller::{ObsAction, ObsController};
