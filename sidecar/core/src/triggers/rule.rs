//! Checking what the streamer wrote and compiling it into [`Rule`]s.
//!
//! Everything that can be wrong is found here, before the show uses a rule, and reported with
//! the file, line and column of the offending key: an unknown action, a bad regex, an unknown
//! placeholder, a cooldown of `-1`, a group nobody defined.

use std::ops::Range;

use regex::RegexBuilder;
use toml::Spanned;

use super::condition::{CommentCond, Cond, GiftCond, Kinds, ViewerCond};
use super::spec::{GroupSpec, PrioritySpec, StepSpec, TriggerSpec, WhenSpec};
use super::step::{Needs, Return, Step};
use crate::scheduler::priority;
use crate::template::Template;

/// Placeholders a trigger's templates may use.
pub const TRIGGER_PLACEHOLDERS: &[&str] = &[
    "user", "gift", "count", "value", "tier", "name", "text", "online", "likes", "visits",
    "trigger",
];

/// Regexes are compiled with a size cap, so a pathological pattern is an error, not a stall.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A trigger file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", trigger.as_ref().map(|t| format!("trigger {t:?}: ")).unwrap_or_default())]
pub struct TriggerError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub trigger: Option<String>,
    pub message: String,
}

/// One trigger, ready to match and run.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// Where it was written (`scenes/gifts.toml`, line): named in every report about it.
    pub file: String,
    pub line: usize,
    pub cond: Cond,
    pub kinds: Kinds,
    /// The steps, each with the line it was written on.
    pub steps: Vec<(Step, usize)>,
    pub cooldown_ms: u64,
    pub viewer_cooldown_ms: u64,
    pub max_per_minute: u32,
    pub group: Option<String>,
    pub priority: i32,
    pub paid: bool,
}

impl Rule {
    /// What the rule needs in OBS, each with the line of the step that needs it.
    pub fn needs(&self) -> Vec<(Needs, usize)> {
        self.steps
            .iter()
            .flat_map(|(step, line)| step.needs().into_iter().map(move |n| (n, *line)))
            .collect()
    }
}

/// Compiles one file's triggers; `known_groups` are the groups defined in any file.
pub(super) struct Compiler<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub known_groups: &'a [GroupSpec],
}

impl Compiler<'_> {
    pub fn error(
        &self,
        span: Range<usize>,
        trigger: Option<&str>,
        message: String,
    ) -> TriggerError {
        let (line, column) = line_col(self.text, span.start);
        TriggerError {
            file: self.file.to_string(),
            line,
            column,
            trigger: trigger.map(str::to_string),
            message,
        }
    }

    pub fn rule(&self, spec: &Spanned<TriggerSpec>) -> Result<Rule, TriggerError> {
        let t = spec.get_ref();
        let name = t.name.as_str();
        let err = |span: Range<usize>, message: String| self.error(span, Some(name), message);
        let secs = |v: &Option<Spanned<f64>>, key: &str| -> Result<u64, TriggerError> {
            match v {
                None => Ok(0),
                Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 0.0 => {
                    Ok((s.get_ref() * 1000.0).round() as u64)
                }
                Some(s) => Err(err(
                    s.span(),
                    format!("{key} must be 0 or more seconds, not {}", s.get_ref()),
                )),
            }
        };
        let cooldown_ms = secs(&t.cooldown_secs, "cooldown_secs")?;
        let viewer_cooldown_ms = secs(&t.viewer_cooldown_secs, "viewer_cooldown_secs")?;
        let max_per_minute = match &t.max_per_minute {
            None => 0,
            Some(m) => u32::try_from(*m.get_ref()).map_err(|_| {
                err(
                    m.span(),
                    format!("max_per_minute must be 0 or more, not {}", m.get_ref()),
                )
            })?,
        };
        if let Some(group) = &t.group {
            if !self.known_groups.iter().any(|g| g.name == *group.get_ref()) {
                return Err(err(
                    group.span(),
                    format!(
                        "group {:?} is not defined by any [[group]]",
                        group.get_ref()
                    ),
                ));
            }
        }
        let priority = match &t.priority {
            None => priority::NORMAL,
            Some(p) => level(p.get_ref()).ok_or_else(|| {
                err(
                    p.span(),
                    format!(
                        "unknown priority {:?}; use a number or one of: {}",
                        p.get_ref(),
                        LEVELS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
        };
        let cond = self.when(&t.when, name)?;
        let kinds = cond.kinds();
        if kinds == Kinds::ALL || kinds == Kinds(0) {
            return Err(err(
                t.when.span(),
                "`when` names no event that could fire it (gift, comment, follow, share, join, \
                 likes_every, viewers_every, viewers_reach, idle_secs, schedule every_mins/at, \
                 stream)"
                    .into(),
            ));
        }
        if t.steps.is_empty() {
            return Err(err(spec.span(), "`do` has no steps".into()));
        }
        let steps = t
            .steps
            .iter()
            .map(|s| {
                let line = line_col(self.text, s.span().start).0;
                self.step(s, name).map(|step| (step, line))
            })
            .collect::<Result<_, _>>()?;
        Ok(Rule {
            name: name.to_string(),
            file: self.file.to_string(),
            line: line_col(self.text, spec.span().start).0,
            cond,
            kinds,
            steps,
            cooldown_ms,
            viewer_cooldown_ms,
            max_per_minute,
            group: t.group.as_ref().map(|g| g.get_ref().clone()),
            priority,
            paid: t.paid,
        })
    }

    fn when(&self, spec: &Spanned<WhenSpec>, name: &str) -> Result<Cond, TriggerError> {
        let err = |span: Range<usize>, message: String| self.error(span, Some(name), message);
        let at = spec.span();
        let w = spec.get_ref();
        let mut parts = Vec::new();
        let count = |v: i64, key: &str| -> Result<u64, TriggerError> {
            u64::try_from(v)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| err(at.clone(), format!("{key} must be 1 or more, not {v}")))
        };
        if let Some(g) = &w.gift {
            let tier = |v: Option<i64>, key: &str| -> Result<Option<u8>, TriggerError> {
                v.map(|t| {
                    u8::try_from(t)
                        .ok()
                        .filter(|t| (1..=4).contains(t))
                        .ok_or_else(|| {
                            err(at.clone(), format!("gift.{key} must be 1 to 4, not {t}"))
                        })
                })
                .transpose()
            };
            let min_fen = match g.min_yuan {
                Some(y) if !(y.is_finite() && y >= 0.0) => {
                    return Err(err(
                        at.clone(),
                        format!("gift.min_yuan must be 0 or more, not {y}"),
                    ))
                }
                y => y.map(|y| (y * 100.0).round() as u64),
            };
            parts.push(Cond::Gift(GiftCond {
                tier: tier(g.tier, "tier")?,
                min_tier: tier(g.min_tier, "min_tier")?,
                names: g.names.clone(),
                ids: g.ids.clone(),
                min_fen,
                combo_at_least: g
                    .combo_at_least
                    .map(|c| count(c, "gift.combo_at_least"))
                    .transpose()?,
                first_of_viewer: g.first_of_viewer,
            }));
        }
        if let Some(c) = &w.comment {
            let regex = c
                .regex
                .as_ref()
                .map(|r| {
                    RegexBuilder::new(r.get_ref())
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| err(r.span(), format!("bad regex: {e}")))
                })
                .transpose()?;
            let level = |v: Option<i64>, key: &str| -> Result<Option<u32>, TriggerError> {
                v.map(|l| {
                    u32::try_from(l).map_err(|_| {
                        err(
                            at.clone(),
                            format!("comment.{key} must be 0 or more, not {l}"),
                        )
                    })
                })
                .transpose()
            };
            parts.push(Cond::Comment(CommentCond {
                keywords: c
                    .keywords
                    .iter()
                    .filter(|k| !k.is_empty())
                    .cloned()
                    .collect(),
                regex,
                min_fan_level: level(c.min_fan_level, "min_fan_level")?,
                min_level: level(c.min_level, "min_level")?,
                vip: c.vip,
            }));
        }
        for (flag, cond) in [
            (w.follow, Cond::Follow),
            (w.share, Cond::Share),
            (w.join, Cond::Join),
        ] {
            match flag {
                Some(true) => parts.push(cond),
                Some(false) => parts.push(Cond::Not(Box::new(cond))),
                None => {}
            }
        }
        if let Some(n) = w.likes_every {
            parts.push(Cond::LikesEvery(count(n, "likes_every")?));
        }
        if let Some(n) = w.viewers_every {
            parts.push(Cond::ViewersEvery(count(n, "viewers_every")?));
        }
        if let Some(marks) = &w.viewers_reach {
            let marks = marks
                .iter()
                .map(|m| count(*m, "viewers_reach"))
                .collect::<Result<_, _>>()?;
            parts.push(Cond::ViewersReach(marks));
        }
        if let Some(secs) = w.idle_secs {
            parts.push(Cond::Idle {
                ms: positive_ms(secs).ok_or_else(|| {
                    err(
                        at.clone(),
                        format!("idle_secs must be more than 0, not {secs}"),
                    )
                })?,
            });
        }
        if let Some(s) = &w.schedule {
            if let Some(mins) = s.every_mins {
                let ms = positive_ms(mins * 60.0).ok_or_else(|| {
                    err(
                        at.clone(),
                        format!("schedule.every_mins must be more than 0, not {mins}"),
                    )
                })?;
                parts.push(Cond::Every { ms });
            }
            if !s.at.is_empty() {
                let minutes =
                    s.at.iter()
                        .map(|t| {
                            clock_minute(t.get_ref()).ok_or_else(|| {
                                err(
                                    t.span(),
                                    format!("{:?} is not a time of day (HH:MM)", t.get_ref()),
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?;
                parts.push(Cond::At(minutes));
            }
            if let Some(h) = &s.hours {
                let (from, to) = h
                    .get_ref()
                    .split_once('-')
                    .and_then(|(a, b)| Some((clock_minute(a.trim())?, clock_minute(b.trim())?)))
                    .ok_or_else(|| {
                        err(
                            h.span(),
                            format!(
                                "{:?} is not a range of hours (\"19:00-23:30\")",
                                h.get_ref()
                            ),
                        )
                    })?;
                parts.push(Cond::Hours { from, to });
            }
        }
        if let Some(s) = &w.stream {
            let live = match s.get_ref().as_str() {
                "started" => true,
                "stopped" => false,
                other => {
                    return Err(err(
                        s.span(),
                        format!("stream must be \"started\" or \"stopped\", not {other:?}"),
                    ))
                }
            };
            parts.push(Cond::Stream { live });
        }
        if let Some(v) = &w.viewer {
            let visits = |v: Option<i64>, key: &str| -> Result<Option<u64>, TriggerError> {
                v.map(|n| {
                    u64::try_from(n).map_err(|_| {
                        err(
                            at.clone(),
                            format!("viewer.{key} must be 0 or more, not {n}"),
                        )
                    })
                })
                .transpose()
            };
            let min_gift_fen = match v.min_gift_yuan {
                Some(y) if !(y.is_finite() && y >= 0.0) => {
                    return Err(err(
                        at.clone(),
                        format!("viewer.min_gift_yuan must be 0 or more, not {y}"),
                    ))
                }
                y => y.map(|y| (y * 100.0).round() as u64),
            };
            parts.push(Cond::Viewer(ViewerCond {
                min_visits: visits(v.min_visits, "min_visits")?,
                max_visits: visits(v.max_visits, "max_visits")?,
                min_gift_fen,
            }));
        }
        if let Some(all) = &w.all {
            let inner = all
                .iter()
                .map(|c| self.when(c, name))
                .collect::<Result<_, _>>()?;
            parts.push(Cond::All(inner));
        }
        if let Some(any) = &w.any {
            let inner = any
                .iter()
                .map(|c| self.when(c, name))
                .collect::<Result<Vec<_>, _>>()?;
            if inner.is_empty() {
                return Err(err(at, "`any` needs at least one condition".into()));
            }
            parts.push(Cond::Any(inner));
        }
        if let Some(not) = &w.not {
            parts.push(Cond::Not(Box::new(self.when(not, name)?)));
        }
        match parts.len() {
            0 => Err(err(at, "an empty condition".into())),
            1 => Ok(parts.pop().expect("one part")),
            _ => Ok(Cond::All(parts)),
        }
    }

    fn step(&self, spec: &Spanned<StepSpec>, name: &str) -> Result<Step, TriggerError> {
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
            s.scene.is_some(),
            s.show_source.is_some(),
            s.hide_source.is_some(),
            s.set_text.is_some(),
            s.restart_media.is_some(),
            s.filter_source.is_some(),
            s.input.is_some(),
            s.wait_secs.is_some(),
            s.push_start.is_some() || s.push_stop.is_some(),
        ];
        match actions.iter().filter(|a| **a).count() {
            1 => {}
            0 => return Err(err(at, "a step needs one action: speak, expression, motion, sound, scene, show_source, hide_source, set_text, restart_media, filter_source, input, wait_secs".into())),
            _ => return Err(err(at, "a step has one action; split these into separate [[trigger.do]] steps".into())),
        }
        if let Some(target) = s.push_start.as_ref().or(s.push_stop.as_ref()) {
            return Err(err(target.span(), "push targets are not available yet (they come with multistream support); the action name is reserved".into()));
        }
        let step = if let Some(t) = &s.speak {
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

/// Timeline levels by name (seed 000).
const LEVELS: &[(&str, i32)] = &[
    ("emergency", priority::EMERGENCY),
    ("gift_large", priority::GIFT_LARGE),
    ("user_vip", priority::USER_VIP),
    ("gift_normal", priority::GIFT_NORMAL),
    ("comment_important", priority::COMMENT_IMPORTANT),
    ("normal", priority::NORMAL),
    ("script", priority::SCRIPT),
    ("background", priority::BACKGROUND),
];

fn level(spec: &PrioritySpec) -> Option<i32> {
    match spec {
        PrioritySpec::Level(name) => LEVELS.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
        PrioritySpec::Number(n) => i32::try_from(*n).ok().filter(|n| (-100..=100).contains(n)),
    }
}

fn positive_ms(secs: f64) -> Option<u64> {
    (secs.is_finite() && secs > 0.0 && secs < 1e7).then(|| (secs * 1000.0).round() as u64)
}

/// "20:30" → minutes of the day.
fn clock_minute(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}
