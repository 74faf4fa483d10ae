//! What the triggers need in OBS, made sure of on every connection and every reload.
//!
//! Scenes and sources the scene files describe are created by [`super::ensure`]; filters they
//! describe (`[[scene.item.filter]]`) are created here. Whatever a trigger names that is still
//! missing afterwards is reported naming the trigger, its file and line, so the streamer
//! knows which rule will not show and where to fix it. The show goes on either way.

use std::collections::BTreeSet;

use aivs_core::triggers::Needs;
use obws::requests::filters::Create as CreateFilter;
use obws::requests::scene_items::Id as ItemId;

use super::request::{Obs, RequestError};
use super::scenes::SceneSet;

/// One thing a trigger needs that OBS does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub what: String,
    pub trigger: String,
    pub file: String,
    pub line: usize,
}

/// Creates the filters the scene files describe and reports what the triggers need but OBS
/// lacks. Only a lost connection is an error.
pub async fn make_sure(obs: &Obs, set: &SceneSet) -> Result<Vec<Missing>, RequestError> {
    let c = obs.client();
    let inputs: BTreeSet<String> = obs
        .call("GetInputList", c.inputs().list(None))
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();
    let mut done = BTreeSet::new();
    for item in set.scenes.iter().flat_map(|s| &s.items) {
        if !inputs.contains(&item.source) {
            continue; // ensure could not create it; already reported
        }
        for filter in &item.filters {
            if !done.insert((item.source.clone(), filter.name.clone())) {
                continue;
            }
            match obs
                .call(
                    "GetSourceFilter",
                    c.filters().get(&item.source, &filter.name),
                )
                .await
            {
                Ok(_) => continue,
                Err(e) if e.connection_lost() => return Err(e),
                Err(_) => {}
            }
            let settings: serde_json::Map<String, serde_json::Value> = filter
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let create = CreateFilter {
                source: &item.source,
                filter: &filter.name,
                kind: &filter.kind,
                settings: Some(serde_json::Value::Object(settings)),
            };
            match obs
                .call("CreateSourceFilter", c.filters().create(create))
                .await
            {
                Ok(()) if !filter.enabled => {
                    let off = obws::requests::filters::SetEnabled {
                        source: &item.source,
                        filter: &filter.name,
                        enabled: false,
                    };
                    match obs
                        .call("SetSourceFilterEnabled", c.filters().set_enabled(off))
                        .await
                    {
                        Err(e) if e.connection_lost() => return Err(e),
                        _ => {
                            tracing::info!(source = %item.source, filter = %filter.name, "filter created (disabled)")
                        }
                    }
                }
                Ok(()) => {
                    tracing::info!(source = %item.source, filter = %filter.name, "filter created")
                }
                Err(e) if e.connection_lost() => return Err(e),
                Err(e) => {
                    tracing::error!(source = %item.source, filter = %filter.name, kind = %filter.kind, error = %e, "OBS refused to create this filter")
                }
            }
        }
    }
    let scenes: BTreeSet<String> = obs
        .call("GetSceneList", c.scenes().list())
        .await?
        .scenes
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mut missing = Vec::new();
    for need in &set.needs {
        let absent = match &need.need {
            Needs::Scene(scene) => (!scenes.contains(scene)).then(|| format!("scene {scene:?}")),
            // Scenes are sources too (a scene can be nested, shown and hidden).
            Needs::Input(input) => (!inputs.contains(input) && !scenes.contains(input))
                .then(|| format!("source {input:?}")),
            Needs::Item { scene, source } => {
                let lookup = ItemId {
                    scene,
                    source,
                    search_offset: None,
                };
                match obs.call("GetSceneItemId", c.scene_items().id(lookup)).await {
                    Ok(_) => None,
                    Err(e) if e.connection_lost() => return Err(e),
                    Err(_) => Some(format!("source {source:?} in scene {scene:?}")),
                }
            }
            Needs::Filter { source, filter } => {
                match obs
                    .call("GetSourceFilter", c.filters().get(source, filter))
                    .await
                {
                    Ok(_) => None,
                    Err(e) if e.connection_lost() => return Err(e),
                    Err(_) => Some(format!("filter {filter:?} on {source:?}")),
                }
            }
        };
        if let Some(what) = absent {
            tracing::error!(
                trigger = %need.trigger, at = %format!("{}:{}", need.file, need.line), missing = %what,
                "a trigger needs something OBS does not have and no scene file describes: add it \
                 in OBS or to a scene file, or fix the name; the trigger's other steps still run"
            );
            missing.push(Missing {
                what,
                trigger: need.trigger.clone(),
                file: need.file.clone(),
                line: need.line,
            });
        }
    }
    if missing.is_empty() && !set.needs.is_empty() {
        tracing::info!(
            checked = set.needs.len(),
            "everything the triggers need is in OBS"
        );
    }
    Ok(missing)
}
