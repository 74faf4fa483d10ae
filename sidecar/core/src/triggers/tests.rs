//! Rules on a virtual clock: what fires, what is held, and what the sequences do when.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::cue::{Act, CueKind};
use crate::event::{EventKind, LiveEvent, Viewer};
use crate::rewards::combo::{ComboAggregator, ComboPolicy, GiftBatch};
use crate::safety::SafetyScreen;
use crate::tiers::{Tier, TierTable};

fn set(text: &str) -> TriggerSet {
    TriggerSet::parse(&[("scenes/test.toml".into(), text.into())]).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn errors(text: &str) -> Vec<String> {
    TriggerSet::parse(&[("scenes/bad.toml".into(), text.into())])
        .expect_err("should not parse")
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn safety() -> Arc<SafetyScreen> {
    Arc::new(SafetyScreen::new(&["违禁词".into()], &[], "某某"))
}

fn engine(text: &str) -> Triggers {
    Triggers::new(set(text), 30, safety(), 0)
}

fn viewer(id: &str, level: u32, fan_level: u32) -> Viewer {
    Viewer {
        id: id.into(),
        name: format!("观众{id}"),
        level,
        fan_level,
    }
}

fn event(id: &str, kind: EventKind) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: format!("m-{id}"),
        user: Some(viewer(id, 5, 0)),
        kind,
    }
}

fn comment(id: &str, text: &str) -> LiveEvent {
    event(id, EventKind::Comment { text: text.into() })
}

/// A gift batch as the combo folder releases it.
fn batch(user: &str, name: &str, diamonds: u64, count: u32) -> GiftBatch {
    let mut combos = ComboAggregator::new(
        ComboPolicy {
            idle_ms: 0,
            max_hold_ms: 0,
            immediate_tier: Tier::Small,
        },
        TierTable::default(),
    );
    let gift = LiveEvent {
        platform: "douyin".into(),
        msg_id: format!("g-{user}-{name}"),
        user: Some(viewer(user, 10, 0)),
        kind: EventKind::Gift(crate::event::Gift {
            gift_id: format!("id-{name}"),
            gift_name: name.into(),
            diamonds,
            count,
            price: None,
            message: None,
            combo: None,
        }),
    };
    let mut out = combos.push(&gift, 0);
    out.extend(combos.drain());
    out.pop().expect("a batch")
}

fn names(fired: &[Fired]) -> Vec<&str> {
    fired.iter().map(|f| f.rule.name.as_str()).collect()
}

const BIG_GIFT: &str = r#"
[[group]]
name = "scene"
policy = "queue"
max_queued = 2

[[trigger]]
name = "big"
when.gift = { min_tier = 3 }
group = "scene"
priority = "gift_large"
[[trigger.do]]
scene = "Celebration"
return_after_secs = 5
[[trigger.do]]
speak = "哇，{user}的{gift}！"
[[trigger.do]]
wait_secs = 2
[[trigger.do]]
show_source = "Fireworks"
secs = 3
"#;

#[test]
fn gift_conditions_pick_the_tier_name_value_combo_and_first_gift() {
    let mut t = engine(
        r#"
[[trigger]]
name = "rose"
when.gift = { names = ["玫瑰"], combo_at_least = 10 }
[[trigger.do]]
motion = "bounce"

[[trigger]]
name = "first"
when.gift = { first_of_viewer = true }
[[trigger.do]]
motion = "nod"

[[trigger]]
name = "rich"
when.gift = { min_yuan = 100 }
[[trigger.do]]
motion = "wave"
"#,
    );
    let tiers = TierTable::default();
    let b = batch("u1", "玫瑰", 1, 10);
    let fired = t.on_gift(&b, tiers.classify(b.value_fen), 1_000, 600);
    assert_eq!(names(&fired), ["rose", "first"]);
    // Not the first gift any more; 9 roses is not a 10 combo.
    let b = batch("u1", "玫瑰", 1, 9);
    assert!(t
        .on_gift(&b, tiers.classify(b.value_fen), 2_000, 600)
        .is_empty());
    // 1000 diamonds = 100 yuan.
    let b = batch("u2", "嘉年华", 1000, 1);
    let fired = t.on_gift(&b, tiers.classify(b.value_fen), 3_000, 600);
    assert_eq!(names(&fired), ["first", "rich"]);
    assert!(fired[1].vars.contains(&("value", "100.0".into())));
    // What the ledger remembers counts: a viewer who gave before is not a first-timer.
    t.remember("douyin", "u3", 2, 500);
    let b = batch("u3", "小心心", 1, 1);
    assert!(t
        .on_gift(&b, tiers.classify(b.value_fen), 4_000, 600)
        .is_empty());
}

#[test]
fn comment_conditions_read_keywords_regex_levels_and_memory() {
    let mut t = engine(
        r#"
[[trigger]]
name = "price"
when.comment = { keywords = ["多少钱", "价格"] }
[[trigger.do]]
speak = "{user}问价格：{text}"

[[trigger]]
name = "size"
when.comment = { regex = '^\d+\s*码' }
[[trigger.do]]
motion = "nod"

[[trigger]]
name = "fans"
when = { comment = { min_fan_level = 5 }, viewer = { min_visits = 2 } }
[[trigger.do]]
motion = "wave"
"#,
    );
    assert_eq!(
        names(&t.on_event(&comment("a", "这个多少钱"), 0, 0)),
        ["price"]
    );
    assert_eq!(
        names(&t.on_event(&comment("a", "42码有吗"), 0, 0)),
        ["size"]
    );
    let mut fan = comment("f", "来了");
    fan.user = Some(viewer("f", 1, 7));
    assert!(t.on_event(&fan, 0, 0).is_empty(), "one visit is not two");
    let mut enter = event("f", EventKind::Enter);
    enter.user = Some(viewer("f", 1, 7));
    t.on_event(&enter, 0, 0);
    t.on_event(&enter, 0, 0);
    assert_eq!(names(&t.on_event(&fan, 0, 0)), ["fans"]);
    // Viewer text is masked before a template speaks it.
    let fired = t.on_event(&comment("b", "违禁词多少钱"), 0, 0);
    assert!(
        fired[0].vars.contains(&("text", "某某多少钱".into())),
        "{:?}",
        fired[0].vars
    );
}

#[test]
fn room_milestones_fire_once_each() {
    let mut t = engine(
        r#"
[[trigger]]
name = "likes"
when.likes_every = 1000
[[trigger.do]]
speak = "点赞破{likes}啦"

[[trigger]]
name = "crowd"
when.viewers_reach = [100, 500]
[[trigger.do]]
speak = "{online}人了"
"#,
    );
    let like = |n| event("l", EventKind::Like { count: n });
    assert!(t.on_event(&like(600), 0, 0).is_empty());
    assert_eq!(names(&t.on_event(&like(600), 0, 0)), ["likes"]);
    assert!(t.on_event(&like(600), 0, 0).is_empty());
    assert_eq!(
        names(&t.on_event(&like(300), 0, 0)),
        ["likes"],
        "2100 crosses 2000"
    );
    let stats = |online| LiveEvent {
        user: None,
        ..event("s", EventKind::ViewerStats { online, total: 0 })
    };
    assert!(t.on_event(&stats(90), 0, 0).is_empty());
    assert_eq!(names(&t.on_event(&stats(120), 0, 0)), ["crowd"]);
    assert!(t.on_event(&stats(80), 0, 0).is_empty());
    assert!(
        t.on_event(&stats(130), 0, 0).is_empty(),
        "100 was reached before"
    );
    assert_eq!(names(&t.on_event(&stats(600), 0, 0)), ["crowd"]);
}

#[test]
fn idle_fires_once_per_quiet_spell_and_schedules_keep_time() {
    let mut t = engine(
        r#"
[[trigger]]
name = "quiet"
when.idle_secs = 30
[[trigger.do]]
speak = "有人吗"

[[trigger]]
name = "every10"
when.schedule = { every_mins = 10, hours = "20:00-02:00" }
[[trigger.do]]
speak = "关注一下主播"

[[trigger]]
name = "at"
when.schedule = { at = ["21:30"] }
[[trigger.do]]
speak = "九点半了"
"#,
    );
    let evening = 20 * 60 + 5;
    assert!(t.on_tick(29_000, evening).is_empty());
    assert_eq!(names(&t.on_tick(30_000, evening)), ["quiet"]);
    assert!(t.on_tick(90_000, evening).is_empty(), "same quiet spell");
    t.on_event(&comment("a", "hi"), 100_000, evening);
    assert_eq!(
        names(&t.on_tick(130_000, evening)),
        ["quiet"],
        "a new spell"
    );
    // Every 10 minutes, within the hours (crossing midnight).
    assert_eq!(names(&t.on_tick(600_000, evening)), ["every10"]);
    assert!(t.on_tick(900_000, evening).is_empty());
    assert!(
        t.on_tick(1_200_000, 3 * 60).is_empty(),
        "03:00 is outside 20:00-02:00"
    );
    assert_eq!(
        names(&t.on_tick(1_260_000, 60)),
        ["every10"],
        "01:00 is inside"
    );
    assert_eq!(names(&t.on_tick(1_300_000, 21 * 60 + 30)), ["at"]);
    assert!(
        t.on_tick(1_310_000, 21 * 60 + 30).is_empty(),
        "once that minute"
    );
}

#[test]
fn cooldowns_viewer_cooldowns_and_rate_limits_hold_firings() {
    let mut t = engine(
        r#"
[[trigger]]
name = "hi"
when.comment = { keywords = ["hi"] }
cooldown_secs = 5
viewer_cooldown_secs = 60
max_per_minute = 3
[[trigger.do]]
motion = "wave"
"#,
    );
    let fire = |t: &mut Triggers, user: &str, at| t.on_event(&comment(user, "hi"), at, 0).len();
    assert_eq!(fire(&mut t, "a", 0), 1);
    assert_eq!(fire(&mut t, "b", 1_000), 0, "cooldown");
    assert_eq!(fire(&mut t, "a", 6_000), 0, "viewer cooldown");
    assert_eq!(fire(&mut t, "b", 6_000), 1);
    assert_eq!(fire(&mut t, "c", 12_000), 1);
    assert_eq!(fire(&mut t, "d", 18_000), 0, "3 per minute");
    assert_eq!(fire(&mut t, "d", 61_000), 1, "the window moved on");
    let held = t.held();
    assert_eq!(
        (held.cooldown, held.viewer_cooldown, held.per_minute),
        (1, 1, 1)
    );
    // A reload keeps the cooldowns of rules that stay.
    t.replace(t.set().clone());
    assert_eq!(fire(&mut t, "e", 62_000), 0);
}

#[test]
fn a_sequence_runs_in_time_and_its_scene_returns_with_the_act() {
    let s = set(BIG_GIFT);
    let mut t = Triggers::new(s.clone(), 30, safety(), 0);
    let mut runner = Runner::new(&s, safety());
    let mut rng = StdRng::seed_from_u64(1);
    let b = batch("u1", "嘉年华", 3000, 1);
    for fired in t.on_gift(&b, Tier::Super, 1_000, 0) {
        runner.start(fired, 1_000);
    }
    let first = runner.poll(1_000, &mut rng);
    assert!(
        matches!(&first[0], Command::Act(Act::HoldScene { scene, secs: Some(s), .. }) if scene == "Celebration" && *s == 5.0)
    );
    let Command::Speak(cue) = &first[1] else {
        panic!("{first:?}")
    };
    assert_eq!(cue.text, "哇，观众u1的嘉年华！");
    assert_eq!(cue.priority, crate::scheduler::priority::GIFT_LARGE);
    assert!(matches!(cue.kind, CueKind::Triggered { ref trigger, .. } if trigger == "big"));
    assert_eq!(first.len(), 2, "the rest waits 2 s");
    assert_eq!(runner.next_due_ms(), Some(3_000));
    assert!(runner.poll(2_999, &mut rng).is_empty());
    let later = runner.poll(3_050, &mut rng);
    assert_eq!(
        later,
        [Command::Act(Act::SourceVisible {
            source: "Fireworks".into(),
            scene: None,
            visible: true,
            secs: Some(3.0)
        })]
    );
    assert_eq!(runner.in_flight(), 0);
}

#[test]
fn a_group_plays_one_firing_at_a_time_queued_or_dropped() {
    let text = r#"
[[group]]
name = "q"
max_queued = 2
[[group]]
name = "d"
policy = "drop"

[[trigger]]
name = "queued"
when.follow = true
group = "q"
[[trigger.do]]
motion = "nod"
[[trigger.do]]
wait_secs = 10

[[trigger]]
name = "dropped"
when.share = true
group = "d"
[[trigger.do]]
motion = "bounce"
[[trigger.do]]
wait_secs = 10
"#;
    let s = set(text);
    let mut t = Triggers::new(s.clone(), 30, safety(), 0);
    let mut runner = Runner::new(&s, safety());
    let mut rng = StdRng::seed_from_u64(1);
    for i in 0..4 {
        for kind in [EventKind::Follow, EventKind::Share] {
            for fired in t.on_event(&event(&i.to_string(), kind), 0, 0) {
                runner.start(fired, 0);
            }
        }
    }
    let motions = |cmds: &[Command]| {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Act(Act::Motion(m)) => Some(m.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(motions(&runner.poll(0, &mut rng)), ["nod", "bounce"]);
    let stats = runner.stats();
    assert_eq!(
        (stats.dropped_busy, stats.queued, stats.dropped_queue_full),
        (3, 3, 1)
    );
    // One at a time, every 10 s: the two that fit in the queue.
    assert_eq!(motions(&runner.poll(10_000, &mut rng)), ["nod"]);
    assert_eq!(motions(&runner.poll(20_000, &mut rng)), ["nod"]);
    assert!(motions(&runner.poll(30_000, &mut rng)).is_empty());
    assert_eq!(runner.in_flight(), 0);
}

#[test]
fn a_scene_held_until_the_line_ends_returns_when_it_ends_or_at_the_deadline() {
    let text = r#"
[[trigger]]
name = "solo"
when.follow = true
[[trigger.do]]
scene = "Spotlight"
return_when = "line_end"
[[trigger.do]]
speak = "谢谢{user}的关注"
"#;
    let s = set(text);
    let mut t = Triggers::new(s.clone(), 30, safety(), 0);
    let mut runner = Runner::new(&s, safety());
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..2 {
        for fired in t.on_event(&event("a", EventKind::Follow), 0, 0) {
            runner.start(fired, 0);
        }
    }
    let cmds = runner.poll(0, &mut rng);
    let firings: Vec<u64> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Speak(cue) => match cue.kind {
                CueKind::Triggered { firing, .. } => Some(firing),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(firings.len(), 2);
    let holds: Vec<u64> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Act(Act::HoldScene {
                hold, secs: None, ..
            }) => Some(*hold),
            _ => None,
        })
        .collect();
    assert!(runner.poll(5_000, &mut rng).is_empty(), "still speaking");
    runner.line_ended(firings[0]);
    assert_eq!(
        runner.poll(6_000, &mut rng),
        [Command::Act(Act::ReleaseScene { hold: holds[0] })]
    );
    // The other line never reports: the scene comes back at the deadline anyway.
    assert_eq!(runner.next_due_ms(), Some(runner::LINE_WAIT_MAX_MS));
    assert_eq!(
        runner.poll(runner::LINE_WAIT_MAX_MS, &mut rng),
        [Command::Act(Act::ReleaseScene { hold: holds[1] })]
    );
    assert_eq!(runner.stats().line_waits_timed_out, 1);
}

#[test]
fn mistakes_are_reported_with_file_line_and_trigger() {
    // An unknown action is a syntax error of the file: reported alone, with its line.
    let bad =
        errors("[[trigger]]\nname = \"d\"\nwhen.follow = true\n[[trigger.do]]\nexplode = \"x\"\n");
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert!(bad[0].starts_with("scenes/bad.toml:5:"), "{}", bad[0]);
    assert!(bad[0].contains("unknown field `explode`"), "{}", bad[0]);
    let bad = errors(
        "[[trigger]]\nname = \"a\"\nwhen.comment = { regex = \"(\" }\n[[trigger.do]]\nspeak = \"hi\"\n\n[[trigger]]\nname = \"b\"\nwhen.follow = true\ncooldown_secs = -1\n[[trigger.do]]\nspeak = \"hi\"\n\n[[trigger]]\nname = \"c\"\nwhen.follow = true\n[[trigger.do]]\nspeak = \"{nobody}\"\n\n[[trigger]]\nname = \"d\"\nwhen.follow = true\ngroup = \"nope\"\n[[trigger.do]]\nstart_stream = \"bilibili\"\n",
    );
    assert_eq!(bad.len(), 4, "{bad:#?}");
    assert!(
        bad[0].starts_with("scenes/bad.toml:3:") && bad[0].contains("trigger \"a\": bad regex"),
        "{}",
        bad[0]
    );
    assert!(
        bad[1].starts_with("scenes/bad.toml:10:")
            && bad[1].contains("cooldown_secs must be 0 or more"),
        "{}",
        bad[1]
    );
    assert!(
        bad[2].starts_with("scenes/bad.toml:18:") && bad[2].contains("unknown placeholder"),
        "{}",
        bad[2]
    );
    assert!(
        bad[3].starts_with("scenes/bad.toml:23:") && bad[3].contains("group \"nope\""),
        "{}",
        bad[3]
    );
    let bad = errors(
        "[[trigger]]\nname = \"p\"\nwhen.follow = true\n[[trigger.do]]\nstart_stream = \"\"\n",
    );
    assert!(
        bad[0].contains("start_stream names a [[push]] target"),
        "{}",
        bad[0]
    );
    let bad = errors("[[trigger]]\nname = \"v\"\nwhen.viewer = { min_visits = 3 }\n[[trigger.do]]\nmotion = \"x\"\n");
    assert!(bad[0].contains("names no event"), "{}", bad[0]);
}

#[test]
fn a_rule_switched_off_never_fires_and_stays_off_across_a_reload() {
    let text = r#"
[[trigger]]
name = "price"
when.comment = { keywords = ["多少钱"] }
[[trigger.do]]
speak = "{user}问价格"
"#;
    let mut t = engine(text);
    assert!(!t.set_enabled("nope", false), "an unknown rule is refused");
    assert!(t.set_enabled("price", false));
    assert!(!t.is_enabled("price"));
    assert!(t.on_event(&comment("a", "多少钱"), 0, 0).is_empty());
    t.replace(set(text));
    assert!(t.on_event(&comment("a", "多少钱"), 10_000, 0).is_empty());
    assert!(t.set_enabled("price", true));
    // Switched off, it did not fire: no cooldown was used up meanwhile.
    assert_eq!(
        names(&t.on_event(&comment("a", "多少钱"), 20_000, 0)),
        ["price"]
    );
}
