//! Several platforms at once: thank-yous name the platform only while more than one is live,
//! and a gift's paid message (a Bilibili Super Chat) is read out in full, on its own.

use rand::{rngs::StdRng, SeedableRng};

use super::combo::{ComboAggregator, ComboPolicy};
use super::*;
use crate::event::{EventKind, Gift, LiveEvent, Viewer};

fn engine(blocked: &[String]) -> RewardEngine {
    RewardEngine::new(
        &GiftsConfig::default(),
        std::sync::Arc::new(SafetyScreen::new(blocked, &[], "哔")),
    )
}

fn gift(platform: &str, msg: &str, user: &str, message: Option<&str>) -> LiveEvent {
    LiveEvent {
        platform: platform.into(),
        msg_id: msg.into(),
        user: Some(Viewer {
            id: user.into(),
            name: user.into(),
            level: 1,
            fan_level: 0,
        }),
        kind: EventKind::Gift(Gift {
            gift_id: "sc".into(),
            gift_name: "醒目留言".into(),
            diamonds: 300,
            count: 1,
            combo: None,
            price: None,
            message: message.map(str::to_string),
        }),
    }
}

fn batches(events: &[LiveEvent], at_ms: u64) -> Vec<GiftBatch> {
    let mut agg = ComboAggregator::new(ComboPolicy::default(), TierTable::default());
    let mut out: Vec<GiftBatch> = events.iter().flat_map(|e| agg.push(e, at_ms)).collect();
    out.extend(agg.drain());
    out
}

#[test]
fn the_platform_is_named_only_while_another_one_is_live() {
    let mut engine = engine(&[]);
    let mut rng = StdRng::seed_from_u64(3);
    let at = 10 * 60 * 1000;
    let alone = &batches(&[gift("bilibili", "a", "小明", None)], at)[0];
    let cue = engine.thank(alone, &mut rng);
    assert!(
        cue.text.contains("小明") && !cue.text.contains("B站"),
        "{}",
        cue.text
    );

    engine.saw("douyin", at);
    let cue = engine.thank(alone, &mut rng);
    assert!(cue.text.contains("B站的小明"), "{}", cue.text);
    // The viewer list (ledger, storm merging) keeps the plain name.
    let CueKind::GiftThanks { viewers, .. } = &cue.kind else {
        panic!("{:?}", cue.kind)
    };
    assert_eq!(viewers, &vec!["小明".to_string()]);

    // Douyin silent for more than PLATFORM_LIVE_MS: no more naming.
    let later = &batches(
        &[gift("bilibili", "b", "小明", None)],
        at + PLATFORM_LIVE_MS + 1,
    )[0];
    let cue = engine.thank(later, &mut rng);
    assert!(!cue.text.contains("B站"), "{}", cue.text);
}

#[test]
fn a_paid_message_is_read_in_full_and_never_folded_with_another() {
    let mut engine = engine(&["违禁词".to_string()]);
    let mut rng = StdRng::seed_from_u64(4);
    let long = "主播唱首歌吧，最好是那首很长很长的歌，我等了一晚上了，一定要唱完哦！";
    let events = [
        gift("bilibili", "sc-1", "路人甲", Some(long)),
        gift("bilibili", "sc-2", "路人甲", Some("再来一首")),
    ];
    let ready = batches(&events, 0);
    assert_eq!(ready.len(), 2, "two messages, two lines");
    let first = engine.thank(&ready[0], &mut rng);
    assert!(first.paid && first.text.contains(long), "{}", first.text);
    let second = engine.thank(&ready[1], &mut rng);
    assert!(second.text.contains("再来一首"), "{}", second.text);

    // A message the screen would not let the avatar say: thanked, without it.
    let blocked = &batches(&[gift("bilibili", "sc-3", "路人乙", Some("说违禁词"))], 0)[0];
    let cue = engine.thank(blocked, &mut rng);
    assert!(cue.paid && cue.text.contains("路人乙"), "{}", cue.text);
    assert!(
        !cue.text.contains("违禁词") && !cue.text.contains("说"),
        "{}",
        cue.text
    );
}
