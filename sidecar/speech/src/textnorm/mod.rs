//! Text normalisation before TTS (seed 000 "前处理中间件"): chat and LLM text in, what a
//! Chinese TTS should read out.
//!
//! Three stages, all pure (no I/O, no allocation beyond the strings):
//! 1. [`clean`] (first pass): markdown/HTML markup reduced to its text, URLs and e-mail
//!    addresses dropped (a live host does not read them out, and reading them would advertise
//!    whatever a viewer pasted), emoticons/kaomoji, zero-width and control characters removed,
//!    line breaks turned into sentence ends.
//! 2. [`numbers`]: numbers, prices, units, dates, times, phone numbers → Chinese readings (see
//!    that module for the table and the reading choices). Each reading is an *atom*.
//! 3. [`clean`] (second pass): only Han characters, Latin letters and pause punctuation remain;
//!    punctuation runs (`！！！`, `。。。`) collapse to one mark, whitespace survives only between
//!    Latin words.
//!
//! Then [`segments`] cuts the result into TTS-sized pieces at sentence ends, then clause
//! punctuation, never inside an atom (a number reading or a Latin word).
//!
//! The output never contains an ASCII digit (tested by proptest), and normalising twice gives
//! the same text as normalising once, so a caller that is unsure whether a line was normalised
//! may simply normalise it again.

mod clean;
mod numbers;
#[cfg(test)]
mod tests;

use serde::Deserialize;

/// Marks the start/end of an atom (a number reading) between the stages. Private-use code
/// points: stage 1 removes them from the input, so they can only come from stage 2.
const ATOM_OPEN: char = '\u{E000}';
const ATOM_CLOSE: char = '\u{E001}';

/// Default longest segment handed to a TTS engine, in characters: about 4–5 s of speech, short
/// enough that the first audio is ready fast and a failed clip costs little to redo.
pub const DEFAULT_SEGMENT_MAX_CHARS: usize = 60;

/// `[voice.textnorm]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextNormConfig {
    /// Longest segment sent to the TTS in one request, in characters (Han characters and
    /// Latin letters count one each). A single number reading or Latin word longer than this
    /// is still kept whole.
    pub segment_max_chars: usize,
}

impl Default for TextNormConfig {
    fn default() -> Self {
        Self {
            segment_max_chars: DEFAULT_SEGMENT_MAX_CHARS,
        }
    }
}

/// Normalises `text` for reading aloud. Returns an empty string when nothing speakable is left
/// (only emoji, punctuation or a URL), so the caller can skip the line
/// (`SpeechError::EmptyText`) instead of sending the TTS something it would render as silence.
pub fn normalize_for_speech(text: &str) -> String {
    let marked = normalize_marked(text);
    marked
        .chars()
        .filter(|&c| c != ATOM_OPEN && c != ATOM_CLOSE)
        .collect()
}

/// Normalises `text` (as [`normalize_for_speech`]) and splits it into segments of at most
/// `max_chars` characters (0 is treated as 1): whole sentences are packed together while they
/// fit; a longer sentence is cut at commas/colons; a clause that is still too long is cut
/// between words, never inside a number reading or a Latin word (an atom longer than
/// `max_chars` becomes a segment of its own). Segments with nothing speakable are dropped.
pub fn segments(text: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    let marked = normalize_marked(text);
    let units = units(&marked);
    // Sentences, then clauses, then hard pieces: each a run of units no longer than `max`
    // unless it is one atom.
    let mut pieces: Vec<Vec<Unit>> = Vec::new();
    for sentence in split_after(&units, is_sentence_end) {
        if len(&sentence) <= max {
            pieces.push(sentence);
            continue;
        }
        for clause in split_after(&sentence, is_clause_end) {
            if len(&clause) <= max {
                pieces.push(clause);
            } else {
                pieces.extend(pack(clause.into_iter().map(|u| vec![u]).collect(), max));
            }
        }
    }
    pack(pieces, max)
        .into_iter()
        .map(|piece| piece.iter().map(|u| u.text.as_str()).collect::<String>())
        .map(|s| s.trim().to_string())
        .filter(|s| s.chars().any(is_speakable))
        .collect()
}

/// The normalised text with atoms marked. Removing something can bring two pieces together
/// into a new pattern (`好:😀O` → `好:O`, and `:O` is an emoticon), so the passes repeat until
/// nothing changes; the second pass almost always confirms the first, and every pass only
/// removes, so this ends fast.
fn normalize_marked(text: &str) -> String {
    let mut out = one_pass(text, false);
    for _ in 0..4 {
        let again = one_pass(&out, true);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

fn one_pass(text: &str, keep_atoms: bool) -> String {
    let cleaned = clean::before_numbers(text, keep_atoms);
    let spelled = numbers::spell_numbers(&cleaned);
    let out = clean::after_numbers(&spelled);
    if out.chars().any(is_speakable) {
        out.trim().to_string()
    } else {
        String::new()
    }
}

/// Han characters and Latin letters are what a TTS actually says.
fn is_speakable(c: char) -> bool {
    clean::is_latin_letter(c) || (!c.is_ascii() && c.is_alphabetic())
}

/// An indivisible piece of normalised text: an atom, a Latin word, or one other character.
#[derive(Debug, Clone)]
struct Unit {
    text: String,
    chars: usize,
}

fn units(marked: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut chars = marked.chars().peekable();
    while let Some(c) = chars.next() {
        let mut text = String::new();
        if c == ATOM_OPEN {
            for a in chars.by_ref() {
                if a == ATOM_CLOSE {
                    break;
                }
                text.push(a);
            }
        } else if clean::is_latin_letter(c) {
            text.push(c);
            while let Some(&n) = chars.peek() {
                if !(clean::is_latin_letter(n) || n == '\'') {
                    break;
                }
                text.push(n);
                chars.next();
            }
        } else {
            text.push(c);
        }
        if !text.is_empty() {
            let n = text.chars().count();
            out.push(Unit { text, chars: n });
        }
    }
    out
}

fn len(units: &[Unit]) -> usize {
    units.iter().map(|u| u.chars).sum()
}

fn is_sentence_end(u: &Unit) -> bool {
    matches!(
        u.text.as_str(),
        "。" | "！" | "？" | "!" | "?" | "；" | ";" | "…" | "."
    )
}

fn is_clause_end(u: &Unit) -> bool {
    matches!(u.text.as_str(), "，" | "," | "、" | "：" | ":")
}

/// Splits after every unit matching `end` (the mark stays with what it ends).
fn split_after(units: &[Unit], end: fn(&Unit) -> bool) -> Vec<Vec<Unit>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for u in units {
        current.push(u.clone());
        if end(u) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Greedily joins consecutive pieces while the total stays within `max`.
fn pack(pieces: Vec<Vec<Unit>>, max: usize) -> Vec<Vec<Unit>> {
    let mut out: Vec<Vec<Unit>> = Vec::new();
    let mut current: Vec<Unit> = Vec::new();
    for piece in pieces {
        if !current.is_empty() && len(&current) + len(&piece) > max {
            out.push(std::mem::take(&mut current));
        }
        current.extend(piece);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
