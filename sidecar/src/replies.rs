//! LLM replies to comments, sentence by sentence, with the template reply as the safety net.
//!
//! The script decides *whether* a comment gets a reply and writes a template one; when the LLM is
//! on, that template line is held back as the fallback while [`llm::reply`](crate::llm::reply)
//! streams an answer. Each finished sentence becomes its own line on the timeline at once, so
//! the first sentence is being synthesised while the model is still writing the second
//! (seed 001/003: sentence pipelining). If the first sentence does not arrive within the budget,
//! or the LLM fails before saying anything, the template line airs instead and the LLM stream is
//! cancelled: the show never waits on a model.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cue::{Act, Cue, Effect, When};
use crate::llm::reply::{ReplyEvent, ReplySentence, ReplyWriter};
use crate::llm::{CommentContext, SceneContext, ViewerContext};

/// What a reply task reports to the show.
#[derive(Debug)]
pub enum ReplyUpdate {
    Event(ReplyEvent),
    /// No sentence within the first-sentence budget.
    OverBudget,
}

/// Who asked, for the viewer memory written once the reply is complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Asker {
    pub platform: String,
    pub user_id: String,
    pub comment: String,
}

struct Pending {
    fallback: Cue,
    asker: Asker,
    sentences: usize,
    forwarder: JoinHandle<()>,
}

/// What the show should do after an update.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Offer this line (a sentence of the reply, or the fallback).
    Say(Cue),
    /// The reply is complete: remember the exchange.
    Remember {
        asker: Asker,
        reply: String,
    },
    Nothing,
}

/// The replies in flight. Owned by the show's task.
pub struct Replies {
    writer: ReplyWriter,
    budget: Duration,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    tx: mpsc::UnboundedSender<(u64, ReplyUpdate)>,
    /// Fallbacks used and why, for the summary.
    pub fallbacks: u64,
    pub llm_replies: u64,
}

impl Replies {
    /// The receiver is polled by the show's loop and fed back into [`Replies::on_update`].
    pub fn new(writer: ReplyWriter) -> (Self, mpsc::UnboundedReceiver<(u64, ReplyUpdate)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let budget = writer.first_sentence_budget();
        (
            Self {
                writer,
                budget,
                pending: HashMap::new(),
                next_id: 0,
                tx,
                fallbacks: 0,
                llm_replies: 0,
            },
            rx,
        )
    }

    /// Starts an LLM reply; `fallback` airs instead if the LLM is too slow or fails.
    pub fn start(
        &mut self,
        fallback: Cue,
        asker: Asker,
        viewer: &ViewerContext,
        scene: &SceneContext,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let comment = CommentContext {
            text: asker.comment.clone(),
        };
        let events = self.writer.start(&comment, viewer, scene);
        let forwarder = tokio::spawn(forward(
            id,
            events,
            Instant::now() + self.budget,
            self.tx.clone(),
        ));
        self.pending.insert(
            id,
            Pending {
                fallback,
                asker,
                sentences: 0,
                forwarder,
            },
        );
    }

    pub fn on_update(&mut self, id: u64, update: ReplyUpdate) -> Outcome {
        let Some(pending) = self.pending.get_mut(&id) else {
            return Outcome::Nothing; // already finished or given up
        };
        match update {
            ReplyUpdate::Event(ReplyEvent::Sentence(sentence)) => {
                pending.sentences += 1;
                Outcome::Say(sentence_cue(&pending.fallback, &sentence))
            }
            ReplyUpdate::Event(ReplyEvent::Done { full_text, .. }) => {
                let pending = self.pending.remove(&id).expect("present");
                if pending.sentences == 0 {
                    // Everything the model said was refused by the safety screen.
                    self.fallbacks += 1;
                    tracing::warn!("LLM reply had nothing speakable; using the template");
                    return Outcome::Say(pending.fallback);
                }
                self.llm_replies += 1;
                Outcome::Remember {
                    asker: pending.asker,
                    reply: full_text,
                }
            }
            ReplyUpdate::Event(ReplyEvent::Failed(error)) => {
                let pending = self.pending.remove(&id).expect("present");
                if pending.sentences > 0 {
                    // Part of it aired already; a template now would repeat the answer.
                    tracing::warn!(%error, "LLM reply broke off after its first sentences");
                    return Outcome::Nothing;
                }
                self.fallbacks += 1;
                tracing::warn!(%error, "LLM reply failed; using the template");
                Outcome::Say(pending.fallback)
            }
            ReplyUpdate::OverBudget => {
                if pending.sentences > 0 {
                    return Outcome::Nothing;
                }
                let pending = self.pending.remove(&id).expect("present");
                pending.forwarder.abort(); // drops the stream: the LLM request is cancelled
                self.fallbacks += 1;
                tracing::info!(
                    budget_ms = self.budget.as_millis() as u64,
                    "LLM slower than the budget; using the template"
                );
                Outcome::Say(pending.fallback)
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

/// Forwards one reply's events to the show, reporting once if the first sentence misses
/// `deadline`.
async fn forward(
    id: u64,
    mut events: mpsc::Receiver<ReplyEvent>,
    deadline: Instant,
    tx: mpsc::UnboundedSender<(u64, ReplyUpdate)>,
) {
    let mut first = true;
    loop {
        let next = if first {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    let _ = tx.send((id, ReplyUpdate::OverBudget));
                    first = false;
                    continue;
                }
            }
        } else {
            events.recv().await
        };
        let Some(event) = next else { return };
        if matches!(event, ReplyEvent::Sentence(_)) {
            first = false;
        }
        let last = !matches!(event, ReplyEvent::Sentence(_));
        if tx.send((id, ReplyUpdate::Event(event))).is_err() || last {
            return;
        }
    }
}

/// A sentence of the reply as a line: the comment's priority and expiry, the reply's emotion.
/// The template's own expression and motion give way to the emotion's; its other effects stay.
fn sentence_cue(fallback: &Cue, sentence: &ReplySentence) -> Cue {
    let mut effects: Vec<Effect> = fallback
        .effects
        .iter()
        .filter(|e| !(e.at == When::OnAir && matches!(e.act, Act::Expression(_) | Act::Motion(_))))
        .cloned()
        .collect();
    let expression = sentence.emotion.expression().to_string();
    effects.push(Effect::new(When::OnAir, Act::Expression(expression)));
    if let Some(motion) = sentence.emotion.motion() {
        effects.push(Effect::new(When::OnAir, Act::Motion(motion.to_string())));
    }
    Cue {
        text: sentence.text.clone(),
        prosody: sentence.emotion.prosody(),
        effects,
        ..fallback.clone()
    }
}
