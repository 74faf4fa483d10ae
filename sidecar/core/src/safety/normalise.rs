//! The normalised form that word lists and contact patterns are matched against.
//!
//! Obfuscation on Douyin is mostly cheap and mechanical, so the normaliser undoes the cheap
//! tricks and leaves the text otherwise alone:
//!
//! 1. per character: full-width → ASCII, lowercase, circled/parenthesised digits and letters →
//!    plain (`①` → `1`, `Ⓥ` → `v`), Chinese numerals → digits (`一二三`, `壹贰叁`, `幺`, `两`),
//!    the plus signs `+ ＋ ⊕ ➕` → `加`;
//! 2. separators are dropped: spaces, punctuation, emoji and symbols between characters do not
//!    break a match (`微 信`, `傻.逼`, `1 3 8…`). Spaces and clause punctuation (`，。！？` …)
//!    are remembered as *breaks* (see [`Norm::run`]): a term may only span a break where one
//!    side of it is a lone character, so `傻，逼` matches but `我们一起去，死也不怕` does not
//!    match `去死`;
//! 3. whole Latin tokens that are pinyin initials or spellings of a platform are replaced
//!    ([`LATIN`]: `vx`/`wx`/`weixin` → `微信`, `tb` → `淘宝`…); single letters split by
//!    separators join first (`V X`, `v.x`);
//! 4. homophones and look-alikes ([`PHRASES`]: `威信`/`薇信`/`v信` → `微信`, `扣扣` → `qq`…).
//!
//! The same normalisation is applied to every list term, so a list may be written in any of
//! these forms and still matches all of them.

/// Whole Latin tokens replaced by what they stand for. Only tokens, never parts of a word
/// (`thanks` keeps its `ks`).
pub(super) const LATIN: &[(&str, &str)] = &[
    ("vx", "微信"),
    ("wx", "微信"),
    ("weixin", "微信"),
    ("wechat", "微信"),
    ("vchat", "微信"),
    ("koukou", "qq"),
    ("tb", "淘宝"),
    ("taobao", "淘宝"),
    ("pdd", "拼多多"),
    ("zfb", "支付宝"),
    ("dy", "抖音"),
    ("ks", "快手"),
    ("sx", "私信"),
    ("cao", "操"),
];

/// Homophones and look-alikes, on the text after steps 1–3 (so keys are lowercase, with
/// digits for numerals). Longest key wins.
pub(super) const PHRASES: &[(&str, &str)] = &[
    ("威信", "微信"),
    ("薇信", "微信"),
    ("徽信", "微信"),
    ("维信", "微信"),
    ("唯信", "微信"),
    ("围信", "微信"),
    ("危信", "微信"),
    ("喂信", "微信"),
    ("胃信", "微信"),
    ("微芯", "微信"),
    ("v信", "微信"),
    ("w信", "微信"),
    ("wei信", "微信"),
    ("微x", "微信"),
    ("微v", "微信"),
    ("薇v", "微信"),
    ("威v", "微信"),
    ("绿泡泡", "微信"),
    ("扣扣", "qq"),
    ("抠抠", "qq"),
    ("寇寇", "qq"),
    ("蔻蔻", "qq"),
    ("叩叩", "qq"),
    ("球球号", "qq号"),
    ("掏宝", "淘宝"),
    ("陶宝", "淘宝"),
    ("桃宝", "淘宝"),
    ("tao宝", "淘宝"),
    ("某宝", "淘宝"),
    ("私x", "私信"),
    ("丝信", "私信"),
    ("私芯", "私信"),
    ("代款", "贷款"),
    ("带款", "贷款"),
    ("袋款", "贷款"),
    ("dai款", "贷款"),
    ("堵博", "赌博"),
    ("赌搏", "赌博"),
    ("睹博", "赌博"),
    ("du博", "赌博"),
    ("搏彩", "博彩"),
    ("艹", "操"),
    ("肏", "操"),
    ("屄", "逼"),
];

/// What one original character folds to.
enum Folded {
    Keep(char),
    /// `⑩`..`⑳`: two digits from one character.
    Two(char, char),
    /// Space or clause punctuation: dropped, but a match may not span it freely.
    Break,
    /// Any other non-alphanumeric character: dropped and ignored.
    Filler,
}

fn circled(c: char) -> Option<u32> {
    let n = c as u32;
    let from = |base: u32, first: u32| n - base + first;
    Some(match n {
        0x2460..=0x2473 => from(0x2460, 1), // ①..⑳
        0x2474..=0x2487 => from(0x2474, 1), // ⑴..⒇
        0x2488..=0x249B => from(0x2488, 1), // ⒈..⒛
        0x24EA | 0x24FF | 0x1F100 => 0,     // ⓪ ⓿ 🄀
        0x24F5..=0x24FE => from(0x24F5, 1), // ⓵..⓾
        0x2776..=0x277F => from(0x2776, 1), // ❶..❿
        0x2780..=0x2789 => from(0x2780, 1), // ➀..➉
        0x278A..=0x2793 => from(0x278A, 1), // ➊..➓
        _ => return None,
    })
}

fn numeral(c: char) -> Option<char> {
    Some(match c {
        '零' | '〇' | '○' => '0',
        '一' | '壹' | '幺' => '1',
        '二' | '贰' | '两' => '2',
        '三' | '叁' => '3',
        '四' | '肆' => '4',
        '五' | '伍' => '5',
        '六' | '陆' => '6',
        '七' | '柒' => '7',
        '八' | '捌' => '8',
        '九' | '玖' => '9',
        _ => return None,
    })
}

/// Clause punctuation: where a sentence or clause may end.
pub(super) fn is_break(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '，' | '。' | '！' | '？' | '；' | '：' | '、' | '…' | ',' | '!' | '?' | ';' | ':'
        )
}

/// Full-width ASCII → ASCII, lowercase (also used on the original text by the URL patterns).
pub(super) fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

fn fold_full(c: char) -> Folded {
    if let Some(n) = circled(c) {
        let digit = |d: u32| char::from_digit(d, 10).unwrap_or('0');
        return if n >= 10 {
            Folded::Two(digit(n / 10), digit(n % 10))
        } else {
            Folded::Keep(digit(n))
        };
    }
    let c = match c as u32 {
        0x24B6..=0x24CF => char::from_u32(c as u32 - 0x24B6 + 'a' as u32).unwrap_or(c), // Ⓐ
        0x24D0..=0x24E9 => char::from_u32(c as u32 - 0x24D0 + 'a' as u32).unwrap_or(c), // ⓐ
        _ => fold(c),
    };
    if matches!(c, '+' | '⊕' | '➕' | '✚') {
        return Folded::Keep('加');
    }
    if let Some(d) = numeral(c) {
        return Folded::Keep(d);
    }
    if c.is_alphanumeric() {
        Folded::Keep(c)
    } else if is_break(c) {
        Folded::Break
    } else {
        Folded::Filler
    }
}

/// Text in normalised form, each character tied back to the original.
#[derive(Debug, Default)]
pub(super) struct Norm {
    pub chars: Vec<char>,
    /// Original character span `[start, end)` of each normalised character.
    pub spans: Vec<(usize, usize)>,
    /// Anything (a separator) stood between this character and the previous one.
    pub gap_before: Vec<bool>,
    /// Run index of each character: runs are split at breaks (spaces, clause punctuation).
    pub run: Vec<usize>,
    /// Characters per run.
    pub run_len: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Item {
    c: char,
    span: (usize, usize),
    gap: bool,
    brk: bool,
}

impl Norm {
    pub fn new(text: &str) -> Self {
        let mut items: Vec<Item> = Vec::new();
        let (mut gap, mut brk) = (false, false);
        for (i, c) in text.chars().enumerate() {
            let mut push = |c: char| {
                items.push(Item {
                    c,
                    span: (i, i + 1),
                    gap,
                    brk,
                });
                gap = false;
                brk = false;
            };
            match fold_full(c) {
                Folded::Keep(c) => push(c),
                Folded::Two(a, b) => {
                    push(a);
                    push(b);
                }
                Folded::Break => {
                    gap = true;
                    brk = true;
                }
                Folded::Filler => gap = true,
            }
        }
        let items = replace_phrases(replace_latin_tokens(items));
        let mut norm = Norm::default();
        for item in items {
            if item.brk || norm.run_len.is_empty() {
                norm.run_len.push(0);
            }
            let run = norm.run_len.len() - 1;
            norm.run_len[run] += 1;
            norm.run.push(run);
            norm.chars.push(item.c);
            norm.spans.push(item.span);
            norm.gap_before.push(item.gap);
        }
        norm
    }

    /// Whether a match may run on from `i - 1` to `i`: same run, or a lone character on one
    /// side of the break (per-character obfuscation such as `傻，逼`).
    pub fn joins(&self, i: usize) -> bool {
        let (a, b) = (self.run[i - 1], self.run[i]);
        a == b || self.run_len[a] == 1 || self.run_len[b] == 1
    }

    /// Original character span of normalised characters `[start, end)`.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.spans[start].0, self.spans[end - 1].1)
    }
}

fn merge(items: &[Item], with: &str) -> Vec<Item> {
    let span = (items[0].span.0, items[items.len() - 1].span.1);
    with.chars()
        .enumerate()
        .map(|(k, c)| Item {
            c,
            span,
            gap: k == 0 && items[0].gap,
            brk: k == 0 && items[0].brk,
        })
        .collect()
}

/// Step 3: Latin tokens, with single letters split by separators joined (`v x` → `vx`).
fn replace_latin_tokens(items: Vec<Item>) -> Vec<Item> {
    let letter = |i: &Item| i.c.is_ascii_lowercase();
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        if !letter(&items[i]) {
            out.push(items[i]);
            i += 1;
            continue;
        }
        // One token: letters with nothing between them.
        let token_end = |from: usize| {
            let mut end = from + 1;
            while end < items.len() && letter(&items[end]) && !items[end].gap {
                end += 1;
            }
            end
        };
        let mut end = token_end(i);
        if end - i == 1 {
            // A lone letter: join the following lone letters (`w x`, `V.X`).
            while end < items.len() && letter(&items[end]) && token_end(end) == end + 1 {
                end += 1;
            }
        }
        let token: String = items[i..end].iter().map(|t| t.c).collect();
        match LATIN.iter().find(|(from, _)| *from == token) {
            Some((_, to)) => out.extend(merge(&items[i..end], to)),
            None => out.extend_from_slice(&items[i..end]),
        }
        i = end;
    }
    out
}

/// Step 4: homophones and look-alikes, longest key first.
fn replace_phrases(items: Vec<Item>) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    'outer: while i < items.len() {
        let mut best: Option<(usize, &str)> = None;
        for (from, to) in PHRASES {
            let n = from.chars().count();
            if i + n <= items.len()
                && from.chars().zip(&items[i..i + n]).all(|(a, b)| a == b.c)
                && best.is_none_or(|(m, _)| n > m)
            {
                best = Some((n, to));
            }
        }
        if let Some((n, to)) = best {
            out.extend(merge(&items[i..i + n], to));
            i += n;
            continue 'outer;
        }
        out.push(items[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        Norm::new(text).chars.into_iter().collect()
    }

    #[test]
    fn folds_widths_digits_and_separators() {
        assert_eq!(s("ＡＢＣ １２３"), "abc123");
        assert_eq!(s("①③⑧ ⑩"), "13810");
        assert_eq!(s("幺三八 壹贰叁"), "138123");
        assert_eq!(s("微.信🌟号"), "微信号");
        assert_eq!(s("+V ⊕v"), "加v加v");
    }

    #[test]
    fn latin_tokens_and_homophones_are_replaced_whole() {
        assert_eq!(s("加V X"), "加微信");
        assert_eq!(s("威信号"), "微信号");
        assert_eq!(s("v信"), "微信");
        assert_eq!(s("扣扣群"), "qq群");
        assert_eq!(s("thanks tb"), "thanks淘宝");
        assert_eq!(s("wxid"), "wxid");
    }

    #[test]
    fn breaks_split_runs_and_spans_point_back() {
        let n = Norm::new("我们一起去，死也不怕");
        let at = n.chars.iter().position(|&c| c == '死').unwrap();
        assert!(!n.joins(at));
        let n = Norm::new("傻，逼");
        assert!(n.joins(1));
        let n = Norm::new("加 vx 吧");
        assert_eq!(n.original(1, 3), (2, 4));
    }
}
