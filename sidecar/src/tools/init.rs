//! `sidecar init DIR`: a starter show folder, from files embedded in the binary, so a
//! downloaded sidecar alone can set one up. It asks nothing and never overwrites a file unless
//! told to (`--force`): an operator's edited config is worth more than a fresh copy.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// What `init` writes, relative to DIR. The config is the shipped, fully commented one with
/// its paths moved from `config/` (where it lives in the source tree) to DIR.
fn files() -> Vec<(&'static str, std::borrow::Cow<'static, [u8]>)> {
    macro_rules! embed {
        ($dest:literal, $src:literal) => {
            (
                $dest,
                std::borrow::Cow::Borrowed(
                    &include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $src))[..],
                ),
            )
        };
    }
    vec![
        ("config.toml", starter_config().into_bytes().into()),
        embed!("scenes/show.toml", "scenes/show.toml"),
        embed!("scenes/triggers.toml", "scenes/triggers.toml"),
        embed!("scenes/sounds/ding.wav", "scenes/sounds/ding.wav"),
        embed!("scenes/examples/README.md", "scenes/examples/README.md"),
        embed!(
            "scenes/examples/comments.toml",
            "scenes/examples/comments.toml"
        ),
        embed!("scenes/examples/gifts.toml", "scenes/examples/gifts.toml"),
        embed!("scenes/examples/groups.toml", "scenes/examples/groups.toml"),
        embed!(
            "scenes/examples/obs-effects.toml",
            "scenes/examples/obs-effects.toml"
        ),
        embed!("scenes/examples/room.toml", "scenes/examples/room.toml"),
        embed!(
            "scenes/examples/schedule.toml",
            "scenes/examples/schedule.toml"
        ),
        embed!("scenes/examples/stream.toml", "scenes/examples/stream.toml"),
        embed!("rooms/sample-room.jsonl", "config/rooms/sample-room.jsonl"),
        embed!("rooms/README.md", "config/rooms/README.md"),
        embed!("scripts/example.toml", "config/scripts/example.toml"),
    ]
}

/// `config/default.toml` with its paths made relative to a config in DIR: the source tree's
/// config sits one folder below the scenes, data and models (`"../scenes"`), a starter config
/// beside them. The safety word lists need no files: they are built into the binary.
pub fn starter_config() -> String {
    include_str!("../../../config/default.toml").replace("= \"../", "= \"")
}

/// Writes the starter files into `dir` (created if missing). Refuses, naming them, when any
/// file exists already, unless `force`; writes nothing in that case.
pub fn init(dir: &Path, force: bool) -> anyhow::Result<()> {
    let files = files();
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|path| path.exists())
        .collect();
    if !force && !existing.is_empty() {
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "not overwriting existing files (use --force to replace them): {}",
            names.join(", ")
        );
    }
    for (name, bytes) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let config = dir.join("config.toml");
    println!("{}", next_steps(&config));
    Ok(())
}

fn next_steps(config: &Path) -> String {
    let config = config.display();
    format!(
        "wrote {config} and scenes/, rooms/, scripts/ beside it.\n\
         \n\
         下一步 / Next steps:\n\
         1. 在 OBS 中：工具 → WebSocket 服务器设置 → 启用并设置密码。\n   \
            In OBS: Tools → WebSocket Server Settings → enable it and set a password.\n\
         2. 设置环境变量 AIVS_OBS_PASSWORD 为该密码（不要写在命令行里）。\n   \
            Set AIVS_OBS_PASSWORD to that password (not on a command line).\n\
         3. 编辑 {config}（直播源 [source]、人设 [persona]、礼物 [gifts]），然后检查：\n   \
            Edit {config} ([source], [persona], [gifts]), then check it:\n   \
            sidecar check-config --config {config}\n\
         4. 开播 / Start:  sidecar run --config {config}\n   \
            （默认播放示例直播间 rooms/sample-room.jsonl / the default plays the sample room)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_config_has_no_source_tree_paths_and_parses() {
        let text = starter_config();
        assert!(!text.contains("\"../"), "a path still points out of DIR");
        assert!(text.contains("scenes_dir = \"scenes\""));
        let config = sidecar::config::Config::parse(&text, Path::new("/x/config.toml")).unwrap();
        assert_eq!(config.room.replay, Path::new("/x/rooms/sample-room.jsonl"));
        assert_eq!(config.ledger.path, Path::new("/x/data/ledger.sqlite3"));
    }

    #[test]
    fn init_writes_then_refuses_then_forces() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), false).unwrap();
        assert!(dir.path().join("scenes/sounds/ding.wav").is_file());
        let err = init(dir.path(), false).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("--force"),
            "{err}"
        );
        std::fs::write(dir.path().join("config.toml"), "# edited").unwrap();
        init(dir.path(), true).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(text.contains("[obs]"));
    }
}
