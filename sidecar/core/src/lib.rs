//! The show's pure core: what happens in a live room and what the avatar should say about it,
//! with no I/O (no sockets, files, processes or async runtime).
//!
//! Every other crate of the sidecar builds on these types, and everything here is tested and
//! benchmarked in isolation, on a virtual clock where time matters:
//!
//! * [`event`]: normalized live-room events ([`event::LiveEvent`]), whatever the platform;
//! * [`clock`]: the process's monotonic Unix milliseconds;
//! * [`recent_ids`]: a bounded memory of recently seen message ids;
//! * [`tiers`]: gift value → reward tier (seed 002);
//! * [`rewards`]: combo folding and the thank-you [`cue::Cue`] for each gift batch;
//! * [`rundown`]: the seller's rundown: products, segments and product questions (seed 000);
//! * [`script`]: unpaid interaction (comments, follows, shares, welcomes, idle) → cues;
//! * [`template`]: variant templates (`{谢谢|感谢}{user}`) and their placeholders;
//! * [`cue`]: what to say and how ([`cue::Prosody`]), with its priority;
//! * [`scheduler`]: the one priority timeline and the interruption rule (seed 000);
//! * [`safety`]: the screen every spoken text passes (blocked words, contact bait, echoes);
//! * [`triggers`]: the streamer's `when` → `do` rules, their cooldowns, groups and timed steps.
//!
//! Each module owns its config section type (`[gifts]` is [`rewards::GiftsConfig`], …); the
//! sidecar's `config` module only assembles them.

pub mod clock;
pub mod cue;
pub mod event;
pub mod pricing;
pub mod recent_ids;
pub mod rewards;
pub mod rundown;
pub mod safety;
pub mod scheduler;
pub mod script;
pub mod template;
pub mod tiers;
pub mod triggers;
