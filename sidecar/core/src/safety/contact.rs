//! Contact bait: links, phone numbers, long (QQ-like) numbers and messenger ids.
//!
//! Numbers are read on the normalised text, so digits survive obfuscation (`①③⑧`, `幺三八`,
//! `1 3 8`, `１３８`). To keep prices, dates and counts out:
//! * a phone number is 11 digits `1[3-9]…` standing alone (optionally after `86`), even when
//!   written in groups (`138 1234 5678`);
//! * any other number counts from 7 digits, and only when its digit groups are glued by
//!   separators or written one digit at a time: `199，299，399` is three prices, not one number;
//! * not a number: fewer than 3 different digits (`6666666`, `8888888`, `1000000`), counting
//!   (`1234567`), a date
//!   (`20240501`, `12/25/2024`), a well-known number meme (`5201314`), a price (`¥`, `$`
//!   before it, a unit such as `元`/`万`/`人` after it, or its decimals: `12999.00`).

use regex::Regex;

use super::normalise::{fold, Norm};

/// Numbers viewers type for what they mean, not as contacts (`5201314` = 我爱你一生一世).
const NUMBER_MEMES: &[&str] = &["5201314", "1314520", "5211314", "1314521", "7758258"];

/// After a number: it counts something, so it is not a contact.
const UNITS: &str = "元块圆毛角分万亿千百人个次岁年月日天楼层米斤克票粉赞钻币抖音";

#[derive(Clone)]
pub(super) struct Contact {
    /// On the folded original text: well-formed links and domains.
    original: Vec<(Regex, &'static str)>,
    /// On the normalised text: messenger ids and obfuscated links.
    normalised: Vec<(Regex, &'static str)>,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact")
    }
}

fn compile(patterns: &[(&str, &'static str)]) -> Vec<(Regex, &'static str)> {
    patterns
        .iter()
        .map(|(re, what)| {
            (
                Regex::new(re).expect("built-in contact pattern compiles"),
                *what,
            )
        })
        .collect()
}

impl Contact {
    pub fn new() -> Self {
        Self {
            original: compile(&[
                (r"(?:https?://|www\.)[^\s，。！？、]+", "link"),
                (
                    r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|top|xyz|cc|io|me|vip|info|tv|club|shop|site|link|ly)(?:/[^\s，。！？]*)?(?:[^a-z0-9]|$)",
                    "domain",
                ),
            ]),
            normalised: compile(&[
                (
                    r"(?:微信|qq|q群|群号|抖音号|快手号|飞机号)(?:号码|号|群|id|是|为|加|搜)*[a-z0-9]{5,}",
                    "messenger id",
                ),
                (
                    r"www(?:点)?[a-z0-9-]{2,}(?:点)?(?:com|cn|net|org|top|xyz|cc|vip)",
                    "link",
                ),
                (
                    r"[a-z0-9]{2,}(?:点|dot)(?:com|cn|net|top|xyz|cc|vip|me)",
                    "link",
                ),
            ]),
        }
    }

    /// Every piece of contact bait as (original character span, what it is).
    pub fn find(&self, text: &str, norm: &Norm) -> Vec<((usize, usize), &'static str)> {
        let original: Vec<char> = text.chars().collect();
        let mut hits = Vec::new();
        let folded: String = original.iter().map(|&c| fold(c)).collect();
        for (re, what) in &self.original {
            let char_at = |byte: usize| folded[..byte].chars().count();
            for m in re.find_iter(&folded) {
                let mut end = m.end();
                // The domain pattern ends on the character after the TLD: keep that out.
                if *what == "domain" {
                    if let Some(last) = m.as_str().chars().last() {
                        if !last.is_ascii_alphanumeric() && last != '/' {
                            end -= last.len_utf8();
                        }
                    }
                }
                hits.push(((char_at(m.start()), char_at(end)), *what));
            }
        }
        let ns: String = norm.chars.iter().collect();
        let starts: Vec<usize> = ns.char_indices().map(|(b, _)| b).collect();
        let at = |byte: usize| starts.partition_point(|&b| b < byte);
        for (re, what) in &self.normalised {
            for m in re.find_iter(&ns) {
                hits.push((norm.original(at(m.start()), at(m.end())), *what));
            }
        }
        numbers(norm, &original, &mut hits);
        hits
    }
}

fn numbers(norm: &Norm, original: &[char], hits: &mut Vec<((usize, usize), &'static str)>) {
    let c = &norm.chars;
    let mut k = 0;
    while k < c.len() {
        if !c[k].is_ascii_digit() {
            k += 1;
            continue;
        }
        let mut m = k;
        while m < c.len() && c[m].is_ascii_digit() {
            m += 1;
        }
        if let Some(span) = phone(norm, k, m) {
            hits.push((span, "phone number"));
        } else {
            let mut p = k;
            for q in k + 1..=m {
                if q == m || !norm.joins(q) {
                    if is_long_number(norm, original, p, q) {
                        hits.push((norm.original(p, q), "long number"));
                    }
                    p = q;
                }
            }
        }
        k = m;
    }
}

/// An 11-digit mobile number in the digit run `[k, m)`, standing on its own.
fn phone(norm: &Norm, k: usize, m: usize) -> Option<(usize, usize)> {
    let c = &norm.chars;
    let split = |i: usize| norm.run[i] != norm.run[i - 1];
    (k..m.saturating_sub(10)).find_map(|w| {
        let e = w + 11;
        let shape = c[w] == '1' && ('3'..='9').contains(&c[w + 1]);
        let prefix86 = w == k + 2 && c[k] == '8' && c[k + 1] == '6';
        let start_ok = w == k || split(w) || prefix86;
        let end_ok = e == m || split(e);
        (shape && start_ok && end_ok).then(|| norm.original(if prefix86 { k } else { w }, e))
    })
}

fn is_long_number(norm: &Norm, original: &[char], p: usize, mut q: usize) -> bool {
    // Decimals: `12999.00` is a price of 12999.
    if let Some(t) = (p + 1..q).rev().find(|&t| {
        let between = &original[norm.spans[t - 1].1..norm.spans[t].0];
        between == ['.']
    }) {
        if q - t <= 2 {
            q = t;
        }
    }
    if q - p < 7 {
        return false;
    }
    let digits: String = norm.chars[p..q].iter().collect();
    let mut distinct: Vec<char> = digits.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3
        || NUMBER_MEMES.contains(&digits.as_str())
        || is_date(&digits)
        || is_run(&digits)
    {
        return false;
    }
    let (start, end) = norm.original(p, q);
    let after = original[end..].iter().find(|c| !c.is_whitespace());
    let before = original[..start].iter().rev().find(|c| !c.is_whitespace());
    let unit = after.is_some_and(|&c| UNITS.contains(c) || matches!(fold(c), 'w' | 'k'));
    let currency = before.is_some_and(|c| matches!(c, '¥' | '￥' | '$' | '＄'));
    !(unit || currency)
}

/// Counting up or down (`1234567`, `987654321`): nobody's number.
fn is_run(digits: &str) -> bool {
    let d: Vec<i32> = digits.bytes().map(|b| i32::from(b - b'0')).collect();
    let step = d[1] - d[0];
    step.abs() == 1 && d.windows(2).all(|w| w[1] - w[0] == step)
}

fn is_date(digits: &str) -> bool {
    let n = |s: &str| s.parse::<u32>().unwrap_or(0);
    let year = |s: &str| (1900..=2099).contains(&n(s));
    let month = |s: &str| (1..=12).contains(&n(s));
    let day = |s: &str| (1..=31).contains(&n(s));
    let d = digits;
    match d.len() {
        // yyyymmdd, optionally with hh, hhmm or hhmmss.
        8 | 10 | 12 | 14 if year(&d[..4]) && month(&d[4..6]) && day(&d[6..8]) => true,
        // mmddyyyy / ddmmyyyy.
        8 => {
            year(&d[4..])
                && ((month(&d[..2]) && day(&d[2..4])) || (day(&d[..2]) && month(&d[2..4])))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whats(text: &str) -> Vec<&'static str> {
        Contact::new()
            .find(text, &Norm::new(text))
            .into_iter()
            .map(|(_, w)| w)
            .collect()
    }

    #[test]
    fn obfuscated_numbers_are_found() {
        for text in [
            "13812345678",
            "138 1234 5678",
            "①③⑧①②③④⑤⑥⑦⑧",
            "幺三八一二三四五六七八",
            "+86 138-1234-5678",
            "扣 8 7 6 5 4 9 2 1",
            "加我 2 8 4 7 1 9 3 6",
        ] {
            assert!(!whats(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn prices_dates_and_memes_are_not_numbers() {
        for text in [
            "这个12999.00吗",
            "2024-05-01开播",
            "12/25/2024",
            "主播5201314",
            "6666666666",
            "199，299，399都有",
            "¥1299900",
            "粉丝1234567人",
            "倒数 7 6 5 4 3 2 1",
            "我是第一次来",
        ] {
            assert!(whats(text).is_empty(), "{text}: {:?}", whats(text));
        }
    }
}
