//! Scene definitions and making OBS match them.
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
//! Ensuring is idempotent: a missing scene is created, a missing input is created in its first
//! scene, an existing input is added to further scenes as a reference (one avatar shared by
//! every scene, so it keeps talking across a scene switch), and nothing the streamer already has
//! is moved or duplicated. Layout (`box`) is only applied to items the sidecar creates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use obws::requests::inputs::Create as CreateInput;
use obws::requests::scene_items::{
    Bounds, CreateSceneItem, Id as ItemId, Position, SceneItemTransform, SetTransform,
};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    #[serde(default)]
    pub roles: Option<Roles>,
    #[serde(default)]
    pub scene: Vec<SceneSpec>,
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
}

/// All scene files of a directory, merged.
#[derive(Debug, Clone)]
pub struct SceneSet {
    pub roles: Roles,
    pub scenes: Vec<SceneSpec>,
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
        let set = Self { roles, scenes };
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

/// What `ensure` changed, for the log (and for tests of idempotence).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnsureReport {
    pub scenes_created: Vec<String>,
    pub inputs_created: Vec<String>,
    pub items_added: Vec<String>,
}

impl EnsureReport {
    pub fn is_empty(&self) -> bool {
        self.scenes_created.is_empty()
            && self.inputs_created.is_empty()
            && self.items_added.is_empty()
    }
}

/// Maps portable kind aliases onto the platform's input kinds.
fn resolve_kind(kind: &str, available: &[String]) -> String {
    let pick = |candidates: &[&str]| {
        candidates
            .iter()
            .find(|c| available.iter().any(|a| a == *c))
            .unwrap_or(&candidates[0])
            .to_string()
    };
    match kind {
        // GDI+ text on Windows, FreeType 2 elsewhere.
        "text" => pick(&[
            "text_gdiplus_v2",
            "text_ft2_source_v2",
            "text_gdiplus",
            "text_ft2_source",
        ]),
        "color" => pick(&["color_source_v3", "color_source_v2", "color_source"]),
        other => other.to_string(),
    }
}

/// Resolves the portable font face `"cjk"` in a text source's settings to a font with Chinese
/// glyphs on OBS's platform. OBS's FreeType text source draws with a single font file and no
/// fallback, so a Latin-only face turns every Chinese character into a box.
fn resolve_font(settings: &mut serde_json::Map<String, serde_json::Value>, obs_platform: &str) {
    let Some(serde_json::Value::Object(font)) = settings.get_mut("font") else {
        return;
    };
    if font.get("face").and_then(|f| f.as_str()) != Some("cjk") {
        return;
    }
    let face = match obs_platform {
        "windows" => "Microsoft YaHei",
        "macos" => "PingFang SC",
        _ => "WenQuanYi Micro Hei",
    };
    font.insert("face".into(), face.into());
}

/// Makes OBS contain every scene and item of `set`. `overrides` are settings the sidecar owns
/// per source (e.g. the avatar's link address and token), applied on every run.
pub async fn ensure(
    client: &obws::Client,
    set: &SceneSet,
    overrides: &BTreeMap<String, serde_json::Value>,
) -> Result<EnsureReport, obws::Error> {
    let mut report = EnsureReport::default();
    let existing_scenes: Vec<String> = client
        .scenes()
        .list()
        .await?
        .scenes
        .into_iter()
        .map(|s| s.name)
        .collect();
    let kinds = client.inputs().list_kinds(false).await?;
    let platform = client.general().version().await?.platform;
    let video = client.config().video_settings().await?;
    let (cw, ch) = (video.base_width as f32, video.base_height as f32);
    let mut inputs: Vec<String> = client
        .inputs()
        .list(None)
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();

    for scene in &set.scenes {
        if !existing_scenes.contains(&scene.name) {
            client.scenes().create(&scene.name).await?;
            report.scenes_created.push(scene.name.clone());
        }
        for item in &scene.items {
            let present = client
                .scene_items()
                .id(ItemId {
                    scene: &scene.name,
                    source: &item.source,
                    search_offset: None,
                })
                .await
                .is_ok();
            if present {
                continue;
            }
            let item_id = if inputs.contains(&item.source) {
                report
                    .items_added
                    .push(format!("{}/{}", scene.name, item.source));
                client
                    .scene_items()
                    .create(CreateSceneItem {
                        scene: &scene.name,
                        source: &item.source,
                        enabled: Some(true),
                    })
                    .await?
            } else {
                let mut settings = serde_json::Map::new();
                settings.extend(item.settings.iter().map(|(k, v)| (k.clone(), v.clone())));
                if let Some(serde_json::Value::Object(extra)) = overrides.get(&item.source) {
                    settings.extend(extra.clone());
                }
                resolve_font(&mut settings, &platform);
                let kind = resolve_kind(&item.kind, &kinds);
                let id = client
                    .inputs()
                    .create(CreateInput {
                        scene: &scene.name,
                        input: &item.source,
                        kind: &kind,
                        settings: Some(serde_json::Value::Object(settings)),
                        enabled: Some(true),
                    })
                    .await?;
                inputs.push(item.source.clone());
                report.inputs_created.push(item.source.clone());
                id
            };
            if let Some([x, y, w, h]) = item.area {
                let transform = SceneItemTransform {
                    position: Some(Position {
                        x: Some(x * cw),
                        y: Some(y * ch),
                    }),
                    bounds: Some(Bounds {
                        r#type: Some(obws::common::BoundsType::ScaleInner),
                        width: Some(w * cw),
                        height: Some(h * ch),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                client
                    .scene_items()
                    .set_transform(SetTransform {
                        scene: &scene.name,
                        item_id,
                        transform,
                    })
                    .await?;
            }
        }
    }
    // Sidecar-owned settings (link address, token) follow the sidecar on every start.
    for (source, settings) in overrides {
        if inputs.contains(source) {
            client
                .inputs()
                .set_settings(obws::requests::inputs::SetSettings {
                    input: source,
                    settings,
                    overlay: Some(true),
                })
                .await?;
        }
    }
    Ok(report)
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

    #[test]
    fn the_cjk_font_alias_resolves_per_platform() {
        let mut settings =
            serde_json::json!({ "text": "你好", "font": { "face": "cjk", "size": 48 } });
        let map = settings.as_object_mut().unwrap();
        resolve_font(map, "windows");
        assert_eq!(map["font"]["face"], "Microsoft YaHei");
        let mut other = serde_json::json!({ "font": { "face": "Arial" } });
        resolve_font(other.as_object_mut().unwrap(), "ubuntu");
        assert_eq!(other["font"]["face"], "Arial");
    }

    #[test]
    fn portable_kinds_resolve_per_platform() {
        let linux = vec![
            "text_ft2_source_v2".to_string(),
            "color_source_v3".to_string(),
        ];
        let windows = vec!["text_gdiplus_v2".to_string(), "color_source_v3".to_string()];
        assert_eq!(resolve_kind("text", &linux), "text_ft2_source_v2");
        assert_eq!(resolve_kind("text", &windows), "text_gdiplus_v2");
        assert_eq!(resolve_kind("ai_avatar", &linux), "ai_avatar");
    }
}
