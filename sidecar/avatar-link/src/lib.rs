//! The avatar link: how the sidecar talks to whatever shows the avatar.
//!
//! The sidecar runs a loopback WebSocket server; avatar outputs (the OBS plugin's *AI Avatar*
//! source, the live2d-bridge) connect to it as clients, authenticated by a shared token (see [`auth`]).
//!
//! * [`protocol`]: the messages. Control travels as JSON text frames, speech audio as compact
//!   binary frames (16-bit PCM, so a minute of speech is ~5.6 MB instead of ~20 MB of JSON).
//! * [`auth`]: the challenge by which client and server each prove they know the token
//!   without sending it.
//! * [`backoff`]: the reconnection delays every client uses, so several outputs that lost the
//!   same sidecar do not reconnect in lockstep.
//! * [`lipsync`]: the mouth envelope. Every output computes mouth openness from the very samples
//!   it is playing, with the same code, so the OBS source and a Live2D model move alike.
//! * [`playout`]: the utterance queue those samples come from (order, underruns, starvation,
//!   stop, retired ids, 10 ms blocks), shared for the same reason.
//! * [`sounds`]: sound effects mixed over the voice (after the mouth envelope has read it).
//! * [`client`]: the client's half of the handshake (challenge answer, hello), used by every
//!   client of the link.
//!
//! This crate is deliberately dependency-light and permissively licensed: the GPL plugin and the
//! permissive sidecar both link it.

pub mod auth;
pub mod backoff;
pub mod client;
pub mod lipsync;
pub mod playout;
pub mod protocol;
pub mod sounds;

pub use protocol::*;
