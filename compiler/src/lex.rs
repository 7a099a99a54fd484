//! Stage 1, text to tokens: the logos lexer. Comments are kept aside as
//! trivia (the formatter needs them); characters that start no token become
//! diagnostics and are skipped so the parser sees the rest of the file.

use logos::Logos;

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
pub enum Tok<'s> {
    #[regex(r"//[^\n]*", |lex| lex.slice(), allow_greedy = true)]
    Comment(&'s str),

    // Keywords. Most may still name attributes (`resource.limit`).
    #[token("package")]
    Package,
    #[token("entity")]
    Entity,
    #[token("action")]
    Action,
    #[token("context")]
    Context,
    #[token("permit")]
    Permit,
    #[token("forbid")]
    Forbid,
    #[token("deny")]
    Deny,
    #[token("when")]
    When,
    #[token("unless")]
    Unless,
    #[token("on")]
    On,
    #[token("by")]
    By,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("has")]
    Has,
    #[token("like")]
    Like,
    #[token("is")]
    Is,
    #[token("in")]
    In,
    #[token("principal")]
    Principal,
    #[token("resource")]
    Resource,
    #[token("descriptor")]
    Descriptor,
    #[token("request")]
    Request,
    #[token("ratelimit")]
    Ratelimit,
    #[token("limit")]
    Limit,
    #[token("per")]
    Per,
    #[token("store")]
    Store,
    #[token("http")]
    Http,
    #[token("test")]
    Test,
    #[token("expect")]
    Expect,
    #[token("because")]
    Because,
    #[token("matches")]
    Matches,
    #[token("allows")]
    Allows,
    #[token("type")]
    Type,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'s str),
    #[regex(r"[0-9][0-9_]*", |lex| lex.slice())]
    Int(&'s str),
    /// A number with a unit: a duration (`30m`) or a size (`16KiB`).
    #[regex(r"[0-9][0-9_]*[A-Za-z][A-Za-z0-9_]*", |lex| lex.slice())]
    UnitNumber(&'s str),
    /// A number with a fraction: a decimal (`12.5`).
    #[regex(r"[0-9]+\.[0-9]+", |lex| lex.slice())]
    Decimal(&'s str),
    /// A dotted quad, maybe with a prefix length: `10.1.2.3`, `10.0.0.0/8`.
    #[regex(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?", |lex| lex.slice())]
    Ip(&'s str),
    /// Anything shaped like a date starts a timestamp; its value is checked
    /// later so `2026-13-01T…` gets a precise diagnostic, not a syntax error.
    #[regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|z|[+-][0-9]{2}:[0-9]{2})?)?",
        |lex| lex.slice()
    )]
    Timestamp(&'s str),
    /// A string literal, quotes and escapes included (see [`unescape`]).
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| lex.slice())]
    Str(&'s str),
    /// A string missing its closing quote; reported, then parsed as a string.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, |lex| lex.slice())]
    UnterminatedStr(&'s str),

    // Common slips, reported once and then read as what was meant, so one
    // slip gives one diagnostic. They never reach the parser.
    /// `&` for `&&`.
    #[token("&")]
    LoneAmp,
    /// `|` for `||`.
    #[token("|")]
    LonePipe,
    /// `'text'` for `"text"`.
    #[regex(r"'([^'\\\n]|\\[^\n])*'", |lex| lex.slice())]
    SingleQuoted(&'s str),
    /// `# text` for `// text`.
    #[regex(r"#[^\n]*", allow_greedy = true)]
    HashComment,

    #[token("@")]
    At,
    #[token("::")]
    PathSep,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("?")]
    Question,
    #[token("=>")]
    FatArrow,
    #[token("=")]
    Assign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
}

impl Tok<'_> {
    /// How the token is named in "expected …" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Comment(_) => "a comment".into(),
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Int(s) | Tok::UnitNumber(s) | Tok::Ip(s) | Tok::Timestamp(s) | Tok::Decimal(s) => {
                format!("literal `{s}`")
            }
            Tok::Str(s) | Tok::UnterminatedStr(s) | Tok::SingleQuoted(s) => format!("string {s}"),
            other => format!("`{}`", other.text()),
        }
    }

    /// The fixed text of keywords and punctuation.
    pub fn text(&self) -> &str {
        match self {
            Tok::Comment(s)
            | Tok::Ident(s)
            | Tok::Int(s)
            | Tok::UnitNumber(s)
            | Tok::Ip(s)
            | Tok::Timestamp(s)
            | Tok::Decimal(s)
            | Tok::Str(s)
            | Tok::UnterminatedStr(s)
            | Tok::SingleQuoted(s) => s,
            Tok::LoneAmp => "&",
            Tok::LonePipe => "|",
            Tok::HashComment => "#",
            Tok::Package => "package",
            Tok::Entity => "entity",
            Tok::Action => "action",
            Tok::Context => "context",
            Tok::Permit => "permit",
            Tok::Forbid => "forbid",
            Tok::Deny => "deny",
            Tok::When => "when",
            Tok::Unless => "unless",
            Tok::On => "on",
            Tok::By => "by",
            Tok::If => "if",
            Tok::Then => "then",
            Tok::Else => "else",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Has => "has",
            Tok::Like => "like",
            Tok::Is => "is",
            Tok::In => "in",
            Tok::Principal => "principal",
            Tok::Resource => "resource",
            Tok::Descriptor => "descriptor",
            Tok::Request => "request",
            Tok::Ratelimit => "ratelimit",
            Tok::Limit => "limit",
            Tok::Per => "per",
            Tok::Store => "store",
            Tok::Http => "http",
            Tok::Test => "test",
            Tok::Expect => "expect",
            Tok::Because => "because",
            Tok::Matches => "matches",
            Tok::Allows => "allows",
            Tok::Type => "type",
            Tok::At => "@",
            Tok::PathSep => "::",
            Tok::Colon => ":",
            Tok::Semi => ";",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Question => "?",
            Tok::FatArrow => "=>",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
        }
    }
}

/// A `//` comment, kept for the formatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    pub text: String,
    /// True when code precedes the comment on its line (`x; // why`).
    pub trailing: bool,
}

/// A lexed file: tokens with byte ranges, comments, and lexical diagnostics.
#[derive(Debug, Default)]
pub struct Lexed<'s> {
    pub tokens: Vec<(usize, Tok<'s>, usize)>,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Lexes `text`. Never fails: problems become diagnostics.
pub fn lex(file: FileId, text: &str) -> Lexed<'_> {
    let mut tokens = Tokens::new(file, text);
    let collected = tokens.by_ref().collect();
    let (comments, diagnostics) = tokens.finish();
    Lexed {
        tokens: collected,
        comments,
        diagnostics,
    }
}

/// A file's code tokens, lexed as they are asked for, so a parser that
/// works item by item never holds a large file's tokens all at once.
/// Comments and lexical diagnostics are collected on the way
/// ([`Tokens::finish`]).
pub struct Tokens<'s> {
    file: FileId,
    text: &'s str,
    lexer: logos::Lexer<'s, Tok<'s>>,
    last_code_end: Option<usize>,
    comments: Vec<Comment>,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Tokens<'s> {
    pub fn new(file: FileId, text: &'s str) -> Self {
        Self {
            file,
            text,
            lexer: Tok::lexer(text),
            last_code_end: None,
            comments: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// The tokens from byte `offset` on, with spans in the whole text; for
    /// lexing a stretch again. An offset that is not a character boundary
    /// of `text` (never one a token started at) gives no tokens.
    pub fn starting_at(file: FileId, text: &'s str, offset: usize) -> Self {
        let mut tokens = Self::new(file, text);
        if text.is_char_boundary(offset) {
            tokens.lexer.bump(offset);
        } else {
            tokens.lexer.bump(text.len());
        }
        tokens
    }

    /// The comments and diagnostics of what was lexed.
    pub fn finish(self) -> (Vec<Comment>, Vec<Diagnostic>) {
        (self.comments, self.diagnostics)
    }

    /// What one lexer match gives: a code token, or `None` for a comment or
    /// an unexpected character (recorded instead).
    fn token(&mut self, result: Result<Tok<'s>, ()>) -> Option<(usize, Tok<'s>, usize)> {
        let range = self.lexer.span();
        let span = Span::new(self.file, range.start, range.end);
        let tok = match result {
            Ok(Tok::Comment(body)) => {
                let line_start = self.text[..range.start].rfind('\n').map_or(0, |i| i + 1);
                let trailing = self.last_code_end.is_some_and(|end| end > line_start);
                self.comments.push(Comment {
                    span,
                    text: body.trim_end().to_owned(),
                    trailing,
                });
                return None;
            }
            Ok(Tok::UnterminatedStr(body)) => {
                self.diagnostics.push(
                    Diagnostic::new(
                        &Code::UNTERMINATED_STRING,
                        span,
                        "string literal is not closed",
                    )
                    .label("this string has no closing `\"` on its line")
                    .help("add a `\"` where the string should end"),
                );
                Tok::Str(body)
            }
            Ok(Tok::HashComment) => {
                self.diagnostics
                    .push(slip(span, '#', "a comment", "comments start with `//`"));
                return None;
            }
            Ok(slipped @ (Tok::LoneAmp | Tok::LonePipe | Tok::SingleQuoted(_))) => {
                let (ch, read_as, help, meant) = match slipped {
                    Tok::LoneAmp => ('&', "`&&`", "logical and is written `&&`", Tok::AndAnd),
                    Tok::LonePipe => ('|', "`||`", "logical or is written `||`", Tok::OrOr),
                    _ => (
                        '\'',
                        "a string",
                        "strings use double quotes: \"text\"",
                        Tok::Str(self.lexer.slice()),
                    ),
                };
                self.diagnostics.push(slip(span, ch, read_as, help));
                meant
            }
            Ok(tok) => tok,
            Err(()) => {
                self.unexpected(range.start, span);
                return None;
            }
        };
        self.last_code_end = Some(range.end);
        Some((range.start, tok, range.end))
    }

    /// Reports a character no token starts with: one diagnostic per run of
    /// them, not one per byte.
    fn unexpected(&mut self, start: usize, span: Span) {
        let ch = self.text[start..].chars().next().unwrap_or('\u{fffd}');
        let extends_previous = self.diagnostics.last().is_some_and(|d| {
            d.code == &Code::UNEXPECTED_CHARACTER && d.primary.span.end as usize == start
        });
        if extends_previous {
            if let Some(d) = self.diagnostics.last_mut() {
                d.primary.span.end = span.end;
            }
        } else {
            self.diagnostics.push(
                Diagnostic::new(
                    &Code::UNEXPECTED_CHARACTER,
                    span,
                    format!("unexpected character {}", show_char(ch)),
                )
                .label("no token starts with this")
                .help(unexpected_char_help(ch)),
            );
        }
    }
}

impl<'s> Iterator for Tokens<'s> {
    type Item = (usize, Tok<'s>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let result = self.lexer.next()?;
            if let Some(token) = self.token(result) {
                return Some(token);
            }
        }
    }
}

fn unexpected_char_help(ch: char) -> &'static str {
    match ch {
        '/' => "comments start with `//`; there is no division operator",
        _ => "remove it, or put it inside a string literal",
    }
}

/// A character as a message shows it: itself in backticks, or its code
/// point when it is invisible or would confuse (controls, spaces, backticks).
fn show_char(ch: char) -> String {
    if ch.is_control() || ch.is_whitespace() || ch == '`' || ch == '\u{feff}' {
        format!("U+{:04X}", u32::from(ch))
    } else {
        format!("`{ch}`")
    }
}

/// A slip the lexer reads as what was meant, after reporting it.
fn slip(span: Span, ch: char, read_as: &str, help: &str) -> Diagnostic {
    Diagnostic::new(
        &Code::UNEXPECTED_CHARACTER,
        span,
        format!("unexpected character {}", show_char(ch)),
    )
    .label(format!("read as {read_as}"))
    .help(help.to_owned())
}

/// Why a string literal's escapes are invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError {
    /// Byte range of the bad escape inside the literal (quotes included).
    pub range: std::ops::Range<usize>,
    pub message: String,
}

/// Decodes a string literal's text (with its quotes). Escapes: `\"`, `\\`,
/// `\n`, `\r`, `\t`, `\0`, `\*` (a literal star; see `like`) and `\u{…}`.
pub fn unescape(literal: &str) -> Result<String, EscapeError> {
    // Single-quoted strings only arrive here after the lexer reported them.
    let quote = if literal.starts_with('\'') { '\'' } else { '"' };
    let inner = literal
        .strip_prefix(quote)
        .map(|s| s.strip_suffix(quote).unwrap_or(s))
        .unwrap_or(literal);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let start = i + 1; // offset in `literal`, which has the opening quote
        let bad = |len: usize, message: String| EscapeError {
            range: start..start + len,
            message,
        };
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, 't')) => out.push('\t'),
            Some((_, '0')) => out.push('\0'),
            Some((_, '*')) => out.push('*'),
            Some((_, 'u')) => {
                let rest = &inner[i + 2..];
                let body = rest
                    .strip_prefix('{')
                    .and_then(|r| r.find('}').map(|end| &r[..end]));
                let Some(hex) = body else {
                    return Err(bad(2, "a unicode escape is written `\\u{1F600}`".into()));
                };
                let len = hex.len() + 4;
                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                let Some(ch) = ch.filter(|_| !hex.is_empty() && hex.len() <= 6) else {
                    return Err(bad(
                        len,
                        format!("`\\u{{{hex}}}` is not a unicode scalar value"),
                    ));
                };
                out.push(ch);
                for _ in 0..hex.len() + 2 {
                    chars.next();
                }
            }
            Some((_, other)) => {
                return Err(bad(
                    1 + other.len_utf8(),
                    format!("`\\{other}` is not an escape"),
                ));
            }
            None => return Err(bad(1, "a `\\` must be followed by an escape".into())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok<'_>> {
        lex(FileId(0), text)
            .tokens
            .into_iter()
            .map(|(_, t, _)| t)
            .collect()
    }

    #[test]
    fn literals_are_single_tokens() {
        assert_eq!(
            kinds("10.0.0.0/8 30m 1h30m 16KiB 2026-01-01T00:00:00Z 1_000 12.5"),
            vec![
                Tok::Ip("10.0.0.0/8"),
                Tok::UnitNumber("30m"),
                Tok::UnitNumber("1h30m"),
                Tok::UnitNumber("16KiB"),
                Tok::Timestamp("2026-01-01T00:00:00Z"),
                Tok::Int("1_000"),
                Tok::Decimal("12.5"),
            ]
        );
    }

    #[test]
    fn comments_are_trivia() {
        let lexed = lex(FileId(0), "// lead\nx; // trail\n");
        assert_eq!(lexed.tokens.len(), 2);
        assert_eq!(lexed.comments.len(), 2);
        assert!(!lexed.comments[0].trailing);
        assert!(lexed.comments[1].trailing);
    }

    #[test]
    fn bad_characters_become_one_diagnostic_per_run() {
        let lexed = lex(FileId(0), "a $$$ b ~");
        assert_eq!(lexed.diagnostics.len(), 2);
        assert_eq!(lexed.tokens.len(), 2);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(r#""a\"b\n\u{e9}\*""#).as_deref(),
            Ok("a\"b\n\u{e9}*")
        );
        assert!(unescape(r#""\q""#).is_err());
        assert!(unescape(r#""\u{110000}""#).is_err());
        assert!(unescape(r#""\u12""#).is_err());
    }
}
