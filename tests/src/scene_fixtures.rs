//! Scene files for tests that watch OBS's picture: the shipped `scenes/show.toml` with extra
//! items drawn on top of its Main scene, and the items several tests use.

use anyhow::{Context, Result};

/// A red box over the top-left quarter of the canvas, hidden until a trigger shows it.
pub const FLASH_ITEM: &str = r#"
[[scene.item]]
source = "Flash"
kind = "color"
box = [0.0, 0.0, 0.25, 0.25]
visible = false
settings = { color = 4278190335, width = 400, height = 400 } # ABGR 0xFF0000FF: red
"#;

/// The shipped scenes with `items` added at the end of Main (so they draw on top of it).
pub fn shipped_show_with_main_items(items: &str) -> Result<String> {
    let show = std::fs::read_to_string(crate::workspace_root().join("scenes/show.toml"))?;
    let next = show
        .find("\n[[scene]]\nname = \"Celebration\"")
        .context("show.toml: Main is followed by Celebration")?;
    Ok(format!("{}\n{items}{}", &show[..next], &show[next..]))
}
