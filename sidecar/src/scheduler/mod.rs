//! One priority timeline for everything the avatar says.
//!
//! * [`priority`]: the levels of seed 000 and how an event maps onto them.
//! * [`timeline`]: the queue + what is playing, with the interruption rule. It is a plain state
//!   machine with the clock passed in, so every rule is unit-tested and benchmarked without
//!   audio or timers; the show loop (`crate::show`) drives it.

pub mod priority;
pub mod timeline;

pub use timeline::{InterruptRules, Line, Offer, Timeline};
