//! The sidecar: the controller that runs an unattended AI virtual streamer next to OBS.
//!
//! Data flows like a Vector pipeline, sources → transforms → outputs, and the crates follow it
//! (ARCHITECTURE.md draws the graph and says which crate may use which):
//!
//! * `aivs-core` (re-exported as [`event`], [`rewards`], [`script`], [`scheduler`], …): the
//!   pure part, no I/O: events, tiers, combos, templates, cues, the priority timeline and the
//!   safety screen;
//! * **sources**, `aivs-ingest` ([`source`]): live-room events from each platform, normalized
//!   into [`event::LiveEvent`], acknowledged upstream only once the ledger has them;
//! * **transforms**: the [`ledger`] (`aivs-ledger`) records every gift exactly once before
//!   anything else, [`rewards`] tiers gifts and folds combos, [`script`] picks replies and thanks
//!   from variant [`template`]s, the [`llm`] (`aivs-llm`) writes replies, and the [`scheduler`]
//!   orders every line on one priority timeline with the interruption rule;
//! * **outputs**: [`speech`] (`aivs-speech`) turns lines into checked, loudness-normalised
//!   audio, the avatar [`link`] streams it to the OBS plugin (which plays it and moves the mouth
//!   from it), and [`obs`] switches scenes and updates text through obs-websocket.
//!
//! This crate holds what needs all of them: [`show`] (the loop that wires them together),
//! [`admission`] (sources → ledger), [`replies`], the seller's script library on disk
//! ([`rundown_library`]) and its LLM-written drafts ([`rundown_drafts`]), the [`link`] server,
//! the [`obs`] controller, [`config`], which assembles every module's own config section,
//! [`scene_dir`] (scenes and triggers read together), [`reload`] (rules edited while the show
//! runs) and [`simulate`] (a recorded room through the rules, with no OBS and no audio).
//!
//! The pipeline crates are re-exported under the module names they had before the split, so
//! the binary, the benches and the end-to-end tests read one namespace.

pub mod admission;
pub mod config;
pub mod console;
pub mod link;
pub mod logs;
pub mod obs;
pub mod outputs;
pub mod reload;
pub mod replies;
pub mod report;
pub mod rundown_drafts;
pub mod rundown_library;
pub mod scene_dir;
pub mod show;
pub mod simulate;

pub use aivs_core::{
    clock, cue, event, recent_ids, rewards, rundown, safety, scheduler, script, template, tiers,
    triggers,
};
pub use aivs_ingest as source;
pub use aivs_ledger as ledger;
pub use aivs_llm as llm;
pub use aivs_speech as speech;
pub use aivs_speech::onnx;
