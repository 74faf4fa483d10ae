//! The show's side of airing: it feeds the on-air unit ([`super::on_air`]) (merging a gift
//! storm's waiting thank-yous into one line) and acts on how its lines ended.
//!
//! * **Heard, or not thanked.** A gift is marked thanked only when the unit reports its line
//!   heard ([`Outcome::Heard`]). A voice failure, a missing end report (watchdog) or an avatar
//!   that played none of it hands the line to [`super::unheard`].
//! * Every utterance that ended goes into the ledger's airtime log.
//!
//! The show reacts to a call's outcomes before anything else happens, so captions, overlays
//! and ledger notes keep the order in which the lines ended.

use tokio::time::Instant;

use super::on_air::{Airtime, ClipResult, Outcome};
use super::unheard::{Next, Unheard};
use super::{now_ms, Show};
use crate::cue::{Act, Cue, CueKind, LineFate, When};
use crate::ledger::{AiredLine, LineRecord};
use crate::link::LinkEvent;

impl Show {
    /// Puts a cue on the timeline; the effects due as soon as it exists happen now, whatever
    /// is playing.
    pub(super) fn offer(&mut self, cue: Cue) {
        self.outputs.apply_due(&cue, When::Offered);
        let thanks = matches!(cue.kind, CueKind::GiftThanks { .. });
        self.on_air.offer(cue);
        if thanks {
            self.merge_storm();
        }
        self.log_let_go();
    }

    /// More thank-yous waiting than `[gifts] aggregate_after`: they become one line per
    /// platform that names the first givers and covers every gift (each is marked thanked
    /// when it is heard). Their captions already showed when they were offered.
    fn merge_storm(&mut self) {
        let rewards = &self.rewards;
        let taken = self.on_air.take_thanks_storm(|n| rewards.should_merge(n));
        if taken.is_empty() {
            return;
        }
        for cue in &taken {
            self.unheard.forget(cue);
        }
        let count = taken.len();
        let reason = format!("gift storm: {count} thank-yous in one line");
        for cue in &taken {
            self.log_line(cue, LineFate::Merged, &reason, None);
        }
        let merged = self.rewards.merge_thanks(taken, &mut self.rng);
        tracing::info!(
            lines = count,
            merged = merged.len(),
            "gift storm: thank-yous merged"
        );
        self.summary.thanks_merged += count as u64;
        for cue in merged {
            self.on_air.offer(cue);
        }
    }

    pub(super) fn on_clip(&mut self, line_id: u64, result: ClipResult) {
        self.on_air.on_clip(line_id, result);
    }

    /// Starts the next line when the avatar is free and a clip is ready.
    pub(super) fn pump(&mut self) {
        while let Some(outcome) = self.on_air.pump(&self.outputs) {
            self.react(vec![outcome]);
        }
        self.log_let_go();
    }

    pub(super) fn on_link(&mut self, event: LinkEvent) {
        let outcomes = self.on_air.on_link(event);
        self.react(outcomes);
    }

    pub(super) fn watchdog(&mut self) {
        let outcomes = self.on_air.watchdog();
        self.react(outcomes);
    }

    fn react(&mut self, outcomes: Vec<Outcome>) {
        for outcome in outcomes {
            match outcome {
                Outcome::Aired(airtime) => self.log_airtime(airtime),
                Outcome::Heard { cue, at_ms } => {
                    self.trigger_line_ended(&cue);
                    self.heard(&cue, at_ms)
                }
                Outcome::NotHeard { cue, why } => {
                    self.trigger_line_ended(&cue);
                    self.not_heard(cue, why)
                }
            }
        }
    }

    fn log_airtime(&mut self, airtime: Airtime) {
        self.summary.lines_aired += 1;
        let Airtime {
            utterance,
            cue,
            started_ms: started,
            ended_ms: end,
            played_ms: played,
            interrupted: cut,
        } = airtime;
        // The line log's row goes with the airtime row, in the same note: both or neither.
        let (fate, reason) = match cut {
            true => (LineFate::Interrupted, "cut by a more urgent line"),
            false => (LineFate::Aired, ""),
        };
        let at_ms = now_ms();
        // A note: retried on the ledger's thread, never lost to a lock (see `LedgerHandle::note`).
        self.ledger.note("airtime", move |l| {
            l.log_airtime(&AiredLine {
                utterance,
                kind: cue.kind.name(),
                priority: cue.priority,
                text: &cue.text,
                started_ms: started,
                ended_ms: end,
                played_ms: played,
                interrupted: cut,
            })?;
            l.log_line(&LineRecord {
                at_ms,
                cue: &cue,
                fate,
                reason,
                who: None,
                utterance: Some(utterance),
                played_ms: Some(played),
            })
        });
    }

    /// A gift line was heard to the end: its gifts are thanked.
    fn heard(&mut self, cue: &Cue, now: u64) {
        self.unheard.heard(cue);
        self.mark_thanked(cue, cue.text.clone(), now);
    }

    /// A line was not heard. A gift line is tried again later, and after the last attempt
    /// thanked in a text overlay; other lines are let go.
    pub(super) fn not_heard(&mut self, cue: Cue, why: Unheard) {
        // The operator's skips and vetoes are logged by the console, with who did it.
        if !matches!(why, Unheard::Skipped | Unheard::Vetoed) {
            self.log_line(&cue, LineFate::NotHeard, why.reason(), None);
        }
        if !matches!(cue.kind, CueKind::GiftThanks { .. }) {
            tracing::info!(reason = why.reason(), text = %cue.text, "line not heard; let go");
            return;
        }
        match self.unheard.not_heard(&cue, why, Instant::now()) {
            Next::RetryAt(_) => {
                self.summary.unheard_retries += 1;
                tracing::warn!(reason = why.reason(), text = %cue.text, "gift thank-you not heard; it will be tried again");
            }
            Next::GiveUp { attempts } => {
                self.summary.thanked_in_text += 1;
                let overlay = cue
                    .acts(When::NotVoiced)
                    .find_map(|act| match act {
                        Act::LatestGiftText(text) => Some(text.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| cue.text.clone());
                tracing::warn!(reason = why.reason(), attempts, %overlay, "gift thank-you could not be voiced; thanked in the text overlay");
                self.outputs.apply_due(&cue, When::NotVoiced);
                let note = format!("(text overlay, not spoken: {}) {overlay}", why.reason());
                self.mark_thanked(&cue, note, now_ms());
            }
        }
    }

    fn mark_thanked(&mut self, cue: &Cue, text: String, now: u64) {
        let CueKind::GiftThanks {
            platform, msg_ids, ..
        } = &cue.kind
        else {
            return;
        };
        let (platform, msg_ids) = (platform.clone(), msg_ids.clone());
        self.ledger.note("thanked gift", move |l| {
            l.mark_aired(&platform, &msg_ids, &text, now)
        });
    }
}
