//! A JSON pull reader over request text: objects key by key, arrays item by
//! item, strings, numbers and literals, with no tree and no allocation
//! except for a string holding escapes. It accepts only what RFC 8259 and
//! serde_json both accept (serde_json's nesting limit included); anything
//! else is [`Declined`], without a message: the caller then asks the
//! precise decoder, which names the field.

use std::borrow::Cow;

/// The fast path does not take this input; the precise decoder decides
/// whether it is valid and, if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declined;

pub(crate) type Res<T> = Result<T, Declined>;

/// serde_json refuses values nested deeper than this.
const MAX_DEPTH: usize = 128;

/// The bytes that end a string's plain run: the closing quote, a
/// backslash, and control characters (which JSON refuses unescaped).
static ENDS_PLAIN_RUN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The length of the plain run `bytes` starts with: up to the first quote,
/// backslash or control character. Eight bytes at a time: in each word, the
/// lowest byte a test marks is a true match (the tests' false positives
/// only ever sit above a true one), so the lowest marked byte of all three
/// is the first that ends the run.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let marked = zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if marked != 0 {
            return Some(at + (marked.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let tail = rest.iter().position(|&b| ENDS_PLAIN_RUN[usize::from(b)])?;
    Some(at + tail)
}

pub(crate) struct Reader<'t> {
    text: &'t str,
    pos: usize,
}

/// Where the reader is inside an object or array: whether a comma must
/// come before the next member.
#[derive(Default)]
pub(crate) struct Members {
    started: bool,
}

impl<'t> Reader<'t> {
    pub fn new(text: &'t str) -> Self {
        Reader { text, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to `pos`, a position this reader reported before.
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The next byte that is not whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.byte() {
            self.pos += 1;
        }
        self.byte()
    }

    fn eat(&mut self, byte: u8) -> Res<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Res<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Declined),
        }
    }

    pub fn begin_object(&mut self) -> Res<()> {
        self.eat(b'{')
    }

    pub fn begin_array(&mut self) -> Res<()> {
        self.eat(b'[')
    }

    /// The next key of the object being read (its value follows), or `None`
    /// at the object's end.
    pub fn key(&mut self, members: &mut Members) -> Res<Option<Cow<'t, str>>> {
        if !self.next_member(members, b'}')? {
            return Ok(None);
        }
        let key = self.string()?;
        self.eat(b':')?;
        Ok(Some(key))
    }

    /// Whether another item of the array being read follows.
    pub fn item(&mut self, members: &mut Members) -> Res<bool> {
        self.next_member(members, b']')
    }

    fn next_member(&mut self, members: &mut Members, close: u8) -> Res<bool> {
        let next = self.peek();
        if next == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        if members.started {
            self.eat(b',')?;
        }
        members.started = true;
        Ok(true)
    }

    pub fn string(&mut self) -> Res<Cow<'t, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = self.text.as_bytes().get(start..).ok_or(Declined)?;
        let len = plain_run(rest).ok_or(Declined)?;
        self.pos = start + len;
        match rest.get(len) {
            Some(b'"') => {
                let text = self.text.get(start..self.pos).ok_or(Declined)?;
                self.pos += 1;
                Ok(Cow::Borrowed(text))
            }
            Some(b'\\') => self.escaped(start).map(Cow::Owned),
            _ => Err(Declined),
        }
    }

    /// The rest of a string that holds escapes; `start` is its first byte.
    fn escaped(&mut self, start: usize) -> Res<String> {
        let mut out = String::from(self.text.get(start..self.pos).ok_or(Declined)?);
        let mut run = self.pos;
        loop {
            match self.byte() {
                Some(b'"') => {
                    out.push_str(self.text.get(run..self.pos).ok_or(Declined)?);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.text.get(run..self.pos).ok_or(Declined)?);
                    self.pos += 1;
                    let escape = self.byte().ok_or(Declined)?;
                    self.pos += 1;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(Declined),
                    });
                    run = self.pos;
                }
                Some(0..0x20) | None => return Err(Declined),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// After `\u`: one code point, a surrogate pair taking two escapes.
    fn unicode_escape(&mut self) -> Res<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.text.as_bytes().get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(Declined);
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Declined);
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Declined),
            _ => first,
        };
        char::from_u32(code).ok_or(Declined)
    }

    fn hex4(&mut self) -> Res<u32> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or(Declined)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Declined);
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| Declined)
    }

    /// A number's text, checked against JSON's grammar.
    pub fn number(&mut self) -> Res<&'t str> {
        self.peek();
        let start = self.pos;
        if self.byte() == Some(b'-') {
            self.pos += 1;
        }
        match self.byte() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Declined),
        }
        if self.byte() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.byte() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.byte() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.text.get(start..self.pos).ok_or(Declined)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.byte() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Res<()> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(Declined)
        } else {
            Ok(())
        }
    }

    /// An integer as serde_json reads one into an `i64`: no fraction or
    /// exponent, within range, and not `-0` (which serde_json reads as a
    /// float).
    pub fn int(&mut self) -> Res<i64> {
        let text = self.number()?;
        if text == "-0" || text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(Declined);
        }
        text.parse().map_err(|_| Declined)
    }

    pub fn bool(&mut self) -> Res<bool> {
        for (word, value) in [("true", true), ("false", false)] {
            if self.literal(word) {
                return Ok(value);
            }
        }
        Err(Declined)
    }

    fn literal(&mut self, word: &str) -> bool {
        self.peek();
        let found = self
            .text
            .as_bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()));
        if found {
            self.pos += word.len();
        }
        found
    }

    /// Steps over one value of any kind, checking it is JSON.
    pub fn skip(&mut self) -> Res<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Res<()> {
        if depth >= MAX_DEPTH {
            return Err(Declined);
        }
        match self.peek().ok_or(Declined)? {
            b'{' => {
                self.pos += 1;
                let mut members = Members::default();
                while self.key(&mut members)?.is_some() {
                    self.skip_nested(depth + 1)?;
                }
                Ok(())
            }
            b'[' => {
                self.pos += 1;
                let mut members = Members::default();
                while self.item(&mut members)? {
                    self.skip_nested(depth + 1)?;
                }
                Ok(())
            }
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ if self.literal("true") || self.literal("false") || self.literal("null") => Ok(()),
            _ => Err(Declined),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    fn strings(text: &str) -> Res<String> {
        let mut reader = Reader::new(text);
        let s = reader.string()?.into_owned();
        reader.end()?;
        Ok(s)
    }

    #[test]
    fn strings_unescape_as_json_does() {
        assert_eq!(strings(r#""plain""#), Ok("plain".into()));
        assert_eq!(strings(r#""a\"b\\c\/\n\u00e9""#), Ok("a\"b\\c/\né".into()));
        assert_eq!(strings(r#""\ud83d\ude00""#), Ok("😀".into()));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\x""#,
            "\"a\u{1}\"",
            r#""open"#,
            r#""\u12""#,
        ] {
            assert_eq!(strings(bad), Err(Declined), "{bad}");
        }
    }

    #[test]
    fn plain_runs_end_where_a_byte_scan_says() {
        let scan = |bytes: &[u8]| bytes.iter().position(|&b| ENDS_PLAIN_RUN[usize::from(b)]);
        let mut text: Vec<u8> = (0x20..=0xff)
            .filter(|b| !ENDS_PLAIN_RUN[usize::from(*b)])
            .collect();
        for end in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..20 {
                let mut bytes = text.clone();
                bytes.insert(at, end);
                assert_eq!(plain_run(&bytes), scan(&bytes), "{end} at {at}");
                assert_eq!(plain_run(&bytes[..at]), None);
            }
        }
        text.truncate(13);
        assert_eq!(plain_run(&text), None);
    }

    #[test]
    fn integers_are_what_serde_json_reads_as_i64() {
        let int = |text: &str| {
            let mut reader = Reader::new(text);
            let n = reader.int()?;
            reader.end().map(|()| n)
        };
        assert_eq!(int("-12"), Ok(-12));
        assert_eq!(int("0"), Ok(0));
        assert_eq!(int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(int("-9223372036854775808"), Ok(i64::MIN));
        for bad in [
            "-0",
            "01",
            "1.0",
            "1e2",
            "9223372036854775808",
            "+1",
            "-",
            "1.",
        ] {
            assert_eq!(int(bad), Err(Declined), "{bad}");
        }
    }

    #[test]
    fn skipping_checks_the_grammar_and_the_depth() {
        let skip = |text: &str| {
            let mut reader = Reader::new(text);
            reader.skip()?;
            reader.end()
        };
        assert_eq!(
            skip(r#" {"a": [1, -2.5e3, "x", true, null, {}], "b": []} "#),
            Ok(())
        );
        for bad in ["[1,]", "{,}", r#"{"a" 1}"#, "[1 2]", "nul", "{} x"] {
            assert_eq!(skip(bad), Err(Declined), "{bad}");
        }
        assert_eq!(
            skip(&format!("{}{}", "[".repeat(127), "]".repeat(127))),
            Ok(())
        );
        assert_eq!(
            skip(&format!("{}{}", "[".repeat(129), "]".repeat(129))),
            Err(Declined)
        );
    }
}
