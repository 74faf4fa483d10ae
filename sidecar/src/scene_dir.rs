//! The scenes directory (`[obs] scenes_dir`, `scenes/` by default): the scenes OBS should have
//! and the streamer's triggers, read together because the triggers name the scenes' sources.
//!
//! Sound files the triggers mix into the voice are paths relative to this directory, decoded
//! with it ([`SoundBank`]).
//!
//! Every `*.toml` directly in the directory is read, in name order (`scenes/examples/` holds
//! commented examples that are not loaded; copy one up to use it).

use std::path::{Path, PathBuf};

use aivs_core::triggers::TriggerSet;

use crate::obs::scenes::{SceneError, SceneSet, TriggerNeed};
use crate::outputs::sounds::SoundBank;

/// The directory's contents, checked.
#[derive(Debug, Clone)]
pub struct SceneDir {
    /// With the triggers' needs filled in.
    pub scenes: SceneSet,
    pub triggers: TriggerSet,
    /// The triggers' `sound_file`s, decoded.
    pub sounds: SoundBank,
}

#[derive(Debug, thiserror::Error)]
pub enum SceneDirError {
    #[error(transparent)]
    Scenes(#[from] SceneError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every trigger error of every file, one per line (`file:line:column: …`).
    #[error("{}", .0.join("\n"))]
    Triggers(Vec<String>),
}

impl SceneDir {
    pub fn load(dir: &Path) -> Result<Self, SceneDirError> {
        let mut scenes = SceneSet::load_dir(dir)?;
        let files = read_files(dir)?;
        let triggers = TriggerSet::parse(&files).map_err(|errors| {
            SceneDirError::Triggers(errors.iter().map(|e| e.to_string()).collect())
        })?;
        let sounds = SoundBank::load(dir, triggers.rules()).map_err(SceneDirError::Triggers)?;
        scenes.needs = triggers
            .rules()
            .iter()
            .flat_map(|rule| {
                rule.needs().into_iter().map(|(need, line)| TriggerNeed {
                    need,
                    trigger: rule.name.clone(),
                    file: rule.file.clone(),
                    line,
                })
            })
            .collect();
        Ok(Self {
            scenes,
            triggers,
            sounds,
        })
    }

    /// The files this directory's contents come from (for reload checks).
    pub fn files(dir: &Path) -> Vec<PathBuf> {
        toml_paths(dir).unwrap_or_default()
    }
}

fn toml_paths(dir: &Path) -> Result<Vec<PathBuf>, SceneDirError> {
    let read = std::fs::read_dir(dir).map_err(|source| SceneDirError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// (display name, text) of every scene file.
fn read_files(dir: &Path) -> Result<Vec<(String, String)>, SceneDirError> {
    toml_paths(dir)?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|source| SceneDirError::Read {
                path: path.clone(),
                source,
            })?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scenes_and_every_example_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let shipped = SceneDir::load(&root.join("scenes")).unwrap();
        assert!(!shipped.triggers.is_empty());
        assert!(shipped.sounds.get("sounds/ding.wav").is_some());
        // Each example is meant to be copied next to show.toml: it must load there.
        let examples = SceneDir::files(&root.join("scenes/examples"));
        assert!(examples.len() >= 5, "{examples:?}");
        for example in examples {
            let dir = tempfile::tempdir().unwrap();
            std::fs::copy(root.join("scenes/show.toml"), dir.path().join("show.toml")).unwrap();
            std::fs::copy(&example, dir.path().join("example.toml")).unwrap();
            std::fs::create_dir(dir.path().join("sounds")).unwrap();
            std::fs::copy(
                root.join("scenes/sounds/ding.wav"),
                dir.path().join("sounds/ding.wav"),
            )
            .unwrap();
            let loaded =
                SceneDir::load(dir.path()).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
            assert!(!loaded.triggers.is_empty(), "{}", example.display());
        }
    }

    #[test]
    fn trigger_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::copy(root.join("scenes/show.toml"), dir.path().join("show.toml")).unwrap();
        std::fs::write(
            dir.path().join("zz.toml"),
            "[[trigger]]\nname = \"x\"\nwhen.follow = true\n[[trigger.do]]\nspeak = \"{who}\"\n",
        )
        .unwrap();
        let err = SceneDir::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("zz.toml:5:") && err.contains("unknown placeholder {who}"),
            "{err}"
        );
    }
}
