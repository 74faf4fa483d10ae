//! Cleaning: what a TTS must not see (markup, links, emoji, emoticons, invisible characters)
//! and what it should see in one tidy form (punctuation runs, whitespace).
//!
//! Two passes around the number stage: [`before_numbers`] removes markup and invisibles but
//! keeps every symbol a number pattern might need (`%`, `¥`, `℃`, `:`, `/`, `-`…);
//! [`after_numbers`] then drops whatever symbols are left, keeping only Han characters, Latin
//! letters and a small set of punctuation. The whitelist is deliberate: a Chinese TTS either
//! spells an unknown symbol out by name ("tilde", "hash") or chokes on it, so anything not
//! known to be readable goes.

use std::sync::LazyLock;

use regex::Regex;

use super::{ATOM_CLOSE, ATOM_OPEN};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid built-in regex")
}

static SCRIPT_STYLE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?is)<(script|style)\b[^>]*>.*?</(script|style)\s*>"));
static BLOCK_TAG: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr|hr)\b[^>]*>"));
static TAG: LazyLock<Regex> = LazyLock::new(|| re(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>"));
static NUMERIC_ENTITY: LazyLock<Regex> = LazyLock::new(|| re(r"&#[xX]?[0-9A-Fa-f]{1,6};"));
static CODE_FENCE: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*(```|~~~)[^\n]*$"));
static IMAGE: LazyLock<Regex> = LazyLock::new(|| re(r"!\[([^\]\n]*)\]\([^)\n]*\)"));
static LINK: LazyLock<Regex> = LazyLock::new(|| re(r"\[([^\]\n]*)\](\([^)\n]*\)|\[[^\]\n]*\])"));
static URL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?:(?:https?|ftp)://|www\.)[^\s<>\x22'，。！？、；）】」』》\u{3000}]+")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"));
static BOLD: LazyLock<Regex> = LazyLock::new(|| re(r"(\*\*|__|~~)([^\n]+?)(\*\*|__|~~)"));
static ITALIC: LazyLock<Regex> = LazyLock::new(|| re(r"\*([^*\s][^*\n]*?)\*"));
static INLINE_CODE: LazyLock<Regex> = LazyLock::new(|| re(r"`+([^`\n]*)`+"));
static HEADING: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^[ \t]*(#{1,6}|>+)[ \t]*"));
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^[ \t]*(?:[-*+•·]|\d{1,2}[.)、])[ \t]+"));
static RULE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?m)^[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})$")
});

/// ASCII emoticons, removed only when they stand apart from letters and digits (so `12:30`
/// keeps its `:3` and `XDR` its `XD`). Longest first.
const EMOTICONS: &[&str] = &[
    "(╯°□°）╯",
    "^_^",
    "^-^",
    "^o^",
    "^^",
    "-_-",
    "-.-",
    "=_=",
    "=.=",
    "o_O",
    "O_o",
    "o_o",
    "O_O",
    ">_<",
    ">.<",
    "T_T",
    "T.T",
    "TvT",
    "QAQ",
    "QWQ",
    "QwQ",
    "qwq",
    "TAT",
    "orz",
    "Orz",
    "OTZ",
    "OTL",
    "XD",
    "xD",
    ":-)",
    ":-(",
    ":-D",
    ":-P",
    ":-p",
    ";-)",
    ":)",
    ":(",
    ":D",
    ":P",
    ":p",
    ";)",
    ":o",
    ":O",
    ":3",
];

/// First pass: markup, links, emoticons and invisible characters out; line structure turned
/// into sentence punctuation. Symbols are kept for the number stage.
///
/// `keep_atoms`: keep atom markers (a re-pass over already normalised text); otherwise they
/// are removed like any private-use character, so input can never forge an atom.
pub(super) fn before_numbers(text: &str, keep_atoms: bool) -> String {
    let text: String = text
        .chars()
        .filter_map(|c| match c {
            ATOM_OPEN | ATOM_CLOSE if keep_atoms => Some(c),
            _ => pre_map(c),
        })
        .collect();
    // Each markup pass only runs when its trigger character is present: most chat lines
    // have no markup at all, and this keeps normalisation cheap for them.
    let text = if text.contains('<') {
        let t = SCRIPT_STYLE.replace_all(&text, " ");
        BLOCK_TAG.replace_all(&t, "\n").into_owned()
    } else {
        text
    };
    let text = if text.contains("```") || text.contains("~~~") {
        CODE_FENCE.replace_all(&text, "\n").into_owned()
    } else {
        text
    };
    let text = if text.contains('[') {
        let t = IMAGE.replace_all(&text, "$1");
        LINK.replace_all(&t, "$1").into_owned()
    } else {
        text
    };
    // URLs before tags: `<https://…>` autolinks would otherwise look like a tag with a colon.
    let text = if text.contains("://")
        || text
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"www."))
    {
        URL.replace_all(&text, " ").into_owned()
    } else {
        text
    };
    let text = if text.contains('@') {
        EMAIL.replace_all(&text, " ").into_owned()
    } else {
        text
    };
    let text = if text.contains('<') {
        TAG.replace_all(&text, " ").into_owned()
    } else {
        text
    };
    let text = decode_entities(&text);
    let text = RULE.replace_all(&text, "\n");
    let text = HEADING.replace_all(&text, "");
    let text = LIST_MARKER.replace_all(&text, "");
    let text = if text.contains(['`', '*', '_', '~']) {
        let t = INLINE_CODE.replace_all(&text, "$1");
        let t = BOLD.replace_all(&t, "$2");
        ITALIC.replace_all(&t, "$1").into_owned()
    } else {
        text.into_owned()
    };
    let text = strip_emoticons(&text);
    let text = strip_kaomoji(&text);
    lines_to_sentences(&text)
}

/// Per-character fixes: full-width ASCII forms that matter for numbers become ASCII, invisible
/// and control characters go (a newline stays: it is structure).
fn pre_map(c: char) -> Option<char> {
    let cp = c as u32;
    match c {
        '\n' => Some('\n'),
        '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => Some('\n'),
        '\t' | '\u{3000}' | '\u{a0}' => Some(' '),
        '０'..='９' => char::from_u32(cp - 0xFF10 + u32::from(b'0')),
        'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(cp - 0xFF21 + u32::from(b'A')),
        '％' => Some('%'),
        '．' => Some('.'),
        '／' => Some('/'),
        '－' | '−' | '‐' | '‑' => Some('-'),
        '＋' => Some('+'),
        '＝' => Some('='),
        '＄' => Some('$'),
        '＜' => Some('<'),
        '＞' => Some('>'),
        _ if c.is_control() => None,
        // Zero-width space/joiners, word joiner, BOM, soft hyphen, bidi controls.
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' => None,
        '\u{feff}' | '\u{ad}' | '\u{180e}' => None,
        // Variation selectors, tag characters, private use (our own markers must never come
        // from the input), combining keycap.
        '\u{fe00}'..='\u{fe0f}' | '\u{20e3}' => None,
        _ if (0xE0000..=0xE01EF).contains(&cp) => None,
        _ if (0xE000..=0xF8FF).contains(&cp) || cp >= 0xF0000 => None,
        _ => Some(c),
    }
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    // Numeric entities are dropped rather than decoded: decoding could smuggle in anything,
    // and a chat line that needs `&#49;` to say "1" does not exist.
    let text = NUMERIC_ENTITY.replace_all(text, " ");
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// [`EMOTICONS`] as char slices, so the scan compares without re-decoding UTF-8.
static EMOTICON_CHARS: LazyLock<Vec<Vec<char>>> =
    LazyLock::new(|| EMOTICONS.iter().map(|e| e.chars().collect()).collect());

fn strip_emoticons(text: &str) -> String {
    // Every emoticon starts with one of these; most text has none of them.
    let starts = |c: char| "(^-=oOT>QqXxO:;".contains(c);
    if !text.chars().any(starts) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'outer: while i < chars.len() {
        let before_ok = i == 0 || !is_word_char(chars[i - 1]);
        if before_ok && starts(chars[i]) {
            for emo in EMOTICON_CHARS.iter() {
                let n = emo.len();
                if chars[i..].starts_with(emo) && chars.get(i + n).is_none_or(|c| !is_word_char(*c))
                {
                    out.push(' ');
                    i += n;
                    continue 'outer;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF | 0x3007)
}

/// Drops bracketed kaomoji such as `(≧▽≦)` or `（ノ_<。）`: a short bracket group holding no
/// Han character, no digit and no two Latin letters in a row is a face, not words.
fn strip_kaomoji(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '(' | '（') {
            let close = (i + 1..chars.len().min(i + 18)).find(|&j| matches!(chars[j], ')' | '）'));
            if let Some(j) = close {
                let inner = &chars[i + 1..j];
                let wordy = inner.iter().any(|&c| is_han(c) || c.is_ascii_digit())
                    || inner
                        .windows(2)
                        .any(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic());
                if !wordy {
                    out.push(' ');
                    i = j + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A line break is a pause: it becomes a full stop unless the line already ended with one.
fn lines_to_sentences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() {
            let last = out.chars().last().unwrap_or(' ');
            if !is_punct(last) {
                out.push('。');
            }
        }
        out.push_str(line);
    }
    out
}

/// Punctuation that survives: it carries pauses and intonation a TTS uses.
pub(super) fn is_punct(c: char) -> bool {
    matches!(
        c,
        '，' | '。' | '！' | '？' | '、' | '；' | '：' | ',' | '.' | '!' | '?' | ';' | ':' | '…'
    )
}

/// How strongly a punctuation mark ends what precedes it.
fn strength(c: char) -> u8 {
    match c {
        '？' | '?' => 5,
        '！' | '!' => 4,
        '。' | '.' | '…' => 3,
        '；' | ';' => 2,
        _ => 1,
    }
}

pub(super) fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c as u32, 0xC0..=0x24F) && c.is_alphabetic() && c != '×' && c != '÷')
}

/// Second pass (after numbers): whitelist, symbol words, punctuation runs, whitespace.
/// Everything between the atom markers is a finished number reading and is copied untouched.
pub(super) fn after_numbers(text: &str) -> String {
    // 1. Whitelist, char by char; atoms copied as they are.
    let mut kept: Vec<char> = Vec::with_capacity(text.len());
    let mut in_atom = false;
    for c in text.chars() {
        match c {
            ATOM_OPEN => {
                in_atom = true;
                kept.push(c);
            }
            ATOM_CLOSE => {
                in_atom = false;
                kept.push(c);
            }
            _ if in_atom => kept.push(c),
            _ if is_han(c) || is_latin_letter(c) || is_punct(c) || c == ' ' => kept.push(c),
            '\'' | '’' => kept.push('\''),
            '—' | '―' => kept.push('，'),
            '&' => kept.extend(" 和 ".chars()),
            '「' | '」' | '『' | '』' | '《' | '》' | '“' | '”' | '‘' | '"' | '(' | ')' | '（'
            | '）' | '【' | '】' | '[' | ']' | '〈' | '〉' => kept.push(' '),
            _ => kept.push(' '),
        }
    }
    // An apostrophe only makes sense inside a Latin word ("don't").
    let kept: Vec<char> = (0..kept.len())
        .filter_map(|i| {
            let c = kept[i];
            if c != '\'' {
                return Some(c);
            }
            let prev = i.checked_sub(1).map(|p| kept[p]);
            let next = kept.get(i + 1).copied();
            (prev.is_some_and(|p| p.is_ascii_alphabetic())
                && next.is_some_and(|n| n.is_ascii_alphabetic()))
            .then_some(c)
        })
        .collect();

    // 2. Punctuation runs (spaces inside a run ignored) collapse to their strongest mark.
    let mut collapsed: Vec<char> = Vec::with_capacity(kept.len());
    let mut i = 0;
    while i < kept.len() {
        let c = kept[i];
        if !is_punct(c) {
            collapsed.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        let mut run: Vec<char> = Vec::new();
        while j < kept.len() && (is_punct(kept[j]) || kept[j] == ' ') {
            if kept[j] != ' ' {
                run.push(kept[j]);
            }
            j += 1;
        }
        collapsed.push(collapse_run(&run));
        // Keep a space that separated the run from a following Latin word.
        if kept[j - 1] == ' ' {
            collapsed.push(' ');
        }
        i = j;
    }

    // 3. Whitespace: a space survives only between two Latin words; punctuation before any
    // word (a line starting with "，") is dropped.
    let mut out = String::with_capacity(collapsed.len());
    let visible = |k: usize| -> Option<char> {
        collapsed[k..]
            .iter()
            .copied()
            .find(|&c| c != ' ' && c != ATOM_OPEN && c != ATOM_CLOSE)
    };
    let mut last_visible: Option<char> = None;
    let mut in_atom = false;
    for (k, &c) in collapsed.iter().enumerate() {
        match c {
            ATOM_OPEN => {
                in_atom = true;
                out.push(c);
            }
            ATOM_CLOSE => {
                in_atom = false;
                out.push(c);
            }
            ' ' if !in_atom => {
                let next = visible(k);
                let keep = last_visible.is_some_and(is_latin_letter)
                    && next.is_some_and(is_latin_letter)
                    && !out.ends_with(' ');
                if keep {
                    out.push(' ');
                }
            }
            _ if !in_atom && is_punct(c) && last_visible.is_none_or(is_punct) => {}
            _ => {
                out.push(c);
                last_visible = Some(c);
            }
        }
    }
    out
}

fn collapse_run(run: &[char]) -> char {
    if run.len() == 1 {
        return run[0];
    }
    if run.iter().all(|&c| matches!(c, '.' | '。' | '…')) {
        return '…';
    }
    let strongest = run
        .iter()
        .copied()
        .max_by_key(|&c| strength(c))
        .unwrap_or('，');
    match strongest {
        '?' => '？',
        '!' => '！',
        '.' => '。',
        ';' => '；',
        ',' | ':' | '：' | '、' => '，',
        other => other,
    }
}
