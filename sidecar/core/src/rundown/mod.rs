//! The seller's rundown (seed 000's unattended e-commerce live): products brought on one
//! after another, each through its segments — 开场 (opening), 讲解 (explain), 逼单 (urge),
//! 收尾 (closing) — from a script library of variant templates, and viewers' product
//! questions (多少钱, 尺码, 怎么买, 有货吗…) answered from the product's facts.
//!
//! * [`library`]: the products and their 话术, parsed from a script file's text (errors with
//!   line and column); [`drafts`]: LLM-written variants, used once reviewed;
//! * [`questions`]: comment → question kind (keyword table) and product (name or alias);
//! * [`RundownConfig`]: `[rundown]`, pacing and mode;
//! * [`Rundown`]: the state machine the show drives: [`Rundown::due`] on every tick gives the
//!   next line when its time has come, [`Rundown::on_event`] takes the room's events (activity,
//!   viewer count) and answers product questions.
//!
//! Every cue here is unpaid and expires, at [`priority::SCRIPT`] (segment lines),
//! [`priority::BACKGROUND`] (filler) or a comment's priority (answers), so it always yields
//! to paid lines. No I/O: the sidecar reads the files and passes their text in; time is the
//! caller's milliseconds, so everything is tested on a virtual clock.

mod config;
pub mod drafts;
pub mod library;
pub mod questions;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::Rng;

pub use config::{RundownConfig, RundownMode};
pub use drafts::DraftCount;
pub use library::{Library, LibraryError, Product, Segment, RUNDOWN_PLACEHOLDERS};
pub use questions::QuestionKind;

use crate::cue::{Act, Cue, CueKind, Effect, Prosody, When};
use crate::event::{EventKind, LiveEvent};
use crate::safety::SafetyScreen;
use crate::scheduler::{priority, SchedulerConfig};
use crate::template::Template;

/// What the rundown made of a comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A product question: say this (a [`CueKind::ProductAnswer`]).
    Say(Box<Cue>),
    /// A product question answered moments ago: say nothing (and let nobody else guess).
    AlreadyAnswered,
    /// Not a product question the library can answer: the script's turn.
    NotAsked,
}

/// The product on now and where it stands.
#[derive(Debug, Clone, Copy)]
struct Slot {
    product: usize,
    started_ms: u64,
    ends_ms: u64,
    opened: bool,
    closed: bool,
}

/// Which template list a "last pick" belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ListKey {
    Segment(usize, Segment),
    Answer(usize, QuestionKind),
}

pub struct Rundown {
    library: Library,
    config: RundownConfig,
    scheduler: SchedulerConfig,
    persona: String,
    safety: Arc<SafetyScreen>,
    slot: Option<Slot>,
    next_line_ms: u64,
    /// Middle lines said (every `filler_every`-th is filler).
    middle_lines: u32,
    /// `activity` mode: the product viewers asked about, shown at the next line.
    switch_to: Option<usize>,
    /// Times of the latest engagement events (at most `busy_events_per_minute` kept).
    activity: VecDeque<u64>,
    online: u64,
    /// Next selling point per product (`{point}` walks through them).
    point_cursor: Vec<usize>,
    last_template: HashMap<ListKey, usize>,
    last_text: Option<String>,
    answered: HashMap<(usize, QuestionKind), u64>,
}

const ACTIVITY_WINDOW_MS: u64 = 60_000;

impl Rundown {
    /// `persona`: the streamer character's name (`{name}`); `safety`: the show's screen
    /// (viewer names are screened before an answer speaks them).
    pub fn new(
        library: Library,
        config: &RundownConfig,
        scheduler: &SchedulerConfig,
        persona: &str,
        safety: Arc<SafetyScreen>,
    ) -> Self {
        let products = library.products.len();
        Self {
            library,
            config: config.clone(),
            scheduler: scheduler.clone(),
            persona: persona.to_string(),
            safety,
            slot: None,
            next_line_ms: 0,
            middle_lines: 0,
            switch_to: None,
            activity: VecDeque::new(),
            online: 0,
            point_cursor: vec![0; products],
            last_template: HashMap::new(),
            last_text: None,
            answered: HashMap::new(),
        }
    }

    /// The product on now (None before the first line).
    pub fn now_on(&self) -> Option<&Product> {
        self.slot.map(|s| &self.library.products[s.product])
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Whether the room counts as busy (`activity` mode urges more then).
    pub fn is_busy(&self, now_ms: u64) -> bool {
        let threshold = self.config.busy_events_per_minute as usize;
        let recent = self
            .activity
            .iter()
            .filter(|&&t| t + ACTIVITY_WINDOW_MS > now_ms)
            .count();
        recent >= threshold
    }

    /// The next rundown line, once `line_every_secs` have passed since the last one.
    pub fn due<R: Rng>(&mut self, now_ms: u64, rng: &mut R) -> Option<Cue> {
        if self.library.products.is_empty() || now_ms < self.next_line_ms {
            return None;
        }
        let every = self.config.line_every_ms();
        self.next_line_ms = now_ms + every;
        let mut slot = match (self.slot, self.switch_to.take()) {
            (Some(slot), Some(to)) if to != slot.product => self.start(to, now_ms),
            (Some(slot), _) if slot.closed && now_ms >= slot.ends_ms => {
                self.start((slot.product + 1) % self.library.products.len(), now_ms)
            }
            (Some(slot), _) => slot,
            (None, to) => self.start(to.unwrap_or(0), now_ms),
        };
        let product = slot.product;
        let segment = if !slot.opened {
            slot.opened = true;
            Segment::Opening
        } else if !slot.closed && now_ms + every >= slot.ends_ms {
            slot.closed = true;
            Segment::Closing
        } else {
            self.middle_lines += 1;
            let filler = self.config.filler_every;
            let has_filler = !self.library.products[product]
                .lines(Segment::Filler)
                .is_empty();
            let elapsed = now_ms.saturating_sub(slot.started_ms) as f64;
            let urge_at = self.config.urge_from * self.config.slot_ms() as f64;
            let busy = self.config.mode == RundownMode::Activity && self.is_busy(now_ms);
            if filler > 0 && self.middle_lines.is_multiple_of(filler) && has_filler {
                Segment::Filler
            } else if busy || elapsed >= urge_at {
                Segment::Urge
            } else {
                Segment::Explain
            }
        };
        self.slot = Some(slot);
        let (priority, effects) = match segment {
            Segment::Filler => (priority::BACKGROUND, Vec::new()),
            Segment::Opening => (
                priority::SCRIPT,
                vec![Effect::new(When::OnAir, Act::Expression("happy".into()))],
            ),
            _ => (priority::SCRIPT, Vec::new()),
        };
        let ttl_ms = Some(every);
        let text = self.pick(ListKey::Segment(product, segment), product, None, rng)?;
        let id = self.library.products[product].id.clone();
        Some(cue(
            CueKind::Rundown { product: id },
            text,
            priority,
            ttl_ms,
            effects,
        ))
    }

    fn start(&mut self, product: usize, now_ms: u64) -> Slot {
        tracing::info!(product = %self.library.products[product].id, "rundown: next product");
        self.middle_lines = 0;
        Slot {
            product,
            started_ms: now_ms,
            ends_ms: now_ms + self.config.slot_ms(),
            opened: false,
            closed: false,
        }
    }

    /// Takes every live-room event: engagement is counted, the viewer count kept, and a
    /// comment asking about a product answered.
    pub fn on_event<R: Rng>(&mut self, event: &LiveEvent, now_ms: u64, rng: &mut R) -> Answer {
        match &event.kind {
            EventKind::ViewerStats { online, .. } => self.online = *online,
            EventKind::Enter => {}
            _ => {
                self.activity.push_back(now_ms);
                let keep = self.config.busy_events_per_minute as usize;
                while self.activity.len() > keep {
                    self.activity.pop_front();
                }
            }
        }
        let EventKind::Comment { text } = &event.kind else {
            return Answer::NotAsked;
        };
        // A flagged comment is the script's to deflect or ignore: answering it would give it
        // airtime.
        if self.library.products.is_empty() || !self.safety.categories(text).is_empty() {
            return Answer::NotAsked;
        }
        let names: Vec<Vec<String>> = self.library.products.iter().map(|p| p.names()).collect();
        let named = questions::named_product(text, &names);
        let current = self.slot.map_or(0, |s| s.product);
        let product = named.unwrap_or(current);
        let asked = self.library.questions.classify(text);
        if self.config.mode == RundownMode::Activity && (asked.is_some() || named.is_some()) {
            self.steer(product, now_ms);
        }
        let Some(kind) = asked else {
            return Answer::NotAsked;
        };
        let repeat_ms = self.config.answer_repeat_secs * 1_000;
        if let Some(&at) = self.answered.get(&(product, kind)) {
            if now_ms < at + repeat_ms {
                return Answer::AlreadyAnswered;
            }
        }
        let user = self.safety.speakable_name(event.viewer_name());
        let Some(text_out) = self.pick(ListKey::Answer(product, kind), product, Some(user), rng)
        else {
            return Answer::NotAsked;
        };
        self.answered.insert((product, kind), now_ms);
        let priority = priority::for_comment(text, event.user_level(), &self.scheduler);
        let ttl = Some(self.scheduler.reply_ttl_secs * 1_000);
        let id = self.library.products[product].id.clone();
        let mut answer = cue(
            CueKind::ProductAnswer { product: id },
            text_out,
            priority,
            ttl,
            Vec::new(),
        );
        // The viewer's question caused it.
        answer.cause = crate::cue::Cause::of_event(event);
        Answer::Say(Box::new(answer))
    }

    /// `activity` mode: the product asked about comes on next, or stays on longer.
    fn steer(&mut self, product: usize, now_ms: u64) {
        match &mut self.slot {
            Some(slot) if slot.product == product => {
                let cap = slot.started_ms + 2 * self.config.slot_ms();
                let wanted = (now_ms + self.config.stay_secs * 1_000).min(cap);
                if wanted > slot.ends_ms {
                    slot.ends_ms = wanted;
                    slot.closed = false;
                }
                self.switch_to = None;
            }
            _ => self.switch_to = Some(product),
        }
    }

    /// Renders one line of a list: never the template picked last time from the same list
    /// (when it has others), and never the text said last.
    fn pick<R: Rng>(
        &mut self,
        key: ListKey,
        product: usize,
        user: Option<String>,
        rng: &mut R,
    ) -> Option<String> {
        let templates: Vec<Template> = match key {
            ListKey::Segment(i, segment) => self.library.products[i].lines(segment).to_vec(),
            ListKey::Answer(i, kind) => self.library.answers(i, kind),
        };
        if templates.is_empty() {
            return None;
        }
        let mut index = rng.random_range(0..templates.len());
        if let Some(&last) = self.last_template.get(&key) {
            if templates.len() > 1 && index == last {
                index = (index + rng.random_range(1..templates.len())) % templates.len();
            }
        }
        let template = &templates[index];
        let p = &self.library.products[product];
        let point = (!p.points.is_empty())
            .then(|| p.points[self.point_cursor[product] % p.points.len()].clone());
        let (online, persona) = (self.online.to_string(), self.persona.clone());
        let vars = |name: &str| -> Option<String> {
            Some(match name {
                "product" => p.name.clone(),
                "price" => p.price.clone(),
                "promotion" => p.promotion.clone(),
                "stock" => p.stock?.to_string(),
                "points" => p.points.join("，"),
                "point" => point.clone()?,
                "link" => p.link.clone(),
                "size" => p.size.clone(),
                "shipping" => p.shipping.clone(),
                "name" => persona.clone(),
                "online" => online.clone(),
                "user" => user.clone()?,
                _ => return None,
            })
        };
        let mut text = template.render(&vars, rng);
        for _ in 0..16 {
            if self.last_text.as_deref() != Some(text.as_str()) {
                break;
            }
            text = template.render(&vars, rng);
        }
        if template.placeholders().iter().any(|n| n == "point") {
            self.point_cursor[product] += 1;
        }
        self.last_template.insert(key, index);
        self.last_text = Some(text.clone());
        Some(text)
    }
}

fn cue(
    kind: CueKind,
    text: String,
    priority: i32,
    ttl_ms: Option<u64>,
    effects: Vec<Effect>,
) -> Cue {
    // A product answer's cause is then set to the viewer's question (`on_event`).
    let cause = match &kind {
        CueKind::Rundown { product } | CueKind::ProductAnswer { product } => {
            crate::cue::Cause::Rundown {
                product: product.clone(),
            }
        }
        _ => crate::cue::Cause::System,
    };
    Cue {
        cause,
        kind,
        text,
        priority,
        rank: 0,
        paid: false,
        ttl_ms,
        prosody: Prosody::default(),
        effects,
    }
}
