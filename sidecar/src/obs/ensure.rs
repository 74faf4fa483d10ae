//! Making OBS match the scene set, one item at a time.
//!
//! Ensuring is idempotent: a missing scene is created, a missing input is created in its first
//! scene, an existing input is added to further scenes as a reference (one avatar shared by
//! every scene, so it keeps talking across a scene switch), and nothing the streamer already has
//! is moved or duplicated. Layout (`box`) is only applied to items the sidecar creates.
//!
//! Each scene and item fails on its own: when OBS refuses one (an input kind whose plugin is not
//! loaded, a name clash), that failure is logged once, naming what is missing and what to do,
//! and the rest is still set up, so the show keeps its text overlays and scene switches without
//! the avatar. Only a lost connection (a timeout, a closed socket) ends the pass: the controller
//! reconnects and ensures again.

use std::collections::{BTreeMap, BTreeSet};

use obws::requests::inputs::Create as CreateInput;
use obws::requests::scene_items::{
    Bounds, CreateSceneItem, Id as ItemId, Position, SceneItemTransform, SetTransform,
};

use super::request::{Obs, RequestError};
use super::scenes::{ItemSpec, SceneSet, SceneSpec};

/// The input kind the AI Avatar plugin registers.
pub const AVATAR_KIND: &str = "ai_avatar";

/// What `ensure` changed, for the log (and for tests of idempotence).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnsureReport {
    pub scenes_created: Vec<String>,
    pub inputs_created: Vec<String>,
    pub items_added: Vec<String>,
    /// Scenes, sources and settings OBS refused (each already logged with its reason).
    pub failed: Vec<String>,
}

impl EnsureReport {
    /// Nothing had to change and nothing failed.
    pub fn is_empty(&self) -> bool {
        self.scenes_created.is_empty()
            && self.inputs_created.is_empty()
            && self.items_added.is_empty()
            && self.failed.is_empty()
    }
}

/// Maps portable kind aliases onto the platform's input kinds.
pub(super) fn resolve_kind(kind: &str, available: &[String]) -> String {
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
pub(super) fn resolve_font(
    settings: &mut serde_json::Map<String, serde_json::Value>,
    obs_platform: &str,
) {
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

/// What the user should do about an input kind OBS does not know.
fn missing_kind_advice(kind: &str) -> &'static str {
    if kind == AVATAR_KIND {
        "the AI Avatar plugin is not loaded in OBS: install it (Linux: ai-avatar.so into \
         ~/.config/obs-studio/plugins/ai-avatar/bin/64bit/ and obs-plugin/data into \
         .../plugins/ai-avatar/data; Windows: ai_avatar.dll into obs-plugins/64bit; see the \
         README), then restart OBS"
    } else {
        "install or enable the OBS plugin that provides this source type, or change `kind` in \
         the scene file"
    }
}

/// Makes OBS contain every scene and item of `set`. `overrides` are settings the sidecar owns
/// per source (e.g. the avatar's link address and token), applied on every run.
///
/// Returns `Err` only when the connection is lost; refusals are logged and listed in
/// [`EnsureReport::failed`].
pub async fn ensure(
    obs: &Obs,
    set: &SceneSet,
    overrides: &BTreeMap<String, serde_json::Value>,
) -> Result<EnsureReport, RequestError> {
    let c = obs.client();
    let scenes = obs.call("GetSceneList", c.scenes().list()).await?.scenes;
    let existing_scenes: Vec<String> = scenes.into_iter().map(|s| s.name).collect();
    let video = obs
        .call("GetVideoSettings", c.config().video_settings())
        .await?;
    let inputs = obs.call("GetInputList", c.inputs().list(None)).await?;
    let mut pass = Pass {
        obs,
        set,
        overrides,
        kinds: obs
            .call("GetInputKindList", c.inputs().list_kinds(false))
            .await?,
        platform: obs
            .call("GetVersion", c.general().version())
            .await?
            .platform,
        canvas: (video.base_width as f32, video.base_height as f32),
        inputs: inputs.into_iter().map(|i| i.name).collect(),
        unavailable: BTreeSet::new(),
        report: EnsureReport::default(),
    };

    for scene in &set.scenes {
        if !existing_scenes.contains(&scene.name) {
            match obs
                .call("CreateScene", c.scenes().create(&scene.name))
                .await
            {
                Ok(()) => pass.report.scenes_created.push(scene.name.clone()),
                Err(e) if e.connection_lost() => return Err(e),
                Err(e) => {
                    tracing::error!(
                        scene = %scene.name, error = %e,
                        "OBS refused to create this scene; its sources are skipped, the rest \
                         of the scene set-up goes on"
                    );
                    pass.report.failed.push(format!("scene {}", scene.name));
                    continue;
                }
            }
        }
        for item in &scene.items {
            match pass.item(scene, item).await {
                Ok(()) => {}
                Err(e) if e.connection_lost() => return Err(e),
                Err(e) => {
                    tracing::error!(
                        scene = %scene.name, source = %item.source, error = %e,
                        "OBS refused a scene item; the rest of the scene set-up goes on"
                    );
                    pass.report
                        .failed
                        .push(format!("{}/{}", scene.name, item.source));
                }
            }
        }
    }
    pass.apply_overrides().await?;
    Ok(pass.report)
}

/// One run of [`ensure`]: what OBS has, and what this run could not create.
struct Pass<'a> {
    obs: &'a Obs,
    set: &'a SceneSet,
    overrides: &'a BTreeMap<String, serde_json::Value>,
    kinds: Vec<String>,
    platform: String,
    canvas: (f32, f32),
    inputs: Vec<String>,
    /// Sources whose creation failed in this run: reported once, skipped in further scenes.
    unavailable: BTreeSet<String>,
    report: EnsureReport,
}

impl Pass<'_> {
    async fn item(&mut self, scene: &SceneSpec, item: &ItemSpec) -> Result<(), RequestError> {
        if self.unavailable.contains(&item.source) {
            return Ok(());
        }
        let c = self.obs.client();
        let lookup = ItemId {
            scene: &scene.name,
            source: &item.source,
            search_offset: None,
        };
        match self
            .obs
            .call("GetSceneItemId", c.scene_items().id(lookup))
            .await
        {
            Ok(id) if item.pinned => return self.pin(scene, item, id).await,
            Ok(_) => return Ok(()),
            // A refusal is how OBS says "not in this scene".
            Err(e) if e.connection_lost() => return Err(e),
            Err(_) => {}
        }
        let item_id = if self.inputs.contains(&item.source) {
            let created = CreateSceneItem {
                scene: &scene.name,
                source: &item.source,
                enabled: Some(item.visible),
            };
            let id = self
                .obs
                .call("CreateSceneItem", c.scene_items().create(created))
                .await?;
            self.report
                .items_added
                .push(format!("{}/{}", scene.name, item.source));
            id
        } else {
            let kind = resolve_kind(&item.kind, &self.kinds);
            if !self.kinds.contains(&kind) {
                self.missing_kind(&item.source, &kind);
                return Ok(());
            }
            let mut settings = serde_json::Map::new();
            settings.extend(item.settings.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(serde_json::Value::Object(extra)) = self.overrides.get(&item.source) {
                settings.extend(extra.clone());
            }
            resolve_font(&mut settings, &self.platform);
            let create = CreateInput {
                scene: &scene.name,
                input: &item.source,
                kind: &kind,
                settings: Some(serde_json::Value::Object(settings)),
                enabled: Some(item.visible),
            };
            match self
                .obs
                .call("CreateInput", c.inputs().create(create))
                .await
            {
                Ok(id) => {
                    self.inputs.push(item.source.clone());
                    self.report.inputs_created.push(item.source.clone());
                    id
                }
                Err(e) => {
                    // Not again in the next scene that shares this source.
                    self.unavailable.insert(item.source.clone());
                    return Err(e);
                }
            }
        };
        if let Some(area) = item.area {
            self.lay_out(scene, item_id, area).await?;
        }
        if item.pinned {
            self.pin(scene, item, item_id).await?;
        }
        Ok(())
    }

    /// A pinned item (the compliance label) is shown, on top, with its text, whatever the
    /// streamer did to it since the last ensure.
    async fn pin(
        &mut self,
        scene: &SceneSpec,
        item: &ItemSpec,
        item_id: i64,
    ) -> Result<(), RequestError> {
        use obws::requests::scene_items::{SetEnabled, SetIndex};
        let c = self.obs.client();
        let enabled = SetEnabled {
            scene: &scene.name,
            item_id,
            enabled: true,
        };
        self.obs
            .call("SetSceneItemEnabled", c.scene_items().set_enabled(enabled))
            .await?;
        let count = self
            .obs
            .call("GetSceneItemList", c.scene_items().list(&scene.name))
            .await?
            .len();
        let index = SetIndex {
            scene: &scene.name,
            item_id,
            index: count.saturating_sub(1) as u32,
        };
        self.obs
            .call("SetSceneItemIndex", c.scene_items().set_index(index))
            .await?;
        if let Some(text) = item.settings.get("text") {
            let settings = serde_json::json!({ "text": text });
            let request = obws::requests::inputs::SetSettings {
                input: &item.source,
                settings: &settings,
                overlay: Some(true),
            };
            self.obs
                .call("SetInputSettings", c.inputs().set_settings(request))
                .await?;
        }
        Ok(())
    }

    /// One error for a source whose kind OBS lacks, however many scenes it is in.
    fn missing_kind(&mut self, source: &str, kind: &str) {
        let scenes: Vec<&str> = self
            .set
            .scenes
            .iter()
            .filter(|s| s.items.iter().any(|i| i.source == source))
            .map(|s| s.name.as_str())
            .collect();
        tracing::error!(
            %source, %kind, ?scenes,
            "OBS has no `{kind}` source type, so \"{source}\" cannot be created: {}. The \
             other scenes and sources are set up without it.",
            missing_kind_advice(kind)
        );
        self.unavailable.insert(source.to_string());
        self.report
            .failed
            .push(format!("{source} (no `{kind}` source type in OBS)"));
    }

    async fn lay_out(
        &mut self,
        scene: &SceneSpec,
        item_id: i64,
        [x, y, w, h]: [f32; 4],
    ) -> Result<(), RequestError> {
        let (cw, ch) = self.canvas;
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
        let set = SetTransform {
            scene: &scene.name,
            item_id,
            transform,
        };
        self.obs
            .call(
                "SetSceneItemTransform",
                self.obs.client().scene_items().set_transform(set),
            )
            .await
    }

    /// Sidecar-owned settings (link address, token) follow the sidecar on every connection.
    async fn apply_overrides(&mut self) -> Result<(), RequestError> {
        for (source, settings) in self.overrides {
            if !self.inputs.contains(source) {
                continue; // never created (already reported) or not part of the scenes
            }
            let request = obws::requests::inputs::SetSettings {
                input: source,
                settings,
                overlay: Some(true),
            };
            let inputs = self.obs.client().inputs();
            match self
                .obs
                .call("SetInputSettings", inputs.set_settings(request))
                .await
            {
                Ok(()) => {}
                Err(e) if e.connection_lost() => return Err(e),
                // The settings themselves (a token) are never logged.
                Err(e) => {
                    tracing::error!(
                        %source, error = %e,
                        "OBS refused the sidecar's settings for this source (e.g. the avatar's \
                         link address and token); it will not reach the sidecar"
                    );
                    self.report.failed.push(format!("{source} settings"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(resolve_kind(AVATAR_KIND, &linux), AVATAR_KIND);
    }

    #[test]
    fn advice_for_a_missing_avatar_names_the_plugin_and_the_fix() {
        let advice = missing_kind_advice(AVATAR_KIND);
        assert!(
            advice.contains("AI Avatar plugin is not loaded"),
            "{advice}"
        );
        assert!(advice.contains("restart OBS"), "{advice}");
        assert!(missing_kind_advice("vlc_source").contains("scene file"));
    }
}
