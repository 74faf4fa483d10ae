//! The emotion of a reply → avatar expression, motion and TTS prosody (seed 002).
//!
//! The model is asked to open its reply with a tag from a fixed list (`[happy]`); models also
//! write `【开心】`, put a tag before a later sentence, or forget it. So: a leading tag wins
//! (stripped from what is spoken, in any of the accepted spellings), and without one the
//! seed's keyword lists decide. Tags are never read aloud: a known tag anywhere in a sentence is
//! removed ([`strip_tags`]).
//!
//! Expression and motion names are the avatar protocol's vocabulary (the OBS plugin and the
//! Live2D bridge know `neutral/happy/surprised/sad/angry` and `bounce/nod/shake/wave`), so every
//! emotion lands on something the avatar can show. Shy has no face of its own there; it borrows
//! `happy` without a motion (a quiet smile) and is told apart by its voice.

use aivs_core::cue::Prosody;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Emotion {
    #[default]
    Neutral,
    Happy,
    Excited,
    Shy,
    Sad,
    Surprised,
}

/// Longest leading tag looked for, in characters (`[surprised]` is 11).
const MAX_TAG_CHARS: usize = 16;

impl Emotion {
    pub const ALL: [Emotion; 6] = [
        Emotion::Neutral,
        Emotion::Happy,
        Emotion::Excited,
        Emotion::Shy,
        Emotion::Sad,
        Emotion::Surprised,
    ];

    /// The tag name the prompt asks for (`happy` → `[happy]`).
    pub fn tag(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
            Emotion::Excited => "excited",
            Emotion::Shy => "shy",
            Emotion::Sad => "sad",
            Emotion::Surprised => "surprised",
        }
    }

    /// A tag's name in English or Chinese, as models write it.
    pub fn from_tag(name: &str) -> Option<Self> {
        let name = name.trim().to_lowercase();
        Some(match name.as_str() {
            "neutral" | "calm" | "normal" | "平静" | "中性" | "普通" | "淡定" => {
                Emotion::Neutral
            }
            "happy" | "joy" | "smile" | "开心" | "高兴" | "快乐" | "微笑" => Emotion::Happy,
            "excited" | "excitement" | "兴奋" | "激动" => Emotion::Excited,
            "shy" | "blush" | "害羞" | "羞涩" | "腼腆" => Emotion::Shy,
            "sad" | "upset" | "难过" | "伤心" | "委屈" => Emotion::Sad,
            "surprised" | "surprise" | "惊讶" | "吃惊" | "震惊" => Emotion::Surprised,
            _ => return None,
        })
    }

    /// Seed 002's keyword rules (excited before happy before shy), plus sad and surprised.
    pub fn from_keywords(text: &str) -> Option<Self> {
        const RULES: &[(Emotion, &[&str])] = &[
            (
                Emotion::Excited,
                &["哇", "天哪", "太棒了", "太厉害了", "amazing", "wow"],
            ),
            (
                Emotion::Surprised,
                &["真的吗", "竟然", "居然", "没想到", "不会吧", "what?"],
            ),
            (
                Emotion::Sad,
                &["难过", "伤心", "呜呜", "遗憾", "可惜", "心疼"],
            ),
            (
                Emotion::Happy,
                &[
                    "开心",
                    "高兴",
                    "谢谢",
                    "感谢",
                    "喜欢",
                    "爱",
                    "好棒",
                    "太好了",
                ],
            ),
            (Emotion::Shy, &["害羞", "不好意思", "嘿嘿", "嘻嘻"]),
        ];
        let lower = text.to_lowercase();
        RULES
            .iter()
            .find(|(_, words)| words.iter().any(|w| lower.contains(w)))
            .map(|(e, _)| *e)
    }

    /// Expression name on the avatar link.
    pub fn expression(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy | Emotion::Excited | Emotion::Shy => "happy",
            Emotion::Sad => "sad",
            Emotion::Surprised => "surprised",
        }
    }

    /// One-shot motion on the avatar link, if the emotion has one.
    pub fn motion(self) -> Option<&'static str> {
        match self {
            Emotion::Happy => Some("nod"),
            Emotion::Excited | Emotion::Surprised => Some("bounce"),
            Emotion::Neutral | Emotion::Shy | Emotion::Sad => None,
        }
    }

    /// Seed 002's voice settings: excited faster and higher, shy slower and a little higher,
    /// sad slower and lower.
    pub fn prosody(self) -> Prosody {
        let (rate, pitch_semitones) = match self {
            Emotion::Neutral => (1.0, 0.0),
            Emotion::Happy => (1.05, 1.0),
            Emotion::Excited => (1.15, 2.0),
            Emotion::Shy => (0.9, 1.0),
            Emotion::Sad => (0.9, -1.0),
            Emotion::Surprised => (1.1, 2.0),
        };
        Prosody {
            rate,
            pitch_semitones,
        }
    }
}

fn opener(c: char) -> Option<char> {
    match c {
        '[' => Some(']'),
        '【' => Some('】'),
        '［' => Some('］'),
        _ => None,
    }
}

/// Removes every known emotion tag (`[happy]`, `【开心】`, `［shy］`) from `text`; returns the
/// first tag's emotion. Brackets around anything else are content and stay.
pub fn strip_tags(text: &str) -> (Option<Emotion>, String) {
    let mut out = String::with_capacity(text.len());
    let mut first = None;
    let mut rest = text;
    while let Some((start, c)) = rest.char_indices().find(|&(_, c)| opener(c).is_some()) {
        let close = opener(c).unwrap_or(']');
        let after = &rest[start + c.len_utf8()..];
        let tag = after
            .find(close)
            .filter(|&end| after[..end].chars().count() <= MAX_TAG_CHARS)
            .and_then(|end| Emotion::from_tag(&after[..end]).map(|e| (e, end)));
        match tag {
            Some((emotion, end)) => {
                out.push_str(&rest[..start]);
                first.get_or_insert(emotion);
                rest = &after[end + close.len_utf8()..];
            }
            None => {
                out.push_str(&rest[..start + c.len_utf8()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (first, out)
}

/// Reads the reply's leading tag off the token stream. Deltas pass through [`LeadingTag::push`];
/// until the opening of the reply shows whether it is a tag, they are held back (at most
/// [`MAX_TAG_CHARS`] characters), then released without the tag.
#[derive(Debug, Default)]
pub struct LeadingTag {
    held: String,
    decided: bool,
    /// Still dropping the whitespace between a tag and the text (`[happy] 你好`).
    trimming: bool,
    emotion: Option<Emotion>,
}

impl LeadingTag {
    pub fn new() -> Self {
        Self::default()
    }

    /// The leading tag's emotion, once decided (`None`: no or unknown tag).
    pub fn emotion(&self) -> Option<Emotion> {
        self.emotion
    }

    /// Returns the text to pass on (possibly empty while undecided).
    pub fn push(&mut self, delta: &str) -> String {
        if self.decided {
            if self.trimming {
                let text = delta.trim_start();
                self.trimming = text.is_empty();
                return text.to_string();
            }
            return delta.to_string();
        }
        self.held.push_str(delta);
        let body = self.held.trim_start();
        let Some(first) = body.chars().next() else {
            return String::new();
        };
        let Some(close) = opener(first) else {
            return self.release(None, 0);
        };
        let inner = &body[first.len_utf8()..];
        match inner.find(close) {
            Some(end) if inner[..end].chars().count() <= MAX_TAG_CHARS => {
                let tag = &inner[..end];
                let skip = self.held.len() - body.len() + first.len_utf8() + end + close.len_utf8();
                match Emotion::from_tag(tag) {
                    Some(emotion) => self.release(Some(emotion), skip),
                    // `[开场白]`: a bracketed opening that is no emotion is content.
                    None => self.release(None, 0),
                }
            }
            Some(_) => self.release(None, 0),
            None if inner.chars().count() > MAX_TAG_CHARS => self.release(None, 0),
            None => String::new(),
        }
    }

    /// End of the reply: releases anything still held.
    pub fn finish(&mut self) -> String {
        if self.decided {
            String::new()
        } else {
            self.release(None, 0)
        }
    }

    fn release(&mut self, emotion: Option<Emotion>, skip: usize) -> String {
        self.decided = true;
        self.emotion = emotion;
        let held = std::mem::take(&mut self.held);
        let text = held[skip..].trim_start().to_string();
        self.trimming = text.is_empty();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(deltas: &[&str]) -> (Option<Emotion>, String) {
        let mut tag = LeadingTag::new();
        let mut out = String::new();
        for d in deltas {
            out.push_str(&tag.push(d));
        }
        out.push_str(&tag.finish());
        (tag.emotion(), out)
    }

    #[test]
    fn leading_tags_in_any_spelling_and_split_across_deltas() {
        assert_eq!(
            read(&["[", "hap", "py]", " 谢谢", "你！"]),
            (Some(Emotion::Happy), "谢谢你！".into())
        );
        assert_eq!(
            read(&["【开心】今天好开心"]),
            (Some(Emotion::Happy), "今天好开心".into())
        );
        assert_eq!(
            read(&["  ［Excited］", "哇！"]),
            (Some(Emotion::Excited), "哇！".into())
        );
        assert_eq!(read(&["[shy]"]), (Some(Emotion::Shy), String::new()));
    }

    #[test]
    fn missing_unknown_or_unclosed_tags_pass_the_text_through() {
        assert_eq!(read(&["你好", "呀"]), (None, "你好呀".into()));
        assert_eq!(read(&["[开场白]大家好"]), (None, "[开场白]大家好".into()));
        assert_eq!(
            read(&["[这不是一个标签而是很长的一段话没有右括号"]),
            (None, "[这不是一个标签而是很长的一段话没有右括号".into())
        );
        assert_eq!(read(&["[hap"]), (None, "[hap".into()));
    }

    #[test]
    fn tags_inside_text_are_stripped_and_content_brackets_kept() {
        assert_eq!(
            strip_tags("好的[shy]嘿嘿【难过】[链接]"),
            (Some(Emotion::Shy), "好的嘿嘿[链接]".into())
        );
        assert_eq!(strip_tags("没有标签"), (None, "没有标签".into()));
    }

    #[test]
    fn keywords_follow_the_seed_order() {
        assert_eq!(
            Emotion::from_keywords("哇，谢谢你！"),
            Some(Emotion::Excited)
        );
        assert_eq!(Emotion::from_keywords("谢谢你的礼物"), Some(Emotion::Happy));
        assert_eq!(Emotion::from_keywords("嘿嘿，被夸了"), Some(Emotion::Shy));
        assert_eq!(Emotion::from_keywords("好难过呀"), Some(Emotion::Sad));
        assert_eq!(Emotion::from_keywords("真的吗"), Some(Emotion::Surprised));
        assert_eq!(Emotion::from_keywords("WOW"), Some(Emotion::Excited));
        assert_eq!(Emotion::from_keywords("今天星期三"), None);
    }

    #[test]
    fn every_emotion_maps_into_the_avatar_vocabulary_and_round_trips_its_tag() {
        for e in Emotion::ALL {
            assert!(["neutral", "happy", "surprised", "sad", "angry"].contains(&e.expression()));
            assert!(e
                .motion()
                .is_none_or(|m| ["bounce", "nod", "shake", "wave"].contains(&m)));
            assert_eq!(Emotion::from_tag(e.tag()), Some(e));
            let p = e.prosody();
            assert!((0.8..=1.2).contains(&p.rate) && p.pitch_semitones.abs() <= 2.0);
        }
        assert_eq!(Emotion::Excited.prosody().rate, 1.15);
        assert_eq!(Emotion::Shy.prosody().rate, 0.9);
        assert_eq!(Emotion::Sad.prosody().pitch_semitones, -1.0);
    }
}
