//! Reads the seller's script library (`[rundown] dir`) from disk: every `*.toml` there except
//! `*.drafts.toml`, in name order, each with the reviewed drafts of its `<file>.drafts.toml`.
//! Parsing and checking are [`aivs_core::rundown`]'s; this module adds the files, and turns
//! each error into a [`ConfigError`] naming the script file, its line and key.

use std::path::{Path, PathBuf};

use aivs_core::rundown::{DraftCount, Library, LibraryError};

use crate::config::ConfigError;

/// Suffix of a script file's drafts (`example.toml` → `example.drafts.toml`).
pub const DRAFTS_SUFFIX: &str = ".drafts.toml";

/// One script file of the library, as loaded.
#[derive(Debug, Clone)]
pub struct ScriptFile {
    pub path: PathBuf,
    pub products: usize,
    pub drafts: DraftCount,
}

/// The script files of `dir`, in name order (drafts files excluded).
pub fn script_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let read = |source| ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".toml") && !name.ends_with(DRAFTS_SUFFIX) && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Where a script file's drafts are kept.
pub fn drafts_path(script: &Path) -> PathBuf {
    let name = script.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.strip_suffix(".toml").unwrap_or(name);
    script.with_file_name(format!("{stem}{DRAFTS_SUFFIX}"))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, e: LibraryError) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        key: e.key,
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// One script file and its reviewed drafts.
pub fn load_file(path: &Path) -> Result<(Library, DraftCount), ConfigError> {
    let text = read(path)?;
    let mut library = Library::parse(&text).map_err(|e| invalid(path, e))?;
    let drafts = drafts_path(path);
    let count = if drafts.exists() {
        let text = read(&drafts)?;
        library.add_drafts(&text).map_err(|e| invalid(&drafts, e))?
    } else {
        DraftCount::default()
    };
    Ok((library, count))
}

/// The whole library of `dir`; a directory without products is an error (a rundown with
/// nothing to sell would stay silent all show).
pub fn load_dir(dir: &Path) -> Result<(Library, Vec<ScriptFile>), ConfigError> {
    let mut library = Library::default();
    let mut files = Vec::new();
    for path in script_files(dir)? {
        let (file, drafts) = load_file(&path)?;
        let products = file.products().len();
        let ids: Vec<String> = file.products().iter().map(|p| p.id.clone()).collect();
        library.merge(file).map_err(|message| {
            // Point at the repeated id in the later file.
            let text = read(&path).unwrap_or_default();
            let line = ids
                .iter()
                .find(|id| message.contains(&format!("`{id}`")))
                .and_then(|id| {
                    text.lines().position(|l| {
                        l.trim_start().starts_with("id") && l.contains(&format!("\"{id}\""))
                    })
                })
                .map_or(0, |i| i + 1);
            ConfigError::Invalid {
                path: path.clone(),
                key: "product.id".into(),
                line,
                column: 1,
                message,
            }
        })?;
        files.push(ScriptFile {
            path,
            products,
            drafts,
        });
    }
    if library.is_empty() {
        return Err(ConfigError::Invalid {
            path: dir.to_path_buf(),
            key: "rundown.dir".into(),
            line: 0,
            column: 0,
            message: "no products: put script files (*.toml with [[product]] entries) here".into(),
        });
    }
    Ok((library, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivs_core::rundown::{RundownConfig, Segment};

    fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/scripts")
    }

    #[test]
    fn the_shipped_example_library_loads() {
        let (library, files) = load_dir(&shipped_dir()).unwrap();
        assert!(files.iter().any(|f| f.path.ends_with("example.toml")));
        let ids: Vec<&str> = library.products().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["tea", "jacket", "nuts"]);
        for product in library.products() {
            for segment in Segment::ALL {
                assert!(
                    !product.lines(segment).is_empty(),
                    "{} {segment:?}",
                    product.id
                );
            }
        }
        // The default config points at it.
        assert_eq!(RundownConfig::default().dir, Path::new("config/scripts"));
    }

    #[test]
    fn errors_name_the_script_file_and_line_and_drafts_need_review() {
        let dir = tempfile::tempdir().unwrap();
        let example = std::fs::read_to_string(shipped_dir().join("example.toml")).unwrap();
        std::fs::write(dir.path().join("a.toml"), &example).unwrap();
        let drafts = format!(
            "{}{}",
            aivs_core::rundown::drafts::DRAFTS_HEADER,
            aivs_core::rundown::drafts::draft_entry(Some("nuts"), "urge", "{product}最后{price}！")
        );
        std::fs::write(dir.path().join("a.drafts.toml"), &drafts).unwrap();
        let (library, files) = load_dir(dir.path()).unwrap();
        assert_eq!(
            files[0].drafts,
            DraftCount {
                used: 0,
                waiting: 1
            }
        );
        let urge = library.product("nuts").unwrap().lines(Segment::Urge).len();
        std::fs::write(
            dir.path().join("a.drafts.toml"),
            drafts.replace("reviewed = false", "reviewed = true"),
        )
        .unwrap();
        let (library, files) = load_dir(dir.path()).unwrap();
        assert_eq!(
            files[0].drafts,
            DraftCount {
                used: 1,
                waiting: 0
            }
        );
        assert_eq!(
            library.product("nuts").unwrap().lines(Segment::Urge).len(),
            urge + 1
        );
        // The same products again in a second file: the repeated id, in that file.
        std::fs::write(dir.path().join("b.toml"), &example).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("b.toml:23:") && err.contains("`tea`"), "{err}");
        // A broken template: file, line, key.
        let broken = example.replacen("{point}。", "{point。", 1);
        std::fs::write(dir.path().join("b.toml"), broken).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("b.toml:") && err.contains("product[0].lines.explain[0]"),
            "{err}"
        );
        // No products at all.
        let empty = tempfile::tempdir().unwrap();
        let err = load_dir(empty.path()).unwrap_err().to_string();
        assert!(
            err.contains("rundown.dir") && err.contains("no products"),
            "{err}"
        );
    }
}
