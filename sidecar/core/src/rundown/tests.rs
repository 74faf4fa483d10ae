use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::event::Viewer;

/// Two products; the jacket has a size answer of its own, the tea no stock.
const LIBRARY: &str = r#"
[[product]]
id = "tea"
name = "乌龙茶"
aliases = ["茶叶"]
points = ["高山直采", "冷泡出香"]
price = "89元"
promotion = "拍两盒送杯"
link = "1号链接"

[product.lines]
opening = ["开场{product}{！|~}", "{product}来了{！|~}"]
explain = ["讲解{product}：{point}", "{product}的卖点是{point}{。|！}"]
urge = ["{product}只要{price}，{promotion}{！|~}", "催单{product}{！|~}"]

[[product]]
id = "jacket"
name = "防晒衣"
price = "129元"
stock = 150
size = "S到XXL"
link = "2号链接"

[product.lines]
opening = ["开场{product}{！|~}", "{product}来了{！|~}"]
explain = ["讲解{product}{！|~}", "{product}很凉快{！|~}"]
urge = ["{product}还剩{stock}件{！|~}", "催单{product}{！|~}"]

[product.answers]
size = ["{user}，{product}有{size}"]

[lines]
closing = ["收尾{product}{！|~}", "{product}讲完了{！|~}"]
filler = ["点点关注{！|~}", "点个赞{！|~}"]
"#;

const MIN: u64 = 60_000;

fn config(mode: RundownMode) -> RundownConfig {
    RundownConfig {
        enabled: true,
        mode,
        minutes_per_product: 2.0,
        line_every_secs: 20,
        filler_every: 0,
        busy_events_per_minute: 5,
        ..RundownConfig::default()
    }
}

fn rundown(config: &RundownConfig) -> Rundown {
    let safety = Arc::new(SafetyScreen::new(&[], &[], "哔"));
    let library = Library::parse(LIBRARY).unwrap();
    Rundown::new(library, config, &SchedulerConfig::default(), "小樱", safety)
}

/// Every line due from `from` to `to` on a virtual clock ticking every 100 ms, as
/// `(at_ms, product, text, priority)`.
fn lines(r: &mut Rundown, from: u64, to: u64, rng: &mut StdRng) -> Vec<(u64, String, Cue)> {
    let mut out = Vec::new();
    let mut now = from;
    while now < to {
        if let Some(cue) = r.due(now, rng) {
            let CueKind::Rundown { product } = &cue.kind else {
                panic!("{:?}", cue.kind)
            };
            out.push((now, product.clone(), cue));
        }
        now += 100;
    }
    out
}

fn comment(text: &str) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: "m".into(),
        user: Some(Viewer {
            id: "u".into(),
            name: "阿杰".into(),
            level: 0,
            fan_level: 0,
        }),
        kind: EventKind::Comment { text: text.into() },
    }
}

fn said(answer: Answer) -> (String, String) {
    match answer {
        Answer::Say(cue) => match cue.kind {
            CueKind::ProductAnswer { product } => (product, cue.text),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn segment_of(text: &str) -> &'static str {
    for (mark, segment) in [
        ("开场", "opening"),
        ("来了", "opening"),
        ("讲解", "explain"),
        ("卖点", "explain"),
        ("凉快", "explain"),
        ("只要", "urge"),
        ("还剩", "urge"),
        ("催单", "urge"),
        ("收尾", "closing"),
        ("讲完", "closing"),
    ] {
        if text.contains(mark) {
            return segment;
        }
    }
    panic!("no segment in {text}")
}

#[test]
fn schedule_mode_walks_each_product_through_its_segments_in_turn() {
    let mut r = rundown(&config(RundownMode::Schedule));
    let mut rng = StdRng::seed_from_u64(1);
    let said = lines(&mut r, 0, 8 * MIN, &mut rng);
    // One line every 20 s, each product 2 minutes: 6 lines a product, round and round.
    assert_eq!(said.len(), 24);
    assert!(said.windows(2).all(|w| w[1].0 - w[0].0 == 20_000));
    let products: Vec<&str> = said.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(products[..6], ["tea"; 6]);
    assert_eq!(products[6..12], ["jacket"; 6]);
    assert_eq!(products[12..18], ["tea"; 6]);
    let segments: Vec<&str> = said[..6]
        .iter()
        .map(|(_, _, c)| segment_of(&c.text))
        .collect();
    // 0 s opening, 20–60 s explaining (urge_from 0.6 = 72 s), 80 s urging, 100 s the last call.
    assert_eq!(
        segments,
        ["opening", "explain", "explain", "explain", "urge", "closing"]
    );
    for (_, _, cue) in &said {
        assert_eq!(cue.priority, priority::SCRIPT);
        assert!(!cue.paid);
        assert_eq!(cue.ttl_ms, Some(20_000));
    }
    // `{point}` walks through the selling points.
    let explained: Vec<&str> = said[1..4].iter().map(|(_, _, c)| c.text.as_str()).collect();
    assert!(
        explained[0].contains("高山直采") && explained[1].contains("冷泡出香"),
        "{explained:?}"
    );
}

#[test]
fn filler_comes_every_nth_middle_line_at_background_priority() {
    let mut r = rundown(&RundownConfig {
        filler_every: 2,
        ..config(RundownMode::Schedule)
    });
    let mut rng = StdRng::seed_from_u64(2);
    let said = lines(&mut r, 0, 2 * MIN, &mut rng);
    let priorities: Vec<i32> = said.iter().map(|(_, _, c)| c.priority).collect();
    use priority::{BACKGROUND as B, SCRIPT as S};
    assert_eq!(priorities, [S, S, B, S, B, S]);
    assert!(said[2].2.text.contains("关注") || said[2].2.text.contains("赞"));
}

#[test]
fn activity_mode_follows_the_product_people_ask_about() {
    let mut r = rundown(&config(RundownMode::Activity));
    let mut rng = StdRng::seed_from_u64(3);
    assert_eq!(lines(&mut r, 0, 1_000, &mut rng)[0].1, "tea");
    // Someone asks about the jacket: it comes on at the next line, with its opening.
    let (product, _) = said(r.on_event(&comment("防晒衣多少钱？"), 5_000, &mut rng));
    assert_eq!(product, "jacket");
    let next = r.due(20_000, &mut rng).unwrap();
    assert_eq!(
        next.kind,
        CueKind::Rundown {
            product: "jacket".into()
        }
    );
    assert_eq!(segment_of(&next.text), "opening");
    // Questions about the product on keep it on past its two minutes (up to twice that).
    let mut now = 20_000;
    for _ in 0..10 {
        now += 20_000;
        r.on_event(&comment("有优惠吗"), now, &mut rng);
        let cue = r.due(now, &mut rng).unwrap();
        assert_eq!(
            cue.kind,
            CueKind::Rundown {
                product: "jacket".into()
            },
            "at {now}"
        );
    }
    let rest = lines(&mut r, now + 100, now + 4 * MIN, &mut rng);
    let until = rest.iter().position(|(_, p, _)| p == "tea").unwrap();
    // It ended no later than twice its time after it started (20 s + 4 min).
    assert!(
        rest[until].0 <= 20_000 + 4 * MIN + 20_000,
        "{}",
        rest[until].0
    );
    assert_eq!(segment_of(&rest[until - 1].2.text), "closing");
}

#[test]
fn schedule_mode_answers_but_is_not_steered() {
    let mut r = rundown(&config(RundownMode::Schedule));
    let mut rng = StdRng::seed_from_u64(4);
    r.due(0, &mut rng).unwrap();
    said(r.on_event(&comment("防晒衣多少钱"), 1_000, &mut rng));
    let next = r.due(20_000, &mut rng).unwrap();
    assert_eq!(
        next.kind,
        CueKind::Rundown {
            product: "tea".into()
        }
    );
}

#[test]
fn a_busy_room_hears_urging_instead_of_explaining_in_activity_mode() {
    let like = LiveEvent {
        kind: EventKind::Like { count: 3 },
        ..comment("")
    };
    for (mode, busy_expected) in [
        (RundownMode::Activity, true),
        (RundownMode::Schedule, false),
    ] {
        let mut r = rundown(&config(mode));
        let mut rng = StdRng::seed_from_u64(5);
        r.due(0, &mut rng).unwrap();
        for t in 0..5 {
            assert_eq!(r.on_event(&like, 10_000 + t, &mut rng), Answer::NotAsked);
        }
        assert!(r.is_busy(20_000));
        let cue = r.due(20_000, &mut rng).unwrap();
        let expected = if busy_expected { "urge" } else { "explain" };
        assert_eq!(segment_of(&cue.text), expected, "{mode:?}");
        // A minute later the room is quiet again.
        assert!(!r.is_busy(71_000));
    }
}

#[test]
fn questions_get_the_products_answer_by_name_alias_or_the_product_on() {
    let mut r = rundown(&config(RundownMode::Schedule));
    let mut rng = StdRng::seed_from_u64(6);
    r.due(0, &mut rng).unwrap(); // the tea is on
    let (product, text) = said(r.on_event(&comment("防晒衣多少钱"), 1_000, &mut rng));
    assert_eq!(product, "jacket");
    assert!(text.contains("阿杰") && text.contains("129元"), "{text}");
    // No product named: the one on now. An alias names it too.
    let (product, text) = said(r.on_event(&comment("怎么买呀"), 2_000, &mut rng));
    assert_eq!(product, "tea");
    assert!(
        text.contains("1号链接") || text.contains("小黄车"),
        "{text}"
    );
    let (product, _) = said(r.on_event(&comment("茶叶多少钱？"), 3_000, &mut rng));
    assert_eq!(product, "tea");
    // The product's own size answer; stock from its facts, or "有货" without a count.
    let (_, text) = said(r.on_event(&comment("防晒衣尺码怎么选"), 4_000, &mut rng));
    assert_eq!(text, "阿杰，防晒衣有S到XXL");
    let (_, text) = said(r.on_event(&comment("防晒衣还有货吗"), 5_000, &mut rng));
    assert!(text.contains("150") || text.contains("有货"), "{text}");
    let (_, text) = said(r.on_event(&comment("乌龙茶有货吗"), 6_000, &mut rng));
    assert!(text.contains("有货") && !text.contains("还剩"), "{text}");
    // A question the product has no fact for is left to the script.
    assert_eq!(
        r.on_event(&comment("乌龙茶多大"), 7_000, &mut rng),
        Answer::NotAsked
    );
    assert_eq!(
        r.on_event(&comment("茶叶包邮吗"), 7_500, &mut rng),
        Answer::NotAsked
    );
    // Chatter is not a question; a flagged comment is never answered here.
    assert_eq!(
        r.on_event(&comment("主播好美"), 8_000, &mut rng),
        Answer::NotAsked
    );
    assert_eq!(
        r.on_event(&comment("加我vx：abc12345 多少钱"), 9_000, &mut rng),
        Answer::NotAsked
    );
}

#[test]
fn answers_are_unpaid_at_comment_priority_and_a_flood_gets_one() {
    let scheduler = SchedulerConfig::default();
    let mut r = rundown(&config(RundownMode::Schedule));
    let mut rng = StdRng::seed_from_u64(7);
    let Answer::Say(cue) = r.on_event(&comment("多少钱？"), 0, &mut rng) else {
        panic!()
    };
    assert_eq!(
        cue.priority,
        priority::for_comment("多少钱？", 0, &scheduler)
    );
    assert_eq!(cue.priority, priority::COMMENT_IMPORTANT);
    assert!(!cue.paid);
    assert_eq!(cue.ttl_ms, Some(scheduler.reply_ttl_secs * 1_000));
    // Twenty more "多少钱" within 15 s: already answered, and nobody else should guess.
    for t in 1..=20 {
        assert_eq!(
            r.on_event(&comment("多少钱"), t * 500, &mut rng),
            Answer::AlreadyAnswered
        );
    }
    // Another question, or the same after 15 s, is answered.
    assert!(matches!(
        r.on_event(&comment("怎么买"), 11_000, &mut rng),
        Answer::Say(_)
    ));
    assert!(matches!(
        r.on_event(&comment("多少钱"), 15_000, &mut rng),
        Answer::Say(_)
    ));
}

#[test]
fn the_question_asked_first_in_a_comment_is_the_one_answered() {
    let table = questions::QuestionTable::new();
    assert_eq!(table.classify("多少钱，包邮吗"), Some(QuestionKind::Price));
    assert_eq!(
        table.classify("包邮吗，多少钱"),
        Some(QuestionKind::Shipping)
    );
    assert_eq!(
        table.classify("在哪里买，还有货吗"),
        Some(QuestionKind::Buy)
    );
    assert_eq!(table.classify("我穿几码"), Some(QuestionKind::Size));
    assert_eq!(table.classify("哈哈哈"), None);
    let names = vec![vec!["乌龙茶".to_string()], vec!["乌龙茶礼盒".to_string()]];
    assert_eq!(
        questions::named_product("乌龙茶礼盒多少钱", &names),
        Some(1)
    );
    assert_eq!(questions::named_product("乌龙茶多少钱", &names), Some(0));
}

#[test]
fn file_keywords_extend_the_question_table() {
    let text = format!("{LIBRARY}\n[questions]\nprice = [\"划算吗\"]\n");
    let library = Library::parse(&text).unwrap();
    assert_eq!(
        library.questions().classify("这个划算吗"),
        Some(QuestionKind::Price)
    );
}

#[test]
fn lines_never_repeat_back_to_back() {
    for seed in 0..20 {
        let mut r = rundown(&RundownConfig {
            filler_every: 3,
            ..config(RundownMode::Schedule)
        });
        let mut rng = StdRng::seed_from_u64(seed);
        let said = lines(&mut r, 0, 30 * MIN, &mut rng);
        for pair in said.windows(2) {
            assert_ne!(pair[0].2.text, pair[1].2.text, "seed {seed}");
        }
        let explains: Vec<&str> = said
            .iter()
            .filter(|(_, p, c)| p == "jacket" && segment_of_opt(&c.text) == Some("explain"))
            .map(|(_, _, c)| if c.text.contains("讲解") { "a" } else { "b" })
            .collect();
        assert!(explains.len() > 10, "seed {seed}");
        // Consecutive picks from one list never take the same template: with two, they alternate.
        assert!(
            explains.windows(2).all(|w| w[0] != w[1]),
            "seed {seed}: {explains:?}"
        );
    }
}

fn segment_of_opt(text: &str) -> Option<&'static str> {
    std::panic::catch_unwind(|| segment_of(text)).ok()
}

#[test]
fn answers_never_repeat_back_to_back_either() {
    let mut r = rundown(&RundownConfig {
        answer_repeat_secs: 0,
        ..config(RundownMode::Schedule)
    });
    let mut rng = StdRng::seed_from_u64(8);
    let mut last = String::new();
    for t in 0..50 {
        let (_, text) = said(r.on_event(&comment("乌龙茶多少钱"), t * 1_000, &mut rng));
        assert_ne!(text, last);
        last = text;
    }
}

fn error(text: &str) -> LibraryError {
    Library::parse(text).unwrap_err()
}

#[test]
fn script_errors_name_the_line_and_key() {
    let product = "[[product]]\nid = \"a\"\nname = \"茶\"\nprice = \"9元\"\n";
    let lines = "[product.lines]\nopening = [\"好\"]\nexplain = [\"好\"]\nurge = [\"好\"]\n";
    let ok = format!("{product}{lines}closing = [\"好\"]\n");
    Library::parse(&ok).unwrap();
    // A broken template: its own line.
    let e = error(&format!("{product}{lines}closing = [\"好{{a|\"]\n"));
    assert_eq!(
        (e.line, e.key.as_str()),
        (9, "product[0].lines.closing[0]"),
        "{e}"
    );
    assert!(e.message.contains("unclosed"), "{e}");
    // A fact the product does not have.
    let e = error(&format!(
        "{product}{lines}closing = [\"还剩{{stock}}件\"]\n"
    ));
    assert_eq!(e.line, 9, "{e}");
    assert!(
        e.message.contains("{stock}") && e.message.contains("`a`"),
        "{e}"
    );
    // {user} where nobody asked; an unknown placeholder.
    let e = error(&format!("{product}{lines}closing = [\"谢谢{{user}}\"]\n"));
    assert!(e.message.contains("{user}"), "{e}");
    let e = error(&format!("{product}{lines}closing = [\"{{prodcut}}\"]\n"));
    assert!(e.message.contains("{prodcut}"), "{e}");
    // A segment nobody wrote: at the product's id.
    let e = error(&format!("{product}{lines}"));
    assert_eq!(
        (e.line, e.key.as_str()),
        (2, "product[0].lines.closing"),
        "{e}"
    );
    // Unknown keys, missing price, twice the same id, a bad shared line, syntax.
    let e = error(&format!("{product}colour = \"红\"\n{lines}"));
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("colour"), "{e}");
    let e = error("[[product]]\nid = \"a\"\nname = \"茶\"\n");
    assert!(e.message.contains("price"), "{e}");
    let twice = format!("{ok}\n{product}{lines}closing = [\"好\"]\n");
    let e = error(&twice);
    assert_eq!(e.line, 12, "{e}");
    assert!(e.message.contains("two products"), "{e}");
    let e = error(&format!("{ok}[lines]\nurge = [\"{{a\"]\n"));
    assert_eq!((e.line, e.key.as_str()), (11, "lines.urge[0]"), "{e}");
    assert_eq!(error("[[product]\n").line, 1);
}

#[test]
fn merged_files_keep_their_order_and_refuse_a_shared_id() {
    let mut library = Library::parse(LIBRARY).unwrap();
    let other = LIBRARY
        .replace("id = \"tea\"", "id = \"tea2\"")
        .replace("id = \"jacket\"", "id = \"jacket2\"");
    library.merge(Library::parse(&other).unwrap()).unwrap();
    let ids: Vec<&str> = library.products().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["tea", "jacket", "tea2", "jacket2"]);
    let err = library.merge(Library::parse(LIBRARY).unwrap()).unwrap_err();
    assert!(err.contains("`tea`"), "{err}");
}

#[test]
fn only_reviewed_drafts_are_used() {
    let mut library = Library::parse(LIBRARY).unwrap();
    let mut drafts = String::from(drafts::DRAFTS_HEADER);
    drafts.push_str(&drafts::draft_entry(
        Some("tea"),
        "explain",
        "草稿{product}好喝",
    ));
    // Unreviewed drafts may be broken: they wait, they do not stop the show.
    drafts.push_str(&drafts::draft_entry(Some("tea"), "urge", "坏的{草稿"));
    drafts.push_str(&drafts::draft_entry(None, "closing", "草稿收尾{product}"));
    drafts.push_str(&drafts::draft_entry(None, "filler", "草稿关注"));
    let count = library.add_drafts(&drafts).unwrap();
    assert_eq!(
        count,
        DraftCount {
            used: 0,
            waiting: 4
        }
    );
    assert_eq!(
        library
            .product("tea")
            .unwrap()
            .lines(Segment::Explain)
            .len(),
        2
    );

    let reviewed = drafts.replacen("reviewed = false", "reviewed = true", 1);
    let reviewed = reviewed.replace(
        "segment = \"closing\"\ntext = \"草稿收尾{product}\"\nreviewed = false",
        "segment = \"closing\"\ntext = \"草稿收尾{product}\"\nreviewed = true",
    );
    let reviewed = reviewed.replace(
        "草稿关注\"\nreviewed = false",
        "草稿关注\"\nreviewed = true",
    );
    let count = library.add_drafts(&reviewed).unwrap();
    assert_eq!(
        count,
        DraftCount {
            used: 3,
            waiting: 1
        }
    );
    let tea = library.product("tea").unwrap();
    assert_eq!(tea.lines(Segment::Explain).len(), 3);
    assert_eq!(tea.lines(Segment::Explain)[2].source(), "草稿{product}好喝");
    // A shared draft joins every product using the shared lines.
    for product in library.products() {
        assert_eq!(product.lines(Segment::Closing).len(), 3, "{}", product.id);
    }
    for product in library.products() {
        assert_eq!(product.lines(Segment::Filler).len(), 3, "{}", product.id);
    }
}

#[test]
fn a_reviewed_draft_is_checked_like_any_line() {
    let mut library = Library::parse(LIBRARY).unwrap();
    let broken = format!(
        "{}{}",
        drafts::DRAFTS_HEADER,
        drafts::draft_entry(Some("tea"), "urge", "还剩{stock}件")
    )
    .replace("reviewed = false", "reviewed = true");
    let e = library.add_drafts(&broken).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (7, "draft[0].text"), "{e}");
    assert!(e.message.contains("{stock}"), "{e}");
    let unknown = broken.replace("\"tea\"", "\"socks\"");
    let e = library.add_drafts(&unknown).unwrap_err();
    assert!(e.message.contains("socks"), "{e}");
    let segment = broken.replace("\"urge\"", "\"hype\"");
    let e = library.add_drafts(&segment).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (6, "draft[0].segment"), "{e}");
}

#[test]
fn config_bounds_name_the_key() {
    assert!(RundownConfig::default().validate().is_ok());
    let bad = |c: RundownConfig| c.validate().unwrap_err().0;
    let base = RundownConfig::default;
    assert_eq!(
        bad(RundownConfig {
            minutes_per_product: f64::NAN,
            ..base()
        }),
        "rundown.minutes_per_product"
    );
    assert_eq!(
        bad(RundownConfig {
            line_every_secs: 0,
            ..base()
        }),
        "rundown.line_every_secs"
    );
    assert_eq!(
        bad(RundownConfig {
            urge_from: 1.5,
            ..base()
        }),
        "rundown.urge_from"
    );
    assert_eq!(
        bad(RundownConfig {
            minutes_per_product: 0.5,
            line_every_secs: 20,
            ..base()
        }),
        "rundown.minutes_per_product"
    );
}

proptest::proptest! {
    /// Whatever the clock's steps, the rundown never says the same line twice in a row and
    /// each product's time starts with its opening.
    #[test]
    fn no_back_to_back_repeats_on_any_clock(seed in 0u64..1_000, steps in proptest::collection::vec(1u64..30_000, 1..200)) {
        let mut r = rundown(&RundownConfig { filler_every: 3, ..config(RundownMode::Activity) });
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = 0;
        let mut last: Option<Cue> = None;
        for step in steps {
            now += step;
            if step % 7 == 0 {
                r.on_event(&comment("防晒衣多少钱"), now, &mut rng);
            }
            if let Some(cue) = r.due(now, &mut rng) {
                if let Some(prev) = &last {
                    proptest::prop_assert_ne!(&prev.text, &cue.text);
                    if prev.kind != cue.kind && cue.priority == priority::SCRIPT {
                        proptest::prop_assert_eq!(segment_of(&cue.text), "opening");
                    }
                }
                last = Some(cue);
            }
        }
    }
}
