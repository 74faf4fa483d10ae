//! The sidecar: the controller that runs an unattended AI virtual streamer next to OBS.
//!
//! Data flows like a Vector pipeline, sources → transforms → sinks:
//!
//! * **sources** ([`source`]): live-room events, normalized into [`event::LiveEvent`]
//!   (a recorded room replay now; platform adapters plug in the same way);
//! * **transforms**: the [`ledger`] records every gift exactly once before anything else,
//!   [`rewards`] tiers gifts and folds combos, [`script`] picks replies and thanks from
//!   variant [`template`]s, and the [`scheduler`] orders every line on one priority timeline
//!   with the interruption rule;
//! * **sinks**: [`speech`] turns lines into checked, loudness-normalised audio, the avatar
//!   [`link`] streams it to the OBS plugin (which plays it and moves the mouth from it), and
//!   [`obs`] switches scenes and updates text through obs-websocket.
//!
//! [`show`] wires them together; [`config`] reads the TOML settings. Each module holds one
//! concept; the pure ones (template, tiers, combo, timeline, config) have no I/O and are tested
//! and benchmarked in isolation.

pub mod admission;
pub mod clock;
pub mod config;
pub mod cue;
pub mod event;
pub mod ledger;
pub mod link;
pub mod llm;
pub mod obs;
pub mod onnx;
pub mod recent_ids;
pub mod replies;
pub mod rewards;
pub mod scheduler;
pub mod script;
pub mod show;
pub mod source;
pub mod speech;
pub mod template;
