//! Compiling a `do` step: exactly one action, its options checked.

use std::ops::Range;

use toml::Spanned;

use super::{positive_ms, Compiler, TriggerError, TRIGGER_PLACEHOLDERS};
use crate::template::Template;
use crate::triggers::spec::StepSpec;
use crate::triggers::step::{Return, Step};

impl Compiler<'_> {
    pub(super) fn step(&self, spec: &Spanned<StepSpec>, name: &str) -> Result<Step, TriggerError> {
        let at = spec.span();
        let err = |span: Range<usize>, message: String| self.error(span, Some(name), message);
        let s = spec.get_ref();
        let template = |t: &Spanned<String>| {
            Template::parse_with_placeholders(t.get_ref(), TRIGGER_PLACEHOLDERS)
                .map_err(|e| err(t.span(), e.to_string()))
        };
        let ms = |secs: Option<f64>, key: &str| -> Result<Option<u64>, TriggerError> {
            secs.map(|v| {
                positive_ms(v).ok_or_else(|| {
                    err(
                        at.clone(),
                        format!("{key} must be more than 0 seconds, not {v}"),
                    )
                })
            })
            .transpose()
        };
        let actions = [
            s.speak.is_some(),
            s.expression.is_some(),
            s.motion.is_some(),
            s.sound.is_some(),
            s.sound_file.is_some(),
            s.scene.is_some(),
            s.show_source.is_some(),
            s.hide_source.is_some(),
            s.set_text.is_some(),
            s.restart_media.is_some(),
            s.filter_source.is_some(),
            s.input.is_some(),
            s.wait_secs.is_some(),
            s.start_stream.is_some(),
            s.stop_stream.is_some(),
        ];
        match actions.iter().filter(|a| **a).count() {
            1 => {}
            0 => return Err(err(at, "a step needs one action: speak, expression, motion, sound, sound_file, scene, show_source, hide_source, set_text, restart_media, filter_source, input, start_stream, stop_stream, wait_secs".into())),
            _ => return Err(err(at, "a step has one action; split these into separate [[trigger.do]] steps".into())),
        }
        let step = if let Some(target) = s.start_stream.as_ref().or(s.stop_stream.as_ref()) {
            let name = target.get_ref().trim();
            if name.is_empty() {
                return Err(err(
                    target.span(),
                    "start_stream names a [[push]] target of the config, or \"all\"".into(),
                ));
            }
            Step::Push {
                target: (name != "all").then(|| name.to_string()),
                start: s.start_stream.is_some(),
            }
        } else if let Some(t) = &s.speak {
            Step::Speak {
                template: template(t)?,
                wait: s.wait_for_line,
            }
        } else if let Some(name) = &s.expression {
            Step::Expression {
                name: name.clone(),
                ms: ms(s.secs, "secs")?.unwrap_or(3000),
            }
        } else if let Some(name) = &s.motion {
            Step::Motion(name.clone())
        } else if let Some(media) = &s.sound {
            Step::RestartMedia(media.get_ref().clone())
        } else if let Some(file) = &s.sound_file {
            let gain_db = match &s.volume_db {
                Some(v) if !(-60.0..=12.0).contains(v.get_ref()) => {
                    return Err(err(
                        v.span(),
                        format!(
                            "volume_db must be between -60 and 12 (dB), not {}",
                            v.get_ref()
                        ),
                    ))
                }
                Some(v) => *v.get_ref(),
                None => 0.0,
            };
            let name = file.get_ref();
            if !name.to_ascii_lowercase().ends_with(".wav") {
                return Err(err(
                    file.span(),
                    format!("sound_file must be a .wav file, not {name:?} (convert it, or play it from a media source with `sound`)"),
                ));
            }
            Step::VoiceSound {
                file: name.clone(),
                gain_db,
            }
        } else if let Some(scene) = &s.scene {
            let back = match (s.return_after_secs, &s.return_when) {
                (Some(_), Some(w)) => {
                    return Err(err(
                        w.span(),
                        "use return_after_secs or return_when, not both".into(),
                    ))
                }
                (Some(secs), None) => {
                    Return::AfterMs(ms(Some(secs), "return_after_secs")?.unwrap_or(0))
                }
                (None, Some(w)) if w.get_ref() == "line_end" => Return::LineEnd,
                (None, Some(w)) => {
                    return Err(err(
                        w.span(),
                        format!("return_when must be \"line_end\", not {:?}", w.get_ref()),
                    ))
                }
                (None, None) => Return::Stay,
            };
            Step::Scene {
                scene: scene.get_ref().clone(),
                back,
            }
        } else if let Some(source) = s.show_source.as_ref().or(s.hide_source.as_ref()) {
            Step::Visibility {
                source: source.get_ref().clone(),
                scene: s.in_scene.as_ref().map(|s| s.get_ref().clone()),
                visible: s.show_source.is_some(),
                ms: ms(s.secs, "secs")?,
            }
        } else if let Some(source) = &s.set_text {
            let text = s
                .text
                .as_ref()
                .ok_or_else(|| err(source.span(), "set_text needs `text` (a template)".into()))?;
            Step::SetText {
                source: source.get_ref().clone(),
                text: template(text)?,
            }
        } else if let Some(media) = &s.restart_media {
            Step::RestartMedia(media.get_ref().clone())
        } else if let Some(source) = &s.filter_source {
            let filter = s.filter.as_ref().ok_or_else(|| {
                err(
                    source.span(),
                    "filter_source needs `filter` (the filter's name)".into(),
                )
            })?;
            Step::Filter {
                source: source.get_ref().clone(),
                filter: filter.get_ref().clone(),
                enabled: s.enabled,
            }
        } else if let Some(input) = &s.input {
            let settings = s
                .settings
                .as_ref()
                .ok_or_else(|| err(input.span(), "input needs `settings` (a table)".into()))?;
            let settings = serde_json::to_value(settings)
                .map_err(|e| err(input.span(), format!("settings: {e}")))?;
            Step::InputSettings {
                input: input.get_ref().clone(),
                settings,
            }
        } else {
            let secs = s.wait_secs.unwrap_or_default();
            Step::Wait {
                ms: ms(Some(secs), "wait_secs")?.unwrap_or(0),
            }
        };
        Ok(step)
    }
}
