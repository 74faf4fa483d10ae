//! The safety corpus (`tests/data/safety-corpus.tsv`): hundreds of realistic comments per
//! category that must be caught (plain and obfuscated), and ordinary ones that must pass
//! untouched. Every mismatch is listed, not just the first.

use super::{Category, Refusal, SafetyScreen, Verdict};

const CORPUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/safety-corpus.tsv"
));

/// Minimum cases per category (and of benign comments): the corpus is the evidence that the
/// lists and the normaliser work, so it must not quietly shrink.
const MIN_CASES: usize = 100;

#[test]
fn every_corpus_case_is_screened_as_expected() {
    let screen = SafetyScreen::new(&[], &[], "哔");
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut wrong = Vec::new();
    for (n, line) in CORPUS.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let [category, expected, text] = fields[..] else {
            panic!("line {}: not category<TAB>expected<TAB>text: {line}", n + 1);
        };
        *counts.entry(category).or_default() += 1;
        let found = screen.categories(text);
        let masked = screen.mask(text);
        let output = screen.screen_output(text);
        let problem = match expected {
            "block" => {
                let want = Category::from_name(category)
                    .unwrap_or_else(|| panic!("line {}: unknown category {category}", n + 1));
                let residue = screen.screen_output(&masked.text);
                if !found.contains(&want) {
                    Some(format!("not flagged as {want} (found {found:?})"))
                } else if masked.hits == 0 {
                    Some("nothing masked".to_string())
                } else if output == Verdict::Pass {
                    Some("passes as model output".to_string())
                } else if matches!(
                    residue,
                    Verdict::Refuse(Refusal::BlockedWord(_) | Refusal::ContactBait(_))
                ) {
                    Some(format!(
                        "masked text {:?} still trips: {residue:?}",
                        masked.text
                    ))
                } else {
                    None
                }
            }
            "pass" => {
                if !found.is_empty() || masked.hits > 0 || output != Verdict::Pass {
                    Some(format!(
                        "false positive: {found:?}, masked {:?}, {output:?}",
                        masked.text
                    ))
                } else {
                    None
                }
            }
            other => panic!(
                "line {}: expected must be block or pass, not {other}",
                n + 1
            ),
        };
        if let Some(problem) = problem {
            wrong.push(format!("line {} [{category}] {text}: {problem}", n + 1));
        }
    }
    for name in ["politics", "ads", "abuse", "gambling", "loans", "benign"] {
        let count = counts.get(name).copied().unwrap_or(0);
        assert!(count >= MIN_CASES, "{name}: only {count} cases");
    }
    assert!(
        wrong.is_empty(),
        "{} of {} corpus cases wrong:\n{}",
        wrong.len(),
        counts.values().sum::<usize>(),
        wrong.join("\n")
    );
}
