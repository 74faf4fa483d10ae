//! The last rung of the retry ladder: a plainer text (seed 000: "降级参数集（简化文本等）").
//!
//! Engines stumble on what they cannot read — emoji, symbols, odd punctuation, mixed scripts,
//! long run-on sentences (GPT-SoVITS returns zeros or garbage on some of these). A short
//! sentence of plain characters is what every engine handles, and saying *something* short
//! in character beats dead air.

/// Punctuation that survives: it shapes prosody and every engine reads it.
const KEPT_PUNCTUATION: &str = "，。！？、；：,.!?;:";
/// Ends a sentence. A `.` only counts before whitespace or the end (not in `3.5`).
const SENTENCE_ENDS: &str = "。！？!?";

/// Keeps letters (CJK included), digits and basic punctuation, collapses whitespace, keeps
/// only the first sentence and at most `max_chars` characters.
pub fn simplify_text(text: &str, max_chars: usize) -> String {
    let mut kept = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || KEPT_PUNCTUATION.contains(c) {
            kept.push(c);
        } else if !kept.ends_with(' ') {
            kept.push(' ');
        }
    }
    let chars: Vec<char> = kept.trim().chars().collect();
    let mut end = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let at_end = SENTENCE_ENDS.contains(c)
            || (c == '.' && chars.get(i + 1).is_none_or(|n| n.is_whitespace()));
        // A sentence needs some words before its end mark.
        if at_end && chars[..i].iter().any(|c| c.is_alphanumeric()) {
            end = i + 1;
            break;
        }
    }
    let sentence: String = chars[..end].iter().take(max_chars).collect();
    // Strip leading punctuation a filtered emoji left behind ("🎉！谢谢" → "谢谢").
    let sentence = sentence.trim_start_matches(|c: char| !c.is_alphanumeric());
    if sentence.chars().any(char::is_alphanumeric) {
        sentence.trim().to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_plain_sentence() {
        assert_eq!(
            simplify_text("🎉感谢【小明】送的嘉年华！！老板大气~~下次再来", 40),
            "感谢 小明 送的嘉年华！"
        );
        assert_eq!(simplify_text("价格是3.5元。很便宜", 40), "价格是3.5元。");
        assert_eq!(simplify_text("Thanks, Tom. See you", 40), "Thanks, Tom.");
        assert_eq!(simplify_text("一二三四五六七八九十", 4), "一二三四");
        assert_eq!(simplify_text("🎉！！", 40), "");
        assert_eq!(simplify_text("！谢谢", 40), "谢谢");
    }
}
