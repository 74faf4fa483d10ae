//! Comments that ask about a product: which question it is (a keyword table) and which
//! product it is about (a name or alias in the comment, else the product on now).

use serde::Deserialize;

/// The kinds of product question a seller answers all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuestionKind {
    /// 多少钱, 价格, 优惠…
    Price,
    /// 尺码, 规格, 多大…
    Size,
    /// 怎么买, 链接, 小黄车…
    Buy,
    /// 有货吗, 库存, 还有吗…
    Stock,
    /// 发货, 快递, 包邮…
    Shipping,
}

impl QuestionKind {
    pub const ALL: [QuestionKind; 5] = [
        QuestionKind::Price,
        QuestionKind::Size,
        QuestionKind::Buy,
        QuestionKind::Stock,
        QuestionKind::Shipping,
    ];

    /// The key naming it in script files (`[answers] price = […]`).
    pub fn key(self) -> &'static str {
        match self {
            QuestionKind::Price => "price",
            QuestionKind::Size => "size",
            QuestionKind::Buy => "buy",
            QuestionKind::Stock => "stock",
            QuestionKind::Shipping => "shipping",
        }
    }

    /// Built-in keywords; a library adds its own with `[questions]`.
    fn keywords(self) -> &'static [&'static str] {
        match self {
            QuestionKind::Price => &[
                "多少钱",
                "价格",
                "价钱",
                "几块",
                "多少米",
                "啥价",
                "什么价",
                "贵不贵",
                "优惠",
                "便宜点",
                "有券",
            ],
            QuestionKind::Size => &[
                "尺码", "尺寸", "多大", "规格", "几码", "码数", "大小", "容量", "多重", "分量",
            ],
            QuestionKind::Buy => &[
                "怎么买",
                "在哪买",
                "哪里买",
                "怎么拍",
                "在哪拍",
                "链接",
                "小黄车",
                "购物车",
                "下单",
                "怎么下单",
            ],
            QuestionKind::Stock => &[
                "有货吗",
                "有货",
                "库存",
                "还有吗",
                "还有没有",
                "没货",
                "补货",
                "卖完",
                "还剩",
            ],
            QuestionKind::Shipping => &["发货", "快递", "包邮", "几天到", "物流", "发什么快递"],
        }
    }

    /// Answers used when neither the product nor the file has its own; those needing a field
    /// the product leaves empty are skipped (no answer beats "还剩件").
    pub(super) fn default_answers(self) -> &'static [&'static str] {
        match self {
            QuestionKind::Price => &[
                "{user}，{product}直播间价格{price}，{现在下单最划算|今天这个价真的很值}！",
                "{user}，{product}到手价{price}，{promotion}，{可以冲|别犹豫}！",
            ],
            QuestionKind::Size => &["{user}，{product}的规格是{size}{~|，放心选}！"],
            QuestionKind::Buy => &[
                "{user}，{product}在{link}，点屏幕下方小黄车就能拍{~|！}",
                "{user}，点屏幕下方的小黄车就能找到{product}{~|！}",
            ],
            QuestionKind::Stock => &[
                "{user}，{product}还剩{stock}件，{要的抓紧|手慢就没了}！",
                "{user}，{product}现在有货，{放心拍|直接下单就行}{~|！}",
            ],
            QuestionKind::Shipping => &["{user}，{product}这边{shipping}，放心下单{~|！}"],
        }
    }
}

/// `[questions]` in a script file: extra keywords per question kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuestionKeywords {
    pub price: Vec<String>,
    pub size: Vec<String>,
    pub buy: Vec<String>,
    pub stock: Vec<String>,
    pub shipping: Vec<String>,
}

impl QuestionKeywords {
    fn extra(&self, kind: QuestionKind) -> &[String] {
        match kind {
            QuestionKind::Price => &self.price,
            QuestionKind::Size => &self.size,
            QuestionKind::Buy => &self.buy,
            QuestionKind::Stock => &self.stock,
            QuestionKind::Shipping => &self.shipping,
        }
    }
}

/// The keyword → question table of a library (built-in keywords plus the files' own).
#[derive(Debug, Clone, Default)]
pub struct QuestionTable {
    entries: Vec<(String, QuestionKind)>,
}

impl QuestionTable {
    pub fn new() -> Self {
        let mut table = Self::default();
        for kind in QuestionKind::ALL {
            for keyword in kind.keywords() {
                table.add(kind, keyword);
            }
        }
        table
    }

    pub fn add(&mut self, kind: QuestionKind, keyword: &str) {
        let keyword = keyword.trim();
        if !keyword.is_empty() && !self.entries.iter().any(|(k, _)| k == keyword) {
            self.entries.push((keyword.to_string(), kind));
        }
    }

    /// Takes another file's keywords as well.
    pub fn merge(&mut self, other: QuestionTable) {
        for (keyword, kind) in other.entries {
            self.add(kind, &keyword);
        }
    }

    pub fn add_all(&mut self, extra: &QuestionKeywords) {
        for kind in QuestionKind::ALL {
            for keyword in extra.extra(kind) {
                self.add(kind, keyword);
            }
        }
    }

    /// The question a comment asks: the kind whose keyword appears first in it (a comment
    /// asking "多少钱，包邮吗" is answered about the price first), longer keywords winning at
    /// the same place ("怎么下单" over "下单").
    pub fn classify(&self, comment: &str) -> Option<QuestionKind> {
        self.entries
            .iter()
            .filter_map(|(keyword, kind)| {
                comment.find(keyword.as_str()).map(|at| (at, keyword, kind))
            })
            .min_by_key(|(at, keyword, _)| (*at, std::cmp::Reverse(keyword.len())))
            .map(|(_, _, kind)| *kind)
    }
}

/// Which product a comment names: the longest name or alias it contains, so "乌龙茶礼盒"
/// beats "乌龙茶" when both are products. `names[i]` are product i's name and aliases.
pub fn named_product(comment: &str, names: &[Vec<String>]) -> Option<usize> {
    names
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (i, n)))
        .filter(|(_, name)| !name.is_empty() && comment.contains(name.as_str()))
        .max_by_key(|(_, name)| name.chars().count())
        .map(|(i, _)| i)
}
