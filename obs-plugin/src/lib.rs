//! `ai-avatar`: the OBS Studio plugin of the AI virtual streamer.
//!
//! It registers one input source, **AI Avatar** (`ai_avatar`), which connects to the sidecar
//! over the avatar link, plays the speech audio it receives and draws a 2D avatar whose mouth is
//! driven by that very audio. See the README for the design; in short:
//!
//! * [`avatar`]: the procedural avatar (tiny-skia) and its animation timers — pure Rust;
//! * the utterance queue is [`avatar_link::playout`], shared with the live2d-bridge;
//! * [`clock`]: the 10 ms audio clock that emits audio and frames with shared timestamps;
//! * [`link`]: the WebSocket client to the sidecar;
//! * [`push`]: extra streaming outputs ("push targets") controlled over obs-websocket;
//! * the rest glues these to OBS (`source`, `settings`, `locale`, `ffi`, `plugin`).
//!
//! The library is also built as an `rlib` so tests and benches can use the pure-Rust parts.

pub mod avatar;
pub mod clock;
pub mod link;
pub mod push;

mod ffi;
mod guard;
mod locale;
mod log;
mod obs_sink;
mod plugin;
mod settings;
mod source;
