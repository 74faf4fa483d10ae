//! Event sources: where live-room events come from. Each source sends normalized
//! [`crate::event::LiveEvent`]s into the show's channel and waits when it is full (backpressure
//! instead of dropping: a gift must never be lost because the show was busy).

pub mod replay;
