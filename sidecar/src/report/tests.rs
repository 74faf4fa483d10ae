use super::*;

fn line(kind: &str, fate: &str, played: Option<u32>) -> LoggedLine {
    LoggedLine {
        at_ms: 1,
        text: "谢谢=大家".into(),
        kind: kind.into(),
        priority: 3,
        paid: kind == "gift",
        fate: fate.into(),
        reason: "r".into(),
        cause_kind: "event".into(),
        cause_platform: Some("douyin".into()),
        cause_ids: "comment:c1".into(),
        who: (fate == "vetoed").then(|| "阿明".into()),
        played_ms: played,
    }
}

fn gift(platform: &str, user: &str, fen: u64) -> EarnedGift {
    EarnedGift {
        platform: platform.into(),
        msg_id: format!("{user}{fen}"),
        user_id: user.into(),
        user_name: format!("{user},名"),
        gift_name: "玫瑰".into(),
        count: 2,
        value_fen: fen,
        tier: 1,
        received_ms: 1,
        thanked: true,
    }
}

#[test]
fn since_takes_durations_and_rfc3339_times() {
    let now = 10 * 86_400_000;
    assert_eq!(parse_since("30m", now).unwrap(), now - 1_800_000);
    assert_eq!(parse_since("2h", now).unwrap(), now - 7_200_000);
    assert_eq!(parse_since("1d", now).unwrap(), now - 86_400_000);
    assert_eq!(
        parse_since("1970-01-02T08:00:00+08:00", now).unwrap(),
        86_400_000
    );
    assert!(parse_since("2 hours", now).is_err());
    assert!(parse_since("h", now).is_err());
}

#[test]
fn totals_by_kind_fate_platform_tier_and_giver() {
    let lines = [
        line("gift", "aired", Some(1_500)),
        line("gift", "aired", Some(500)),
        line("reply", "interrupted", Some(300)),
        line("reply", "vetoed", None),
        line("gift", "merged", None),
    ];
    let gifts = [
        gift("douyin", "a", 10),
        gift("douyin", "b", 100_000),
        gift("bilibili", "a", 5_000),
    ];
    let r = Report::build(0, &lines, &gifts, &TierTable::default());
    assert_eq!(r.lines_with("aired"), 2);
    assert_eq!(r.airtime_ms(), 2_300);
    assert_eq!(r.let_go.len(), 2);
    assert_eq!(r.per_platform["douyin"].value_fen, 100_010);
    assert_eq!(r.per_platform["douyin"].gifts, 4);
    assert_eq!(
        r.per_tier.values().map(|e| e.value_fen).sum::<u64>(),
        105_010
    );
    assert_eq!(r.top_givers[0].1, "b,名");
    assert_eq!(r.top_givers.len(), 3, "one giver per platform and viewer");
    let text = r.to_text(Lang::Zh);
    assert!(
        text.contains("收入（按平台）") && text.contains("¥1000.10"),
        "{text}"
    );
    assert!(r.to_text(Lang::En).contains("Earned per tier"));
    let csv = r.to_csv();
    assert!(csv.contains("\"b,名\""), "quoted: {csv}");
    assert!(csv.contains("platform,douyin,,,,,,,,2,4,100010,,"), "{csv}");
    assert!(csv
        .lines()
        .any(|l| l.starts_with("let_go,douyin,reply,vetoed,,阿明,")));
}
