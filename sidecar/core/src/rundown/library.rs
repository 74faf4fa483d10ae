//! The script library: products and their 话术, parsed from a script file's text.
//!
//! A file holds `[[product]]` entries (facts: name, aliases, selling points, price,
//! promotion, stock, link, size, shipping; and per-segment `lines`), shared `[lines]` for
//! products without their own, `filler` lines, shared `[answers]` per question kind and extra
//! `[questions]` keywords. Every template is parsed at load with the rundown's placeholders,
//! and one that uses a fact its product leaves empty (`{stock}` without `stock`) is an error
//! there, with its line, rather than "还剩件" on air.

use serde::Deserialize;
use toml::Spanned;

use super::questions::{QuestionKeywords, QuestionKind, QuestionTable};
use crate::template::Template;

/// Placeholders of rundown lines: the product's facts, the persona and the room. `{user}`
/// (the asking viewer) only in answers; `{point}` is one selling point, the next each time.
pub const RUNDOWN_PLACEHOLDERS: &[&str] = &[
    "product",
    "price",
    "promotion",
    "stock",
    "points",
    "point",
    "link",
    "size",
    "shipping",
    "name",
    "online",
    "user",
];

/// The parts of a product's time, in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    /// 开场: the product is brought on.
    Opening,
    /// 讲解: what it is and why it is good.
    Explain,
    /// 逼单/催单: price, promotion, stock running out.
    Urge,
    /// 收尾: the last call before the next product.
    Closing,
    /// 垫场: follow/like/share prompts between the others (every `filler_every`-th line of
    /// the middle of a product's time); optional.
    Filler,
}

impl Segment {
    pub const ALL: [Segment; 5] = [
        Segment::Opening,
        Segment::Explain,
        Segment::Urge,
        Segment::Closing,
        Segment::Filler,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Segment::Opening => "opening",
            Segment::Explain => "explain",
            Segment::Urge => "urge",
            Segment::Closing => "closing",
            Segment::Filler => "filler",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A script file's error: where, which key, what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: key `{key}`: {message}")]
pub struct LibraryError {
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl LibraryError {
    pub(super) fn at(
        text: &str,
        span: std::ops::Range<usize>,
        key: String,
        message: String,
    ) -> Self {
        let before = &text[..span.start.min(text.len())];
        Self {
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            key,
            message,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct SegmentLines {
    pub opening: Vec<Spanned<String>>,
    pub explain: Vec<Spanned<String>>,
    pub urge: Vec<Spanned<String>>,
    pub closing: Vec<Spanned<String>>,
    pub filler: Vec<Spanned<String>>,
}

impl SegmentLines {
    fn of(&self, segment: Segment) -> &[Spanned<String>] {
        match segment {
            Segment::Opening => &self.opening,
            Segment::Explain => &self.explain,
            Segment::Urge => &self.urge,
            Segment::Closing => &self.closing,
            Segment::Filler => &self.filler,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AnswerLines {
    price: Vec<Spanned<String>>,
    size: Vec<Spanned<String>>,
    buy: Vec<Spanned<String>>,
    stock: Vec<Spanned<String>>,
    shipping: Vec<Spanned<String>>,
}

impl AnswerLines {
    fn of(&self, kind: QuestionKind) -> &[Spanned<String>] {
        match kind {
            QuestionKind::Price => &self.price,
            QuestionKind::Size => &self.size,
            QuestionKind::Buy => &self.buy,
            QuestionKind::Stock => &self.stock,
            QuestionKind::Shipping => &self.shipping,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductEntry {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    points: Vec<String>,
    price: String,
    #[serde(default)]
    promotion: String,
    #[serde(default)]
    stock: Option<u64>,
    #[serde(default)]
    link: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    shipping: String,
    #[serde(default)]
    lines: SegmentLines,
    #[serde(default)]
    answers: AnswerLines,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LibraryFile {
    product: Vec<ProductEntry>,
    lines: SegmentLines,
    answers: AnswerLines,
    questions: QuestionKeywords,
}

/// One product: its facts and its templates.
#[derive(Debug, Clone)]
pub struct Product {
    /// Short id used by drafts, cues and logs (`tea`).
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub points: Vec<String>,
    pub price: String,
    pub promotion: String,
    pub stock: Option<u64>,
    pub link: String,
    pub size: String,
    pub shipping: String,
    /// Templates per segment (the product's own, else the file's shared ones).
    pub(super) segments: [Vec<Template>; 5],
    /// Which segments came from the file's shared `[lines]` (shared drafts join those).
    pub(super) shared: [bool; 5],
    /// Templates per question kind, in [`QuestionKind::ALL`] order; empty = the defaults.
    pub(super) answers: [Vec<Template>; 5],
}

impl Product {
    /// Whether the product has the fact a placeholder reads.
    pub fn has(&self, placeholder: &str) -> bool {
        match placeholder {
            "promotion" => !self.promotion.is_empty(),
            "stock" => self.stock.is_some(),
            "points" | "point" => !self.points.is_empty(),
            "link" => !self.link.is_empty(),
            "size" => !self.size.is_empty(),
            "shipping" => !self.shipping.is_empty(),
            _ => true,
        }
    }

    /// The templates of one segment.
    pub fn lines(&self, segment: Segment) -> &[Template] {
        &self.segments[segment.index()]
    }

    pub(super) fn names(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.aliases.iter().cloned())
            .collect()
    }
}

/// Products in rundown order and the question table.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub(super) products: Vec<Product>,
    pub(super) questions: QuestionTable,
}

/// Parses one template: the syntax, the rundown's placeholders, `{user}` only where a viewer
/// asked, and every fact it reads present in each product that will say it.
fn template(
    text: &str,
    line: &Spanned<String>,
    key: String,
    with_user: bool,
    products: &[&Product],
) -> Result<Template, LibraryError> {
    let fail = |message: String| LibraryError::at(text, line.span(), key.clone(), message);
    let parsed = Template::parse_with_placeholders(line.get_ref(), RUNDOWN_PLACEHOLDERS)
        .map_err(|e| fail(e.to_string()))?;
    for name in parsed.placeholders() {
        if name == "user" && !with_user {
            return Err(fail(
                "{user} only in answers: no viewer is asking here".into(),
            ));
        }
        if let Some(product) = products.iter().find(|p| !p.has(&name)) {
            return Err(fail(format!(
                "uses {{{name}}} but product `{}` has no {name}",
                product.id
            )));
        }
    }
    Ok(parsed)
}

impl Library {
    /// Parses a script file's text; errors carry its line and column.
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        let file: LibraryFile = toml::from_str(text).map_err(|e| {
            LibraryError::at(
                text,
                e.span().unwrap_or(0..0),
                "(file)".into(),
                e.message().into(),
            )
        })?;
        let mut products: Vec<Product> = Vec::new();
        for (i, entry) in file.product.iter().enumerate() {
            let id = entry.id.get_ref().trim();
            let at = |message: &str| {
                LibraryError::at(
                    text,
                    entry.id.span(),
                    format!("product[{i}].id"),
                    message.into(),
                )
            };
            if id.is_empty() || entry.name.trim().is_empty() || entry.price.trim().is_empty() {
                return Err(at("a product needs an id, a name and a price"));
            }
            if products.iter().any(|p| p.id == id) {
                return Err(at("two products share this id"));
            }
            products.push(Product {
                id: id.to_string(),
                name: entry.name.trim().to_string(),
                aliases: entry.aliases.clone(),
                points: entry.points.clone(),
                price: entry.price.clone(),
                promotion: entry.promotion.clone(),
                stock: entry.stock,
                link: entry.link.clone(),
                size: entry.size.clone(),
                shipping: entry.shipping.clone(),
                segments: Default::default(),
                shared: [false; 5],
                answers: Default::default(),
            });
        }
        // Shared lines no product uses yet are still checked, so a typo shows before a new
        // product falls back on them.
        for segment in Segment::ALL {
            for (j, l) in file.lines.of(segment).iter().enumerate() {
                template(text, l, format!("lines.{}[{j}]", segment.key()), false, &[])?;
            }
        }
        for kind in QuestionKind::ALL {
            for (j, l) in file.answers.of(kind).iter().enumerate() {
                template(text, l, format!("answers.{}[{j}]", kind.key()), true, &[])?;
            }
        }
        for (i, entry) in file.product.iter().enumerate() {
            for segment in Segment::ALL {
                let (own, shared) = (entry.lines.of(segment), file.lines.of(segment));
                let (lines, prefix) = if own.is_empty() {
                    (shared, format!("lines.{}", segment.key()))
                } else {
                    (own, format!("product[{i}].lines.{}", segment.key()))
                };
                if lines.is_empty() && segment != Segment::Filler {
                    return Err(LibraryError::at(
                        text,
                        entry.id.span(),
                        format!("product[{i}].lines.{}", segment.key()),
                        "no lines for this segment, and [lines] has none either".into(),
                    ));
                }
                let parsed = lines
                    .iter()
                    .enumerate()
                    .map(|(j, l)| {
                        template(text, l, format!("{prefix}[{j}]"), false, &[&products[i]])
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                products[i].segments[segment.index()] = parsed;
                products[i].shared[segment.index()] = own.is_empty();
            }
            for (k, kind) in QuestionKind::ALL.into_iter().enumerate() {
                let (own, shared) = (entry.answers.of(kind), file.answers.of(kind));
                let (lines, prefix) = if own.is_empty() {
                    (shared, format!("answers.{}", kind.key()))
                } else {
                    (own, format!("product[{i}].answers.{}", kind.key()))
                };
                products[i].answers[k] = lines
                    .iter()
                    .enumerate()
                    .map(|(j, l)| {
                        template(text, l, format!("{prefix}[{j}]"), true, &[&products[i]])
                    })
                    .collect::<Result<Vec<_>, _>>()?;
            }
        }
        let mut questions = QuestionTable::new();
        questions.add_all(&file.questions);
        Ok(Self {
            products,
            questions,
        })
    }

    /// Appends another file's products (in order); a product id used twice is refused.
    pub fn merge(&mut self, other: Library) -> Result<(), String> {
        if let Some(p) = other
            .products
            .iter()
            .find(|p| self.products.iter().any(|q| q.id == p.id))
        {
            return Err(format!("product id `{}` is used by two files", p.id));
        }
        self.products.extend(other.products);
        self.questions.merge(other.questions);
        Ok(())
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn questions(&self) -> &QuestionTable {
        &self.questions
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// The answer templates for a question about product `index`: its own or its file's,
    /// else the built-in ones whose facts it has.
    pub(super) fn answers(&self, index: usize, kind: QuestionKind) -> Vec<Template> {
        let product = &self.products[index];
        let k = QuestionKind::ALL
            .iter()
            .position(|q| *q == kind)
            .unwrap_or(0);
        if !product.answers[k].is_empty() {
            return product.answers[k].clone();
        }
        kind.default_answers()
            .iter()
            .filter_map(|s| Template::parse(s).ok())
            .filter(|t| t.placeholders().iter().all(|p| product.has(p)))
            .collect()
    }

    /// Adds a reviewed draft's template (see [`super::drafts`]); `product: None` joins the
    /// shared lines of every product of this file that uses them.
    pub(super) fn add_draft(
        &mut self,
        text: &str,
        product: Option<(&str, std::ops::Range<usize>)>,
        segment: Segment,
        line: &Spanned<String>,
        key: String,
    ) -> Result<(), LibraryError> {
        let targets: Vec<usize> = match product {
            Some((id, span)) => match self.products.iter().position(|p| p.id == id) {
                Some(i) => vec![i],
                None => {
                    let message = format!("no product `{id}` in the script file");
                    return Err(LibraryError::at(text, span, key, message));
                }
            },
            None => (0..self.products.len())
                .filter(|&i| self.products[i].shared[segment.index()])
                .collect(),
        };
        let said_by: Vec<&Product> = targets.iter().map(|&i| &self.products[i]).collect();
        let parsed = template(text, line, key, false, &said_by)?;
        for i in targets {
            self.products[i].segments[segment.index()].push(parsed.clone());
        }
        Ok(())
    }
}
