//! Turns the tree back into tokens, in source order, and puts every comment
//! in front of the first token that followed it in the source. Nodes carry
//! spans but punctuation does not, so a cursor walks the source's token
//! list alongside the tree: keywords and punctuation are matched against
//! the next source token, and identifiers and literals resynchronise the
//! cursor from their spans.

use crate::lex::{Comment, lex};
use crate::source::{FileId, Span};

use super::doc::Doc;

/// Where a run of comments sits, which decides where blank lines survive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gap {
    /// A blank line may precede the first comment (or the token, if none).
    blank_first: bool,
    /// Blank lines may separate comments, and comments from the token.
    blank_later: bool,
    /// A blank line may separate the last comment from the token.
    blank_token: bool,
    /// Blank lines only show when the enclosing group breaks.
    in_group: bool,
}

impl Gap {
    /// Before the first statement of a block or file.
    pub(super) const START: Gap = Gap {
        blank_first: false,
        blank_later: true,
        blank_token: true,
        in_group: false,
    };
    /// Between two statements or items.
    pub(super) const BETWEEN: Gap = Gap {
        blank_first: true,
        ..Gap::START
    };
    /// Inside a construct, where blank lines are dropped.
    pub(super) const TIGHT: Gap = Gap {
        blank_first: false,
        blank_later: false,
        blank_token: false,
        in_group: false,
    };

    /// Before a block's closing token (or the end of the file).
    pub(super) fn end(empty: bool) -> Gap {
        Gap {
            blank_first: !empty,
            blank_token: false,
            ..Gap::START
        }
    }

    /// The same gap inside a list, where blank lines need a broken group.
    pub(super) fn in_list(self) -> Gap {
        Gap {
            in_group: true,
            ..self
        }
    }
}

/// Delimiters of a comma-separated list, and how it breaks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delims {
    open: &'static str,
    close: &'static str,
    /// `{ a }` rather than `[a]`.
    spaced: bool,
    /// The source has no delimiters (`in Team`); the canonical form adds them.
    added: bool,
    /// Breaks before the lists after it on its line.
    break_first: bool,
}

pub(super) const BRACES: Delims = Delims {
    open: "{",
    close: "}",
    spaced: true,
    added: false,
    break_first: false,
};
pub(super) const BRACKETS: Delims = Delims {
    open: "[",
    close: "]",
    spaced: false,
    ..BRACES
};
pub(super) const PARENS: Delims = Delims {
    open: "(",
    close: ")",
    ..BRACKETS
};

impl Delims {
    pub(super) fn added(self, added: bool) -> Self {
        Self { added, ..self }
    }

    pub(super) fn breaking_first(self) -> Self {
        Self {
            break_first: true,
            ..self
        }
    }
}

pub(super) struct Printer<'a> {
    text: &'a str,
    /// Byte ranges of the source's tokens, comments excluded.
    tokens: Vec<(usize, usize)>,
    comments: &'a [Comment],
    next_comment: usize,
    /// End of the last source token printed or skipped.
    cursor: usize,
    /// End of the last token or comment printed, to find blank lines.
    last_end: usize,
    /// Expected tokens the source did not have at the cursor. The tree and
    /// the source agree on valid input, so this stays zero; tests check it.
    pub(super) mismatches: usize,
}

impl<'a> Printer<'a> {
    pub(super) fn new(file: FileId, text: &'a str, comments: &'a [Comment]) -> Self {
        let tokens = lex(file, text)
            .tokens
            .iter()
            .map(|(l, _, r)| (*l, *r))
            .collect();
        Self {
            text,
            tokens,
            comments,
            next_comment: 0,
            cursor: 0,
            last_end: 0,
            mismatches: 0,
        }
    }

    /// A printer for the stretch `span` of `text` alone (an expression),
    /// without comments: only that stretch is lexed.
    pub(super) fn for_span(file: FileId, text: &'a str, span: Span) -> Self {
        let start = span.start as usize;
        let slice = text.get(span.range()).unwrap_or_default();
        let tokens = lex(file, slice)
            .tokens
            .iter()
            .map(|(l, _, r)| (l + start, r + start))
            .collect();
        Self {
            text,
            tokens,
            comments: &[],
            next_comment: 0,
            cursor: start,
            last_end: start,
            mismatches: 0,
        }
    }

    pub(super) fn source(&self, span: Span) -> &'a str {
        self.text.get(span.range()).unwrap_or_default()
    }

    /// The first source token at or after the cursor.
    fn next_token(&self) -> Option<(usize, usize)> {
        let i = self
            .tokens
            .partition_point(|(start, _)| *start < self.cursor);
        self.tokens.get(i).copied()
    }

    fn next_token_start(&self) -> usize {
        self.next_token()
            .map_or(self.text.len(), |(start, _)| start)
    }

    /// Whether a comment comes before the next token (and would be printed
    /// before whatever is printed next).
    pub(super) fn comment_pending(&self) -> bool {
        self.comments
            .get(self.next_comment)
            .is_some_and(|c| (c.span.start as usize) < self.next_token_start())
    }

    pub(super) fn next_is(&self, text: &str) -> bool {
        self.next_token()
            .is_some_and(|(l, r)| &self.text[l..r] == text)
    }

    /// A keyword or punctuation token that the source has at the cursor.
    pub(super) fn kw(&mut self, text: &'static str) -> Doc<'a> {
        let comments = self.flush(self.next_token_start());
        self.consume(text);
        Doc::concat(vec![comments, Doc::text(text)])
    }

    /// A separator (`,` or `;`): comments before it move after it, so a
    /// separator never starts a line of its own.
    pub(super) fn sep(&mut self, text: &'static str) -> Doc<'a> {
        self.consume(text);
        Doc::text(text)
    }

    fn consume(&mut self, text: &str) {
        match self.next_token() {
            Some((l, r)) if &self.text[l..r] == text => {
                self.cursor = r;
                self.last_end = self.last_end.max(r);
            }
            _ => self.mismatches += 1,
        }
    }

    /// A token the canonical form has but the source may not (brackets
    /// around a single parent type).
    pub(super) fn synth(&mut self, text: &'static str) -> Doc<'a> {
        let comments = self.flush(self.next_token_start());
        Doc::concat(vec![comments, Doc::text(text)])
    }

    /// Passes over a source token the canonical form drops, if it is next.
    pub(super) fn skip(&mut self, text: &str) -> bool {
        match self.next_token() {
            Some((l, r)) if &self.text[l..r] == text => {
                self.cursor = r;
                self.last_end = self.last_end.max(r);
                true
            }
            _ => false,
        }
    }

    /// An identifier or literal printed as `text`.
    pub(super) fn at(&mut self, span: Span, text: impl Into<std::borrow::Cow<'a, str>>) -> Doc<'a> {
        let comments = self.flush(span.start as usize);
        let end = span.end as usize;
        self.cursor = self.cursor.max(end);
        self.last_end = self.last_end.max(end);
        Doc::concat(vec![comments, Doc::text(text)])
    }

    /// A token printed exactly as the source spells it.
    pub(super) fn verbatim(&mut self, span: Span) -> Doc<'a> {
        let text = self.source(span);
        self.at(span, text)
    }

    /// A stretch that did not parse, copied as is; its comments are in the
    /// copy. Unreachable from [`super::format_source`], which refuses
    /// syntax errors.
    pub(super) fn copy(&mut self, span: Span) -> Doc<'a> {
        let doc = self.verbatim(span);
        while self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < span.end)
        {
            self.next_comment += 1;
        }
        doc
    }

    /// Comments that start before `pos`, in order.
    fn flush(&mut self, pos: usize) -> Doc<'a> {
        let mut docs = Vec::new();
        while let Some(c) = self.pending_before(pos) {
            docs.push(comment_doc(c));
        }
        Doc::concat(docs)
    }

    fn pending_before(&mut self, pos: usize) -> Option<&'a Comment> {
        let comments: &'a [Comment] = self.comments;
        let c = comments
            .get(self.next_comment)
            .filter(|c| (c.span.start as usize) < pos)?;
        self.next_comment += 1;
        self.last_end = self.last_end.max(c.span.end as usize);
        Some(c)
    }

    /// Comments before the next statement, keeping one blank line wherever
    /// the source had at least one and `gap` allows it.
    pub(super) fn lead(&mut self, gap: Gap) -> Doc<'a> {
        let pos = self.next_token_start();
        let blank = if gap.in_group {
            Doc::if_break(Doc::Blank)
        } else {
            Doc::Blank
        };
        let mut docs = Vec::new();
        let mut allowed = gap.blank_first;
        loop {
            let from = self.last_end;
            let Some(c) = self.pending_before(pos) else {
                break;
            };
            if allowed && self.blank_between(from, c.span.start as usize) {
                docs.push(blank.clone());
            }
            docs.push(comment_doc(c));
            allowed = gap.blank_later;
        }
        if allowed && gap.blank_token && self.blank_between(self.last_end, pos) {
            docs.push(blank);
        }
        Doc::concat(docs)
    }

    fn blank_between(&self, from: usize, to: usize) -> bool {
        self.text
            .get(from..to)
            .is_some_and(|gap| gap.bytes().filter(|b| *b == b'\n').count() >= 2)
    }

    /// Comments left at the end of the file.
    pub(super) fn rest(&mut self, any_before: bool) -> Doc<'a> {
        self.cursor = self.text.len();
        self.lead(Gap::end(!any_before))
    }

    /// `{ a, b }`, `[a, b]` or `(a, b)`: flat if it fits, else one item per
    /// line with a trailing comma.
    pub(super) fn list<T>(
        &mut self,
        delims: Delims,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T) -> Doc<'a>,
    ) -> Doc<'a> {
        // Comments before the list stay outside its group, so they do not
        // force it to break.
        let before = self.flush(self.next_token_start());
        let open = if delims.added {
            Doc::text(delims.open)
        } else {
            self.kw(delims.open)
        };
        let line = || {
            if delims.spaced {
                Doc::Line
            } else {
                Doc::SoftLine
            }
        };
        let mut body = vec![line()];
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                body.push(self.sep(","));
                body.push(Doc::Line);
            }
            let gap = if i == 0 { Gap::START } else { Gap::BETWEEN };
            body.push(self.lead(gap.in_list()));
            body.push(item(self, it));
        }
        self.skip(",");
        let tail = self.lead(Gap::end(items.is_empty()).in_list());
        let close = if delims.added {
            self.synth(delims.close)
        } else {
            self.kw(delims.close)
        };
        if items.is_empty() {
            if tail.is_nil() {
                return Doc::concat(vec![before, open, close]);
            }
            let list = Doc::group(Doc::concat(vec![
                open,
                Doc::indent(tail),
                Doc::SoftLine,
                close,
            ]));
            return Doc::concat(vec![before, list]);
        }
        body.push(Doc::if_break(Doc::text(",")));
        body.push(tail);
        let list = Doc::concat(vec![open, Doc::indent(Doc::concat(body)), line(), close]);
        let list = if delims.break_first {
            Doc::group_breaking_first(list)
        } else {
            Doc::group(list)
        };
        Doc::concat(vec![before, list])
    }

    /// `{ stmt; stmt; }` with one statement per line, or `{}` when empty.
    pub(super) fn block<T>(
        &mut self,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T) -> Doc<'a>,
    ) -> Doc<'a> {
        let open = self.kw("{");
        let mut body = Vec::new();
        for (i, it) in items.iter().enumerate() {
            body.push(Doc::HardLine);
            body.push(self.lead(if i == 0 { Gap::START } else { Gap::BETWEEN }));
            body.push(item(self, it));
        }
        let tail = self.lead(Gap::end(items.is_empty()));
        if items.is_empty() && tail.is_nil() {
            let close = self.kw("}");
            return Doc::concat(vec![open, close]);
        }
        body.push(tail);
        let close = self.kw("}");
        Doc::concat(vec![
            open,
            Doc::indent(Doc::concat(body)),
            Doc::HardLine,
            close,
        ])
    }
}

fn comment_doc(c: &Comment) -> Doc<'_> {
    Doc::Comment {
        text: c.text.as_str().into(),
        trailing: c.trailing,
    }
}
