//! Compiling a `when` table into a [`Cond`] tree, checking every value on the way.

use std::ops::Range;

use regex::RegexBuilder;
use toml::Spanned;

use super::{clock_minute, positive_ms, Compiler, TriggerError, REGEX_SIZE_LIMIT};
use crate::triggers::condition::{CommentCond, Cond, GiftCond, ViewerCond};
use crate::triggers::spec::WhenSpec;

impl Compiler<'_> {
    pub(super) fn when(&self, spec: &Spanned<WhenSpec>, name: &str) -> Result<Cond, TriggerError> {
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
}
