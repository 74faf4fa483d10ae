//! Bringing OBS in line with the triggers' [`Effects`] on one connection.
//!
//! Each kind of effect remembers what this connection already put into OBS, so an unchanged
//! text is not sent again and a restart is played once. A refusal (no such source, no such
//! filter) is logged once per thing and connection and skipped; only a lost connection is an
//! error. Scene switches are decided in [`super::program`].

use std::collections::{BTreeMap, BTreeSet};

use obws::common::MediaAction;
use obws::requests::scene_items::{Id as ItemId, SetEnabled as SetItemEnabled};
use tokio::time::Instant;

use super::effects::{Effects, Shown};
use super::request::{Obs, RequestError};

/// What this connection applied of the effects.
#[derive(Default)]
pub struct AppliedEffects {
    texts: BTreeMap<String, String>,
    visibility: BTreeMap<(Option<String>, String), bool>,
    media: BTreeMap<String, u64>,
    filters: BTreeMap<(String, String), u64>,
    settings: BTreeMap<String, u64>,
    /// OBS's scenes, read once per connection (for sources shown "in every scene").
    scene_list: Option<Vec<String>>,
    reported: BTreeSet<String>,
}

impl AppliedEffects {
    fn settle<T>(
        &mut self,
        what: String,
        result: Result<T, RequestError>,
    ) -> Result<Option<T>, RequestError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.connection_lost() => Err(e),
            Err(e) => {
                if self.reported.insert(what.clone()) {
                    tracing::warn!(effect = %what, error = %e, "OBS refused a trigger's effect; the show goes on without it");
                }
                Ok(None)
            }
        }
    }
}

pub async fn apply_effects(
    obs: &Obs,
    fx: &Effects,
    applied: &mut AppliedEffects,
) -> Result<(), RequestError> {
    let now = Instant::now();
    let c = obs.client();
    for (source, text) in &fx.texts {
        if applied.texts.get(source) != Some(text) {
            let sent = set_settings(obs, source, serde_json::json!({ "text": text })).await;
            applied.settle(format!("text of {source}"), sent)?;
            applied.texts.insert(source.clone(), text.clone());
        }
    }
    for (key, shown) in &fx.visibility {
        let visible = Shown::now(shown, now);
        if applied.visibility.get(key) != Some(&visible) {
            set_visible(obs, applied, key.0.as_deref(), &key.1, visible).await?;
            applied.visibility.insert(key.clone(), visible);
        }
    }
    for (input, pulse) in &fx.media {
        if applied.media.get(input).is_none_or(|seq| *seq < pulse.seq) {
            applied.media.insert(input.clone(), pulse.seq);
            if pulse.fresh(now) {
                let sent = obs
                    .call(
                        "TriggerMediaInputAction",
                        c.media_inputs().trigger_action(input, MediaAction::Restart),
                    )
                    .await;
                applied.settle(format!("restart of {input}"), sent)?;
            }
        }
    }
    for ((source, filter), want) in &fx.filters {
        let key = (source.clone(), filter.clone());
        let done = applied.filters.get(&key).copied().unwrap_or(0);
        let what = format!("filter {filter} on {source}");
        if let Some((on, seq)) = want.enabled {
            if seq > done {
                let sent = set_filter(obs, source, filter, on).await;
                applied.settle(what.clone(), sent)?;
                applied.filters.insert(key.clone(), seq);
            }
        }
        if let Some(pulse) = want.toggle {
            if pulse.seq > done {
                applied.filters.insert(key.clone(), pulse.seq);
                if pulse.fresh(now) {
                    let current = obs
                        .call("GetSourceFilter", c.filters().get(source, filter))
                        .await;
                    if let Some(current) = applied.settle(what.clone(), current)? {
                        let sent = set_filter(obs, source, filter, !current.enabled).await;
                        applied.settle(what, sent)?;
                    }
                }
            }
        }
    }
    for (input, (settings, seq)) in &fx.settings {
        if applied.settings.get(input).is_none_or(|done| done < seq) {
            let sent = set_settings(obs, input, serde_json::Value::Object(settings.clone())).await;
            applied.settle(format!("settings of {input}"), sent)?;
            applied.settings.insert(input.clone(), *seq);
        }
    }
    Ok(())
}

/// Merges `settings` into an input's settings (texts are a `text` setting).
pub(super) async fn set_settings(
    obs: &Obs,
    input: &str,
    settings: serde_json::Value,
) -> Result<(), RequestError> {
    let request = obws::requests::inputs::SetSettings {
        input,
        settings: &settings,
        overlay: Some(true),
    };
    obs.call(
        "SetInputSettings",
        obs.client().inputs().set_settings(request),
    )
    .await
}

async fn set_filter(
    obs: &Obs,
    source: &str,
    filter: &str,
    enabled: bool,
) -> Result<(), RequestError> {
    let request = obws::requests::filters::SetEnabled {
        source,
        filter,
        enabled,
    };
    obs.call(
        "SetSourceFilterEnabled",
        obs.client().filters().set_enabled(request),
    )
    .await
}

/// Shows or hides `source` in `scene`, or in every OBS scene that has it.
async fn set_visible(
    obs: &Obs,
    applied: &mut AppliedEffects,
    scene: Option<&str>,
    source: &str,
    visible: bool,
) -> Result<(), RequestError> {
    let c = obs.client();
    let scenes = match scene {
        Some(scene) => vec![scene.to_string()],
        None => {
            if applied.scene_list.is_none() {
                let list = obs.call("GetSceneList", c.scenes().list()).await?;
                applied.scene_list = Some(list.scenes.into_iter().map(|s| s.name).collect());
            }
            applied.scene_list.clone().unwrap_or_default()
        }
    };
    let mut found = false;
    for scene in &scenes {
        let lookup = ItemId {
            scene,
            source,
            search_offset: None,
        };
        let id = match obs.call("GetSceneItemId", c.scene_items().id(lookup)).await {
            Ok(id) => id,
            Err(e) if e.connection_lost() => return Err(e),
            Err(_) => continue, // not in this scene
        };
        found = true;
        let request = SetItemEnabled {
            scene,
            item_id: id,
            enabled: visible,
        };
        let sent = obs
            .call("SetSceneItemEnabled", c.scene_items().set_enabled(request))
            .await;
        applied.settle(format!("visibility of {source} in {scene}"), sent)?;
    }
    if !found {
        let what = format!("visibility of {source}");
        if applied.reported.insert(what.clone()) {
            tracing::warn!(effect = %what, scene = scene.unwrap_or("(any)"), "no OBS scene has this source; the trigger's show/hide is skipped");
        }
    }
    Ok(())
}
