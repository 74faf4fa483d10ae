//! Where the workspace and its build are, and free ports: the harness's portable helpers (the
//! headless OBS beside them is Unix-only, see `headless_obs`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The root of the cargo workspace this crate belongs to (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// Where cargo puts this workspace's builds: `CARGO_TARGET_DIR` if set (relative to the
/// workspace root, as cargo reads it), `target/` otherwise.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir), // join keeps an absolute CARGO_TARGET_DIR as is
        None => root.join("target"),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
