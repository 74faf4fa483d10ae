//! Numbers → Chinese readings.
//!
//! A scanner walks the text; at each digit (or a sign / currency symbol right before one) it
//! tries the patterns below in order and emits the reading wrapped in atom markers, so the
//! cleaning pass and the segmenter never touch or split it.
//!
//! | pattern | example | reading |
//! |---|---|---|
//! | date `Y-M-D`, `Y/M/D`, `Y.M.D` (valid month/day) | 2026-11-22 | 二零二六年十一月二十二日 |
//! | year-month `Y-M`, `Y/M` | 2026/11 | 二零二六年十一月 |
//! | time `H:MM[:SS]` (H ≤ 24) | 8:05 | 八点零五分 |
//! | ratio / score `a:b` | 3:2 | 三比二 |
//! | dashed phone `ddd(d)-ddd(d)-dddd`, `ddd(d)-ddddddd(d)`, mobile `1dd dddd dddd` | 400-123-4567 | 四零零幺二三四五六七 |
//! | currency `¥ ￥ RMB` before, `元` after | ¥9.9, 9.9元 | 九块九 |
//! | `X块Y` | 9块9 | 九块九 |
//! | `$ € £` | $5 | 五美元 |
//! | percent / per mille | 50%, 0.5‰ | 百分之五十, 千分之零点五 |
//! | fraction `a/b` | 1/2 | 二分之一 |
//! | decimal | 3.14 | 三点一四 |
//! | version / IP (two or more dots) | 1.2.3 | 一点二点三 |
//! | unit after a number | 5kg, 30℃ | 五公斤, 三十摄氏度 |
//! | 4 digits + 年, 2 digits + 后 | 2026年, 90后 | 二零二六年, 九零后 |
//! | digit runs that are identifiers | see [`is_identifier`] | digit by digit |
//! | everything else | 10010 | 一万零一十 |
//!
//! Choices (documented because each has a reasonable alternative):
//! * **Money is read colloquially**, as a live-commerce host says it: ¥9.9 and 9.9元 are
//!   九块九, 9.99元 九块九毛九, 0.5元 五毛, 12.05元 十二块零五分, 2元 两块. Amounts with more than
//!   two decimals keep the formal 点…元 reading.
//! * **幺 for 1 only in phone numbers** (11-digit mobiles starting with 1, dashed numbers, digit
//!   runs right after 电话/手机/热线/拨打/致电): that is how numbers are dictated on the phone.
//!   Other identifiers (order numbers, QQ, codes) are read digit by digit with 一.
//! * **两** for a bare 2 before a measure word or unit (两个, 两公斤, 两点 for 2:00) and for a
//!   leading 2 before 百/千/万/亿 (两百, 两万二千); never after 第 (第二), in dates (二月) or
//!   before 号/月/日/楼/级.
//! * Chat shorthand: `w` after a number is 万 (10w → 十万), `k` is 千 (8k → 八千); `W` is 瓦
//!   (watts), `K` stays a letter (4K).
//! * 666 / 888 (one digit repeated three to six times, standalone) are read digit by digit,
//!   as chat means them.

use super::{ATOM_CLOSE, ATOM_OPEN};

const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
/// Cardinals are spelled up to 10^16; longer runs are read digit by digit.
const MAX_CARDINAL_DIGITS: usize = 16;

/// Units recognised right after a number (case-sensitive, longest first). The flag says
/// whether a bare 2 before it is read 两.
const UNITS: &[(&str, &str, bool)] = &[
    ("km/h", "公里每小时", true),
    ("m/s", "米每秒", true),
    ("km²", "平方公里", true),
    ("cm²", "平方厘米", true),
    ("m²", "平方米", true),
    ("m³", "立方米", true),
    ("mAh", "毫安时", false),
    ("kHz", "千赫兹", false),
    ("MHz", "兆赫兹", false),
    ("GHz", "吉赫兹", false),
    ("min", "分钟", true),
    ("Hz", "赫兹", false),
    ("kW", "千瓦", true),
    ("KW", "千瓦", true),
    ("kg", "公斤", true),
    ("Kg", "公斤", true),
    ("KG", "公斤", true),
    ("km", "公里", true),
    ("KM", "公里", true),
    ("cm", "厘米", true),
    ("mm", "毫米", true),
    ("ml", "毫升", true),
    ("mL", "毫升", true),
    ("ML", "毫升", true),
    ("mg", "毫克", true),
    ("ms", "毫秒", true),
    ("°C", "摄氏度", false),
    ("°F", "华氏度", false),
    ("℃", "摄氏度", false),
    ("℉", "华氏度", false),
    ("°", "度", false),
    ("㎡", "平方米", true),
    ("㎏", "公斤", true),
    ("㎞", "公里", true),
    ("㎝", "厘米", true),
    ("㎜", "毫米", true),
    ("g", "克", true),
    ("m", "米", true),
    ("L", "升", true),
    ("h", "小时", true),
    ("W", "瓦", true),
    ("w", "万", true),
    ("k", "千", true),
];

/// Measure words (and big-number characters) after which a bare 2 is 两.
const LIANG_BEFORE: &str = "个位只件条张本次天年台杯瓶斤块元毛角点种双套盒包份箱颗把辆层周岁倍人名家场轮遍下口碗束朵支枚粒片首部集句声排百千万亿公小分秒趟对副间所架根头匹封";

/// Keyword stems that make a following digit run an identifier (read digit by digit). The
/// text before the run is first stripped of `号码是为:：# ` so 手机号 / 订单号是 / 验证码 match.
const PHONE_STEMS: &[&str] = &["电话", "手机", "热线", "拨打", "致电", "联系方式", "座机"];
const ID_STEMS: &[&str] = &[
    "微信", "QQ", "qq", "ID", "Id", "id", "UID", "uid", "账", "帐", "订单", "单", "编", "工", "尾",
    "验证", "卡", "房间", "房", "邮编", "学", "车牌", "口令", "密",
];

pub(super) fn spell_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut s = Scanner {
        chars: &chars,
        out: String::with_capacity(text.len() * 2),
        after_number: false,
    };
    s.run();
    s.out
}

struct Scanner<'a> {
    chars: &'a [char],
    out: String,
    /// The last thing emitted (spaces aside) was a number reading: `-`, `~` and `=` between
    /// two numbers are ranges and equations, not signs.
    after_number: bool,
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn digit_at(&self, i: usize) -> bool {
        self.at(i).is_some_and(|c| c.is_ascii_digit())
    }

    /// Index of the next non-space character from `i`.
    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.at(i) == Some(' ') {
            i += 1;
        }
        i
    }

    fn emit_atom(&mut self, reading: &str) {
        self.out.push(ATOM_OPEN);
        self.out.push_str(reading);
        self.out.push(ATOM_CLOSE);
        self.after_number = true;
    }

    fn emit_word(&mut self, word: &str) {
        self.out.push_str(word);
        self.after_number = false;
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.chars.len() {
            let c = self.chars[i];
            let prev = i.checked_sub(1).and_then(|p| self.at(p));
            let next_digit = self.digit_at(self.skip_spaces(i + 1));
            let prev_alnum = prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '.');
            if c.is_ascii_digit() {
                i = self.number(i, false);
                continue;
            }
            match c {
                '¥' | '￥' | '$' | '€' | '£' if next_digit => {
                    let start = self.skip_spaces(i + 1);
                    i = self.currency_prefixed(start, c);
                }
                'R' | 'r'
                    if !prev.is_some_and(|p| p.is_ascii_alphabetic())
                        && self.chars[i..].len() >= 3
                        && self.chars[i..i + 3]
                            .iter()
                            .collect::<String>()
                            .eq_ignore_ascii_case("rmb")
                        && self.digit_at(self.skip_spaces(i + 3)) =>
                {
                    let start = self.skip_spaces(i + 3);
                    i = self.currency_prefixed(start, '¥');
                }
                '-' | '~' | '～' if self.after_number && next_digit => {
                    self.emit_word("到");
                    i = self.skip_spaces(i + 1);
                }
                '-' if next_digit && self.digit_at(i + 1) && !prev_alnum => {
                    i = self.number(i + 1, true);
                }
                '+' if next_digit => {
                    self.emit_word("加");
                    i = self.skip_spaces(i + 1);
                }
                '=' if next_digit => {
                    self.emit_word("等于");
                    i = self.skip_spaces(i + 1);
                }
                '×' | '✕' if next_digit => {
                    self.emit_word("乘");
                    i = self.skip_spaces(i + 1);
                }
                '÷' if next_digit => {
                    self.emit_word("除以");
                    i = self.skip_spaces(i + 1);
                }
                '①'..='⑳' => {
                    let n = c as u64 - '①' as u64 + 1;
                    self.emit_atom(&cardinal(n, false));
                    i += 1;
                }
                ' ' => {
                    self.out.push(' ');
                    i += 1;
                }
                _ => {
                    self.out.push(c);
                    self.after_number = false;
                    i += 1;
                }
            }
        }
    }

    /// End of the ASCII digit run starting at `i`.
    fn run_end(&self, i: usize) -> usize {
        let mut j = i;
        while self.digit_at(j) {
            j += 1;
        }
        j
    }

    fn digits(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// Reads the number starting at digit `i` (after an already consumed `-` when
    /// `negative`); returns where scanning continues.
    fn number(&mut self, i: usize, negative: bool) -> usize {
        let sign = if negative { "负" } else { "" };
        if !negative {
            if let Some((end, reading)) = self
                .date(i)
                .or_else(|| self.time(i))
                .or_else(|| self.dashed_phone(i))
                .or_else(|| self.ratio(i))
            {
                self.emit_atom(&reading);
                return end;
            }
        }
        let (int, mut end, grouped) = self.integer_part(i);
        // Version numbers and IP addresses: two or more dots.
        if let Some((vend, reading)) = self.dotted(i, end) {
            self.emit_atom(&reading);
            return vend;
        }
        let frac = if self.at(end) == Some('.') && self.digit_at(end + 1) {
            let fend = self.run_end(end + 1);
            let f = self.digits(end + 1, fend);
            end = fend;
            Some(f)
        } else {
            None
        };
        let prev = self.before(i, negative);
        let next = self.at(end);

        // Percent and per mille.
        if matches!(next, Some('%') | Some('‰')) {
            let head = if next == Some('%') {
                "百分之"
            } else {
                "千分之"
            };
            let body = if frac.is_none() && int == "100" && head == "百分之" {
                "百".to_string()
            } else {
                plain(&int, frac.as_deref(), false)
            };
            self.emit_atom(&format!("{sign}{head}{body}"));
            return end + 1;
        }
        // Fractions: a/b (dates were tried first).
        if frac.is_none() && !grouped && next == Some('/') && self.digit_at(end + 1) {
            let dend = self.run_end(end + 1);
            let den = self.digits(end + 1, dend);
            if self.at(dend) != Some('.') {
                let reading = format!(
                    "{sign}{}分之{}",
                    plain(&den, None, false),
                    plain(&int, None, false)
                );
                self.emit_atom(&reading);
                return dend;
            }
        }
        // Money: 9.9元 (元 consumed), 9块9.
        if next == Some('元') {
            self.emit_atom(&format!("{sign}{}", money(&int, frac.as_deref())));
            return end + 1;
        }
        if frac.is_none()
            && next == Some('块')
            && self.digit_at(end + 1)
            && !self.digit_at(end + 2)
            && self.at(end + 2) != Some('.')
        {
            let jiao = DIGITS[self.chars[end + 1] as usize - '0' as usize];
            let yuan = if int == "2" {
                "两".to_string()
            } else {
                plain(&int, None, true)
            };
            self.emit_atom(&format!("{sign}{yuan}块{jiao}"));
            return end + 2;
        }
        // Units.
        let unit_at = self.skip_spaces(end);
        if let Some((unit, reading, liang)) = self.unit(unit_at) {
            let number = if frac.is_none() && int == "2" && liang && !negative && prev != Some('第')
            {
                "两".to_string()
            } else {
                plain(&int, frac.as_deref(), true)
            };
            self.emit_atom(&format!("{sign}{number}{reading}"));
            return unit_at + unit.chars().count();
        }
        if let Some(f) = frac {
            self.emit_atom(&format!("{sign}{}", plain(&int, Some(&f), false)));
            return end;
        }
        let reading = self.integer_reading(i, &int, end, grouped, negative);
        self.emit_atom(&format!("{sign}{reading}"));
        end
    }

    /// The character before a number, looking past a consumed sign.
    fn before(&self, i: usize, negative: bool) -> Option<char> {
        let back = if negative { 2 } else { 1 };
        i.checked_sub(back).and_then(|p| self.at(p))
    }

    /// The integer digits at `i`, joining `1,234,567` thousands groups; returns
    /// (digits, end, had separators).
    fn integer_part(&self, i: usize) -> (String, usize, bool) {
        let end = self.run_end(i);
        let mut digits = self.digits(i, end);
        let mut j = end;
        let mut grouped = false;
        if end - i <= 3 {
            while self.at(j) == Some(',')
                && (j + 1..j + 4).all(|k| self.digit_at(k))
                && !self.digit_at(j + 4)
            {
                digits.push_str(&self.digits(j + 1, j + 4));
                j += 4;
                grouped = true;
            }
        }
        (digits, j, grouped)
    }

    fn integer_reading(
        &self,
        i: usize,
        int: &str,
        end: usize,
        grouped: bool,
        negative: bool,
    ) -> String {
        let prev = self.before(i, negative);
        let next = self.at(end);
        let len = int.len();
        let prev_letter = prev.is_some_and(|p| p.is_ascii_alphabetic());
        let next_letter = next.is_some_and(|n| n.is_ascii_alphabetic());
        if grouped {
            return plain(int, None, true);
        }
        // Years and generations.
        if len == 4 && next == Some('年') && prev != Some('第') {
            return spell_digits(int, false);
        }
        if len == 2 && next == Some('后') {
            return spell_digits(int, false);
        }
        // Dates and clock readings with a leading zero: 08月 is 八月, not 零八月.
        if len == 2 && int.starts_with('0') && next.is_some_and(|n| "月日号时点分秒".contains(n))
        {
            return plain(&int[1..], None, false);
        }
        if !negative {
            match self.identifier_kind(i, int, next) {
                Some(Ident::Phone) => return spell_digits(int, true),
                Some(Ident::Other) => return spell_digits(int, false),
                None => {}
            }
        }
        // Model names: RTX4090, A320 (letters glued to three or more digits).
        if (prev_letter || next_letter) && len >= 3 {
            return spell_digits(int, false);
        }
        if len > MAX_CARDINAL_DIGITS || (len > 1 && int.starts_with('0')) {
            return spell_digits(int, false);
        }
        if int == "2"
            && !negative
            && prev != Some('第')
            && next.is_some_and(|n| LIANG_BEFORE.contains(n))
        {
            return "两".to_string();
        }
        plain(int, None, prev != Some('第'))
    }

    /// Whether the digit run at `i` is an identifier to read digit by digit.
    fn identifier_kind(&self, i: usize, int: &str, next: Option<char>) -> Option<Ident> {
        let len = int.len();
        // A count or an amount (123个, 12345678元) is never an identifier.
        if next.is_some_and(|n| LIANG_BEFORE.contains(n) || "元美欧英日港韩".contains(n)) {
            return None;
        }
        if len >= 3 {
            if let Some(kind) = self.keyword_before(i) {
                return Some(kind);
            }
        }
        let first = int.as_bytes()[0];
        // 666, 888: chat, not amounts.
        if (3..=6).contains(&len) && int.bytes().all(|b| b == first) {
            return Some(Ident::Other);
        }
        if len == 11 && first == b'1' {
            return Some(Ident::Phone);
        }
        // Long runs are identifiers unless they look like a round amount (1000000, 一亿).
        let round = len - int.trim_end_matches('0').len() >= 4;
        if len >= 7 && (first == b'0' || !round) {
            return Some(Ident::Other);
        }
        None
    }

    fn keyword_before(&self, i: usize) -> Option<Ident> {
        let start = i.saturating_sub(10);
        let before: String = self.chars[start..i].iter().collect();
        let stem = before.trim_end_matches(|c: char| "号码是为:：# ".contains(c));
        if PHONE_STEMS.iter().any(|k| stem.ends_with(k)) {
            Some(Ident::Phone)
        } else if ID_STEMS.iter().any(|k| stem.ends_with(k)) {
            Some(Ident::Other)
        } else {
            None
        }
    }

    fn unit(&self, i: usize) -> Option<(&'static str, &'static str, bool)> {
        UNITS.iter().copied().find(|(unit, _, _)| {
            let n = unit.chars().count();
            i + n <= self.chars.len()
                && self.chars[i..i + n].iter().copied().eq(unit.chars())
                && !(unit.ends_with(|c: char| c.is_ascii_alphabetic())
                    && self.at(i + n).is_some_and(|c| c.is_ascii_alphanumeric()))
        })
    }

    fn currency_prefixed(&mut self, i: usize, symbol: char) -> usize {
        let (int, mut end, _) = self.integer_part(i);
        let frac = if self.at(end) == Some('.') && self.digit_at(end + 1) {
            let fend = self.run_end(end + 1);
            let f = self.digits(end + 1, fend);
            end = fend;
            Some(f)
        } else {
            None
        };
        let reading = match symbol {
            '$' => format!("{}美元", plain(&int, frac.as_deref(), true)),
            '€' => format!("{}欧元", plain(&int, frac.as_deref(), true)),
            '£' => format!("{}英镑", plain(&int, frac.as_deref(), true)),
            _ => {
                // ¥9.9元 and RMB 5 元: the trailing unit is said once.
                let after = self.skip_spaces(end);
                if self.at(after) == Some('元') || self.at(after) == Some('块') {
                    end = after + 1;
                }
                money(&int, frac.as_deref())
            }
        };
        self.emit_atom(&reading);
        end
    }

    /// 2026-11-22, 2026/11/22, 2026.11.22 and 2026-11 / 2026/11.
    fn date(&self, i: usize) -> Option<(usize, String)> {
        let yend = self.run_end(i);
        if yend - i != 4 {
            return None;
        }
        let sep = self.at(yend).filter(|c| matches!(c, '-' | '/' | '.'))?;
        let mend = self.run_end(yend + 1);
        if !(1..=2).contains(&(mend - yend - 1)) {
            return None;
        }
        let month: u64 = self.digits(yend + 1, mend).parse().ok()?;
        if !(1..=12).contains(&month) {
            return None;
        }
        let year = spell_digits(&self.digits(i, yend), false);
        if self.at(mend) == Some(sep) && self.digit_at(mend + 1) {
            let dend = self.run_end(mend + 1);
            let day: u64 = self.digits(mend + 1, dend).parse().ok()?;
            if dend - mend - 1 > 2 || !(1..=31).contains(&day) || self.at(dend) == Some(sep) {
                return None;
            }
            let reading = format!(
                "{year}年{}月{}日",
                cardinal(month, false),
                cardinal(day, false)
            );
            return Some((dend, reading));
        }
        if sep == '.' || self.at(mend) == Some(sep) {
            return None;
        }
        Some((mend, format!("{year}年{}月", cardinal(month, false))))
    }

    /// 12:30, 8:05, 23:59:59.
    fn time(&self, i: usize) -> Option<(usize, String)> {
        let hend = self.run_end(i);
        if !(1..=2).contains(&(hend - i)) || !matches!(self.at(hend), Some(':') | Some('：')) {
            return None;
        }
        let hour: u64 = self.digits(i, hend).parse().ok()?;
        let mend = self.run_end(hend + 1);
        if mend - hend - 1 != 2 || hour > 24 {
            return None;
        }
        let minute: u64 = self.digits(hend + 1, mend).parse().ok()?;
        if minute > 59 {
            return None;
        }
        let mut end = mend;
        let mut second = None;
        if matches!(self.at(mend), Some(':') | Some('：')) {
            let send = self.run_end(mend + 1);
            if send - mend - 1 == 2 {
                let s: u64 = self.digits(mend + 1, send).parse().ok()?;
                if s > 59 {
                    return None;
                }
                second = Some(s);
                end = send;
            }
        }
        if self.digit_at(end) {
            return None;
        }
        let two_digit = |n: u64, unit: &str| {
            if n < 10 {
                format!("零{}{unit}", DIGITS[n as usize])
            } else {
                format!("{}{unit}", cardinal(n, false))
            }
        };
        let mut reading = if hour == 2 {
            "两点".to_string()
        } else {
            format!("{}点", cardinal(hour, false))
        };
        match second {
            Some(s) => {
                reading.push_str(&two_digit(minute, "分"));
                reading.push_str(&two_digit(s, "秒"));
            }
            None if minute > 0 => reading.push_str(&two_digit(minute, "分")),
            None => {}
        }
        Some((end, reading))
    }

    /// 3:2 → 三比二 (scores and ratios; times were tried first).
    fn ratio(&self, i: usize) -> Option<(usize, String)> {
        let aend = self.run_end(i);
        if aend - i > 4
            || !matches!(self.at(aend), Some(':') | Some('：'))
            || !self.digit_at(aend + 1)
        {
            return None;
        }
        let bend = self.run_end(aend + 1);
        if bend - aend - 1 > 4 {
            return None;
        }
        let a = plain(&self.digits(i, aend), None, false);
        let b = plain(&self.digits(aend + 1, bend), None, false);
        Some((bend, format!("{a}比{b}")))
    }

    /// 400-123-4567, 138-1234-5678, 010-12345678, and mobiles written 138 1234 5678.
    fn dashed_phone(&self, i: usize) -> Option<(usize, String)> {
        [('-', false), (' ', true)]
            .into_iter()
            .find_map(|(sep, mobile_only)| {
                let mut groups = Vec::new();
                let mut j = i;
                loop {
                    let end = self.run_end(j);
                    groups.push(self.digits(j, end));
                    if self.at(end) == Some(sep) && self.digit_at(end + 1) && groups.len() < 3 {
                        j = end + 1;
                    } else {
                        j = end;
                        break;
                    }
                }
                let lens: Vec<usize> = groups.iter().map(String::len).collect();
                let all = groups.concat();
                let phone = if mobile_only {
                    lens == [3, 4, 4] && all.starts_with('1')
                } else {
                    match lens.as_slice() {
                        [a, b, 4] => (3..=4).contains(a) && (3..=4).contains(b),
                        [a, b] => (3..=4).contains(a) && (7..=8).contains(b),
                        _ => false,
                    }
                };
                phone.then(|| (j, spell_digits(&all, true)))
            })
    }

    /// 1.2.3 and 192.168.1.1: each group digit by digit, joined by 点.
    fn dotted(&self, i: usize, int_end: usize) -> Option<(usize, String)> {
        let mut j = int_end;
        let mut groups = vec![self.digits(i, int_end)];
        while self.at(j) == Some('.') && self.digit_at(j + 1) {
            let end = self.run_end(j + 1);
            groups.push(self.digits(j + 1, end));
            j = end;
        }
        if groups.len() < 3 {
            return None;
        }
        let reading: Vec<String> = groups
            .iter()
            .map(|g| {
                if g.len() <= 2 {
                    plain(g, None, false)
                } else {
                    spell_digits(g, false)
                }
            })
            .collect();
        Some((j, reading.join("点")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ident {
    Phone,
    Other,
}

/// Digit by digit; `yao` reads 1 as 幺 (phone numbers).
pub(super) fn spell_digits(digits: &str, yao: bool) -> String {
    digits
        .bytes()
        .map(|b| match b {
            b'1' if yao => '幺',
            b'0'..=b'9' => DIGITS[(b - b'0') as usize],
            _ => ' ',
        })
        .collect()
}

/// Integer (and optional decimal part) in plain reading. Over-long integers fall back to digits.
fn plain(int: &str, frac: Option<&str>, liang: bool) -> String {
    let int_trimmed = int.trim_start_matches('0');
    let mut out = if int_trimmed.len() > MAX_CARDINAL_DIGITS {
        spell_digits(int, false)
    } else {
        cardinal(int_trimmed.parse().unwrap_or(0), liang)
    };
    if let Some(f) = frac {
        out.push('点');
        out.push_str(&spell_digits(f, false));
    }
    out
}

/// Colloquial money reading: 九块九, 九块九毛九, 五毛, 十二块零五分.
fn money(int: &str, frac: Option<&str>) -> String {
    let yuan: u64 = int.trim_start_matches('0').parse().unwrap_or(0);
    let frac = frac.unwrap_or("");
    if frac.len() > 2 || int.trim_start_matches('0').len() > MAX_CARDINAL_DIGITS {
        return format!(
            "{}元",
            plain(int, Some(frac).filter(|f| !f.is_empty()), true)
        );
    }
    let digit = |k: usize| frac.as_bytes().get(k).map_or(0, |b| (b - b'0') as usize);
    let (jiao, fen) = (digit(0), digit(1));
    let two = |n: usize| {
        if n == 2 {
            "两".to_string()
        } else {
            DIGITS[n].to_string()
        }
    };
    let yuan_part = if yuan == 2 {
        "两".to_string()
    } else {
        cardinal(yuan, true)
    };
    match (yuan, jiao, fen) {
        (0, 0, 0) => "零块".to_string(),
        (0, j, 0) => format!("{}毛", two(j)),
        (0, 0, f) => format!("{}分", two(f)),
        (0, j, f) => format!("{}毛{}", two(j), DIGITS[f]),
        (_, 0, 0) => format!("{yuan_part}块"),
        (_, j, 0) => format!("{yuan_part}块{}", DIGITS[j]),
        (_, 0, f) => format!("{yuan_part}块零{}分", DIGITS[f]),
        (_, j, f) => format!("{yuan_part}块{}毛{}", DIGITS[j], DIGITS[f]),
    }
}

/// Chinese cardinal of `n` (up to 10^16). `liang`: a leading 2 before 百/千/万/亿 is 两.
pub(super) fn cardinal(n: u64, liang: bool) -> String {
    let mut out = below_10_16(n);
    // 10–19 at the head: 十二, 十万 (not 一十二).
    if out.starts_with("一十") {
        out.remove(0);
    }
    if liang && out.starts_with('二') {
        let second = out.chars().nth(1);
        if matches!(second, Some('百' | '千' | '万' | '亿')) {
            out.replace_range(0..'二'.len_utf8(), "两");
        }
    }
    out
}

/// 亿 splits the number in two halves each read with 万 grouping, so 1_0001_0000_0000 is
/// 一万零一亿 (not 一万亿零一亿).
fn below_10_16(n: u64) -> String {
    const YI: u64 = 100_000_000;
    if n == 0 {
        return "零".to_string();
    }
    if n < YI {
        return below_yi(n);
    }
    let (high, low) = (n / YI, n % YI);
    let mut out = below_yi(high);
    out.push('亿');
    if low > 0 {
        if low < 10_000_000 {
            out.push('零');
        }
        out.push_str(&below_yi(low));
    }
    out
}

/// 1..10^8 with 万 grouping: 一万零一十, 十二万三千.
fn below_yi(n: u64) -> String {
    let (high, low) = (n / 10_000, n % 10_000);
    if high == 0 {
        return read_group(low);
    }
    let mut out = read_group(high);
    out.push('万');
    if low > 0 {
        if low < 1000 {
            out.push('零');
        }
        out.push_str(&read_group(low));
    }
    out
}

/// 1..=9999 → 一千零五, 一百一十…
fn read_group(group: u64) -> String {
    const PLACES: [&str; 4] = ["千", "百", "十", ""];
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let mut out = String::new();
    let mut zero = false;
    for (k, &d) in digits.iter().enumerate() {
        if d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push(DIGITS[d as usize]);
        out.push_str(PLACES[k]);
    }
    out
}
