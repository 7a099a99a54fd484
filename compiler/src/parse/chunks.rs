//! Splitting a token stream into top-level chunks (one per declaration,
//! rule, block or test) as the lexer produces it. A chunk starts at a token
//! that can begin an item, at bracket depth 0, unless the token before it
//! continues an expression (`when action == …`, `on store x`). Only the
//! current chunk and a few tokens of lookahead are held.

use crate::diagnostics::Diagnostic;
use crate::lex::{Comment, Tok, Tokens};

/// A token with its byte range, as the grammar takes it.
pub type Token<'s> = (usize, Tok<'s>, usize);

/// Tokens the boundary test looks at past the one it tests.
const LOOKAHEAD: usize = 2;

pub struct Chunks<'s> {
    text: &'s str,
    tokens: Tokens<'s>,
    /// The chunk being scanned, then lookahead.
    buf: Vec<Token<'s>>,
    exhausted: bool,
}

impl<'s> Chunks<'s> {
    pub fn new(text: &'s str, tokens: Tokens<'s>) -> Self {
        Self {
            text,
            tokens,
            buf: Vec::new(),
            exhausted: false,
        }
    }

    /// The token after the last chunk returned (`None` at the end).
    pub fn peek(&mut self) -> Option<Token<'s>> {
        self.fill(1);
        self.buf.first().copied()
    }

    /// The lexer's comments and diagnostics.
    pub fn finish(self) -> (Vec<Comment>, Vec<Diagnostic>) {
        self.tokens.finish()
    }

    /// Lexes until `len` tokens are buffered or the text ends.
    fn fill(&mut self, len: usize) {
        while self.buf.len() < len && !self.exhausted {
            match self.tokens.next() {
                Some(token) => self.buf.push(token),
                None => self.exhausted = true,
            }
        }
    }

    /// Whether only whitespace and comments separate tokens `i - 1` and `i`
    /// without a line break.
    fn same_line(&self, i: usize) -> bool {
        !self
            .text
            .get(self.buf[i - 1].2..self.buf[i].0)
            .unwrap_or_default()
            .contains('\n')
    }

    /// The next chunk's tokens; `None` after the last.
    pub fn next_chunk(&mut self) -> Option<Vec<Token<'s>>> {
        let mut depth: i64 = 0;
        // Annotations lead their rule: `@id("x") permit …` is one chunk.
        let mut in_annotations = false;
        let mut i = 0;
        loop {
            self.fill(i + 1 + LOOKAHEAD);
            let Some(&(_, tok, _)) = self.buf.get(i) else {
                break;
            };
            let annotating = in_annotations && matches!(tok, Tok::At | Tok::Permit | Tok::Forbid);
            let starts_line = i > 0 && !self.same_line(i);
            let boundary = if depth <= 0 {
                // A misspelled keyword at the start of a line starts an item
                // too, so the slip is reported as one and the item before is
                // intact.
                starts_item(&tok) || (starts_line && super::meant_keyword(&tok).is_some())
            } else {
                // An unclosed bracket must not swallow the rest of the file.
                // Fields take annotations too (`{ @sensitive a: T }`): inside
                // brackets an `@` starts an item only at a line's start.
                starts_item_inside_brackets(&self.buf, i) && (tok != Tok::At || starts_line)
            };
            // `action a on T context { … }` declares the action's context
            // when `context` is on the line the declaration has reached; a
            // `context` that starts a line is the package's.
            let own_context =
                tok == Tok::Context && self.buf[0].1 == Tok::Action && i > 0 && self.same_line(i);
            if i > 0
                && boundary
                && !continues_before(&self.buf[i - 1].1, &tok, self.buf.get(i + 1).map(|t| &t.1))
                && !annotating
                && !own_context
            {
                return Some(self.buf.drain(..i).collect());
            }
            if i == 0 {
                in_annotations = tok == Tok::At;
            } else if matches!(tok, Tok::Permit | Tok::Forbid) {
                in_annotations = false;
            }
            match tok {
                Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
                Tok::RParen | Tok::RBracket | Tok::RBrace => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

fn starts_item(tok: &Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::Package
            | Tok::Entity
            | Tok::Action
            | Tok::Context
            | Tok::At
            | Tok::Permit
            | Tok::Forbid
            | Tok::Ratelimit
            | Tok::Store
            | Tok::Http
            | Tok::Test
            | Tok::Type
    )
}

/// Item starts that valid code never has inside brackets, so finding one
/// there means a bracket was left open.
fn starts_item_inside_brackets(tokens: &[Token<'_>], i: usize) -> bool {
    let at = |k: usize| tokens.get(i + k).map(|t| t.1);
    match tokens[i].1 {
        Tok::Package | Tok::At | Tok::Ratelimit | Tok::Http | Tok::Test => true,
        // A rule after a finished statement; after anything else (`expcet
        // permit read;`) it is more likely a typo inside a test.
        Tok::Permit | Tok::Forbid => i > 0 && matches!(tokens[i - 1].1, Tok::Semi | Tok::RBrace),
        // `entity Team` declares; `entity Team::"x"` is test data.
        Tok::Entity => matches!(at(1), Some(Tok::Ident(_))) && at(2) != Some(Tok::PathSep),
        // `action read` declares; `action == …` is an expression.
        Tok::Action => matches!(at(1), Some(Tok::Ident(_))),
        // `store s {` (or `store s by …`) declares; `on store s when` is a scope.
        Tok::Store => {
            matches!(at(1), Some(Tok::Ident(_))) && matches!(at(2), Some(Tok::LBrace | Tok::By))
        }
        _ => false,
    }
}

/// Whether `tok`, an item keyword after `prev` and before `next`,
/// continues the chunk. After `>`, only an operand does (`x > context.y`),
/// not a declaration: a type (`Set<Int>`) ends there too, and `action read`
/// or `context {` after it starts the next item.
fn continues_before(prev: &Tok<'_>, tok: &Tok<'_>, next: Option<&Tok<'_>>) -> bool {
    match (prev, tok) {
        (Tok::Gt, Tok::Action) => !matches!(next, Some(Tok::Ident(_))),
        (Tok::Gt, Tok::Context) => !matches!(next, Some(Tok::LBrace)),
        (Tok::Gt, _) => false,
        _ => continues(prev),
    }
}

/// Tokens after which an item keyword is an operand, not a new item.
fn continues(prev: &Tok<'_>) -> bool {
    matches!(
        prev,
        Tok::When
            | Tok::Unless
            | Tok::If
            | Tok::Then
            | Tok::Else
            | Tok::On
            | Tok::By
            | Tok::Permit
            | Tok::Forbid
            | Tok::Expect
            | Tok::Assign
            | Tok::FatArrow
            | Tok::Dot
            | Tok::PathSep
            | Tok::Comma
            | Tok::Colon
            | Tok::EqEq
            | Tok::NotEq
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::AndAnd
            | Tok::OrOr
            | Tok::Bang
            | Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::In
            | Tok::Has
            | Tok::Is
            | Tok::Like
            | Tok::At
            | Tok::LParen
            | Tok::LBracket
            | Tok::LBrace
    )
}
