//! Where a key is in the config text, for errors found after deserialising (range checks,
//! semantic checks), which serde no longer knows the position of.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The span of the value at `key` (`a.b.c`, with `[i]` for array items), if the text sets it.
/// A key left at its default has no span.
pub(super) fn key_span(text: &str, key: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (segment, None),
        };
        let (_, mut value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                return None;
            };
            value = items.get(i)?;
        }
        if segments.peek().is_none() {
            return Some(value.span());
        }
        let DeValue::Table(next) = value.get_ref() else {
            return None;
        };
        table = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_array_items() {
        let text = "[obs]\nport = 1\n\n[source.douyin]\nroom = \"r\"\n[gifts]\ntier_max_yuan = [1, 2, 3]\n";
        let at = |key| key_span(text, key).map(|s| &text[s]);
        assert_eq!(at("obs.port"), Some("1"));
        assert_eq!(at("source.douyin.room"), Some("\"r\""));
        assert_eq!(at("gifts.tier_max_yuan[2]"), Some("3"));
        assert_eq!(at("gifts.tier_max_yuan[3]"), None);
        assert_eq!(at("obs.password"), None);
        assert_eq!(at("obs.port.x"), None);
    }
}
