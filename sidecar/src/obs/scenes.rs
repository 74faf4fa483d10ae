//! Scene definitions (`scenes/*.toml`).
//!
//! ```toml
//! [roles]                      # which sources the show drives
//! main = "Main"
//! celebration = "Celebration"
//! latest_gift_text = "Latest gift"
//!
//! [[scene]]
//! name = "Main"
//! [[scene.item]]
//! source = "AI Avatar"
//! kind = "ai_avatar"          # any OBS input kind; "text" and "color" are portable aliases
//! box = [0.55, 0.05, 0.4, 0.9] # x, y, width, height as fractions of the canvas (optional)
//! settings = { width = 512, height = 512 }
//! ```
//!
//! [`super::ensure::ensure`] makes OBS match a [`SceneSet`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    #[serde(default)]
    pub roles: Option<Roles>,
    #[serde(default)]
    pub scene: Vec<SceneSpec>,
    /// Triggers and their groups are read by `aivs_core::triggers` (the `scene_dir` module reads both).
    #[serde(default)]
    pub trigger: Vec<toml::Value>,
    #[serde(default)]
    pub group: Vec<toml::Value>,
}

/// Names of the scenes and sources the show drives.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    pub main: String,
    pub celebration: String,
    pub latest_gift_text: String,
    #[serde(default)]
    pub celebration_text: Option<String>,
    pub avatar: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneSpec {
    pub name: String,
    #[serde(default, rename = "item")]
    pub items: Vec<ItemSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    pub source: String,
    pub kind: String,
    #[serde(default, rename = "box")]
    pub area: Option<[f32; 4]>,
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Whether the item starts shown (effects a trigger shows for a moment start hidden).
    #[serde(default = "shown")]
    pub visible: bool,
    /// Filters on the source, created when missing (`[[scene.item.filter]]`).
    #[serde(default, rename = "filter")]
    pub filters: Vec<FilterSpec>,
    /// Made visible and put on top at every ensure, even when it exists (the compliance
    /// label, `compliance.rs`); never read from a file.
    #[serde(skip)]
    pub pinned: bool,
}

/// A filter a scene file describes, so a trigger that toggles it finds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    pub name: String,
    /// An OBS filter kind (`color_filter_v2`, `gain_filter`…).
    pub kind: String,
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Whether the filter starts enabled.
    #[serde(default = "shown")]
    pub enabled: bool,
}

fn shown() -> bool {
    true
}

/// Something a trigger needs in OBS, with where the trigger was written.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerNeed {
    pub need: aivs_core::triggers::Needs,
    pub trigger: String,
    pub file: String,
    pub line: usize,
}

/// All scene files of a directory, merged.
#[derive(Debug, Clone)]
pub struct SceneSet {
    pub roles: Roles,
    pub scenes: Vec<SceneSpec>,
    /// What the triggers of these files need in OBS, checked on every connection.
    pub needs: Vec<TriggerNeed>,
}

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("cannot read scene directory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no [roles] table in any scene file of {0}")]
    NoRoles(PathBuf),
    #[error("role {role} names {name:?}, which no scene file defines")]
    DanglingRole { role: &'static str, name: String },
}

impl SceneSet {
    pub fn load_dir(dir: &Path) -> Result<Self, SceneError> {
        let read_err = |source| SceneError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut roles = None;
        let mut scenes: Vec<SceneSpec> = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Read {
                path: path.clone(),
                source,
            })?;
            let file: SceneFile = toml::from_str(&text).map_err(|e| SceneError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if let Some(r) = file.roles {
                if roles.is_some() {
                    return Err(SceneError::Invalid {
                        path,
                        message: "a second [roles] table".into(),
                    });
                }
                roles = Some(r);
            }
            for scene in file.scene {
                if scenes.iter().any(|s| s.name == scene.name) {
                    return Err(SceneError::Invalid {
                        path,
                        message: format!("scene {:?} defined twice", scene.name),
                    });
                }
                scenes.push(scene);
            }
        }
        let roles = roles.ok_or_else(|| SceneError::NoRoles(dir.to_path_buf()))?;
        let set = Self {
            roles,
            scenes,
            needs: Vec::new(),
        };
        set.check_roles()?;
        Ok(set)
    }

    fn check_roles(&self) -> Result<(), SceneError> {
        let has_scene = |n: &str| self.scenes.iter().any(|s| s.name == n);
        let has_source = |n: &str| {
            self.scenes
                .iter()
                .flat_map(|s| &s.items)
                .any(|i| i.source == n)
        };
        let r = &self.roles;
        let checks: [(&'static str, &str, bool); 4] = [
            ("main", &r.main, has_scene(&r.main)),
            ("celebration", &r.celebration, has_scene(&r.celebration)),
            (
                "latest_gift_text",
                &r.latest_gift_text,
                has_source(&r.latest_gift_text),
            ),
            ("avatar", &r.avatar, has_source(&r.avatar)),
        ];
        for (role, name, ok) in checks {
            if !ok {
                return Err(SceneError::DanglingRole {
                    role,
                    name: name.to_string(),
                });
            }
        }
        if let Some(t) = &r.celebration_text {
            if !has_source(t) {
                return Err(SceneError::DanglingRole {
                    role: "celebration_text",
                    name: t.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenes_load_and_roles_resolve() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes");
        let set = SceneSet::load_dir(&dir).unwrap();
        assert_eq!(set.roles.main, "Main");
        assert!(set.scenes.iter().any(|s| s.name == set.roles.celebration));
    }

    #[test]
    fn dangling_roles_and_duplicates_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let roles = "[roles]\nmain='Main'\ncelebration='Party'\nlatest_gift_text='T'\navatar='A'\n";
        std::fs::write(dir.path().join("a.toml"), format!("{roles}[[scene]]\nname='Main'\n[[scene.item]]\nsource='A'\nkind='ai_avatar'\n[[scene.item]]\nsource='T'\nkind='text'\n")).unwrap();
        let err = SceneSet::load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("celebration") && err.contains("Party"),
            "{err}"
        );
        std::fs::write(dir.path().join("b.toml"), "[[scene]]\nname='Main'\n").unwrap();
        let err = SceneSet::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("defined twice"), "{err}");
    }
}
