//! The show's line log: every line's fate goes into the ledger with its cause (the event,
//! gifts, trigger, rundown, operator… of [`crate::cue::Cause`]), so "why did the avatar say
//! that, and what became of the line the viewer was promised?" is answered from the ledger
//! (`sidecar report`). Written behind, like airtime: a note on the ledger's thread, retried
//! there, never awaited by the loop.
//!
//! What writes here: the airtime of each utterance (aired or interrupted, `airing.rs`), lines
//! not heard (`airing.rs`), a storm's merged thank-yous (`airing.rs`), the timeline's drops
//! and expiries (drained from the on-air unit after every offer and pump), and the operator's
//! skips and vetoes (the console calls [`Show::log_line`]).

use super::{now_ms, Show};
use crate::cue::{Cue, LineFate};
use crate::ledger::LineRecord;
use crate::scheduler::DropReason;

impl Show {
    /// Logs one step of `cue`'s life: `fate`, why (`reason`, may be empty) and, for an
    /// operator's action, `who` did it. Never waits: the row is a ledger note.
    pub(crate) fn log_line(&self, cue: &Cue, fate: LineFate, reason: &str, who: Option<&str>) {
        self.note_line(
            cue.clone(),
            fate,
            reason.to_string(),
            who.map(str::to_string),
            None,
        );
    }

    /// The ledger note behind [`Show::log_line`], with an utterance's airtime when it aired.
    pub(super) fn note_line(
        &self,
        cue: Cue,
        fate: LineFate,
        reason: String,
        who: Option<String>,
        aired: Option<(u64, u32)>,
    ) {
        let at_ms = now_ms();
        self.ledger.note("line log", move |l| {
            l.log_line(&LineRecord {
                at_ms,
                cue: &cue,
                fate,
                reason: &reason,
                who: who.as_deref(),
                utterance: aired.map(|(u, _)| u),
                played_ms: aired.map(|(_, p)| p),
            })
        });
    }

    /// Lines the timeline let go since the last call (dropped at an offer, expired at their
    /// turn), each logged with its reason.
    pub(super) fn log_let_go(&mut self) {
        for (cue, why) in self.on_air.take_let_go() {
            let fate = match why {
                DropReason::Expired => LineFate::Expired,
                _ => LineFate::Dropped,
            };
            self.note_line(cue, fate, why.name().to_string(), None, None);
        }
    }
}
