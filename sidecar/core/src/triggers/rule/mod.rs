//! Checking what the streamer wrote and compiling it into [`Rule`]s.
//!
//! Everything that can be wrong is found here, before the show uses a rule, and reported with
//! the file, line and column of the offending key: an unknown action, a bad regex, an unknown
//! placeholder, a cooldown of `-1`, a group nobody defined.

use std::ops::Range;

mod steps;
mod when;

use toml::Spanned;

use super::condition::{Cond, Kinds};
use super::spec::{GroupSpec, PrioritySpec, TriggerSpec};
use super::step::{Needs, Step};
use crate::scheduler::priority;

/// Placeholders a trigger's templates may use.
pub const TRIGGER_PLACEHOLDERS: &[&str] = &[
    "user", "gift", "count", "value", "tier", "name", "text", "online", "likes", "visits",
    "trigger",
];

/// Regexes are compiled with a size cap, so a pathological pattern is an error, not a stall.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;

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

pub(super) fn positive_ms(secs: f64) -> Option<u64> {
    (secs.is_finite() && secs > 0.0 && secs < 1e7).then(|| (secs * 1000.0).round() as u64)
}

/// "20:30" → minutes of the day.
pub(super) fn clock_minute(text: &str) -> Option<u32> {
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
