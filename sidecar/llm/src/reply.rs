//! [`ReplyWriter`]: a comment in, safe emotion-tagged sentences out, as they are written.
//!
//! ```text
//! comment, viewer, scene ─ mask/speakable_name ─▶ PromptBuilder ─▶ LlmClient::stream_chat
//!   deltas ─▶ LeadingTag (reads `[happy]` off the front) ─▶ SentenceSplitter
//!   sentence ─▶ strip_tags ─▶ SafetyScreen::screen_output ─┬─ refused: dropped, counted
//!     (the sentence, then the reply joined so far)          └─ ReplyEvent::Sentence ─▶ caller (TTS)
//! end ─▶ ReplyEvent::Done { full_text }   or   ReplyEvent::Failed(LlmError)
//! ```
//!
//! The caller owns the time budget: it waits `first_sentence_budget()` for the first
//! `Sentence` and otherwise speaks a template. Dropping the receiver cancels the request at once
//! (the HTTP stream is closed and its concurrency slot freed), so a fallback never leaves a
//! request running in the background.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::LlmClient;
use super::config::LlmConfig;
use super::emotion::{strip_tags, Emotion, LeadingTag};
use super::prompt::{CommentContext, Exchange, PromptBuilder, SceneContext, ViewerContext};
use super::safety::{Refusal, SafetyScreen, Verdict};
use super::sentences::SentenceSplitter;
use super::LlmError;

/// Events buffered between the reply task and the caller. A reply is a handful of sentences.
const CHANNEL: usize = 16;

/// A reply is cut off after this many times `reply_max_chars`: a model that ignores the length
/// rule must not hold the air.
const OVERRUN_FACTOR: usize = 2;

/// One sentence ready for TTS.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplySentence {
    /// Safe to speak: screened, emotion tags removed, trimmed.
    pub text: String,
    pub emotion: Emotion,
    /// 0 for the first sentence of the reply.
    pub index: usize,
    /// Since [`ReplyWriter::start`] was called.
    pub elapsed: Duration,
}

#[derive(Debug)]
pub enum ReplyEvent {
    Sentence(ReplySentence),
    /// The reply is complete; `full_text` is what was sent as sentences, joined.
    Done {
        full_text: String,
        elapsed: Duration,
        /// Sentences the safety screen dropped.
        refused: usize,
    },
    /// The reply ended early. Sentences already sent stay valid (they were complete and
    /// screened); nothing after them will come.
    Failed(LlmError),
}

/// Writes replies with one client, persona and screen. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReplyWriter {
    client: LlmClient,
    prompt: Arc<PromptBuilder>,
    safety: Arc<SafetyScreen>,
    min_chars: usize,
    max_chars: usize,
    reply_max_chars: usize,
    budget: Duration,
}

impl ReplyWriter {
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        Ok(Self::with_client(config, LlmClient::new(config)?))
    }

    pub fn with_client(config: &LlmConfig, client: LlmClient) -> Self {
        let prompt = PromptBuilder::from_config(config);
        let safety = super::safety::screen_for(config, &prompt.protected_texts());
        Self {
            client,
            prompt: Arc::new(prompt),
            safety: Arc::new(safety),
            min_chars: config.sentence_min_chars,
            max_chars: config.sentence_max_chars,
            reply_max_chars: config.reply_max_chars,
            budget: config.first_sentence_budget(),
        }
    }

    /// How long the caller should wait for the first sentence before speaking a template.
    pub fn first_sentence_budget(&self) -> Duration {
        self.budget
    }

    /// The screen, for templates that read viewer names and comments: the show's one screen
    /// when the LLM is on (see [`super::safety::show_screen`]).
    pub fn safety(&self) -> &Arc<SafetyScreen> {
        &self.safety
    }

    pub fn prompt(&self) -> &PromptBuilder {
        &self.prompt
    }

    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    /// Starts a reply on a spawned task (needs a tokio runtime); events arrive on the returned
    /// channel, ending with exactly one `Done` or `Failed`. Drop the receiver to cancel.
    pub fn start(
        &self,
        comment: &CommentContext,
        viewer: &ViewerContext,
        scene: &SceneContext,
    ) -> mpsc::Receiver<ReplyEvent> {
        let started = Instant::now();
        let (tx, rx) = mpsc::channel(CHANNEL);
        // Viewer text is masked before the model sees it, so it cannot be echoed back unmasked.
        let comment = CommentContext {
            text: self.safety.mask(&comment.text).text,
        };
        let viewer = ViewerContext {
            name: self.safety.speakable_name(&viewer.name),
            recent: viewer
                .recent
                .iter()
                .map(|e| Exchange {
                    comment: self.safety.mask(&e.comment).text,
                    reply: e.reply.clone(),
                })
                .collect(),
            ..viewer.clone()
        };
        let messages = self.prompt.messages(&comment, &viewer, scene);
        let writer = self.clone();
        tokio::spawn(async move {
            let closed = tx.clone();
            tokio::select! {
                _ = writer.run(messages, &tx, started) => {}
                _ = closed.closed() => {
                    tracing::debug!("reply cancelled by the caller");
                }
            }
        });
        rx
    }

    async fn run(
        &self,
        messages: Vec<super::ChatMessage>,
        tx: &mpsc::Sender<ReplyEvent>,
        started: Instant,
    ) {
        let mut stream = match self.client.stream_chat(messages).await {
            Ok(stream) => stream,
            Err(error) => {
                let _ = tx.send(ReplyEvent::Failed(error)).await;
                return;
            }
        };
        tracing::debug!(
            ttft_ms = (stream.first_token_at() - started).as_millis() as u64,
            attempts = stream.attempts(),
            "LLM reply started"
        );
        let mut assembler = self.assembler(started);
        while let Some(item) = stream.next().await {
            match item {
                Ok(delta) => {
                    for sentence in assembler.push(&delta) {
                        if tx.send(ReplyEvent::Sentence(sentence)).await.is_err() {
                            return;
                        }
                    }
                    if assembler.is_closed() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = tx.send(ReplyEvent::Failed(error)).await;
                    return;
                }
            }
        }
        // Closes the HTTP stream (and frees its concurrency slot) before the last sends.
        drop(stream);
        for sentence in assembler.finish() {
            if tx.send(ReplyEvent::Sentence(sentence)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(assembler.outcome()).await;
    }

    /// A fresh assembler with this writer's screen and limits.
    pub fn assembler(&self, started: Instant) -> ReplyAssembler {
        ReplyAssembler {
            safety: self.safety.clone(),
            tag: LeadingTag::new(),
            splitter: SentenceSplitter::new(self.min_chars, self.max_chars),
            max_total_chars: self.reply_max_chars * OVERRUN_FACTOR,
            emotion: None,
            spoken: Vec::new(),
            spoken_chars: 0,
            refused: 0,
            last_refusal: None,
            leaked: false,
            joined_refused: false,
            started,
        }
    }
}

/// Turns a reply's deltas into screened sentences. Synchronous and I/O-free (the network side
/// is [`ReplyWriter::start`]); public so any text source can be run through the same gate.
///
/// Refusal policy: a sentence with a blocked word or contact bait is dropped and the reply goes
/// on; a sentence that leaks or echoes the prompt CLOSES the reply (nothing after it is
/// spoken): a model that has started reciting its instructions will go on doing so, and its
/// remaining sentences can no longer be trusted one by one.
///
/// Each sentence that passes on its own is screened again joined to what was already spoken
/// (`淘` + `宝吧。`, `13812。` + `345678`): if the join trips, the sentence is dropped and the
/// reply CLOSES too, since what aired already carries the first half.
#[derive(Debug)]
pub struct ReplyAssembler {
    safety: Arc<SafetyScreen>,
    tag: LeadingTag,
    splitter: SentenceSplitter,
    max_total_chars: usize,
    /// The reply's emotion, fixed by its first spoken sentence.
    emotion: Option<Emotion>,
    spoken: Vec<String>,
    spoken_chars: usize,
    refused: usize,
    last_refusal: Option<String>,
    leaked: bool,
    /// The joined reply tripped the screen.
    joined_refused: bool,
    started: Instant,
}

impl ReplyAssembler {
    /// Feeds a delta; returns the sentences it completed that may be spoken.
    pub fn push(&mut self, delta: &str) -> Vec<ReplySentence> {
        if self.is_closed() {
            return Vec::new();
        }
        let text = self.tag.push(delta);
        let sentences = self.splitter.push(&text);
        self.offer_all(sentences)
    }

    /// The reply ended: the remaining text as sentences.
    pub fn finish(&mut self) -> Vec<ReplySentence> {
        if self.is_closed() {
            return Vec::new();
        }
        let tail = self.tag.finish();
        let mut sentences = self.splitter.push(&tail);
        sentences.extend(self.splitter.finish());
        self.offer_all(sentences)
    }

    /// No more sentences will be accepted (a leak was seen, or the reply ran too long).
    pub fn is_closed(&self) -> bool {
        self.leaked || self.joined_refused || self.spoken_chars > self.max_total_chars
    }

    /// `Done` with what was spoken, or `Failed(Refused/Empty)` when nothing was.
    pub fn outcome(&self) -> ReplyEvent {
        if self.spoken.is_empty() {
            return ReplyEvent::Failed(match &self.last_refusal {
                Some(reason) => LlmError::Refused(reason.clone()),
                None => LlmError::Empty,
            });
        }
        ReplyEvent::Done {
            full_text: self.spoken.concat(),
            elapsed: self.started.elapsed(),
            refused: self.refused,
        }
    }

    fn offer_all(&mut self, sentences: Vec<String>) -> Vec<ReplySentence> {
        let mut out = Vec::new();
        for sentence in sentences {
            if self.is_closed() {
                if self.spoken_chars > self.max_total_chars && !self.leaked {
                    tracing::warn!("LLM reply longer than allowed, cut off");
                }
                break;
            }
            out.extend(self.offer(&sentence));
        }
        out
    }

    fn offer(&mut self, sentence: &str) -> Option<ReplySentence> {
        let (inline_tag, text) = strip_tags(sentence);
        let text = text.trim();
        if text.chars().all(|c| !c.is_alphanumeric()) {
            return None;
        }
        if let Verdict::Refuse(reason) = self.safety.screen_output(text) {
            tracing::warn!(%reason, "LLM sentence refused by the safety screen");
            self.refused += 1;
            self.leaked |= matches!(reason, Refusal::PromptEcho | Refusal::PromptLeak(_));
            self.last_refusal = Some(reason.to_string());
            return None;
        }
        if !self.spoken.is_empty() {
            // Joined without a separator: sentences keep their own end marks, so this is the
            // text as the model wrote it, and a hard cut mid-word is undone.
            let joined = format!("{}{text}", self.spoken.concat());
            if let Verdict::Refuse(reason) = self.safety.screen_output(&joined) {
                tracing::warn!(%reason, "LLM reply refused on the text joined so far; cut off");
                self.refused += 1;
                self.joined_refused = true;
                self.last_refusal = Some(reason.to_string());
                return None;
            }
        }
        let emotion = match (inline_tag, self.emotion) {
            // A tag before a later sentence changes the mood from there on.
            (Some(tagged), _) => tagged,
            (None, Some(reply)) => reply,
            (None, None) => self
                .tag
                .emotion()
                .or_else(|| Emotion::from_keywords(text))
                .unwrap_or_default(),
        };
        self.emotion = Some(emotion);
        let sentence = ReplySentence {
            text: text.to_string(),
            emotion,
            index: self.spoken.len(),
            elapsed: self.started.elapsed(),
        };
        self.spoken_chars += text.chars().count();
        self.spoken.push(text.to_string());
        Some(sentence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assembler() -> ReplyAssembler {
        let config = LlmConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            ..Default::default()
        };
        let client = LlmClient::new(&config).unwrap();
        ReplyWriter::with_client(&config, client).assembler(Instant::now())
    }

    fn spoken(sentences: &[&str]) -> (Vec<String>, ReplyAssembler) {
        let mut a = assembler();
        let out = a.offer_all(sentences.iter().map(|s| s.to_string()).collect());
        (out.into_iter().map(|s| s.text).collect(), a)
    }

    #[test]
    fn a_term_or_number_split_across_sentences_is_caught_on_the_join() {
        for (first, second) in [
            ("今天真开心，我们一起去逛逛淘", "宝吧。"),
            ("大家好呀，我的号码是一三八一二。", "三四五六七八哦。"),
            ("记一下这几个数字13812。", "345678就能找到我。"),
        ] {
            assert_eq!(
                assembler().safety.screen_output(second),
                Verdict::Pass,
                "{second} alone"
            );
            let (out, a) = spoken(&[first, second, "我们继续聊天吧。"]);
            assert_eq!(out, [first], "{first} + {second}");
            assert!(a.is_closed(), "the reply stops after a refused join");
            match a.outcome() {
                ReplyEvent::Done { refused, .. } => assert_eq!(refused, 1),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn ordinary_sentences_pass_the_join() {
        let sentences = [
            "谢谢你的关注呀！",
            "今天是12月3日。",
            "直播间有128位朋友，",
            "我们继续聊天吧。",
        ];
        let (out, a) = spoken(&sentences);
        assert_eq!(out, sentences);
        assert!(!a.is_closed());
    }
}
