use proptest::prelude::*;

use super::*;

/// (input, expected reading). Grouped by concern; every row is one behaviour.
const CASES: &[(&str, &str)] = &[
    // Integers.
    ("0", "零"),
    ("10", "十"),
    ("12", "十二"),
    ("20", "二十"),
    ("105", "一百零五"),
    ("110", "一百一十"),
    ("1000", "一千"),
    ("1005", "一千零五"),
    ("10010", "一万零一十"),
    ("100000", "十万"),
    ("120000", "十二万"),
    ("100000000", "一亿"),
    ("100000001件", "一亿零一件"),
    ("1000100000000", "一万零一亿"),
    ("有-5个", "有负五个"),
    ("200人", "两百人"),
    ("22000", "两万二千"),
    ("1,000,000", "一百万"),
    // Decimals, percentages, fractions, ordinals.
    ("3.14", "三点一四"),
    ("0.5", "零点五"),
    ("50%", "百分之五十"),
    ("0.5%", "百分之零点五"),
    ("100%", "百分之百"),
    ("-3%", "负百分之三"),
    ("1/2", "二分之一"),
    ("3/4杯", "四分之三杯"),
    ("第1", "第一"),
    ("第2个", "第二个"),
    ("第200名", "第二百名"),
    // Money: colloquial 块/毛/分.
    ("¥9.9", "九块九"),
    ("￥9.9", "九块九"),
    ("9.9元", "九块九"),
    ("9块9", "九块九"),
    ("9.99元", "九块九毛九"),
    ("12.05元", "十二块零五分"),
    ("¥0.5", "五毛"),
    ("0.25元", "两毛五"),
    ("2元", "两块"),
    ("2块", "两块"),
    ("RMB 100", "一百块"),
    ("¥199元", "一百九十九块"),
    ("5毛", "五毛"),
    ("$5", "五美元"),
    ("9.9美元", "九点九美元"),
    ("12345678元", "一千二百三十四万五千六百七十八块"),
    // Units.
    ("5kg", "五公斤"),
    ("2kg", "两公斤"),
    ("3km", "三公里"),
    ("36.5℃", "三十六点五摄氏度"),
    ("-5°C", "负五摄氏度"),
    ("170cm", "一百七十厘米"),
    ("500ml", "五百毫升"),
    ("250g", "两百五十克"),
    ("100m", "一百米"),
    ("60km/h", "六十公里每小时"),
    ("90㎡", "九十平方米"),
    ("5000mAh", "五千毫安时"),
    ("10w粉丝", "十万粉丝"),
    ("5G网络", "五G网络"),
    ("5 minutes", "五minutes"),
    // Dates and times.
    ("2026-11-22", "二零二六年十一月二十二日"),
    ("2026/11/22", "二零二六年十一月二十二日"),
    ("2026年11月22日", "二零二六年十一月二十二日"),
    ("2026年08月02日", "二零二六年八月二日"),
    ("2026-11", "二零二六年十一月"),
    ("12:30", "十二点三十分"),
    ("8:05", "八点零五分"),
    ("2:00", "两点"),
    ("下午3：30见", "下午三点三十分见"),
    ("23:59:09", "二十三点五十九分零九秒"),
    ("比分3:2", "比分三比二"),
    ("90后", "九零后"),
    // Identifiers and phone numbers.
    ("13812345678", "幺三八幺二三四五六七八"),
    ("400-123-4567", "四零零幺二三四五六七"),
    ("手机 138 1234 5678", "手机幺三八幺二三四五六七八"),
    ("电话: 12345", "电话:幺二三四五"),
    ("订单号12345678", "订单号一二三四五六七八"),
    ("验证码是 123456", "验证码是一二三四五六"),
    ("1234567", "一二三四五六七"),
    ("1000000", "一百万"),
    ("007", "零零七"),
    ("666", "六六六"),
    ("RTX4090", "RTX四零九零"),
    ("iPhone15", "iPhone十五"),
    ("192.168.1.1", "一九二点一六八点一点一"),
    // 两 before measure words, not elsewhere.
    ("2个", "两个"),
    ("2位老板", "两位老板"),
    ("2号", "二号"),
    ("2月", "二月"),
    ("12个", "十二个"),
    // Operators and ranges.
    ("1+1=2", "一加一等于二"),
    ("3-5天", "三到五天"),
    ("10~20个", "十到二十个"),
    ("+1", "加一"),
    ("玫瑰×3", "玫瑰乘三"),
    // Markup and links.
    ("**重点**来了", "重点来了"),
    ("用`cargo`编译", "用cargo编译"),
    ("<b>加粗</b>文字", "加粗文字"),
    ("[点这里](https://example.com/a?b=1)看看", "点这里看看"),
    ("详情见 https://example.com/x?id=123 哦", "详情见哦"),
    ("联系 a.b@example.com 吧", "联系吧"),
    ("# 标题\n- 第一点\n- 第二点", "标题。第一点。第二点"),
    ("a &amp; b", "a和b"),
    // Emoji, emoticons, invisible characters, decoration.
    ("谢谢老板😀🎉", "谢谢老板"),
    ("好的👍🏻！", "好的！"),
    ("哈哈(≧▽≦)", "哈哈"),
    ("开心^_^", "开心"),
    ("好吧 XD", "好吧"),
    ("零\u{200b}宽\u{feff}字", "零宽字"),
    ("❤️爱你❤️", "爱你"),
    ("★☆限时☆★", "限时"),
    ("嗨～～大家好~", "嗨大家好"),
    ("太棒了！！！", "太棒了！"),
    ("真的吗？？？！！", "真的吗？"),
    ("嗯。。。好", "嗯…好"),
    ("等等......", "等等…"),
    ("#话题# @小明", "话题小明"),
    // Whitespace and Latin words.
    ("  你好   世界  ", "你好世界"),
    ("Hello   world", "Hello world"),
    ("我用 Python 写代码", "我用Python写代码"),
    ("don't stop", "don't stop"),
    ("，开头的逗号", "开头的逗号"),
    // Nothing to say.
    ("😀😀", ""),
    ("！！！", ""),
    ("https://example.com", ""),
    ("", ""),
];

#[test]
fn table() {
    assert!(CASES.len() >= 60);
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(input, expected)| {
            let got = normalize_for_speech(input);
            (got != *expected).then(|| format!("{input:?}: got {got:?}, want {expected:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_whole_chat_line() {
    let line =
        "**感谢**小明送的2个嘉年华🎉！！今天20:30有抽奖，价格¥9.9，库存50%～ 详情 https://x.cn/y";
    assert_eq!(
        normalize_for_speech(line),
        "感谢小明送的两个嘉年华！今天二十点三十分有抽奖，价格九块九，库存百分之五十详情"
    );
}

#[test]
fn cardinal_readings() {
    use super::numbers::cardinal;
    let cases: &[(u64, &str)] = &[
        (1, "一"),
        (11, "十一"),
        (101, "一百零一"),
        (1010, "一千零一十"),
        (10001, "一万零一"),
        (10100, "一万零一百"),
        (1_0000_0000, "一亿"),
        (1_0000_0001, "一亿零一"),
        (1_2345_6789, "一亿二千三百四十五万六千七百八十九"),
        (
            9999_9999_9999_9999,
            "九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九",
        ),
    ];
    for (n, want) in cases {
        assert_eq!(cardinal(*n, false), *want, "{n}");
    }
    assert_eq!(cardinal(2000, true), "两千");
    assert_eq!(cardinal(2000, false), "二千");
}

#[test]
fn segments_pack_sentences_and_cut_long_ones_at_commas() {
    let text = "大家好。欢迎来到直播间！今天我们有很多好东西，有衣服，有零食，还有各种小玩意儿，大家慢慢看。";
    assert_eq!(
        segments(text, 12),
        [
            "大家好。欢迎来到直播间！",
            "今天我们有很多好东西，",
            "有衣服，有零食，",
            "还有各种小玩意儿，",
            "大家慢慢看。",
        ]
    );
    // Short text: one segment, normalised.
    assert_eq!(
        segments("谢谢老板的2个火箭！！", 60),
        ["谢谢老板的两个火箭！"]
    );
    assert_eq!(segments("😀", 60), Vec::<String>::new());
}

#[test]
fn segments_never_cut_a_number_reading_or_a_word() {
    let text = "今天一共卖出了100000001件衣服还有Supercalifragilistic这个词真的很多很多很多";
    let segs = segments(text, 6);
    assert!(segs.iter().any(|s| s.contains("一亿零一")), "{segs:?}");
    assert!(
        segs.iter().any(|s| s.contains("Supercalifragilistic")),
        "{segs:?}"
    );
    for s in &segs {
        let n = s.chars().count();
        assert!(n <= 6 || s == "Supercalifragilistic", "{s:?} in {segs:?}");
    }
    assert_eq!(segs.concat(), normalize_for_speech(text));
}

#[test]
fn default_segment_length_is_sixty() {
    assert_eq!(TextNormConfig::default().segment_max_chars, 60);
    let long = "这是一句很长的话，".repeat(20);
    let segs = segments(&long, DEFAULT_SEGMENT_MAX_CHARS);
    assert!(segs.len() > 1);
    assert!(segs.iter().all(|s| s.chars().count() <= 60));
}

fn speakable(s: &str) -> String {
    s.chars().filter(|&c| is_speakable(c)).collect()
}

/// Text that exercises the number patterns: digits, separators, units, currency, CJK.
fn numbery() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[0-9]{1,20}",
            Just(".".to_string()),
            Just(":".to_string()),
            Just("/".to_string()),
            Just("-".to_string()),
            Just(",".to_string()),
            Just("%".to_string()),
            "[¥￥$元块毛年月日号第个kgmwLh℃°²:：～~+=×①０-９ ]",
            "[a-zA-Z]{1,4}",
            "[一-龥]{1,3}",
            "[！？。，!?…*`#<>\\[\\]()（）😀\u{200b}\u{e000}\u{e001}]",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_never_leaves_ascii_digits(text in prop_oneof![numbery(), any::<String>()]) {
        let out = normalize_for_speech(&text);
        prop_assert!(!out.chars().any(|c| c.is_ascii_digit()), "{text:?} -> {out:?}");
        prop_assert!(!out.contains(ATOM_OPEN) && !out.contains(ATOM_CLOSE));
        prop_assert_eq!(normalize_for_speech(&out), out.clone(), "not idempotent for {:?}", text);
        for max in [1usize, 7, 60] {
            let segs = segments(&text, max);
            prop_assert_eq!(speakable(&segs.concat()), speakable(&out));
            prop_assert!(segs.iter().all(|s| !s.chars().any(|c| c.is_ascii_digit())));
        }
    }
}
