//! Number → Chinese spelling: digit by digit, cardinals with 万/亿 grouping (and 两), plain
//! decimals, and colloquial money (九块九). Pure functions over digit strings and integers; the
//! scanner decides which one a number gets.

pub(super) const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
/// Cardinals are spelled up to 10^16; longer runs are read digit by digit.
pub(super) const MAX_CARDINAL_DIGITS: usize = 16;

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
pub(super) fn plain(int: &str, frac: Option<&str>, liang: bool) -> String {
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
pub(super) fn money(int: &str, frac: Option<&str>) -> String {
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
pub(in crate::textnorm) fn cardinal(n: u64, liang: bool) -> String {
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
