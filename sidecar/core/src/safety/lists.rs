//! Word lists: the built-in ones (`config/safety/*.txt`, compiled in) and the streamer's own
//! (`[llm] safety_lists`, read by the `llm` crate), by category.
//!
//! A list file is UTF-8 text, one term per line; blank lines and lines starting with `#` are
//! ignored. A term is matched on its normalised form (see [`super::normalise`]), so it may be
//! written plainly (`微信`), in pinyin initials (`wx`) or with a homophone (`威信`): all three
//! match the same comments.

use std::path::PathBuf;

/// What a word list is about. The order is the order of precedence when a text trips several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// 政治敏感: leaders, events, separatism, banned groups, circumvention.
    Politics,
    /// 赌博: betting, casinos, lottery scams.
    Gambling,
    /// 贷款: loans, 网贷, 套现, credit-repair scams.
    Loans,
    /// 广告/引流: off-platform bait (私信, 加V, 主页, 淘宝…), contact details, paid-for spam,
    /// sexual bait.
    Ads,
    /// 辱骂: insults and slurs.
    Abuse,
    /// The config's `blocklist` and extra list files not named after a category.
    Custom,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Politics,
        Category::Gambling,
        Category::Loans,
        Category::Ads,
        Category::Abuse,
        Category::Custom,
    ];

    /// The list file stem (`politics` for `politics.txt`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Politics => "politics",
            Category::Gambling => "gambling",
            Category::Loans => "loans",
            Category::Ads => "ads",
            Category::Abuse => "abuse",
            Category::Custom => "custom",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The built-in lists, compiled in from `config/safety/`.
pub(super) const BUILTIN: &[(Category, &str)] = &[
    (
        Category::Politics,
        include_str!("../../../../config/safety/politics.txt"),
    ),
    (
        Category::Ads,
        include_str!("../../../../config/safety/ads.txt"),
    ),
    (
        Category::Abuse,
        include_str!("../../../../config/safety/abuse.txt"),
    ),
    (
        Category::Gambling,
        include_str!("../../../../config/safety/gambling.txt"),
    ),
    (
        Category::Loans,
        include_str!("../../../../config/safety/loans.txt"),
    ),
];

/// One list file's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordList {
    pub category: Category,
    pub terms: Vec<String>,
    /// Where it came from (for messages).
    pub source: PathBuf,
}

/// The terms of a list file's text.
pub fn parse_terms(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lists_are_substantial_and_clean() {
        let mut total = 0;
        for (category, text) in BUILTIN {
            let terms = parse_terms(text);
            assert!(terms.len() >= 40, "{category}: {} terms", terms.len());
            let mut seen = std::collections::HashSet::new();
            for term in &terms {
                assert!(seen.insert(term), "{category}: {term} twice");
            }
            total += terms.len();
        }
        assert!(total >= 300, "{total} built-in terms");
    }
}
