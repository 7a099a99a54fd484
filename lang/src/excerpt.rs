//! Bounded quoting of user input in messages: an error that quotes what it
//! refuses must not grow with it, or a 10 MB attribute name becomes a 10 MB
//! error in a terminal, a log line or a server's response.

use std::borrow::Cow;

/// Longest text quoted whole, in bytes.
const MAX_QUOTED: usize = 80;
/// How much of a longer text is quoted, in bytes (then cut back to a
/// character boundary).
const HEAD: usize = 60;

/// `text` if it is short; otherwise its start, an ellipsis and its length.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_QUOTED {
        return Cow::Borrowed(text);
    }
    let mut end = HEAD;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(excerpt("read"), "read");
        let exactly = "x".repeat(MAX_QUOTED);
        assert_eq!(excerpt(&exactly), exactly.as_str());
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(
            excerpt(&"x".repeat(10 << 20)),
            format!("{}… (10485760 bytes)", "x".repeat(HEAD))
        );
        // 'é' is two bytes, so after one ASCII byte, byte 60 falls inside one.
        let text = format!("a{}", "é".repeat(100));
        let shown = excerpt(&text);
        assert!(
            shown.starts_with(&format!("a{}…", "é".repeat(29))),
            "{shown}"
        );
        assert!(shown.ends_with("(201 bytes)"));
    }
}
