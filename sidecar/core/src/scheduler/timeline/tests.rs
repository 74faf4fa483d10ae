//! The timeline's rules on hand-picked cases (the random storms are in `props.rs`).

use super::*;
use crate::scheduler::class::{CapPolicy, CapsConfig, ClassCap};
use crate::scheduler::priority::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn tl() -> Timeline<&'static str> {
    Timeline::new(InterruptRules::default())
}

fn line(id: u64, priority: i32, paid: bool) -> Line<&'static str> {
    Line::new(id, priority, paid, None, "")
}

fn start(t: &mut Timeline<&'static str>) -> Option<u64> {
    t.start_next(0, &mut Vec::new()).map(|l| l.id)
}

#[test]
fn a_line_that_is_not_ready_is_passed_over_and_keeps_its_place() {
    let mut t = tl();
    t.offer(line(1, GIFT_LARGE, true)); // its audio is late
    t.offer(line(2, GIFT_NORMAL, true));
    t.offer(line(3, NORMAL, false));
    let not_ready = |l: &Line<&str>| l.id != 1;
    let started = t.start_next_where(0, 8, &mut Vec::new(), not_ready);
    assert_eq!(started.map(|l| l.id), Some(2), "the next ready line airs");
    t.finish(2);
    // Line 1 is ready now: it goes before the less urgent line 3.
    let started = t.start_next_where(0, 8, &mut Vec::new(), |_| true);
    assert_eq!(started.map(|l| l.id), Some(1));
    t.finish(1);
    assert_eq!(start(&mut t), Some(3));
}

#[test]
fn nothing_ready_within_the_lookahead_starts_nothing_and_loses_nothing() {
    let mut t = tl();
    for id in 1..=5 {
        t.offer(line(id, GIFT_NORMAL, true));
    }
    assert!(t
        .start_next_where(0, 2, &mut Vec::new(), |l| l.id == 5)
        .is_none());
    assert_eq!(t.queued(), 5);
    let mut seen = Vec::new();
    t.upcoming(3, |l| seen.push(l.id));
    assert_eq!(seen, vec![1, 2, 3], "order unchanged");
    assert_eq!(t.queued(), 5);
}

#[test]
fn most_urgent_first_then_arrival_order() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    t.offer(line(2, GIFT_NORMAL, true));
    t.offer(line(3, NORMAL, false));
    t.offer(line(4, GIFT_LARGE, true));
    let mut order = Vec::new();
    while let Some(id) = start(&mut t) {
        order.push(id);
        t.finish(id);
    }
    assert_eq!(order, vec![4, 2, 1, 3]);
}

#[test]
fn big_gift_interrupts_a_comment_reply() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    start(&mut t);
    t.set_duration(1, 4_000);
    t.progress(1, 1_000);
    let offer = t.offer(line(2, GIFT_LARGE, true));
    let interrupted = offer.interrupted.expect("gap 10 >= 5 interrupts");
    assert_eq!((interrupted.id, interrupted.requeued), (1, true));
    assert_eq!(start(&mut t), Some(2));
    t.finish(2);
    assert_eq!(
        start(&mut t),
        Some(1),
        "the cut reply comes back (only 25 % heard)"
    );
}

#[test]
fn gap_below_five_does_not_interrupt() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    start(&mut t);
    t.set_duration(1, 4_000);
    assert!(t
        .offer(line(2, COMMENT_IMPORTANT + 1, false))
        .interrupted
        .is_none());
    assert!(
        t.offer(line(3, 1, true)).interrupted.is_none(),
        "gap 4 waits its turn"
    );
}

#[test]
fn late_in_a_line_the_gap_must_be_eight() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    start(&mut t);
    t.set_duration(1, 1_000);
    t.progress(1, 900); // 90 % played
                        // A normal gift is 6 levels more urgent: enough before 85 %, not after.
    assert!(t.offer(line(2, GIFT_NORMAL, true)).interrupted.is_none());
    // A big gift is 10 levels more urgent: still interrupts.
    let cut = t
        .offer(line(3, GIFT_LARGE, true))
        .interrupted
        .expect("gap 10 >= 8");
    assert!(!cut.requeued, "90 % heard: not replayed");
    assert_eq!(cut.discarded.map(|l| l.id), Some(1));
}

#[test]
fn gap_of_exactly_five_interrupts_before_85_percent() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    start(&mut t);
    t.set_duration(1, 1_000);
    t.progress(1, 500);
    assert!(t
        .offer(line(2, COMMENT_IMPORTANT, false))
        .interrupted
        .is_some());
}

#[test]
fn interrupted_paid_lines_are_always_replayed() {
    let mut t = tl();
    t.offer(line(1, GIFT_NORMAL, true));
    start(&mut t);
    t.set_duration(1, 1_000);
    t.progress(1, 990);
    let cut = t
        .offer(line(2, EMERGENCY, false))
        .interrupted
        .expect("gap 9");
    assert!(cut.requeued);
    assert_eq!(start(&mut t), Some(2));
    t.finish(2);
    assert_eq!(start(&mut t), Some(1));
}

#[test]
fn capacity_drops_least_urgent_unpaid_never_paid() {
    let mut t = Timeline::new(InterruptRules {
        max_unpaid: 2,
        ..Default::default()
    });
    t.offer(line(1, SCRIPT, false));
    t.offer(line(2, NORMAL, false));
    for id in 10..20 {
        assert!(t.offer(line(id, GIFT_NORMAL, true)).dropped.is_empty());
    }
    let dropped = t.offer(line(3, NORMAL, false)).dropped;
    assert_eq!(dropped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1]);
    let dropped = t.offer(line(4, BACKGROUND, false)).dropped;
    assert_eq!(dropped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![4]);
    assert_eq!(t.queued(), 12);
}

#[test]
fn expired_unpaid_lines_are_skipped_but_paid_ones_never_expire() {
    let mut t = tl();
    t.offer(Line::new(1, NORMAL, false, Some(100), ""));
    t.offer(Line::new(2, NORMAL, true, Some(100), ""));
    let mut skipped = Vec::new();
    assert_eq!(t.start_next(500, &mut skipped).map(|l| l.id), Some(2));
    t.finish(2);
    assert_eq!(t.start_next(500, &mut skipped).map(|l| l.id), None);
    assert_eq!(skipped.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn late_reports_of_interrupted_lines_are_ignored() {
    let mut t = tl();
    t.offer(line(1, NORMAL, false));
    start(&mut t);
    t.offer(line(2, GIFT_LARGE, true));
    start(&mut t);
    assert!(t.finish(1).is_none());
    assert_eq!(t.playing().map(|l| l.id), Some(2));
}

/// Random storms of offers, progress, interruptions and finishes: every paid line offered is
/// eventually started and finished exactly once.
#[test]
fn paid_lines_always_come_out_exactly_once() {
    for seed in 0..50 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut t = Timeline::new(InterruptRules {
            max_unpaid: 3,
            ..Default::default()
        });
        let mut paid_offered = std::collections::BTreeSet::new();
        let mut paid_finished = Vec::new();
        let mut now = 0;
        for id in 0..300u64 {
            now += rng.random_range(0..200);
            let paid = rng.random_bool(0.4);
            let priority = rng.random_range(EMERGENCY..=BACKGROUND);
            if paid {
                paid_offered.insert(id);
            }
            t.offer(Line::new(id, priority, paid, Some(now + 1_000), ""));
            if rng.random_bool(0.5) {
                if let Some(l) = t.start_next(now, &mut Vec::new()) {
                    let id = l.id;
                    t.set_duration(id, 1_000);
                    t.progress(id, rng.random_range(0..1_000));
                }
            }
            if rng.random_bool(0.3) {
                if let Some(id) = t.playing().map(|l| l.id) {
                    let done = t.finish(id).expect("playing");
                    if done.paid {
                        paid_finished.push(done.id);
                    }
                }
            }
        }
        if let Some(id) = t.playing().map(|l| l.id) {
            if t.finish(id).expect("playing").paid {
                paid_finished.push(id);
            }
        }
        while let Some(id) = t.start_next(u64::MAX, &mut Vec::new()).map(|l| l.id) {
            if t.finish(id).expect("playing").paid {
                paid_finished.push(id);
            }
        }
        let finished: std::collections::BTreeSet<u64> = paid_finished.iter().copied().collect();
        assert_eq!(
            finished.len(),
            paid_finished.len(),
            "seed {seed}: a paid line finished twice"
        );
        assert_eq!(finished, paid_offered, "seed {seed}");
    }
}

fn reply(id: u64, priority: i32) -> Line<&'static str> {
    Line::new(id, priority, false, None, "").with_class(LineClass::Reply)
}

fn of_class(id: u64, class: LineClass) -> Line<&'static str> {
    Line::new(id, SCRIPT, false, None, "").with_class(class)
}

fn ids<T>(lines: &[Line<T>]) -> Vec<u64> {
    lines.iter().map(|l| l.id).collect()
}

/// Says everything waiting, in order, each line taking no time.
fn drain(t: &mut Timeline<&'static str>, now_ms: u64) -> Vec<u64> {
    let mut order = Vec::new();
    while let Some(id) = t.start_next(now_ms, &mut Vec::new()).map(|l| l.id) {
        order.push(id);
        t.finish(id);
    }
    order
}

fn with_caps() -> Timeline<&'static str> {
    Timeline::new(InterruptRules {
        caps: CapsConfig::default().table(),
        ..Default::default()
    })
}

#[test]
fn rank_orders_a_level_and_never_counts_for_interruption() {
    let mut t = tl();
    t.offer(line(1, GIFT_NORMAL, true).with_rank(-10));
    t.offer(line(2, GIFT_NORMAL, true).with_rank(-300)); // a bigger gift of the same tier
    t.offer(line(3, GIFT_NORMAL, true).with_rank(-10));
    assert_eq!(drain(&mut t, 0), vec![2, 1, 3]);
    t.offer(line(4, GIFT_NORMAL, true));
    start(&mut t);
    t.set_duration(4, 1_000);
    let cut = t.offer(line(5, GIFT_LARGE, true).with_rank(i32::MIN));
    assert!(cut.interrupted.is_none(), "gap 4 whatever the rank");
}

#[test]
fn a_new_welcome_replaces_the_waiting_one_in_its_place() {
    let mut t = with_caps();
    t.offer(of_class(1, LineClass::Welcome));
    t.offer(of_class(2, LineClass::Share));
    let offer = t.offer(of_class(3, LineClass::Welcome));
    assert_eq!(ids(&offer.dropped), vec![1]);
    assert_eq!(offer.why_dropped, vec![DropReason::Coalesced]);
    assert_eq!(t.queued(), 2);
    assert_eq!(
        drain(&mut t, 0),
        vec![3, 2],
        "the newest welcome, at the first one's turn"
    );
    let drops = t.stats().drops;
    assert_eq!(drops.get(LineClass::Welcome, DropReason::Coalesced), 1);
    assert_eq!(t.stats().dropped_capacity, 0);
}

#[test]
fn drop_oldest_keeps_a_class_at_its_cap_and_counts_why() {
    let mut t = Timeline::new(InterruptRules {
        caps: {
            let mut caps = [None; LineClass::COUNT];
            caps[LineClass::Follow.index()] = Some(ClassCap {
                max: 2,
                policy: CapPolicy::DropOldest,
            });
            caps
        },
        max_unpaid: 3,
        ..Default::default()
    });
    for id in 1..=4 {
        t.offer(of_class(id, LineClass::Follow));
    }
    t.offer(of_class(5, LineClass::Idle).with_rank(1));
    t.offer(of_class(6, LineClass::Idle));
    let stats = t.stats();
    assert_eq!(stats.drops.get(LineClass::Follow, DropReason::ClassCap), 2);
    assert_eq!(
        stats.drops.get(LineClass::Idle, DropReason::Capacity),
        1,
        "the global bound still holds: the least urgent (rank 1) went"
    );
    assert_eq!(drain(&mut t, 0), vec![3, 4, 6]);
}

#[test]
fn paid_lines_ignore_class_caps() {
    let mut t = Timeline::new(InterruptRules {
        caps: [Some(ClassCap {
            max: 1,
            policy: CapPolicy::Coalesce,
        }); LineClass::COUNT],
        ..Default::default()
    });
    for id in 0..50 {
        assert!(t.offer(line(id, GIFT_NORMAL, true)).dropped.is_empty());
    }
    assert_eq!(t.queued_paid(), 50);
}

#[test]
fn expiry_is_counted_by_class() {
    let mut t = tl();
    t.offer(Line::new(1, NORMAL, false, Some(10), "").with_class(LineClass::Reply));
    let mut skipped = Vec::new();
    assert!(t.start_next(10, &mut skipped).is_none());
    assert_eq!(ids(&skipped), vec![1]);
    assert_eq!(
        t.stats().drops.get(LineClass::Reply, DropReason::Expired),
        1
    );
    assert_eq!(t.stats().dropped_expired, 1);
}

fn aging(max_wait_ms: u64) -> Timeline<&'static str> {
    Timeline::new(InterruptRules {
        max_wait_ms: Some(max_wait_ms),
        ..Default::default()
    })
}

#[test]
fn an_overdue_reply_goes_before_a_gift_storm() {
    let mut t = aging(30_000);
    t.offer_at(reply(1, NORMAL), 0);
    for id in 10..40 {
        t.offer_at(line(id, GIFT_LARGE, true), 1_000);
    }
    assert_eq!(
        t.start_next(29_999, &mut Vec::new()).map(|l| l.id),
        Some(10)
    );
    t.finish(10);
    assert_eq!(t.start_next(30_000, &mut Vec::new()).map(|l| l.id), Some(1));
    assert_eq!(t.stats().started_overdue, 1);
    t.set_duration(1, 4_000);
    // On air because it was overdue: a big gift (gap 10) does not cut it, a notice does.
    assert!(t
        .offer_at(line(50, GIFT_LARGE, true), 30_001)
        .interrupted
        .is_none());
    let cut = t.offer_at(Line::new(51, EMERGENCY, false, None, ""), 30_002);
    assert!(cut.interrupted.is_some_and(|c| c.requeued));
}

#[test]
fn while_a_reply_is_overdue_nothing_but_a_notice_interrupts() {
    let mut t = aging(10_000);
    t.offer_at(line(1, NORMAL, true), 0);
    start(&mut t);
    t.set_duration(1, 60_000);
    t.offer_at(reply(2, NORMAL), 0);
    assert!(
        t.offer_at(line(3, GIFT_LARGE, true), 10_000)
            .interrupted
            .is_none(),
        "the overdue reply is next; a gift must not jump in front of it"
    );
    t.finish(1);
    assert_eq!(t.start_next(10_000, &mut Vec::new()).map(|l| l.id), Some(2));
}

#[test]
fn older_overdue_replies_go_first_and_the_upcoming_window_agrees() {
    let mut t = aging(1_000);
    t.offer_at(line(9, GIFT_NORMAL, true), 0);
    t.offer_at(reply(1, NORMAL), 100);
    t.offer_at(reply(2, COMMENT_IMPORTANT), 500);
    t.offer_at(reply(3, NORMAL), 900);
    t.start_next(1_600, &mut Vec::new());
    let first = t.playing().map(|l| l.id);
    let mut window = Vec::new();
    t.upcoming(3, |l| window.push(l.id));
    assert_eq!(first, Some(1), "overdue longest");
    assert_eq!(window, vec![2, 9, 3], "3 is not overdue yet at 1 600");
}

#[test]
fn replies_do_not_age_when_aging_is_off_or_they_expire_first() {
    let mut t = tl();
    t.offer_at(reply(1, NORMAL), 0);
    t.offer_at(line(2, GIFT_NORMAL, true), 0);
    assert_eq!(drain(&mut t, 1_000_000), vec![2, 1]);
    let mut t = aging(30_000);
    t.offer_at(
        Line::new(1, NORMAL, false, Some(20_000), "").with_class(LineClass::Reply),
        0,
    );
    t.offer_at(line(2, GIFT_NORMAL, true), 0);
    let mut skipped = Vec::new();
    assert_eq!(t.start_next(30_000, &mut skipped).map(|l| l.id), Some(2));
    t.finish(2);
    assert!(t.start_next(30_000, &mut skipped).is_none());
    assert_eq!(ids(&skipped), vec![1], "its ttl came before its deadline");
}

#[test]
fn waiting_lines_can_be_taken_out_most_urgent_first_but_never_the_playing_one() {
    let mut t = tl();
    t.offer(line(1, GIFT_NORMAL, true));
    start(&mut t);
    t.offer(line(2, GIFT_NORMAL, true));
    t.offer(reply(3, NORMAL));
    t.offer(line(4, GIFT_LARGE, true));
    t.offer(line(5, GIFT_NORMAL, true).with_rank(-5));
    assert_eq!(t.count_waiting_where(|l| l.paid), 3);
    let taken = t.take_waiting_where(|l| l.paid);
    assert_eq!(ids(&taken), vec![4, 5, 2]);
    assert_eq!(t.playing().map(|l| l.id), Some(1));
    assert_eq!((t.queued(), t.queued_paid(), t.stats().taken), (1, 0, 3));
    t.finish(1);
    assert_eq!(drain(&mut t, 0), vec![3]);
}

#[test]
fn the_clock_never_goes_back() {
    let mut t = aging(1_000);
    t.offer_at(reply(1, NORMAL), 5_000);
    t.offer_at(reply(2, NORMAL), 100); // a late caller: its time is the timeline's latest
    assert_eq!(t.now_ms(), 5_000);
    t.offer(line(3, GIFT_NORMAL, true));
    t.start_next(6_000, &mut Vec::new());
    assert_eq!(t.playing().map(|l| l.id), Some(1));
    t.finish(1);
    t.start_next(0, &mut Vec::new());
    assert_eq!(t.playing().map(|l| l.id), Some(2), "still overdue at 6 000");
}

#[test]
fn the_console_sees_waiting_lines_most_urgent_first_and_the_playing_progress() {
    let mut t: Timeline<&str> = Timeline::new(InterruptRules::default());
    t.offer(Line::new(1, 50, false, None, "reply"));
    t.offer(Line::new(2, 20, true, None, "gift"));
    t.offer(Line::new(3, 50, false, None, "later reply"));
    let order: Vec<u64> = t.waiting_lines().iter().map(|l| l.id).collect();
    assert_eq!(order, [2, 1, 3]);
    assert_eq!(t.playing_progress(), None);
    let mut skipped = Vec::new();
    assert_eq!(t.start_next(0, &mut skipped).map(|l| l.id), Some(2));
    t.set_duration(2, 3_000);
    t.progress(2, 1_200);
    assert_eq!(t.playing_progress(), Some((1_200, 3_000)));
    assert_eq!(t.waiting_lines().len(), 2);
}
