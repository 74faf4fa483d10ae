//! A viewer's recent activity: how many times they interacted within a window, one of the
//! facts of a line's dynamic priority ([`super::priority`]).
//!
//! Bounded memory: at most `max_viewers` are remembered. When full, viewers quiet for longer
//! than the window are forgotten; if every remembered viewer is still active (a raid), the
//! table starts over: a lost bonus for a few lines is better than unbounded memory.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct RecentActivity {
    window_ms: u64,
    max_viewers: usize,
    /// Viewer id → (interactions in the current window, last interaction).
    seen: HashMap<String, (u32, u64)>,
}

impl RecentActivity {
    pub fn new(window_ms: u64, max_viewers: usize) -> Self {
        Self {
            window_ms,
            max_viewers: max_viewers.max(1),
            seen: HashMap::new(),
        }
    }

    /// Notes one interaction; returns the viewer's count with it. A viewer quiet for more
    /// than the window starts again from 1.
    pub fn note(&mut self, viewer_id: &str, now_ms: u64) -> u32 {
        if viewer_id.is_empty() {
            return 0; // anonymous: nothing to remember
        }
        let window = self.window_ms;
        if !self.seen.contains_key(viewer_id) && self.seen.len() >= self.max_viewers {
            self.seen
                .retain(|_, &mut (_, last)| now_ms.saturating_sub(last) <= window);
            if self.seen.len() >= self.max_viewers {
                self.seen.clear();
            }
        }
        let entry = self
            .seen
            .entry(viewer_id.to_string())
            .or_insert((0, now_ms));
        if now_ms.saturating_sub(entry.1) > window {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now_ms;
        entry.0
    }

    /// The viewer's interactions in the window ending now, without noting one.
    pub fn count(&self, viewer_id: &str, now_ms: u64) -> u32 {
        match self.seen.get(viewer_id) {
            Some(&(n, last)) if now_ms.saturating_sub(last) <= self.window_ms => n,
            _ => 0,
        }
    }

    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

impl Default for RecentActivity {
    /// Five minutes, 4096 viewers.
    fn default() -> Self {
        Self::new(300_000, 4_096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_the_window_then_starts_over() {
        let mut a = RecentActivity::new(1_000, 8);
        assert_eq!(a.note("u", 0), 1);
        assert_eq!(a.note("u", 900), 2);
        assert_eq!(a.count("u", 1_800), 2);
        assert_eq!(a.count("u", 2_000), 0, "quiet for longer than the window");
        assert_eq!(a.note("u", 2_000), 1);
        assert_eq!(a.note("", 2_000), 0);
        assert_eq!(a.count("someone else", 0), 0);
    }

    #[test]
    fn memory_stays_bounded_and_forgets_quiet_viewers_first() {
        let mut a = RecentActivity::new(1_000, 3);
        a.note("old", 0);
        a.note("b", 1_500);
        a.note("c", 1_600);
        a.note("d", 1_700); // full: "old" is past the window and goes
        assert_eq!(a.remembered(), 3);
        assert_eq!(a.count("b", 1_700), 1);
        assert_eq!(a.count("old", 1_700), 0);
        for i in 0..100 {
            a.note(&format!("raid{i}"), 1_800);
            assert!(a.remembered() <= 3);
        }
    }
}
