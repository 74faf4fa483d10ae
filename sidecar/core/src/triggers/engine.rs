//! The live side of the rules: the room's running counts, what is remembered of viewers, and
//! each rule's cooldowns; turns what happens into [`Fired`] rules.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::condition::{Context, Facts, Happening, Kinds};
use super::rule::Rule;
use super::TriggerSet;
use crate::event::{EventKind, LiveEvent};
use crate::rewards::combo::GiftBatch;
use crate::safety::SafetyScreen;
use crate::tiers::Tier;

/// A rule that fired, with the values its templates are filled with.
#[derive(Debug, Clone)]
pub struct Fired {
    pub rule: Arc<Rule>,
    pub vars: Vars,
}

/// Placeholder values of one firing (screened: names and comments pass the safety screen).
pub type Vars = Vec<(&'static str, String)>;

/// Viewers remembered at most; past it the least recently seen half is forgotten (their next
/// event starts from what the ledger says again).
const BOOK_CAP: usize = 50_000;
/// Per-viewer cooldown entries kept per rule before expired ones are pruned.
const VIEWER_COOLDOWNS_PRUNE_AT: usize = 4096;

#[derive(Debug, Default, Clone)]
struct RuleState {
    last_fired_ms: Option<u64>,
    /// Firing times within the last minute (for `max_per_minute`).
    recent: VecDeque<u64>,
    by_viewer: HashMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Known {
    visits: u64,
    gift_fen: u64,
    last_seen_ms: u64,
}

/// Why a matching rule did not fire, counted for the summary and `simulate`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub cooldown: u64,
    pub viewer_cooldown: u64,
    pub per_minute: u64,
}

pub struct Triggers {
    set: TriggerSet,
    /// Per rule, in the set's order.
    state: Vec<RuleState>,
    book: HashMap<(String, String), Known>,
    likes: u64,
    peak_online: u64,
    online: u64,
    last_activity_ms: u64,
    started_ms: u64,
    vip_level: u32,
    safety: Arc<SafetyScreen>,
    held: Held,
    /// Rules the operator switched off, by name: they never match, and stay off across
    /// reloads until switched on again (or the process restarts).
    switched_off: BTreeSet<String>,
}

impl Triggers {
    pub fn new(set: TriggerSet, vip_level: u32, safety: Arc<SafetyScreen>, now_ms: u64) -> Self {
        Self {
            state: vec![RuleState::default(); set.rules().len()],
            set,
            book: HashMap::new(),
            likes: 0,
            peak_online: 0,
            online: 0,
            last_activity_ms: now_ms,
            started_ms: now_ms,
            vip_level,
            safety,
            held: Held::default(),
            switched_off: BTreeSet::new(),
        }
    }

    pub fn set(&self) -> &TriggerSet {
        &self.set
    }

    /// Takes new rules (a reload). Cooldowns carry over for rules of the same name, the room's
    /// counts and the viewers' memory stay: a reload changes the rules, not what happened.
    pub fn replace(&mut self, set: TriggerSet) {
        let mut old: HashMap<String, RuleState> = self
            .set
            .rules()
            .iter()
            .map(|r| r.name.clone())
            .zip(std::mem::take(&mut self.state))
            .collect();
        self.state = set
            .rules()
            .iter()
            .map(|r| old.remove(&r.name).unwrap_or_default())
            .collect();
        self.set = set;
    }

    /// Switches the rule called `name` on or off (the operator's console). False when no rule
    /// has that name.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> bool {
        if !self.set.rules().iter().any(|r| r.name == name) {
            return false;
        }
        if enabled {
            self.switched_off.remove(name);
        } else {
            self.switched_off.insert(name.to_string());
        }
        true
    }

    pub fn is_enabled(&self, name: &str) -> bool {
        !self.switched_off.contains(name)
    }

    pub fn held(&self) -> Held {
        self.held
    }

    /// What the ledger remembers of a viewer. The ledger's counts already include what this
    /// show admitted, so they are merged by taking the larger, never added.
    pub fn remember(&mut self, platform: &str, user_id: &str, visits: u64, gift_fen: u64) {
        let known = self
            .book
            .entry((platform.to_string(), user_id.to_string()))
            .or_default();
        known.visits = known.visits.max(visits);
        known.gift_fen = known.gift_fen.max(gift_fen);
    }

    /// Whether the show knows anything of this viewer yet (else it may ask the ledger).
    pub fn knows(&self, platform: &str, user_id: &str) -> bool {
        self.book
            .contains_key(&(platform.to_string(), user_id.to_string()))
    }

    /// A live-room event other than a gift (gifts come folded, through [`Triggers::on_gift`]).
    pub fn on_event(&mut self, event: &LiveEvent, now_ms: u64, minute: u32) -> Vec<Fired> {
        let mut facts = self.touch(event, now_ms);
        let happening = match &event.kind {
            EventKind::Gift(_) => return Vec::new(),
            EventKind::Comment { text } => Happening::Comment { text },
            EventKind::Follow => Happening::Follow,
            EventKind::Share => Happening::Share,
            EventKind::Enter => Happening::Join,
            EventKind::Like { count } => {
                let before = self.likes;
                self.likes = self.likes.saturating_add(u64::from(*count));
                Happening::Likes {
                    before,
                    after: self.likes,
                }
            }
            EventKind::ViewerStats { online, .. } => {
                let peak_before = self.peak_online;
                self.online = *online;
                self.peak_online = self.peak_online.max(*online);
                Happening::Viewers {
                    online: *online,
                    peak_before,
                }
            }
        };
        if !matches!(event.kind, EventKind::ViewerStats { .. }) {
            self.last_activity_ms = now_ms;
        }
        facts.level = event.user_level();
        facts.fan_level = event.user.as_ref().map_or(0, |u| u.fan_level);
        let viewer = event.user.as_ref().map(|u| u.id.as_str());
        let fired = self.matching(happening, facts, viewer, now_ms, minute);
        if fired.is_empty() {
            return Vec::new();
        }
        // Screening names and comments costs more than matching: only for what fired.
        let mut vars: Vars = Vec::new();
        if event.user.is_some() {
            vars.push(("user", self.user_var(event.viewer_name())));
        }
        if let EventKind::Comment { text } = &event.kind {
            vars.push(("text", self.safety.mask(text).text));
        }
        self.fired(fired, vars, facts)
    }

    /// A gift batch about to be thanked.
    pub fn on_gift(
        &mut self,
        batch: &GiftBatch,
        tier: Tier,
        now_ms: u64,
        minute: u32,
    ) -> Vec<Fired> {
        let key = (batch.platform.clone(), batch.viewer.id.clone());
        let before = self.book.get(&key).copied().unwrap_or_default();
        let known = self.book.entry(key).or_default();
        known.gift_fen = known.gift_fen.saturating_add(batch.value_fen);
        known.last_seen_ms = now_ms;
        self.last_activity_ms = now_ms;
        let facts = Facts {
            visits: before.visits,
            gift_fen_before: before.gift_fen,
            level: batch.viewer.level,
            fan_level: batch.viewer.fan_level,
        };
        let happening = Happening::Gift { batch, tier };
        let viewer = Some(batch.viewer.id.as_str());
        let fired = self.matching(happening, facts, viewer, now_ms, minute);
        if fired.is_empty() {
            return Vec::new();
        }
        let vars = vec![
            ("user", self.user_var(&batch.viewer.name)),
            ("gift", self.safety.mask(&batch.gift_name).text),
            ("count", batch.count.to_string()),
            ("value", format!("{:.1}", batch.value_fen as f64 / 100.0)),
            ("tier", tier.number().to_string()),
        ];
        self.fired(fired, vars, facts)
    }

    /// The show's tick: quiet spells and schedules.
    pub fn on_tick(&mut self, now_ms: u64, minute: u32) -> Vec<Fired> {
        let quiet = Happening::Quiet {
            for_ms: now_ms.saturating_sub(self.last_activity_ms),
        };
        let none = Facts::default();
        let mut fired = self.matching(quiet, none, None, now_ms, minute);
        fired.extend(self.matching(Happening::Clock, none, None, now_ms, minute));
        self.fired(fired, Vec::new(), none)
    }

    /// OBS's stream output started or stopped.
    pub fn on_stream(&mut self, live: bool, now_ms: u64, minute: u32) -> Vec<Fired> {
        let none = Facts::default();
        let fired = self.matching(Happening::Stream { live }, none, None, now_ms, minute);
        self.fired(fired, Vec::new(), none)
    }

    fn user_var(&self, name: &str) -> String {
        self.safety.speakable_name(name)
    }

    /// Counts the viewer's visit (an entry) and returns what is known of them.
    fn touch(&mut self, event: &LiveEvent, now_ms: u64) -> Facts {
        let Some(user) = &event.user else {
            return Facts::default();
        };
        if self.book.len() >= BOOK_CAP {
            self.forget_oldest_half();
        }
        let known = self
            .book
            .entry((event.platform.clone(), user.id.clone()))
            .or_default();
        if matches!(event.kind, EventKind::Enter) {
            known.visits += 1;
        }
        known.last_seen_ms = now_ms;
        Facts {
            visits: known.visits,
            gift_fen_before: known.gift_fen,
            ..Facts::default()
        }
    }

    fn forget_oldest_half(&mut self) {
        let mut seen: Vec<u64> = self.book.values().map(|k| k.last_seen_ms).collect();
        let mid = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable(mid);
        let cut = *cut;
        self.book.retain(|_, k| k.last_seen_ms > cut);
    }

    /// The rules the happening fires (cooldowns and rates checked, and counted as fired).
    fn matching(
        &mut self,
        happening: Happening<'_>,
        facts: Facts,
        viewer: Option<&str>,
        now_ms: u64,
        minute: u32,
    ) -> Vec<Arc<Rule>> {
        let kind = Kinds::of(&happening);
        let mut fired = Vec::new();
        for &index in self.set.rules_for(kind) {
            let rule = &self.set.rules()[index];
            if self.switched_off.contains(&rule.name) {
                continue;
            }
            let state = &mut self.state[index];
            let cx = Context {
                happening,
                facts,
                vip_level: self.vip_level,
                now_ms,
                minute_of_day: minute,
                show_started_ms: self.started_ms,
                last_fired_ms: state.last_fired_ms,
            };
            if !rule.cond.matches(&cx) {
                continue;
            }
            if let Some(why) = hold(rule, state, viewer, now_ms) {
                match why {
                    Hold::Cooldown => self.held.cooldown += 1,
                    Hold::ViewerCooldown => self.held.viewer_cooldown += 1,
                    Hold::PerMinute => self.held.per_minute += 1,
                }
                continue;
            }
            state.last_fired_ms = Some(now_ms);
            state.recent.push_back(now_ms);
            if let Some(viewer) = viewer.filter(|_| rule.viewer_cooldown_ms > 0) {
                if state.by_viewer.len() >= VIEWER_COOLDOWNS_PRUNE_AT {
                    let keep = rule.viewer_cooldown_ms;
                    state.by_viewer.retain(|_, t| now_ms < *t + keep);
                }
                state.by_viewer.insert(viewer.to_string(), now_ms);
            }
            fired.push(rule.clone());
        }
        fired
    }

    /// The fired rules with their template values.
    fn fired(&self, rules: Vec<Arc<Rule>>, mut vars: Vars, facts: Facts) -> Vec<Fired> {
        if rules.is_empty() {
            return Vec::new();
        }
        vars.push(("online", self.online.to_string()));
        vars.push(("likes", self.likes.to_string()));
        vars.push(("visits", facts.visits.to_string()));
        rules
            .into_iter()
            .map(|rule| {
                let mut vars = vars.clone();
                vars.push(("trigger", rule.name.clone()));
                Fired { rule, vars }
            })
            .collect()
    }
}

enum Hold {
    Cooldown,
    ViewerCooldown,
    PerMinute,
}

fn hold(rule: &Rule, state: &mut RuleState, viewer: Option<&str>, now_ms: u64) -> Option<Hold> {
    if let Some(last) = state.last_fired_ms {
        if rule.cooldown_ms > 0 && now_ms < last + rule.cooldown_ms {
            return Some(Hold::Cooldown);
        }
    }
    if let Some(last) = viewer.and_then(|v| state.by_viewer.get(v)) {
        if now_ms < last + rule.viewer_cooldown_ms {
            return Some(Hold::ViewerCooldown);
        }
    }
    while state.recent.front().is_some_and(|t| now_ms >= t + 60_000) {
        state.recent.pop_front();
    }
    if rule.max_per_minute > 0 && state.recent.len() >= rule.max_per_minute as usize {
        return Some(Hold::PerMinute);
    }
    None
}
