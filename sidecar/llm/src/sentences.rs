//! Streaming sentence splitter: token deltas in, complete sentences out as soon as each ends.
//!
//! This is what makes the first sentence reach TTS while the model is still writing the rest
//! (seed 001/003 sentence pipelining). Rules:
//!
//! * Sentence ends: Chinese `。！？；…` (and full-width `．`), Latin `!` `?`, line breaks, and
//!   Latin `.` when followed by whitespace, the end, a closing quote/bracket or a CJK character.
//!   Closing quotes/brackets, `~` and repeated end marks after the end stay with the sentence
//!   (`好呀！！」`).
//! * A `.` is NOT an end inside numbers (`3.14`, `¥9.9`), after abbreviations (`Mr.`, `e.g.`,
//!   `U.S.`, single initials), after a list number at the start of a sentence (`1. `), or in an
//!   ellipsis followed by more text without a space.
//! * A sentence with fewer than `min_chars` letters/digits/ideographs is held and merged with the
//!   next one (a lone `嗯。` costs a TTS round trip and sounds choppy).
//! * A run longer than `max_chars` without an end is cut after its last comma (`，、,：:`), or,
//!   past twice that, at its last space or hard at the limit: TTS latency grows with length.
//!
//! Decisions only ever depend on the text, never on where the deltas were cut: when the text
//! seen so far cannot decide (a `.` at the very end could still become `3.14`), the splitter
//! waits for the next delta, and [`SentenceSplitter::finish`] decides with "end of text". So any
//! chunking of the same reply gives the same sentences (property-tested below). Sentences come
//! out trimmed; the only text ever dropped is whitespace at sentence edges.

/// Abbreviations whose `.` does not end a sentence (lowercase, without the final dot).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "u.s", "u.k",
    "a.m", "p.m", "no", "fig", "approx", "inc", "ltd", "co", "mt", "jan", "feb", "aug", "sept",
    "oct", "nov", "dec",
];

#[derive(Debug, Clone)]
pub struct SentenceSplitter {
    min_chars: usize,
    max_chars: usize,
    /// Text not yet emitted.
    buf: String,
    /// Held short sentence(s), raw (untrimmed) so merging keeps the original spacing.
    carry: String,
}

/// Strong end marks: a sentence ends after a run of these.
fn is_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | '…' | '．' | '｡')
}

/// Characters that belong to the end of the sentence they follow.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '"' | '\'' | '」' | '』' | '）' | ')' | '】' | '》' | ']' | '~' | '～'
    )
}

fn is_soft_break(c: char) -> bool {
    matches!(c, '，' | '、' | ',' | '：' | ':')
}

fn is_cjk(c: char) -> bool {
    ('\u{2E80}'..='\u{9FFF}').contains(&c)
        || ('\u{F900}'..='\u{FAFF}').contains(&c)
        || ('\u{FF00}'..='\u{FFEF}').contains(&c)
}

/// Characters counted for `min_chars`/`max_chars`: letters, digits, ideographs.
fn counts(c: char) -> bool {
    c.is_alphanumeric()
}

/// Outcome of looking for the end of the first sentence in the buffer.
enum Scan {
    /// The first sentence ends at this byte offset.
    End(usize),
    /// No end in the text so far (or undecidable without more text).
    Wait,
}

impl SentenceSplitter {
    /// `min_chars`: shorter sentences are merged with the next; `max_chars`: a longer run is cut
    /// at a comma. Defaults in `LlmConfig` are 3 and 36.
    pub fn new(min_chars: usize, max_chars: usize) -> Self {
        Self {
            min_chars,
            max_chars: max_chars.max(min_chars).max(1),
            buf: String::new(),
            carry: String::new(),
        }
    }

    /// Adds a delta; returns the sentences it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        self.drain(false)
    }

    /// End of the reply: returns whatever is left (short carry included).
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = self.drain(true);
        let rest = std::mem::take(&mut self.buf);
        let mut last = std::mem::take(&mut self.carry);
        last.push_str(&rest);
        let last = last.trim();
        if !last.is_empty() {
            out.push(last.to_string());
        }
        out
    }

    /// Text received but not yet returned as a sentence.
    pub fn pending(&self) -> String {
        format!("{}{}", self.carry, self.buf)
    }

    fn drain(&mut self, at_end: bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Scan::End(end) = self.scan(at_end) {
            let sentence: String = self.buf.drain(..end).collect();
            self.emit(sentence, &mut out);
        }
        out
    }

    fn emit(&mut self, raw: String, out: &mut Vec<String>) {
        self.carry.push_str(&raw);
        let trimmed = self.carry.trim();
        if trimmed.is_empty() {
            self.carry.clear();
            return;
        }
        if trimmed.chars().filter(|&c| counts(c)).count() < self.min_chars {
            return;
        }
        out.push(trimmed.to_string());
        self.carry.clear();
    }

    /// Finds where the first sentence of `buf` ends, deterministically from the text alone.
    fn scan(&self, at_end: bool) -> Scan {
        let chars: Vec<(usize, char)> = self.buf.char_indices().collect();
        let len = self.buf.len();
        let byte_at = |k: usize| chars.get(k).map_or(len, |&(b, _)| b);
        let mut counted = 0usize;
        let mut i = 0usize;
        while i < chars.len() {
            let c = chars[i].1;
            if c == '\n' || c == '\r' {
                return Scan::End(byte_at(i + 1));
            }
            if is_terminal(c) || c == '.' {
                let mut j = i;
                while j < chars.len() && chars[j].1 == c && c == '.' {
                    j += 1;
                }
                let dots = j - i;
                let end_here = if c == '.' {
                    if j == chars.len() && !at_end {
                        return Scan::Wait;
                    }
                    let next = chars.get(j).map(|&(_, n)| n);
                    let followed_ok = next.is_none_or(|n| {
                        n.is_whitespace() || is_closer(n) || is_cjk(n) || is_terminal(n)
                    });
                    followed_ok && (dots > 1 || !self.dot_is_not_an_end(&chars, i))
                } else {
                    j = i + 1;
                    true
                };
                if end_here {
                    // Absorb more end marks and closers; the run must be complete to decide.
                    while j < chars.len()
                        && (is_terminal(chars[j].1) || is_closer(chars[j].1) || chars[j].1 == '.')
                    {
                        j += 1;
                    }
                    if j == chars.len() && !at_end {
                        return Scan::Wait;
                    }
                    return Scan::End(byte_at(j));
                }
                i = j;
                continue;
            }
            if counts(c) {
                counted += 1;
            }
            if counted > self.max_chars {
                if let Some(end) = self.long_run_cut(&chars, i, counted) {
                    return Scan::End(byte_at(end));
                }
            }
            i += 1;
        }
        Scan::Wait
    }

    /// A run of `counted` characters up to char `i` has no sentence end: where to cut it, as a
    /// char index (exclusive), if anywhere yet.
    fn long_run_cut(&self, chars: &[(usize, char)], i: usize, counted: usize) -> Option<usize> {
        let before = &chars[..i];
        if let Some(k) = before.iter().rposition(|&(_, c)| is_soft_break(c)) {
            let head = before[..k].iter().filter(|&&(_, c)| counts(c)).count();
            if head >= self.min_chars {
                return Some(k + 1);
            }
        }
        if counted > self.max_chars * 2 {
            if let Some(k) = before.iter().rposition(|&(_, c)| c.is_whitespace()) {
                if before[..k].iter().filter(|&&(_, c)| counts(c)).count() >= self.min_chars {
                    return Some(k + 1);
                }
            }
            return Some(i);
        }
        None
    }

    /// `chars[i]` is a single `.` followed by whitespace/end/closer/CJK: is it still not a
    /// sentence end (abbreviation, initial, list number)?
    fn dot_is_not_an_end(&self, chars: &[(usize, char)], i: usize) -> bool {
        // The word before the dot: ASCII letters and inner dots (`e.g`, `U.S`).
        let mut k = i;
        while k > 0 && (chars[k - 1].1.is_ascii_alphabetic() || chars[k - 1].1 == '.') {
            k -= 1;
        }
        let word: String = chars[k..i].iter().map(|&(_, c)| c).collect();
        let word = word.trim_start_matches('.');
        if !word.is_empty() {
            if ABBREVIATIONS.contains(&word.to_ascii_lowercase().as_str()) {
                return true;
            }
            let mut letters = word.chars();
            if let (Some(first), None) = (letters.next(), letters.next()) {
                // A single capital letter: an initial (`J. K. Rowling`).
                return first.is_ascii_uppercase();
            }
            return false;
        }
        // A list number at the start of the sentence: `1. `, `12. `.
        let mut d = i;
        while d > 0 && chars[d - 1].1.is_ascii_digit() {
            d -= 1;
        }
        let digits = i - d;
        (1..=3).contains(&digits) && chars[..d].iter().all(|&(_, c)| c.is_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_chunks(text: &str, chunks: &[usize]) -> Vec<String> {
        let mut s = SentenceSplitter::new(3, 36);
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut at = 0;
        let mut k = 0;
        while at < chars.len() {
            let n = chunks
                .get(k)
                .copied()
                .unwrap_or(1)
                .clamp(1, chars.len() - at);
            let piece: String = chars[at..at + n].iter().collect();
            out.extend(s.push(&piece));
            at += n;
            k += 1;
        }
        out.extend(s.finish());
        out
    }

    fn split(text: &str) -> Vec<String> {
        split_chunks(text, &[usize::MAX])
    }

    #[test]
    fn chinese_sentence_ends() {
        assert_eq!(
            split("哇，谢谢你的小心心！今天好开心呀。你吃饭了吗？我们一起聊天吧；好不好……"),
            vec![
                "哇，谢谢你的小心心！",
                "今天好开心呀。",
                "你吃饭了吗？",
                "我们一起聊天吧；",
                "好不好……"
            ]
        );
    }

    #[test]
    fn closers_and_repeated_marks_stay_with_the_sentence() {
        assert_eq!(
            split("她说：“真的吗？！”然后笑了。好呀~~大家晚安！！"),
            vec!["她说：“真的吗？！”", "然后笑了。", "好呀~~大家晚安！！"]
        );
    }

    #[test]
    fn decimals_prices_abbreviations_and_lists_do_not_split() {
        assert_eq!(
            split("圆周率是3.14哦。这个只要¥9.9！Mr. Smith met Dr. Who, e.g. at 5 p.m. today. Then he left."),
            vec![
                "圆周率是3.14哦。",
                "这个只要¥9.9！",
                "Mr. Smith met Dr. Who, e.g. at 5 p.m. today.",
                "Then he left."
            ]
        );
        assert_eq!(
            split("1. 先关注主播\n2. 再点赞。The U.S. team won. J. K. Rowling wrote it."),
            vec![
                "1. 先关注主播",
                "2. 再点赞。",
                "The U.S. team won.",
                "J. K. Rowling wrote it."
            ]
        );
    }

    #[test]
    fn latin_ends_and_ellipses() {
        assert_eq!(
            split("Hello there! How are you? I am fine. Well... maybe not. Hmm...ok then."),
            vec![
                "Hello there!",
                "How are you?",
                "I am fine.",
                "Well...",
                "maybe not.",
                "Hmm...ok then."
            ]
        );
    }

    #[test]
    fn short_fragments_merge_with_the_next() {
        assert_eq!(
            split("嗯。好！今天天气真好。"),
            vec!["嗯。好！今天天气真好。"]
        );
        assert_eq!(
            split("Oh! Hi. Nice to meet you."),
            vec!["Oh! Hi.", "Nice to meet you."]
        );
        // A short tail is still flushed by finish().
        assert_eq!(split("今天天气真好。嗯"), vec!["今天天气真好。", "嗯"]);
    }

    #[test]
    fn long_runs_are_cut_at_the_last_comma() {
        let long = "今天我们来聊一聊大家最喜欢的甜点，有草莓蛋糕、巧克力慕斯、抹茶千层还有芒果班戟，你们最喜欢哪一个呢";
        let out = split(long);
        assert!(out.len() >= 2, "{out:?}");
        assert!(out[0].ends_with('，') || out[0].ends_with('、'), "{out:?}");
        for s in &out {
            assert!(
                s.chars().filter(|c| c.is_alphanumeric()).count() <= 72,
                "{s}"
            );
        }
        assert_eq!(out.concat(), long);
        // No comma at all: hard cut past twice the limit.
        let run: String = std::iter::repeat_n('啊', 100).collect();
        let out = split(&run);
        assert!(out.iter().all(|s| s.chars().count() <= 73), "{out:?}");
        assert_eq!(out.concat(), run);
    }

    #[test]
    fn first_sentence_comes_out_before_the_reply_ends() {
        let mut s = SentenceSplitter::new(3, 36);
        assert!(s.push("谢谢你的").is_empty());
        assert!(
            s.push("礼物！").is_empty(),
            "waits one delta to see closers"
        );
        assert_eq!(s.push("我会"), vec!["谢谢你的礼物！"]);
        assert!(s.push("继续加油的").is_empty());
        assert_eq!(s.finish(), vec!["我会继续加油的"]);
    }

    #[test]
    fn dot_at_the_end_of_a_delta_waits_for_the_next() {
        let mut s = SentenceSplitter::new(3, 36);
        assert!(s.push("价格是9.").is_empty());
        assert!(s.push("9元。").is_empty());
        assert_eq!(s.push("好"), vec!["价格是9.9元。"]);
    }

    #[test]
    fn whitespace_and_newlines_only() {
        assert!(split("\n\n  \n").is_empty());
        assert_eq!(
            split("\n第一行内容\n\n第二行内容\n"),
            vec!["第一行内容", "第二行内容"]
        );
    }

    fn no_ws(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Text made of the characters the rules care about.
    fn reply_text() -> impl Strategy<Value = String> {
        let atoms = prop::sample::select(vec![
            "你", "好", "呀", "。", "！", "？", "；", "…", "，", "、", "”", "」", "~", ".", "!",
            "?", ",", " ", "\n", "\r\n", "3", "14", "¥", "Mr", "Dr", "e.g", "U.S", "a", "Hi", "J",
            "1", "ok", "\"", ")", "：", "喔", "🎉",
        ]);
        prop::collection::vec(atoms, 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any chunking gives the same sentences, and the sentences are the input minus
        /// whitespace at sentence edges.
        #[test]
        fn chunking_never_changes_the_sentences(
            text in reply_text(),
            chunks in prop::collection::vec(1usize..6, 0..100),
        ) {
            let whole = split(&text);
            let chunked = split_chunks(&text, &chunks);
            prop_assert_eq!(&chunked, &whole);
            prop_assert_eq!(no_ws(&whole.concat()), no_ws(&text));
            for s in &whole {
                prop_assert!(!s.is_empty());
                prop_assert_eq!(s.trim(), s.as_str());
            }
        }
    }
}
