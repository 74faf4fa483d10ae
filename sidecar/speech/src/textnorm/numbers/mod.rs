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
//!
//! This file holds the scanner and the general number reading (signs, decimals, percent,
//! fractions, money, units, plain integers); `patterns` the fixed shapes tried first (dates,
//! times, ratios, phone numbers, dotted versions); `identifiers` which digit runs are read digit
//! by digit; `units` the unit table; `readings` the number → Chinese spelling itself.

mod identifiers;
mod patterns;
mod readings;
mod units;

use super::{ATOM_CLOSE, ATOM_OPEN};
use identifiers::Ident;
pub(super) use readings::cardinal;
use readings::{money, plain, spell_digits, DIGITS, MAX_CARDINAL_DIGITS};

/// Measure words (and big-number characters) after which a bare 2 is 两.
const LIANG_BEFORE: &str = "个位只件条张本次天年台杯瓶斤块元毛角点种双套盒包份箱颗把辆层周岁倍人名家场轮遍下口碗束朵支枚粒片首部集句声排百千万亿公小分秒趟对副间所架根头匹封";

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
}
