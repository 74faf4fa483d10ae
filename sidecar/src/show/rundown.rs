//! The seller's rundown in the show ([`crate::rundown::Rundown`]): its lines are offered as
//! they come due, and every event passes it first, so a product question is answered from the
//! product's facts before the script (or the LLM, which could guess a price) sees it.

use super::Show;
use crate::event::LiveEvent;
use crate::rundown::{Answer, Rundown};

impl Show {
    /// Runs the seller's rundown from now on.
    pub fn with_rundown(mut self, rundown: Rundown) -> Self {
        self.rundown = Some(rundown);
        self
    }

    /// Hands an event to the rundown; `true` when it took it (a product question answered,
    /// or answered moments ago), and nobody else should reply.
    pub(super) fn ask_rundown(&mut self, event: &LiveEvent, now: u64) -> bool {
        let Some(rundown) = &mut self.rundown else {
            return false;
        };
        match rundown.on_event(event, now, &mut self.rng) {
            Answer::Say(cue) => {
                self.offer(*cue);
                true
            }
            Answer::AlreadyAnswered => true,
            Answer::NotAsked => false,
        }
    }

    /// The rundown's next line, when one is due.
    pub(super) fn offer_rundown_line(&mut self, now: u64) {
        if let Some(cue) = self
            .rundown
            .as_mut()
            .and_then(|r| r.due(now, &mut self.rng))
        {
            self.offer(cue);
        }
    }
}
