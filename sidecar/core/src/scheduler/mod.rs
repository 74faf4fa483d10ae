//! One priority timeline for everything the avatar says.
//!
//! * [`priority`]: the levels of seed 000 and how an event maps onto them.
//! * [`timeline`]: the queue + what is playing, with the interruption rule. It is a plain state
//!   machine with the clock passed in, so every rule is unit-tested and benchmarked without
//!   audio or timers; the sidecar's show loop drives it.

mod config;
pub mod priority;
pub mod timeline;

pub use config::SchedulerConfig;
pub use timeline::{InterruptRules, Line, Offer, Timeline};
