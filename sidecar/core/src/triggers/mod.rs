//! Reward triggers the streamer writes: `when` something happens in the room, `do` a
//! sequence of things (speak, switch scenes, show sources, play sounds…), with cooldowns,
//! rate limits and concurrency groups. Written in the scene files (`scenes/*.toml`,
//! `[[trigger]]` and `[[group]]` tables); `scenes/examples/` has a commented file per use case.
//!
//! The parts, in the order a happening flows through them:
//!
//! * [`spec`]: the TOML form, with positions;
//! * [`rule`]: checks it (file:line errors) and compiles [`Rule`]s;
//! * [`condition`]: compiled `when` trees and what they match ([`Happening`]);
//! * [`engine`]: [`Triggers`], the room's running counts, viewer memory and cooldowns →
//!   [`Fired`] rules;
//! * [`runner`]: [`Runner`], which plays fired rules' steps in time, one firing at a time per
//!   group, into [`Command`]s: lines for the timeline and [`crate::cue::Act`]s for the outputs;
//! * [`step`]: compiled steps and what each needs in OBS ([`Needs`]).
//!
//! Nothing here does I/O: the sidecar reads the files, feeds the happenings and applies the
//! commands; everything is tested on plain values and a virtual clock.

pub mod condition;
pub mod engine;
pub mod rule;
pub mod runner;
pub mod spec;
pub mod step;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use condition::{Facts, Happening, Kinds};
pub use engine::{Fired, Held, Triggers};
pub use rule::{Rule, TriggerError, TRIGGER_PLACEHOLDERS};
pub use runner::{Command, Runner, RunnerStats};
pub use spec::{GroupPolicy, GroupSpec};
pub use step::{Needs, Return, Step};

/// Every trigger and group of a set of scene files, checked.
#[derive(Debug, Default, Clone)]
pub struct TriggerSet {
    rules: Vec<Arc<Rule>>,
    groups: Vec<GroupSpec>,
    /// Rule indices per happening kind ([`Kinds::index`]).
    by_kind: [Vec<usize>; Kinds::COUNT],
}

impl TriggerSet {
    /// Parses the triggers of `files` (name, text), in order. Every error of every file is
    /// reported, so one `check-config` run shows them all.
    pub fn parse(files: &[(String, String)]) -> Result<Self, Vec<TriggerError>> {
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for (name, text) in files {
            match toml::from_str::<spec::TriggerFile>(text) {
                Ok(file) => parsed.push((name, text, file)),
                Err(e) => {
                    let (line, column) = e.span().map_or((0, 0), |s| rule::line_col(text, s.start));
                    errors.push(TriggerError {
                        file: name.clone(),
                        line,
                        column,
                        trigger: None,
                        message: e.message().to_string(),
                    });
                }
            }
        }
        let mut groups: Vec<GroupSpec> = Vec::new();
        for (name, text, file) in &parsed {
            for g in &file.group {
                let compiler = rule::Compiler {
                    file: name,
                    text,
                    known_groups: &[],
                };
                if groups.iter().any(|known| known.name == g.get_ref().name) {
                    errors.push(compiler.error(
                        g.span(),
                        None,
                        format!("group {:?} defined twice", g.get_ref().name),
                    ));
                } else if g.get_ref().max_queued == 0 {
                    errors.push(compiler.error(
                        g.span(),
                        None,
                        "max_queued must be 1 or more".into(),
                    ));
                } else {
                    groups.push(g.get_ref().clone());
                }
            }
        }
        let mut rules: Vec<Arc<Rule>> = Vec::new();
        for (name, text, file) in &parsed {
            let compiler = rule::Compiler {
                file: name,
                text,
                known_groups: &groups,
            };
            for spec in &file.trigger {
                match compiler.rule(spec) {
                    Ok(rule) if rules.iter().any(|r| r.name == rule.name) => {
                        errors.push(compiler.error(
                            spec.span(),
                            Some(&rule.name),
                            "a second trigger of this name (names identify cooldowns)".into(),
                        ));
                    }
                    Ok(_) if !spec.get_ref().enabled => {}
                    Ok(rule) => rules.push(Arc::new(rule)),
                    Err(e) => errors.push(e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut by_kind: [Vec<usize>; Kinds::COUNT] = Default::default();
        for (index, rule) in rules.iter().enumerate() {
            for (k, list) in by_kind.iter_mut().enumerate() {
                if rule.kinds.contains(Kinds(1 << k)) {
                    list.push(index);
                }
            }
        }
        Ok(Self {
            rules,
            groups,
            by_kind,
        })
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    pub fn groups(&self) -> &[GroupSpec] {
        &self.groups
    }

    /// Whether any rule reads viewer memory (visits, gift totals, first gifts).
    pub fn reads_memory(&self) -> bool {
        self.rules.iter().any(|r| r.cond.reads_memory())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn rules_for(&self, kind: Kinds) -> &[usize] {
        &self.by_kind[kind.index()]
    }
}
