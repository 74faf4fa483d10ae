//! What the streamer's triggers want OBS to show, as state the OBS task can apply at any
//! time (and again after a reconnection), folded like the rest of [`super::state`].
//!
//! * **Scene holds**: a scene on program until a time or a release; the latest hold wins, and
//!   when none is left the program returns to where it came from (or to the scene a trigger
//!   switched to for good).
//! * **Visibility**: a source shown or hidden, maybe until a time (then undone).
//! * **Texts** and **input settings**: the latest wins.
//! * **Media restarts** and **filter toggles** are moments, not states: each carries when it
//!   was asked for, and one older than [`STALE`] is not played when OBS comes back (a sound
//!   effect ten minutes late is worse than none).
//!
//! Memory is bounded by the names in the scene files (one entry per source, filter, input)
//! and by [`MAX_HOLDS`].

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// A restart or toggle asked for longer ago than this is not applied any more.
pub const STALE: Duration = Duration::from_secs(5);
/// Scene holds kept at most; past it the oldest goes (a runaway trigger cannot grow memory).
const MAX_HOLDS: usize = 64;
/// Holds and timed visibility are capped at an hour.
const MAX_SECS: f64 = 3600.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub hold: u64,
    pub scene: String,
    pub since: Instant,
    pub until: Option<Instant>,
}

/// A source shown or hidden; `until`: then the opposite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    pub visible: bool,
    pub until: Option<Instant>,
}

impl Shown {
    pub fn now(&self, now: Instant) -> bool {
        match self.until {
            Some(until) if now >= until => !self.visible,
            _ => self.visible,
        }
    }
}

/// A moment: the `seq`-th request, made `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pulse {
    pub seq: u64,
    pub at: Instant,
}

impl Pulse {
    pub fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < STALE
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterWant {
    pub enabled: Option<(bool, u64)>,
    pub toggle: Option<Pulse>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub holds: Vec<Hold>,
    /// The scene a trigger switched to for good, with its request number.
    pub base_scene: Option<(String, u64)>,
    /// By (scene or every scene, source).
    pub visibility: BTreeMap<(Option<String>, String), Shown>,
    pub texts: BTreeMap<String, String>,
    pub media: BTreeMap<String, Pulse>,
    pub filters: BTreeMap<(String, String), FilterWant>,
    /// Settings merged so far, with the number of the last request.
    pub settings: BTreeMap<String, (serde_json::Map<String, serde_json::Value>, u64)>,
    seq: u64,
}

fn until(now: Instant, secs: Option<f64>) -> Option<Instant> {
    secs.map(|s| {
        let s = if s.is_finite() {
            s.clamp(0.0, MAX_SECS)
        } else {
            0.0
        };
        now + Duration::from_secs_f64(s)
    })
}

impl Effects {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn hold(&mut self, hold: u64, scene: String, secs: Option<f64>, now: Instant) {
        self.prune(now);
        self.holds.retain(|h| h.hold != hold);
        if self.holds.len() >= MAX_HOLDS {
            self.holds.remove(0);
        }
        self.holds.push(Hold {
            hold,
            scene,
            since: now,
            until: until(now, secs),
        });
    }

    pub fn release(&mut self, hold: u64, now: Instant) {
        self.holds.retain(|h| h.hold != hold);
        self.prune(now);
    }

    pub fn switch(&mut self, scene: String) {
        let seq = self.next_seq();
        self.base_scene = Some((scene, seq));
    }

    pub fn show(
        &mut self,
        scene: Option<String>,
        source: String,
        visible: bool,
        secs: Option<f64>,
        now: Instant,
    ) {
        self.visibility.insert(
            (scene, source),
            Shown {
                visible,
                until: until(now, secs),
            },
        );
    }

    pub fn text(&mut self, source: String, text: String) {
        self.texts.insert(source, text);
    }

    pub fn restart(&mut self, input: String, now: Instant) {
        let seq = self.next_seq();
        self.media.insert(input, Pulse { seq, at: now });
    }

    pub fn filter(&mut self, source: String, filter: String, enabled: Option<bool>, now: Instant) {
        let seq = self.next_seq();
        let want = self.filters.entry((source, filter)).or_default();
        match enabled {
            Some(on) => {
                want.enabled = Some((on, seq));
                want.toggle = None;
            }
            None => want.toggle = Some(Pulse { seq, at: now }),
        }
    }

    pub fn settings(&mut self, input: String, settings: serde_json::Value) {
        let seq = self.next_seq();
        let entry = self.settings.entry(input).or_default();
        if let serde_json::Value::Object(map) = settings {
            entry.0.extend(map);
        }
        entry.1 = seq;
    }

    fn prune(&mut self, now: Instant) {
        self.holds.retain(|h| h.until.is_none_or(|u| u > now));
    }

    /// The newest hold still in force.
    pub fn held_scene(&self, now: Instant) -> Option<&Hold> {
        self.holds
            .iter()
            .filter(|h| h.until.is_none_or(|u| u > now))
            .max_by_key(|h| h.since)
    }

    /// The next moment something ends by itself (a hold, a timed visibility).
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        let holds = self.holds.iter().filter_map(|h| h.until);
        let shown = self.visibility.values().filter_map(|s| s.until);
        holds.chain(shown).filter(|t| *t > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_newest_hold_wins_and_expired_ones_go() {
        let mut fx = Effects::default();
        let t0 = Instant::now();
        fx.hold(1, "A".into(), Some(10.0), t0);
        tokio::time::advance(Duration::from_secs(1)).await;
        fx.hold(2, "B".into(), Some(2.0), Instant::now());
        assert_eq!(fx.held_scene(Instant::now()).unwrap().scene, "B");
        assert_eq!(
            fx.next_change(Instant::now()),
            Some(t0 + Duration::from_secs(3))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(fx.held_scene(Instant::now()).unwrap().scene, "A", "B ended");
        fx.release(1, Instant::now());
        assert!(fx.held_scene(Instant::now()).is_none());
        for i in 0..1000 {
            fx.hold(i, "C".into(), None, Instant::now());
        }
        assert_eq!(fx.holds.len(), MAX_HOLDS);
    }

    #[tokio::test(start_paused = true)]
    async fn timed_visibility_undoes_itself_and_moments_go_stale() {
        let mut fx = Effects::default();
        let t0 = Instant::now();
        fx.show(None, "Fireworks".into(), true, Some(3.0), t0);
        let shown = fx.visibility[&(None, "Fireworks".into())];
        assert!(shown.now(t0) && !shown.now(t0 + Duration::from_secs(3)));
        fx.restart("Ding".into(), t0);
        assert!(fx.media["Ding"].fresh(t0 + Duration::from_secs(4)));
        assert!(!fx.media["Ding"].fresh(t0 + STALE));
        fx.filter("Cam".into(), "Blur".into(), None, t0);
        fx.filter("Cam".into(), "Blur".into(), Some(true), t0);
        let want = &fx.filters[&("Cam".into(), "Blur".into())];
        assert!(want.toggle.is_none() && want.enabled.map(|e| e.0) == Some(true));
        fx.settings("Img".into(), serde_json::json!({"a": 1}));
        fx.settings("Img".into(), serde_json::json!({"b": 2}));
        assert_eq!(fx.settings["Img"].0.len(), 2, "settings merge");
    }
}
