//! Which VTube Studio expression or hotkey shows each avatar command.
//!
//! The sidecar speaks in abstract names (`happy`, `nod`); a Live2D model has its own expression
//! files and hotkeys. The mapping file joins the two. It is a small TOML file (see
//! `bridge.example.toml`) whose keys are the protocol's closed set of names, so a typo such as
//! `hapy` is an error that points at its line instead of a silently missing expression.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The example shipped next to the crate doubles as the built-in default, so the documented
/// file and the behaviour without `--mapping` can never drift apart.
const EXAMPLE: &str = include_str!("../bridge.example.toml");

/// VTube Studio only accepts expression files by this suffix (its error 650 otherwise).
const EXPRESSION_SUFFIX: &str = ".exp3.json";

/// Why a mapping file was not accepted.
///
/// Each message carries its cause itself (the fields are deliberately not `source`s), so that a
/// single log line or `Display` tells the whole story without printing the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read mapping file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// Syntax errors and unknown keys; toml's message names the key, line and column.
    #[error("mapping file {origin}: {cause}")]
    Parse {
        origin: String,
        cause: Box<toml::de::Error>,
    },
    /// A value that parses but cannot work with VTube Studio.
    #[error("mapping file {origin}, line {line}: `{key}` {problem}")]
    Invalid {
        origin: String,
        line: usize,
        key: String,
        problem: String,
    },
}

/// Expression names the protocol uses (`Command::Expression`, `Say { expression }`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpressionTable {
    happy: Option<Spanned<String>>,
    surprised: Option<Spanned<String>>,
    sad: Option<Spanned<String>>,
    angry: Option<Spanned<String>>,
    neutral: Option<Spanned<String>>,
}

/// Motion names the protocol uses (`Command::Motion`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MotionTable {
    bounce: Option<Spanned<String>>,
    nod: Option<Spanned<String>>,
    shake: Option<Spanned<String>>,
    wave: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    expressions: ExpressionTable,
    #[serde(default)]
    motions: MotionTable,
}

/// Avatar names → VTube Studio expression files and hotkeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    expressions: BTreeMap<String, String>,
    motions: BTreeMap<String, String>,
}

impl Default for Mapping {
    /// The mapping of `bridge.example.toml` (a unit test proves it parses).
    fn default() -> Self {
        Self::from_toml_str(EXAMPLE, "bridge.example.toml")
            .expect("the bundled example mapping is valid")
    }
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Self, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|cause| MappingError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses mapping TOML; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, MappingError> {
        let file: MappingFile = toml::from_str(text).map_err(|cause| MappingError::Parse {
            origin: origin.to_string(),
            cause: Box::new(cause),
        })?;
        let checker = Checker { text, origin };
        let e = file.expressions;
        let m = file.motions;
        let expressions = [
            ("happy", e.happy),
            ("surprised", e.surprised),
            ("sad", e.sad),
            ("angry", e.angry),
            ("neutral", e.neutral),
        ];
        let motions = [
            ("bounce", m.bounce),
            ("nod", m.nod),
            ("shake", m.shake),
            ("wave", m.wave),
        ];
        Ok(Self {
            expressions: checker.collect("expressions", expressions, |file| {
                if file.ends_with(EXPRESSION_SUFFIX) {
                    Ok(())
                } else {
                    Err(format!("must name an expression file ending in {EXPRESSION_SUFFIX:?}, got {file:?}"))
                }
            })?,
            motions: checker.collect("motions", motions, |_| Ok(()))?,
        })
    }

    /// The expression file to show for `name`, if the model has one.
    pub fn expression_file(&self, name: &str) -> Option<&str> {
        self.expressions.get(name).map(String::as_str)
    }

    /// The hotkey (name or ID) that plays motion `name`, if the model has one.
    pub fn motion_hotkey(&self, name: &str) -> Option<&str> {
        self.motions.get(name).map(String::as_str)
    }
}

impl fmt::Display for Mapping {
    /// One line for the startup log: what is mapped, so a missing entry is noticed early.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>().join(", ");
        write!(
            f,
            "expressions [{}], motions [{}]",
            keys(&self.expressions),
            keys(&self.motions)
        )
    }
}

/// Validates values and reports problems with the line they are on.
struct Checker<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Checker<'_> {
    fn collect<const N: usize>(
        &self,
        table: &str,
        entries: [(&str, Option<Spanned<String>>); N],
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<BTreeMap<String, String>, MappingError> {
        let mut out = BTreeMap::new();
        for (name, value) in entries {
            let Some(value) = value else { continue };
            let line = line_of(self.text, value.span().start);
            let trimmed = value.get_ref().trim();
            let problem = if trimmed.is_empty() {
                Some("is empty; leave the key out to show nothing".to_string())
            } else {
                check(trimmed).err()
            };
            if let Some(problem) = problem {
                return Err(MappingError::Invalid {
                    origin: self.origin.to_string(),
                    line,
                    key: format!("{table}.{name}"),
                    problem,
                });
            }
            out.insert(name.to_string(), trimmed.to_string());
        }
        Ok(out)
    }
}

/// 1-based line of a byte offset, the way editors and toml's own errors count.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_example_is_the_default_and_maps_every_protocol_name_but_neutral() {
        let mapping = Mapping::default();
        for name in ["happy", "surprised", "sad", "angry"] {
            assert!(
                mapping
                    .expression_file(name)
                    .is_some_and(|f| f.ends_with(".exp3.json")),
                "{name}"
            );
        }
        assert_eq!(mapping.expression_file("neutral"), None);
        assert_eq!(mapping.expression_file("happy"), Some("Happy.exp3.json"));
        for name in ["bounce", "nod", "shake", "wave"] {
            assert!(mapping.motion_hotkey(name).is_some(), "{name}");
        }
        assert_eq!(mapping.motion_hotkey("nod"), Some("Nod"));
    }

    #[test]
    fn keys_are_optional_and_values_are_trimmed() {
        let mapping = Mapping::from_toml_str("[motions]\nnod = \" Head nod \"\n", "t").unwrap();
        assert_eq!(mapping.motion_hotkey("nod"), Some("Head nod"));
        assert_eq!(mapping.motion_hotkey("wave"), None);
        assert_eq!(mapping.expression_file("happy"), None);
        assert_eq!(
            Mapping::from_toml_str("", "t").unwrap().to_string(),
            "expressions [], motions []"
        );
    }

    #[test]
    fn a_misspelt_key_is_an_error_naming_it_and_its_line() {
        let err = Mapping::from_toml_str(
            "[expressions]\nhappy = \"A.exp3.json\"\nhapy = \"B.exp3.json\"\n",
            "bridge.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bridge.toml"), "{err}");
        assert!(err.contains("hapy"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_unknown_table_is_an_error() {
        let err = Mapping::from_toml_str("[motion]\nnod = \"Nod\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("motion") && err.contains("line 1"), "{err}");
    }

    #[test]
    fn an_expression_that_is_not_an_exp3_file_is_rejected_with_its_line() {
        let err =
            Mapping::from_toml_str("[expressions]\n\nsad = \"Sad\"\n", "bridge.toml").unwrap_err();
        assert!(
            matches!(&err, MappingError::Invalid { line: 3, key, .. } if key == "expressions.sad"),
            "{err:?}"
        );
        assert!(err.to_string().contains(".exp3.json"), "{err}");
    }

    #[test]
    fn an_empty_value_is_rejected() {
        let err = Mapping::from_toml_str("[motions]\nwave = \"  \"\n", "t").unwrap_err();
        assert!(
            matches!(&err, MappingError::Invalid { line: 2, key, .. } if key == "motions.wave"),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = Mapping::load(Path::new("/nonexistent/bridge.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/bridge.toml"), "{err}");
    }
}
