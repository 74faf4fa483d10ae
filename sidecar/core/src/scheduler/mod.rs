//! One priority timeline for everything the avatar says.
//!
//! * [`priority`]: the levels of seed 000 and the dynamic priority of a line from the facts
//!   about it (a gift's value in its tier, combo, giver; a comment's keywords, viewer).
//! * [`class`]: what kind of line it is, the per-class caps and the drop counters.
//! * [`activity`]: a viewer's recent interactions, one of those facts.
//! * [`timeline`]: the queue + what is playing, with the interruption rule, aging and caps.
//!   It is a plain state machine with the clock passed in, so every rule is unit-tested and
//!   benchmarked without audio or timers; the sidecar's show loop drives it.

pub mod activity;
pub mod class;
mod config;
pub mod priority;
pub mod timeline;

pub use activity::RecentActivity;
pub use class::{CapPolicy, CapsConfig, ClassCap, DropCounts, DropReason, LineClass};
pub use config::SchedulerConfig;
pub use priority::Priority;
pub use timeline::{InterruptRules, Line, Offer, Stats, Timeline};
