//! A line cut short: its fate from what was played of it, and the part of it that airs again.
//!
//! The rules are [`playback::fate`](super::playback::fate)'s. A resumed line airs from a slice
//! of the clip it already has (no second synthesis), starting at the cut clause, and its `Say`
//! carries only the text of the clauses that remain.

use std::ops::Range;

use super::playback::{fate, CutFacts, Event, Fate, Playback};
use super::{OnAir, Outcome, Unheard, Utterance};
use crate::clock::now_ms;
use crate::speech::voice::{ClauseSpan, SpokenLine};

/// What `utterance`'s line becomes when it was cut after `played_ms` of it (`completed`: the
/// avatar played it to the end after all).
pub(super) fn fate_of(utterance: &Utterance, played_ms: u32, completed: bool) -> Fate {
    fate(CutFacts {
        requeued: utterance.stopped.is_some_and(|s| s.requeued),
        paid: utterance.cue.paid,
        expired: utterance.expires_ms.is_some_and(|e| now_ms() >= e),
        completed,
        played_ms,
        clauses: &utterance.clauses,
        first_clause: utterance.first_clause,
    })
}

impl OnAir {
    /// The end report of an utterance the unit stopped: the exact cut point. A requeued line's
    /// fate is decided again from it, unless the line is already back on air; a line the
    /// timeline let go of is reported heard or not heard.
    pub(super) fn cut_ended(&mut self, ended: &Utterance, played_ms: u32, completed: bool) {
        let played_ms = played_ms.max(ended.played_ms);
        let fate = fate_of(ended, played_ms, completed);
        if let Playback::Interrupted { cut, .. } = self.playback {
            if cut.line_id == ended.line_id {
                self.playback.step(Event::CutResolved(fate));
            }
        }
        tracing::info!(
            line = ended.line_id,
            played_ms,
            ?fate,
            "interrupted line dealt with"
        );
        let requeued = ended.stopped.is_some_and(|s| s.requeued);
        if requeued {
            if let Some(pending) = self.fates.get_mut(&ended.line_id) {
                *pending = fate;
            }
            return;
        }
        let cue = ended.cue.clone();
        if self.skipped.remove(&ended.line_id) {
            // The operator skipped it: whatever was heard, it is done with as skipped.
            self.outcomes.push(Outcome::NotHeard {
                cue,
                why: Unheard::Skipped,
            });
            return;
        }
        self.outcomes.push(match fate {
            Fate::Heard => Outcome::Heard {
                cue,
                at_ms: now_ms(),
            },
            _ => Outcome::NotHeard {
                cue,
                why: Unheard::Interrupted,
            },
        });
    }
}

/// The part of a line that airs: the whole of it, or its clauses from `from_clause` on.
pub(super) struct Remainder {
    /// Of the clip's samples.
    pub samples: Range<usize>,
    /// `end_sample` counted from `samples.start`.
    pub clauses: Vec<ClauseSpan>,
    pub first_clause: usize,
    pub text: String,
}

/// What of `spoken` airs when the line resumes at `from_clause` (the whole line when that is 0
/// or no such clause exists; `text` is the line's own text then).
pub(super) fn remainder(spoken: &SpokenLine, text: &str, from_clause: usize) -> Remainder {
    let len = spoken.clip.samples.len();
    if from_clause == 0 || from_clause >= spoken.clauses.len() {
        let clauses = if spoken.clauses.is_empty() {
            // A clip without clause marks is one clause.
            vec![ClauseSpan {
                text: text.to_string(),
                end_sample: len,
            }]
        } else {
            spoken.clauses.clone()
        };
        return Remainder {
            samples: 0..len,
            clauses,
            first_clause: 0,
            text: text.to_string(),
        };
    }
    let start = spoken.clauses[from_clause - 1].end_sample.min(len);
    let clauses: Vec<ClauseSpan> = spoken.clauses[from_clause..]
        .iter()
        .map(|clause| ClauseSpan {
            text: clause.text.clone(),
            end_sample: clause.end_sample.saturating_sub(start),
        })
        .collect();
    Remainder {
        samples: start..len,
        text: joined(&clauses),
        clauses,
        first_clause: from_clause,
    }
}

/// Clause texts as one line: Chinese clauses join directly; a space goes between Latin words
/// (clauses are trimmed, so "Hi," and "there" would otherwise run together).
fn joined(clauses: &[ClauseSpan]) -> String {
    let mut text = String::new();
    for clause in clauses {
        let latin_before = text
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation());
        let latin_after = clause
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if latin_before && latin_after {
            text.push(' ');
        }
        text.push_str(&clause.text);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::speech::Clip;

    fn spoken(clauses: &[(&str, usize)]) -> SpokenLine {
        let mut end = 0;
        let clauses: Vec<ClauseSpan> = clauses
            .iter()
            .map(|(text, samples)| {
                end += samples;
                ClauseSpan {
                    text: text.to_string(),
                    end_sample: end,
                }
            })
            .collect();
        SpokenLine {
            clip: Arc::new(Clip {
                samples: (0..end).map(|i| (i % 1000) as i16).collect(),
            }),
            clauses,
        }
    }

    #[test]
    fn a_resumed_line_starts_at_its_cut_clause() {
        let line = spoken(&[("谢谢大哥，", 100), ("送的火箭，", 200), ("爱你！", 300)]);
        let rest = remainder(&line, "谢谢大哥，送的火箭，爱你！", 1);
        assert_eq!(rest.samples, 100..600);
        assert_eq!(rest.text, "送的火箭，爱你！");
        assert_eq!(rest.first_clause, 1);
        let ends: Vec<usize> = rest.clauses.iter().map(|c| c.end_sample).collect();
        assert_eq!(ends, [200, 500], "counted from the slice's start");
    }

    #[test]
    fn from_the_first_clause_or_past_the_last_the_whole_line_airs_with_its_own_text() {
        let line = spoken(&[("1，", 100), ("2", 100)]);
        for from in [0, 2, 9] {
            let whole = remainder(&line, "一，二", from);
            assert_eq!(
                (whole.samples, whole.text.as_str(), whole.first_clause),
                (0..200, "一，二", 0)
            );
        }
        let bare = SpokenLine {
            clip: Arc::new(Clip {
                samples: vec![0; 50],
            }),
            clauses: Vec::new(),
        };
        let whole = remainder(&bare, "你好", 0);
        assert_eq!(whole.clauses.len(), 1);
        assert_eq!(whole.clauses[0].end_sample, 50);
    }

    #[test]
    fn latin_clauses_keep_a_space_between_them_chinese_ones_none() {
        let line = spoken(&[("Hi,", 10), ("there,", 10), ("friend.", 10)]);
        assert_eq!(remainder(&line, "", 1).text, "there, friend.");
        let line = spoken(&[("一，", 10), ("二，", 10), ("三。", 10)]);
        assert_eq!(remainder(&line, "", 1).text, "二，三。");
    }
}
