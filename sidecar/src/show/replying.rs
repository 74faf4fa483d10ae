//! Comments answered by the LLM: the viewer's memory is looked up off the show's task, then
//! the request starts; its sentences come back as updates and are offered as lines.

use super::{now_ms, Show, MAX_MEMORY_LOOKUPS};
use crate::cue::Cue;
use crate::event::LiveEvent;
use crate::ledger::ViewerMemory;
use crate::replies::{Asker, Outcome, Replies, ReplyUpdate};
use tokio::sync::mpsc;

impl Show {
    /// Answers comments with the LLM from now on (templates stay the fallback).
    pub fn with_llm(mut self, writer: crate::llm::ReplyWriter) -> Self {
        let (replies, rx) = Replies::new(writer);
        self.replies = Some(replies);
        self.reply_rx = Some(rx);
        self
    }

    /// Asks the LLM for a reply to `comment`, with what the ledger remembers of the viewer and
    /// what is going on in the room; `fallback` (the template reply) airs if it is too slow.
    /// The viewer's memory is looked up on the blocking pool (the ledger may be locked for a
    /// while) and the request starts when it arrives ([`Show::on_memory`]).
    pub(super) fn start_llm_reply(&mut self, event: &LiveEvent, comment: String, fallback: Cue) {
        let asker = Asker {
            platform: event.platform.clone(),
            user_id: event
                .user
                .as_ref()
                .map(|u| u.id.clone())
                .unwrap_or_default(),
            comment,
        };
        let name = event.viewer_name().to_string();
        if self.memory_lookups >= MAX_MEMORY_LOOKUPS {
            tracing::debug!("viewer memory lookups backed up; replying without it");
            self.on_memory(MemoryLookup {
                asker,
                name,
                fallback,
                memory: None,
                looked_up: false,
            });
            return;
        }
        self.memory_lookups += 1;
        let history = self.config.llm.history_exchanges;
        let tx = self.memory_tx.clone();
        // Answered on the ledger's thread straight into the show's memory channel.
        self.ledger.submit("viewer memory lookup", move |ledger| {
            let memory = ledger
                .viewer_memory(&asker.platform, &asker.user_id, history)
                .map_err(|e| tracing::warn!(error = %e, "viewer memory unavailable for a reply"))
                .ok()
                .flatten();
            let _ = tx.send(MemoryLookup {
                asker,
                name,
                fallback,
                memory,
                looked_up: true,
            });
            Ok(())
        });
    }

    pub(super) fn on_memory(&mut self, lookup: MemoryLookup) {
        let MemoryLookup {
            asker,
            name,
            fallback,
            memory,
            looked_up,
        } = lookup;
        if looked_up {
            self.memory_lookups -= 1;
        }
        let viewer = crate::llm::ViewerContext {
            name,
            visits: memory
                .as_ref()
                .map_or(1, |m| m.events.clamp(1, u32::MAX as u64) as u32),
            gift_total_yuan: memory.as_ref().map_or(0.0, |m| m.gift_fen as f64 / 100.0),
            recent: memory
                .map(|m| m.recent)
                .unwrap_or_default()
                .into_iter()
                .map(|(comment, reply)| crate::llm::Exchange { comment, reply })
                .collect(),
        };
        let scene = crate::llm::SceneContext {
            viewer_count: self.script.online(),
            now_showing: self.config.llm.now_showing.clone(),
            minutes_live: Some(self.started.elapsed().as_secs() / 60),
        };
        if let Some(replies) = &mut self.replies {
            replies.start(fallback, asker, &viewer, &scene);
        }
    }

    pub(super) fn on_reply(&mut self, reply: u64, update: ReplyUpdate) {
        let Some(replies) = &mut self.replies else {
            return;
        };
        match replies.on_update(reply, update) {
            Outcome::Say(cue) => self.offer(cue),
            Outcome::Remember { asker, reply } => {
                let now = now_ms();
                // Fire and forget: viewer memory is not worth holding the show for.
                self.ledger.submit("viewer memory", move |l| {
                    l.record_exchange(&asker.platform, &asker.user_id, &asker.comment, &reply, now)
                });
            }
            Outcome::Nothing => {}
        }
    }
}

/// A viewer's memory, looked up for an LLM reply.
pub(super) struct MemoryLookup {
    asker: Asker,
    name: String,
    fallback: Cue,
    memory: Option<ViewerMemory>,
    /// Came back from the blocking pool (counted in `memory_lookups`).
    looked_up: bool,
}

/// The next LLM reply update, or never when replies are off.
pub(super) async fn next_reply(
    rx: &mut Option<mpsc::UnboundedReceiver<(u64, ReplyUpdate)>>,
) -> Option<(u64, ReplyUpdate)> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
