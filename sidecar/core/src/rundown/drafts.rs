//! LLM-written variants, kept beside their script file and used only once a person has read
//! them: `<file>.drafts.toml` holds `[[draft]]` entries, each `reviewed = false` when written
//! (by `sidecar rundown draft`); the library loads only those set to `reviewed = true`.
//!
//! ```toml
//! [[draft]]
//! product = "tea"          # omitted: the file's shared [lines]
//! segment = "explain"      # opening | explain | urge | closing | filler
//! text = "{product}冷泡三分钟就出香，上班族的续命神器！"
//! reviewed = false
//! ```
//!
//! Unreviewed drafts are not parsed as templates: what the model wrote may be broken, and
//! that must not stop a show. A reviewed one is checked like any script line, with its line.

use serde::Deserialize;
use toml::Spanned;

use super::library::{Library, LibraryError, Segment};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DraftFile {
    draft: Vec<DraftEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftEntry {
    #[serde(default)]
    product: Option<Spanned<String>>,
    segment: Spanned<String>,
    text: Spanned<String>,
    #[serde(default)]
    reviewed: bool,
}

/// What a drafts file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DraftCount {
    /// Reviewed drafts now in the library.
    pub used: usize,
    /// Drafts still waiting for review.
    pub waiting: usize,
}

/// The segment a draft is for, by its key.
pub fn draft_segment(key: &str) -> Result<Segment, String> {
    Segment::ALL
        .into_iter()
        .find(|s| s.key() == key)
        .ok_or_else(|| {
            format!("unknown segment {key:?}: opening, explain, urge, closing or filler")
        })
}

impl Library {
    /// Adds the reviewed drafts of this library's drafts file (`text`); call before
    /// [`Library::merge`], as a draft without a product belongs to its own file.
    pub fn add_drafts(&mut self, text: &str) -> Result<DraftCount, LibraryError> {
        let file: DraftFile = toml::from_str(text).map_err(|e| {
            LibraryError::at(
                text,
                e.span().unwrap_or(0..0),
                "(file)".into(),
                e.message().into(),
            )
        })?;
        let mut count = DraftCount::default();
        for (i, draft) in file.draft.iter().enumerate() {
            let segment = draft_segment(draft.segment.get_ref()).map_err(|message| {
                LibraryError::at(
                    text,
                    draft.segment.span(),
                    format!("draft[{i}].segment"),
                    message,
                )
            })?;
            if !draft.reviewed {
                count.waiting += 1;
                continue;
            }
            let product = draft
                .product
                .as_ref()
                .map(|p| (p.get_ref().as_str(), p.span()));
            self.add_draft(
                text,
                product,
                segment,
                &draft.text,
                format!("draft[{i}].text"),
            )?;
            count.used += 1;
        }
        Ok(count)
    }
}

/// One new `[[draft]]` entry as TOML text (appended to a drafts file, so the reviewer's edits
/// and comments in it stay as they are). Strings are quoted by `toml` itself.
pub fn draft_entry(product: Option<&str>, segment: &str, text: &str) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::from("\n[[draft]]\n");
    if let Some(product) = product {
        out.push_str(&format!("product = {}\n", quote(product)));
    }
    out.push_str(&format!("segment = {}\n", quote(segment)));
    out.push_str(&format!("text = {}\n", quote(text)));
    out.push_str("reviewed = false\n");
    out
}

/// The header of a new drafts file.
pub const DRAFTS_HEADER: &str = "\
# Variants written by `sidecar rundown draft`. None is used until a person has read it:
# set `reviewed = true` on each draft to put on air (edit its text freely), delete the rest.
";
