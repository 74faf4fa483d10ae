//! The fixed-shape numbers, tried before a digit run is read as an amount: dates, clock times,
//! ratios and scores, phone numbers with separators, and dotted versions / IP addresses. Each
//! returns where the shape ends and its reading, or `None` when the text does not fit it.

use super::readings::{cardinal, plain, spell_digits, DIGITS};
use super::Scanner;

impl Scanner<'_> {
    /// 2026-11-22, 2026/11/22, 2026.11.22 and 2026-11 / 2026/11.
    pub(super) fn date(&self, i: usize) -> Option<(usize, String)> {
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
    pub(super) fn time(&self, i: usize) -> Option<(usize, String)> {
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
    pub(super) fn ratio(&self, i: usize) -> Option<(usize, String)> {
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
    pub(super) fn dashed_phone(&self, i: usize) -> Option<(usize, String)> {
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
    pub(super) fn dotted(&self, i: usize, int_end: usize) -> Option<(usize, String)> {
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
