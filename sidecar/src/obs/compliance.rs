//! `[compliance]`: the virtual-anchor label Douyin's rules (2023-05) require on a stream
//! driven by an AI: "AI 虚拟主播 · 真人运营".
//!
//! The label does not rest on the scene files remembering it: [`label_scenes`] puts a label
//! item into **every** scene the sidecar manages (the shipped ones and any `scenes/*.toml`)
//! before they are ensured, marked `pinned`, so every ensure (each connection, each reload)
//! makes it visible again, puts it on top and resets its text. A streamer who hides or
//! deletes it gets it back at the next ensure. Turning it off takes `label = false` with a
//! `label_off_reason`, which is logged at start.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scenes::{ItemSpec, SceneSet};

pub const DEFAULT_LABEL: &str = "AI 虚拟主播 · 真人运营";
pub const DEFAULT_LABEL_SOURCE: &str = "Virtual anchor label";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceConfig {
    /// Whether the label is ensured in every scene.
    pub label: bool,
    pub label_text: String,
    /// The OBS text source that shows it (shared by every scene).
    pub label_source: String,
    /// Why the label is off: required with `label = false`, logged at start.
    pub label_off_reason: Option<String>,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self {
            label: true,
            label_text: DEFAULT_LABEL.into(),
            label_source: DEFAULT_LABEL_SOURCE.into(),
            label_off_reason: None,
        }
    }
}

impl ComplianceConfig {
    /// `(key, message)` for the config's errors.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let reason = self.label_off_reason.as_deref().unwrap_or("").trim();
        if !self.label && reason.is_empty() {
            return Err((
                "compliance.label".into(),
                "the virtual-anchor label is required on Douyin; `label = false` needs \
                 `label_off_reason = \"…\"` saying why"
                    .into(),
            ));
        }
        if self.label && self.label_text.trim().is_empty() {
            return Err(("compliance.label_text".into(), "must not be empty".into()));
        }
        if self.label_source.trim().is_empty() {
            return Err(("compliance.label_source".into(), "must not be empty".into()));
        }
        Ok(())
    }

    /// Logs, at start, what the label is (or why it is off).
    pub fn log_at_start(&self) {
        match self.label {
            true => {
                tracing::info!(text = %self.label_text, source = %self.label_source, "virtual-anchor label ensured in every scene")
            }
            false => tracing::warn!(
                reason = self.label_off_reason.as_deref().unwrap_or(""),
                "the virtual-anchor label is switched off ([compliance] label = false)"
            ),
        }
    }
}

/// Puts the label into every scene of `set` (on top, visible, with the configured text) and
/// returns the scenes whose files did not have it. A label item a file has keeps its place
/// and size but is made visible, pinned and given the text.
pub fn label_scenes(set: &mut SceneSet, cfg: &ComplianceConfig) -> Vec<String> {
    if !cfg.label {
        return Vec::new();
    }
    let mut added = Vec::new();
    for scene in &mut set.scenes {
        let found = scene
            .items
            .iter()
            .position(|i| i.source == cfg.label_source);
        let mut item = match found {
            Some(at) => scene.items.remove(at),
            None => {
                added.push(scene.name.clone());
                label_item(cfg)
            }
        };
        item.visible = true;
        item.pinned = true;
        item.settings.insert(
            "text".into(),
            serde_json::Value::String(cfg.label_text.clone()),
        );
        // Last in the list: created last, so on top even before it is moved there.
        scene.items.push(item);
    }
    added
}

/// [`label_scenes`] for a running show: what had to be added is logged.
pub fn label_and_log(set: &mut SceneSet, cfg: &ComplianceConfig) {
    let added = label_scenes(set, cfg);
    if !added.is_empty() {
        tracing::info!(scenes = ?added, label = %cfg.label_source, "these scene files have no virtual-anchor label; the sidecar adds it");
    }
}

/// What `check-config` says about the label, given the scenes [`label_scenes`] added it to.
pub fn check_config_note(added: &[String], cfg: &ComplianceConfig) -> String {
    match (cfg.label, added.is_empty()) {
        (false, _) => format!(
            "compliance: the virtual-anchor label is OFF (reason: {})",
            cfg.label_off_reason.as_deref().unwrap_or("")
        ),
        (true, true) => format!("compliance: label {:?} in every scene", cfg.label_text),
        (true, false) => format!(
            "compliance: label {:?} added to scenes without it: {}",
            cfg.label_text,
            added.join(", ")
        ),
    }
}

/// The label as the shipped scenes draw it: top left, white CJK text.
fn label_item(cfg: &ComplianceConfig) -> ItemSpec {
    let font = serde_json::json!({ "face": "cjk", "size": 36, "style": "Regular", "flags": 0 });
    let white = serde_json::json!(4294967295u32);
    let settings: BTreeMap<String, serde_json::Value> = [
        ("text", serde_json::Value::String(cfg.label_text.clone())),
        ("font", font),
        ("color1", white.clone()),
        ("color2", white),
        ("color", serde_json::json!(16777215)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    ItemSpec {
        source: cfg.label_source.clone(),
        kind: "text".into(),
        area: Some([0.03, 0.04, 0.30, 0.07]),
        settings,
        visible: true,
        filters: Vec::new(),
        pinned: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> SceneSet {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes");
        SceneSet::load_dir(&root).unwrap()
    }

    #[test]
    fn every_scene_gets_the_label_on_top_and_a_forgotten_one_is_reported() {
        let mut set = shipped();
        let cfg = ComplianceConfig::default();
        for scene in &mut set.scenes {
            if scene.name == "Celebration" {
                scene.items.retain(|i| i.source != cfg.label_source);
            }
        }
        assert_eq!(
            label_scenes(&mut set, &cfg),
            vec!["Celebration".to_string()]
        );
        for scene in &set.scenes {
            let top = scene.items.last().unwrap();
            assert_eq!(top.source, cfg.label_source, "{}", scene.name);
            assert!(top.visible && top.pinned);
            assert_eq!(top.settings["text"], DEFAULT_LABEL);
            let labels = scene.items.iter().filter(|i| i.source == cfg.label_source);
            assert_eq!(labels.count(), 1);
        }
        assert!(label_scenes(&mut set, &cfg).is_empty(), "idempotent");
    }

    #[test]
    fn the_label_is_off_only_with_a_reason() {
        let mut cfg = ComplianceConfig {
            label: false,
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().0 == "compliance.label");
        cfg.label_off_reason = Some("  ".into());
        assert!(cfg.validate().is_err());
        cfg.label_off_reason = Some("labelled by the platform's own overlay".into());
        assert!(cfg.validate().is_ok());
        let mut set = shipped();
        let before: Vec<usize> = set.scenes.iter().map(|s| s.items.len()).collect();
        assert!(label_scenes(&mut set, &cfg).is_empty());
        let after: Vec<usize> = set.scenes.iter().map(|s| s.items.len()).collect();
        assert_eq!(before, after);
    }
}
