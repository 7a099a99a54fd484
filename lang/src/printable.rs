//! Text safe to print for people: policy and bundle text may hold control
//! characters (ESC, BEL, CR, …) and bidirectional overrides that a terminal
//! would obey, recolouring or rewriting what the user sees. Every human
//! output escapes them the same way, as `\u{1b}` (the form `{:?}` uses), so
//! they are visible and harmless. JSON output needs none of this: its
//! encoder escapes control characters itself.

use std::borrow::Cow;

/// Whether `c` would act on a terminal or reorder text instead of showing
/// as itself: the C0 and C1 controls and DEL, the bidirectional marks,
/// embeddings, overrides and isolates (the "Trojan Source" characters), and
/// the Unicode line and paragraph separators. Tab and line feed are not
/// included; [`printable`] and [`printable_line`] decide about those.
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `text` with every unsafe character escaped, keeping tabs and line
/// feeds: for text of several lines (help, a test failure, a listing).
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\t' || c == '\n')
}

/// `text` with every unsafe character escaped, line feeds too: for text
/// that must stay on one line (a name, a one-line diagnostic).
pub fn printable_line(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\t')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let needs = |c: char| is_unsafe(c) && !keep(c);
    let Some(first) = text.find(needs) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if needs(c) {
            // `\u{…}` in lower-case hex, as `{:?}` writes it.
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed() {
        assert!(matches!(
            printable("permit read;\n\tok é 名"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            printable_line("User::\"alice\""),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped_like_debug() {
        let hostile = "a\u{1b}[31mb\u{7}c\rd\u{9b}e\u{202e}f\u{2066}g\u{7f}h\u{2028}i\0";
        assert_eq!(
            printable(hostile),
            r"a\u{1b}[31mb\u{7}c\u{d}d\u{9b}e\u{202e}f\u{2066}g\u{7f}h\u{2028}i\u{0}"
        );
        // The same characters `{:?}` escapes (it writes `\r` and `\0` short).
        let debug = format!("{hostile:?}");
        assert!(debug.contains(r"\u{1b}") && debug.contains(r"\u{202e}"));
    }

    #[test]
    fn line_feeds_are_kept_or_escaped_by_purpose() {
        assert_eq!(printable("one\ntwo\tthree"), "one\ntwo\tthree");
        assert_eq!(printable_line("one\ntwo\tthree"), r"one\u{a}two	three");
    }

    #[test]
    fn escaped_text_is_safe() {
        for c in [
            '\u{0}', '\u{1b}', '\u{85}', '\u{202e}', '\u{2069}', '\u{61c}',
        ] {
            let text = format!("x{c}y");
            assert!(!printable_line(&text).chars().any(is_unsafe), "{c:?}");
        }
    }
}
