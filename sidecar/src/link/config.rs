//! `[link]`: where the avatar link listens and the token its clients prove they know.

use std::net::SocketAddr;

use serde::Deserialize;

/// `Debug` is in `redact.rs`: it never prints the token.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Where the avatar link listens. Loopback by default; anything else is logged as a warning.
    pub bind: SocketAddr,
    /// Token avatar clients must prove they know (`avatar_link::auth`; they never send it).
    /// Empty: a random one is made at start (and handed to the OBS source through obs-websocket).
    pub token: String,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], avatar_link::DEFAULT_PORT)),
            token: String::new(),
        }
    }
}
