//! `[lines]`: the templates for follows, shares, welcomes, idle talk, generic replies,
//! deflections, and the keyword reply rules.

use serde::Deserialize;
use toml::Spanned;

use crate::template::lines;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinesConfig {
    pub follow: Vec<Spanned<String>>,
    pub share: Vec<Spanned<String>>,
    pub welcome: Vec<Spanned<String>>,
    pub idle: Vec<Spanned<String>>,
    pub default_reply: Vec<Spanned<String>>,
    /// Said instead of any reply to a comment the safety screen flags as political: a neutral
    /// deflection, never agreement (see `script.rs`).
    pub deflect: Vec<Spanned<String>>,
    pub reply: Vec<ReplyRule>,
}

/// Comments containing any keyword get one of `say`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    pub keywords: Vec<String>,
    pub say: Vec<Spanned<String>>,
}

impl Default for LinesConfig {
    fn default() -> Self {
        Self {
            follow: lines(&["{谢谢|感谢}{user}的关注{~|！}"]),
            share: lines(&["谢谢{user}分享直播间！"]),
            welcome: lines(&["{欢迎|你好呀}{user}{~|！}"]),
            idle: lines(&["{大家|家人们}{有什么想聊的吗|可以在评论区跟我聊天哦}{~|！}"]),
            // Acknowledges without agreeing: the comment may be anything the screen missed.
            default_reply: lines(&["{谢谢|收到}{user}的{评论|留言}{~|！}"]),
            deflect: lines(&[
                "这个话题我们就不聊啦，{user}，{聊点开心的吧|说说今天过得怎么样}？",
                "{user}，我们换个话题吧{~|！}",
            ]),
            reply: Vec::new(),
        }
    }
}
