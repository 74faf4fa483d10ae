//! Word lists: the built-in ones (`config/safety/*.txt`, compiled in) and the streamer's own
//! (`[llm] safety_lists`), by category.
//!
//! A list file is UTF-8 text, one term per line; blank lines and lines starting with `#` are
//! ignored. A term is matched on its normalised form (see [`super::normalise`]), so it may be
//! written plainly (`微信`), in pinyin initials (`wx`) or with a homophone (`威信`): all three
//! match the same comments.

use std::path::{Path, PathBuf};

use super::super::config::LlmConfig;

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

/// An extra list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read word list {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("word-list directory {path} holds no .txt files")]
    EmptyDir { path: PathBuf },
}

/// The terms of a list file's text.
pub fn parse_terms(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn read_list(path: &Path) -> Result<WordList, ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ListError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let category = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(Category::from_name)
        .unwrap_or(Category::Custom);
    Ok(WordList {
        category,
        terms: parse_terms(&text),
        source: path.to_path_buf(),
    })
}

/// Reads a list file, or every `*.txt` in a directory (in name order). Relative paths are
/// taken against `base`.
pub fn load(path: &Path, base: &Path) -> Result<Vec<WordList>, ListError> {
    let path = base.join(path);
    if !path.is_dir() {
        return Ok(vec![read_list(&path)?]);
    }
    let entries = std::fs::read_dir(&path).map_err(|source| ListError::Read {
        path: path.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ListError::Read {
            path: path.clone(),
            source,
        })?;
        let file = entry.path();
        if file.extension().is_some_and(|e| e == "txt") && !file.is_dir() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(ListError::EmptyDir { path });
    }
    files.sort();
    files.iter().map(|f| read_list(f)).collect()
}

impl LlmConfig {
    /// Reads the files named by `safety_lists` into `extra_lists`, relative to `base` (the
    /// config file's directory). On failure: the span of the offending entry and the message.
    pub fn load_safety_lists(
        &mut self,
        base: &Path,
    ) -> Result<(), (std::ops::Range<usize>, String)> {
        let mut lists = Vec::new();
        for entry in &self.safety_lists {
            let loaded = load(entry.get_ref(), base).map_err(|e| (entry.span(), e.to_string()))?;
            lists.extend(loaded);
        }
        self.extra_lists = lists;
        Ok(())
    }
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

    #[test]
    fn extra_lists_load_from_files_and_directories() {
        let dir = std::env::temp_dir().join(format!("aivs-safety-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("more")).unwrap();
        std::fs::write(dir.join("more/politics.txt"), "# 自己加的\n某某事件\n\n").unwrap();
        std::fs::write(dir.join("more/shop.txt"), "竞品店\n").unwrap();
        std::fs::write(dir.join("one.txt"), "甲\n乙\n").unwrap();
        let lists = load(Path::new("more"), &dir).unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].category, Category::Politics);
        assert_eq!(lists[0].terms, ["某某事件"]);
        assert_eq!(lists[1].category, Category::Custom);
        assert_eq!(
            load(Path::new("one.txt"), &dir).unwrap()[0].terms,
            ["甲", "乙"]
        );
        let err = load(Path::new("missing.txt"), &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.txt"), "{err}");
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        let err = load(Path::new("empty"), &dir).unwrap_err().to_string();
        assert!(err.contains("no .txt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_reads_extra_lists_relative_to_itself_and_names_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("aivs-safety-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lists")).unwrap();
        std::fs::write(dir.join("lists/loans.txt"), "快速借\n").unwrap();
        let path = dir.join("show.toml");
        std::fs::write(&path, "[llm]\nsafety_lists = [\"lists\"]\n").unwrap();
        let config = crate::config::Config::load(&path).unwrap();
        assert_eq!(config.llm.extra_lists.len(), 1);
        assert_eq!(config.llm.extra_lists[0].category, Category::Loans);
        assert_eq!(config.llm.extra_lists[0].terms, ["快速借"]);
        std::fs::write(&path, "[llm]\nsafety_lists = [\"lists/nope.txt\"]\n").unwrap();
        let err = crate::config::Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("llm.safety_lists") && err.contains("nope.txt") && err.contains(":2:"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
