//! Text → phonemes the way Piper's own phonemizer does it (see the parent module's docs):
//! clauses cut at punctuation, each read by espeak-ng as IPA, language-switch flags dropped,
//! letters canonically decomposed, clause punctuation appended, sentences split at `. ? !`.

use super::espeak;
use crate::SpeechError;

/// Canonical decomposition of the precomposed letters espeak-ng's IPA output can contain
/// (Piper decomposes to NFD and its maps hold the combining marks, not the composed letters).
pub(super) fn decompose(c: char, out: &mut Vec<char>) {
    const TILDE: char = '\u{303}';
    let (base, mark) = match c {
        'ç' => ('c', '\u{327}'),
        'ã' => ('a', TILDE),
        'ẽ' => ('e', TILDE),
        'ĩ' => ('i', TILDE),
        'õ' => ('o', TILDE),
        'ũ' => ('u', TILDE),
        'ỹ' => ('y', TILDE),
        'ñ' => ('n', TILDE),
        'é' => ('e', '\u{301}'),
        'è' => ('e', '\u{300}'),
        'ë' => ('e', '\u{308}'),
        _ => {
            out.push(c);
            return;
        }
    };
    out.push(base);
    out.push(mark);
}

/// Sentence-final and clause punctuation as Piper appends it after a clause's phonemes.
fn clause_punctuation(terminator: char) -> Option<(char, bool)> {
    // (mark, ends the sentence)
    match terminator {
        '.' | '。' => Some(('.', true)),
        '?' | '？' => Some(('?', true)),
        '!' | '！' => Some(('!', true)),
        ',' | '，' | '、' => Some((',', false)),
        ':' | '：' => Some((':', false)),
        ';' | '；' => Some((';', false)),
        _ => None,
    }
}

/// One clause of text and the punctuation that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub text: String,
    pub terminator: Option<char>,
}

/// Cuts text into clauses at punctuation followed by a space or the end (so `3.5` and `a,b`
/// stay whole); full-width Chinese marks need no space after them and are mapped to their
/// ASCII counterparts (the marks Piper's maps know).
pub fn clauses(text: &str) -> Vec<Clause> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ascii_boundary = c.is_ascii()
            && chars
                .peek()
                .is_none_or(|&n| n.is_whitespace() || clause_punctuation(n).is_some());
        match clause_punctuation(c) {
            Some((first, _)) if ascii_boundary || !c.is_ascii() => {
                // "Wait... what?!": marks in a row end one clause; the last one counts.
                let mut mark = first;
                while let Some((next, _)) = chars.peek().and_then(|&n| clause_punctuation(n)) {
                    mark = next;
                    chars.next();
                }
                let text = current.trim().to_string();
                current.clear();
                if !text.is_empty() {
                    out.push(Clause {
                        text,
                        terminator: Some(mark),
                    });
                } else if let Some(last) = out.last_mut() {
                    // Punctuation with no words before it upgrades the previous clause's end
                    // ("Hi, . there" — rare, but never an empty espeak call).
                    last.terminator = Some(mark);
                }
            }
            _ => current.push(c),
        }
    }
    let text = current.trim().to_string();
    if !text.is_empty() {
        out.push(Clause {
            text,
            terminator: None,
        });
    }
    out
}

/// Runs espeak-ng as the phonemizer for one clause; returns its IPA (lines joined by spaces).
fn espeak_ipa(program: &str, voice: &str, text: &str) -> Result<String, SpeechError> {
    let output = espeak::run_with_stdin(program, &["-q", "--ipa", "-v", voice], text)?;
    let ipa = String::from_utf8_lossy(&output);
    Ok(ipa
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" "))
}

/// Text → sentences of phonemes (each a list of single-character phonemes).
pub fn phonemize(program: &str, voice: &str, text: &str) -> Result<Vec<Vec<char>>, SpeechError> {
    let mut sentences = Vec::new();
    let mut sentence = Vec::new();
    for clause in clauses(text) {
        let ipa = espeak_ipa(program, voice, &clause.text)?;
        // Drop language-switch flags: "(fr)" surrounds words espeak read with another voice.
        let mut in_flag = false;
        for c in ipa.chars() {
            match c {
                '(' => in_flag = true,
                ')' if in_flag => in_flag = false,
                _ if in_flag => {}
                _ => decompose(c, &mut sentence),
            }
        }
        let punctuation = clause.terminator.and_then(clause_punctuation);
        if let Some((mark, ends_sentence)) = punctuation {
            sentence.push(mark);
            if !ends_sentence {
                sentence.push(' ');
            }
        }
        if punctuation.is_none_or(|(_, ends)| ends) && !sentence.is_empty() {
            sentences.push(std::mem::take(&mut sentence));
        }
    }
    if !sentence.is_empty() {
        sentences.push(sentence);
    }
    Ok(sentences)
}
