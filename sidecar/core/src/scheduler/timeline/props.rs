//! Property tests on a virtual clock: storms of gifts never starve a comment reply beyond the
//! aging bound, and caps never cost a paid line.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::scheduler::priority::*;

const TICK_MS: u64 = 100;
const MAX_LINE_MS: u64 = 5_000;

/// One arrival: ms after the previous one, a comment (else a gift), which priority, how
/// long the line plays, the comment's ttl.
type Arrival = (u64, bool, u8, u64, u64);

fn arrivals() -> impl Strategy<Value = Vec<Arrival>> {
    prop::collection::vec(
        (
            0u64..1_500,
            prop::bool::weighted(0.25),
            0u8..3,
            500u64..=MAX_LINE_MS,
            5u64..120,
        ),
        20..300,
    )
}

struct Comment {
    offered: u64,
    expires: u64,
    first_start: Option<u64>,
    skipped_at: Option<u64>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every comment reply either goes on air by `max_wait` + the line playing at its deadline
    /// (+ one line per older overdue reply that went first), or its ttl ran out first and it
    /// was skipped; none is left waiting. Every gift is said exactly once.
    #[test]
    fn storms_never_starve_a_reply(events in arrivals(), max_wait_secs in 5u64..60) {
        let max_wait = max_wait_secs * 1_000;
        let mut t: Timeline<u64> = Timeline::new(InterruptRules {
            max_wait_ms: Some(max_wait),
            max_unpaid: 10_000, // no capacity drops: only age and expiry are at stake here
            ..Default::default()
        });
        // (offer time on a tick, ttl, line), so deadlines fall on ticks too.
        let mut arrivals: Vec<(u64, u64, Line<u64>)> = Vec::new();
        let mut at = 0;
        let mut gifts = BTreeSet::new();
        for (id, &(gap, is_comment, prio, duration, ttl_secs)) in events.iter().enumerate() {
            at += gap;
            let id = id as u64;
            let line = if is_comment {
                let priority = [NORMAL, COMMENT_IMPORTANT, NORMAL - 3][prio as usize];
                Line::new(id, priority, false, None, duration).with_class(LineClass::Reply)
            } else {
                gifts.insert(id);
                let priority = if prio == 0 { GIFT_LARGE } else { GIFT_NORMAL };
                Line::new(id, priority, true, None, duration).with_rank(-(prio as i32))
            };
            arrivals.push((at.div_ceil(TICK_MS) * TICK_MS, ttl_secs * 1_000, line));
        }
        let end = at + 3_600_000;
        arrivals.reverse(); // popped in order
        let mut comments = BTreeMap::new();
        let mut starts: Vec<(u64, u64)> = Vec::new(); // (time, id)
        let mut playing: Option<(u64, u64, u64)> = None; // (id, started, duration)
        let mut gifts_said = Vec::new();
        let mut now = 0;
        while now <= end && (!arrivals.is_empty() || !t.is_idle()) {
            if let Some((id, started, duration)) = playing {
                if now >= started + duration {
                    let done = t.finish(id).expect("playing");
                    if done.paid {
                        gifts_said.push(id);
                    }
                    playing = None;
                } else {
                    t.progress(id, (now - started) as u32);
                }
            }
            while arrivals.last().is_some_and(|a| a.0 <= now) {
                let (_, ttl, mut line) = arrivals.pop().expect("checked");
                if !line.paid {
                    let expires = now + ttl;
                    line.expires_ms = Some(expires);
                    let c = Comment { offered: now, expires, first_start: None, skipped_at: None };
                    comments.insert(line.id, c);
                }
                let offer = t.offer_at(line, now);
                prop_assert!(offer.dropped.is_empty());
                if offer.interrupted.is_some() {
                    playing = None; // requeued or let go: the timeline decides
                }
            }
            if playing.is_none() {
                let mut skipped = Vec::new();
                let started = t.start_next(now, &mut skipped).map(|l| (l.id, l.payload));
                for line in skipped {
                    prop_assert!(now >= line.expires_ms.unwrap());
                    comments.get_mut(&line.id).unwrap().skipped_at = Some(now);
                }
                if let Some((id, duration)) = started {
                    t.set_duration(id, duration as u32);
                    starts.push((now, id));
                    if let Some(c) = comments.get_mut(&id) {
                        c.first_start.get_or_insert(now);
                    }
                    playing = Some((id, now, duration));
                }
            }
            now += TICK_MS;
        }
        prop_assert!(t.is_idle(), "something was left waiting");
        let said: BTreeSet<u64> = gifts_said.iter().copied().collect();
        prop_assert_eq!(said.len(), gifts_said.len(), "a gift was said twice");
        prop_assert_eq!(said, gifts);
        for (&id, c) in &comments {
            let deadline = c.offered + max_wait;
            match (c.first_start, c.skipped_at) {
                (Some(start), _) => {
                    if start <= deadline {
                        continue;
                    }
                    // Only older overdue replies may go between its deadline and its start.
                    let between: Vec<u64> = starts
                        .iter()
                        .filter(|&&(s, other)| s >= deadline && s < start && other != id)
                        .map(|&(_, other)| other)
                        .collect();
                    for other in &between {
                        let o = comments.get(other);
                        prop_assert!(
                            o.is_some_and(|o| (o.offered, *other) < (c.offered, id)),
                            "line {other} went before overdue reply {id}"
                        );
                    }
                    let bound = deadline + (MAX_LINE_MS + TICK_MS) * (1 + between.len() as u64);
                    prop_assert!(start <= bound, "reply {id} started at {start}, bound {bound}");
                }
                (None, Some(skipped)) => prop_assert!(skipped >= c.expires),
                (None, None) => prop_assert!(false, "reply {id} starved"),
            }
        }
    }
}

proptest! {
    /// Random lines of every class under the default caps and a small capacity: no paid line
    /// is ever dropped, no class waits beyond its cap, every drop is counted under its reason,
    /// and every line offered ends exactly one way (said, dropped, skipped or cut for good).
    #[test]
    fn caps_never_cost_a_paid_line(
        offers in prop::collection::vec((0usize..LineClass::COUNT, 0u64..400, any::<bool>()), 1..300),
        max_unpaid in 1usize..16,
    ) {
        let caps = crate::scheduler::CapsConfig::default().table();
        let mut t: Timeline<()> = Timeline::new(InterruptRules {
            max_unpaid,
            caps,
            max_wait_ms: Some(2_000),
            ..Default::default()
        });
        let mut ended = BTreeMap::new();
        let mut paid = BTreeSet::new();
        let mut now = 0;
        let mut note = |id: u64, how: &'static str| {
            prop_assert!(ended.insert(id, how).is_none(), "line {} ended twice", id);
            Ok(())
        };
        for (id, &(class, gap, start)) in offers.iter().enumerate() {
            now += gap;
            let id = id as u64;
            let class = LineClass::ALL[class];
            let is_paid = class == LineClass::Gift;
            if is_paid {
                paid.insert(id);
            }
            let priority = if is_paid { GIFT_NORMAL } else { NORMAL + (id % 3) as i32 };
            let line = Line::new(id, priority, is_paid, Some(now + 1_500), ()).with_class(class);
            let offer = t.offer_at(line, now);
            if let Some(cut) = offer.interrupted.as_ref().and_then(|c| c.discarded.as_ref()) {
                note(cut.id, "cut")?;
            }
            for (line, _) in offer.dropped_with_reasons() {
                prop_assert!(!line.paid);
                note(line.id, "dropped")?;
            }
            for class in LineClass::ALL {
                if let Some(cap) = caps[class.index()] {
                    prop_assert!(t.count_waiting_where(|l| l.class == class) <= cap.max);
                }
            }
            if start {
                if let Some(id) = t.playing().map(|l| l.id) {
                    t.finish(id);
                    note(id, "said")?;
                }
                let mut skipped = Vec::new();
                if let Some(id) = t.start_next(now, &mut skipped).map(|l| l.id) {
                    t.set_duration(id, 1_000);
                }
                for line in skipped {
                    note(line.id, "skipped")?;
                }
            }
        }
        loop {
            if let Some(id) = t.playing().map(|l| l.id) {
                t.finish(id);
                note(id, "said")?;
            }
            let mut skipped = Vec::new();
            let started = t.start_next(now, &mut skipped).is_some();
            for line in skipped {
                note(line.id, "skipped")?;
            }
            if !started {
                break;
            }
        }
        prop_assert_eq!(ended.len(), offers.len());
        for id in &paid {
            prop_assert_eq!(ended[id], "said");
        }
        let stats = t.stats();
        let dropped = ended.values().filter(|&&h| h == "dropped").count() as u64;
        let skipped = ended.values().filter(|&&h| h == "skipped").count() as u64;
        let by_reason = |r| stats.drops.total(r);
        prop_assert_eq!(
            by_reason(DropReason::Capacity) + by_reason(DropReason::ClassCap)
                + by_reason(DropReason::Coalesced),
            dropped
        );
        prop_assert_eq!(by_reason(DropReason::Expired), skipped);
        prop_assert_eq!(stats.drops.get(LineClass::Gift, DropReason::Capacity), 0);
    }
}
