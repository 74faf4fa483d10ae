//! Variant templates: `感谢{user}的{gift}，{太|超级}{开心|感动}了！`
//!
//! Syntax (seed 000):
//! * `{a|b|c}` picks one option at random; options are templates themselves, so variants nest:
//!   `{谢谢{老板|家人}|感谢}`.
//! * `{name}` (an ASCII identifier, no `|`) is a placeholder filled at render time.
//! * `{{` and `}}` are literal braces.
//! * A variant must not span a paragraph break (a newline): that is almost always a missing
//!   `}` and would make the avatar read a whole paragraph as one option.
//!
//! Templates are parsed once when the config loads, so a typo is reported at start with its
//! byte position rather than aired as garbage.

use rand::Rng;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Placeholder(String),
    Choice(Vec<Vec<Node>>),
}

/// A parsed variant template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed '{{' opened at byte {0}")]
    Unclosed(usize),
    #[error("unmatched '}}' at byte {0} (write '}}}}' for a literal brace)")]
    UnmatchedClose(usize),
    #[error("variant opened at byte {0} spans a line break; close it with '}}' first")]
    LineBreakInVariant(usize),
    #[error("empty placeholder or variant at byte {0}")]
    Empty(usize),
    #[error("unknown placeholder {{{name}}}; known: {known}")]
    UnknownPlaceholder { name: String, known: String },
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parser = Parser {
            chars: source.char_indices().peekable(),
        };
        let nodes = parser.sequence(None)?;
        Ok(Self {
            source: source.to_string(),
            nodes,
        })
    }

    /// Like [`Template::parse`], and also rejects placeholders not in `known`.
    pub fn parse_with_placeholders(source: &str, known: &[&str]) -> Result<Self, TemplateError> {
        let template = Self::parse(source)?;
        for name in template.placeholders() {
            if !known.contains(&name.as_str()) {
                return Err(TemplateError::UnknownPlaceholder {
                    name,
                    known: known.join(", "),
                });
            }
        }
        Ok(template)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every placeholder name used anywhere in the template.
    pub fn placeholders(&self) -> Vec<String> {
        fn walk(nodes: &[Node], out: &mut Vec<String>) {
            for node in nodes {
                match node {
                    Node::Placeholder(name) if !out.contains(name) => out.push(name.clone()),
                    Node::Choice(options) => options.iter().for_each(|o| walk(o, out)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// How many distinct lines this template can produce (saturating).
    pub fn variant_count(&self) -> u64 {
        fn count(nodes: &[Node]) -> u64 {
            nodes.iter().fold(1u64, |acc, node| match node {
                Node::Choice(options) => acc.saturating_mul(
                    options
                        .iter()
                        .map(|o| count(o))
                        .fold(0, u64::saturating_add),
                ),
                _ => acc,
            })
        }
        count(&self.nodes)
    }

    /// Every variant (up to `limit`), placeholders left as `{name}`: what the audio cache
    /// pre-warms from (the parts of a line that do not depend on the viewer).
    pub fn expand_all(&self, limit: usize) -> Vec<String> {
        fn expand(nodes: &[Node], limit: usize) -> Vec<String> {
            let mut acc = vec![String::new()];
            for node in nodes {
                let options: Vec<String> = match node {
                    Node::Text(text) => vec![text.clone()],
                    Node::Placeholder(name) => vec![format!("{{{name}}}")],
                    Node::Choice(choices) => {
                        choices.iter().flat_map(|c| expand(c, limit)).collect()
                    }
                };
                acc = acc
                    .iter()
                    .flat_map(|prefix| options.iter().map(move |o| format!("{prefix}{o}")))
                    .take(limit)
                    .collect();
            }
            acc
        }
        expand(&self.nodes, limit.max(1))
    }

    /// Renders one variant; `vars` supplies placeholder values (missing ones render empty).
    pub fn render<R: Rng + ?Sized>(
        &self,
        vars: &dyn Fn(&str) -> Option<String>,
        rng: &mut R,
    ) -> String {
        let mut out = String::new();
        render_into(&self.nodes, vars, rng, &mut out);
        out
    }
}

fn render_into<R: Rng + ?Sized>(
    nodes: &[Node],
    vars: &dyn Fn(&str) -> Option<String>,
    rng: &mut R,
    out: &mut String,
) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Placeholder(name) => out.push_str(&vars(name).unwrap_or_default()),
            Node::Choice(options) => {
                let pick = rng.random_range(0..options.len());
                render_into(&options[pick], vars, rng, out);
            }
        }
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
}

impl Parser<'_> {
    /// Parses until end of input (top level) or until the `|`/`}` that ends an option.
    /// `open` is the byte offset of the enclosing `{`, if any.
    fn sequence(&mut self, open: Option<usize>) -> Result<Vec<Node>, TemplateError> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while let Some(&(pos, c)) = self.chars.peek() {
            match c {
                '{' => {
                    self.chars.next();
                    if matches!(self.chars.peek(), Some((_, '{'))) {
                        self.chars.next();
                        text.push('{');
                        continue;
                    }
                    flush(&mut text, &mut nodes);
                    nodes.push(self.group(pos)?);
                }
                '}' if open.is_none() => {
                    self.chars.next();
                    if matches!(self.chars.peek(), Some((_, '}'))) {
                        self.chars.next();
                        text.push('}');
                        continue;
                    }
                    return Err(TemplateError::UnmatchedClose(pos));
                }
                '}' | '|' if open.is_some() => break,
                '\n' if open.is_some() => {
                    return Err(TemplateError::LineBreakInVariant(open.unwrap_or(pos)))
                }
                _ => {
                    self.chars.next();
                    text.push(c);
                }
            }
        }
        flush(&mut text, &mut nodes);
        Ok(nodes)
    }

    /// Parses a `{...}` group whose `{` (at byte `open`) was consumed.
    fn group(&mut self, open: usize) -> Result<Node, TemplateError> {
        let mut options = Vec::new();
        loop {
            options.push(self.sequence(Some(open))?);
            match self.chars.next() {
                Some((_, '|')) => continue,
                Some((_, '}')) => break,
                _ => return Err(TemplateError::Unclosed(open)),
            }
        }
        if options.len() == 1 {
            return match options.pop().unwrap_or_default().as_slice() {
                [Node::Text(name)] if is_identifier(name) => Ok(Node::Placeholder(name.clone())),
                [] => Err(TemplateError::Empty(open)),
                // `{plain text}` is a one-option variant: keep its content.
                other => Ok(Node::Choice(vec![other.to_vec()])),
            };
        }
        Ok(Node::Choice(options))
    }
}

fn flush(text: &mut String, nodes: &mut Vec<Node>) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text)));
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Placeholders every line template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "user", "gift", "count", "value", "name", "text", "online", "caption", "names", "platform",
];

/// Default line templates as config values (a default has no position in any file).
pub fn lines(items: &[&str]) -> Vec<toml::Spanned<String>> {
    items
        .iter()
        .map(|s| toml::Spanned::new(0..0, s.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_expanded_with_placeholders_kept() {
        let t = Template::parse("{谢谢|感谢{老板|家人}}{user}！").unwrap();
        assert_eq!(
            t.expand_all(10),
            ["谢谢{user}！", "感谢老板{user}！", "感谢家人{user}！"]
        );
        assert_eq!(t.expand_all(2).len(), 2);
    }
    use rand::{rngs::StdRng, SeedableRng};
    use std::collections::HashSet;

    fn all_renders(t: &Template) -> HashSet<String> {
        let vars = |name: &str| Some(format!("<{name}>"));
        let mut rng = StdRng::seed_from_u64(7);
        (0..500).map(|_| t.render(&vars, &mut rng)).collect()
    }

    #[test]
    fn variants_pick_every_option() {
        let t = Template::parse("{你好|嗨}呀").unwrap();
        assert_eq!(
            all_renders(&t),
            HashSet::from(["你好呀".into(), "嗨呀".into()])
        );
        assert_eq!(t.variant_count(), 2);
    }

    #[test]
    fn variants_nest() {
        let t = Template::parse("{谢谢{老板|家人}|感谢}!").unwrap();
        let expected: HashSet<String> =
            ["谢谢老板!", "谢谢家人!", "感谢!"].map(String::from).into();
        assert_eq!(all_renders(&t), expected);
        assert_eq!(t.variant_count(), 3);
    }

    #[test]
    fn placeholders_are_filled_inside_variants_too() {
        let t = Template::parse("感谢{user}的{gift}×{count}{！|~}").unwrap();
        assert_eq!(t.placeholders(), vec!["user", "gift", "count"]);
        assert!(all_renders(&t).contains("感谢<user>的<gift>×<count>~"));
    }

    #[test]
    fn literal_braces_and_one_option_groups() {
        let t = Template::parse("{{x}} {就这样}").unwrap();
        assert_eq!(all_renders(&t), HashSet::from(["{x} 就这样".to_string()]));
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(Template::parse("ab{c|d"), Err(TemplateError::Unclosed(2)));
        assert_eq!(
            Template::parse("ab}"),
            Err(TemplateError::UnmatchedClose(2))
        );
        assert_eq!(
            Template::parse("{a|\nb}"),
            Err(TemplateError::LineBreakInVariant(0))
        );
        assert_eq!(Template::parse("x{}"), Err(TemplateError::Empty(1)));
    }

    #[test]
    fn unknown_placeholders_are_rejected_at_load() {
        let err = Template::parse_with_placeholders("hi {usr}", &["user"]).unwrap_err();
        assert!(err.to_string().contains("{usr}"), "{err}");
    }
}
