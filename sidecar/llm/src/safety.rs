//! The safety screen ([`aivs_core::safety`]) as the LLM configures it: the streamer's extra
//! word lists (`[llm] safety_lists`) read from disk, and the one screen a show builds from
//! `[llm]` and shares between templates, thanks and LLM replies.

use std::path::{Path, PathBuf};

pub use aivs_core::safety::*;

use crate::config::LlmConfig;

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

/// The show's one screen: from `[llm]` with the persona prompt's protected texts, exactly as
/// [`crate::ReplyWriter`] builds its own, so templates, thanks and LLM replies are screened
/// alike whether the LLM is on or off.
pub fn show_screen(config: &LlmConfig) -> SafetyScreen {
    screen_for(
        config,
        &crate::PromptBuilder::from_config(config).protected_texts(),
    )
}

/// From `[llm]` (blocklist, the extra lists loaded from `safety_lists`, mask) and the prompt's
/// protected texts (see `PromptBuilder::protected_texts`).
pub fn screen_for(config: &LlmConfig, protected: &[String]) -> SafetyScreen {
    SafetyScreen::with_lists(
        &config.extra_lists,
        &config.blocklist,
        protected,
        &config.mask,
    )
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
        terms: lists::parse_terms(&text),
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
}
