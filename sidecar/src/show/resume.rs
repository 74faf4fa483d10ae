//! Gifts an earlier run recorded but never thanked on air are thanked first, a page at a time
//! ([`RESUME_PAGE`]), so a backlog of thousands never sits in memory at once: paid lines that
//! were queued when the process died resume in ledger order.

use std::time::Duration;

use tokio::time::Instant;

use super::{now_ms, Show, RESUME_PAGE};
use crate::event::LiveEvent;

impl Show {
    /// Gifts recorded by an earlier run but never thanked on air are thanked first: the first
    /// page at start, the next ones a page at a time (see [`RESUME_PAGE`]) from `on_tick`, so
    /// a backlog of thousands never sits in memory at once.
    pub(super) async fn resume_first_page(&mut self) {
        let until = self.resume_until;
        match self
            .with_ledger(move |l| l.unthanked_page(0, until, RESUME_PAGE))
            .await
        {
            Some(page) => self.resume_page(page, true),
            None => self.resume_retry_at = Instant::now() + Duration::from_secs(1),
        }
    }

    /// The next page, read off the show's task; a failed read (the ledger locked) is tried
    /// again a second later, never given up.
    pub(super) fn resume_more(&mut self) {
        let Some(after) = self.resume_after else {
            return;
        };
        if let Some(job) = &mut self.resume_job {
            use futures_util::FutureExt;
            let Some(done) = job.now_or_never() else {
                return; // still reading
            };
            self.resume_job = None;
            match done {
                Ok(Ok(page)) => self.resume_page(page, false),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "unthanked gifts of the last run not read; retrying");
                    self.resume_retry_at = Instant::now() + Duration::from_secs(1);
                }
                Err(_) => self.resume_retry_at = Instant::now() + Duration::from_secs(1),
            }
            return;
        }
        if self.on_air.queued_paid() >= RESUME_PAGE || Instant::now() < self.resume_retry_at {
            return;
        }
        let until = self.resume_until;
        self.resume_job = Some(
            self.ledger
                .request(move |l| l.unthanked_page(after, until, RESUME_PAGE)),
        );
    }

    fn resume_page(&mut self, page: Vec<(i64, LiveEvent)>, first: bool) {
        let Some(&(last, _)) = page.last() else {
            self.resume_after = None;
            return;
        };
        self.resume_after = (page.len() == RESUME_PAGE).then_some(last);
        tracing::info!(
            count = page.len(),
            more = self.resume_after.is_some(),
            "thanking gifts left over from the last run"
        );
        let now = now_ms();
        for (_, event) in &page {
            self.combos.push(event, now);
        }
        // At start nothing else is held, so the first page is thanked at once; later pages join
        // the live combos and are released by the usual combo timing (draining then would cut
        // a live combo in two).
        if first {
            for batch in self.combos.drain() {
                let mut cue = self.rewards.thank(&batch, &mut self.rng);
                cue.cause = crate::cue::Cause::Resumed {
                    platform: batch.platform.clone(),
                    msg_ids: batch.msg_ids.clone(),
                };
                self.offer(cue);
                self.trigger_on_gift(&batch);
            }
        }
    }
}
