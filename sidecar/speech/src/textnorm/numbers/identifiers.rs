//! Which digit runs are identifiers (phone numbers, order numbers, QQ, codes, 666) and so are
//! read digit by digit instead of as an amount: by a keyword before them, or by their shape.

use super::{Scanner, LIANG_BEFORE};

/// Keyword stems that make a following digit run an identifier (read digit by digit). The
/// text before the run is first stripped of `号码是为:：# ` so 手机号 / 订单号是 / 验证码 match.
const PHONE_STEMS: &[&str] = &["电话", "手机", "热线", "拨打", "致电", "联系方式", "座机"];
const ID_STEMS: &[&str] = &[
    "微信", "QQ", "qq", "ID", "Id", "id", "UID", "uid", "账", "帐", "订单", "单", "编", "工", "尾",
    "验证", "卡", "房间", "房", "邮编", "学", "车牌", "口令", "密",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ident {
    Phone,
    Other,
}

impl Scanner<'_> {
    /// Whether the digit run at `i` is an identifier to read digit by digit.
    pub(super) fn identifier_kind(&self, i: usize, int: &str, next: Option<char>) -> Option<Ident> {
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
}
