//! `like` patterns: literal runs and `*` wildcards, matched against whole
//! strings in time linear in the pattern and the text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PatternPart {
    /// Any run of characters, possibly empty.
    Wildcard,
    Literal(String),
}

pub type Pattern = Vec<PatternPart>;

/// Whether `text` matches `pattern` as a whole. Adjacent wildcards act as
/// one; with only `*` wildcards the leftmost match of each literal run is
/// always a correct choice, so no backtracking is needed.
pub fn matches(pattern: &[PatternPart], text: &str) -> bool {
    if pattern.is_empty() {
        return text.is_empty();
    }
    let mut pos = 0;
    let mut parts = pattern;
    if let Some((PatternPart::Literal(first), rest)) = parts.split_first() {
        if !text.starts_with(first.as_str()) {
            return false;
        }
        if rest.is_empty() {
            return text.len() == first.len();
        }
        pos = first.len();
        parts = rest;
    }
    let last = match parts.split_last() {
        Some((PatternPart::Literal(last), rest)) => {
            parts = rest;
            Some(last)
        }
        _ => None,
    };
    for part in parts {
        if let PatternPart::Literal(run) = part {
            match text[pos..].find(run.as_str()) {
                Some(at) => pos += at + run.len(),
                None => return false,
            }
        }
    }
    match last {
        Some(last) => text.len() - pos >= last.len() && text[pos..].ends_with(last.as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Pattern {
        let mut parts = Vec::new();
        for (i, piece) in text.split('*').enumerate() {
            if i > 0 && parts.last() != Some(&PatternPart::Wildcard) {
                parts.push(PatternPart::Wildcard);
            }
            if !piece.is_empty() {
                parts.push(PatternPart::Literal(piece.to_owned()));
            }
        }
        parts
    }

    #[test]
    fn globs() {
        let cases = [
            ("/search*", "/search?q=1", true),
            ("/search*", "/sear", false),
            ("*@example.com", "a@example.com", true),
            ("*@example.com", "a@example.com.evil", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("**a", "a", true),
        ];
        for (p, text, want) in cases {
            assert_eq!(matches(&pattern(p), text), want, "{p:?} like {text:?}");
        }
    }
}
