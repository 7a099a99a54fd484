//! The parser's semantic-action context: builds spans and nodes, decodes
//! literal values (reporting malformed ones), bounds tree depth, and turns
//! recovered syntax errors into diagnostics.

use lalrpop_util::{ErrorRecovery, ParseError};
use reaper_lang::literal::{self, LiteralError, UnitLiteral};

use crate::ast::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::lex::{Tok, unescape};
use crate::source::{FileId, Span};

/// What one top-level chunk of tokens parses to.
#[derive(Debug)]
pub enum Chunk {
    Package(Ident),
    Item(Item),
}

pub type SyntaxError<'s> = ParseError<usize, Tok<'s>, ()>;

pub struct ParseCtx<'s> {
    pub file: FileId,
    /// The file's text, to tell where lines start.
    text: &'s str,
    pub diagnostics: Vec<Diagnostic>,
    /// The token after the chunk being parsed, reported when a chunk ends
    /// early ("expected `;`, found `@`"); `None` at the end of the file.
    pub next_token: Option<(usize, Tok<'s>, usize)>,
    /// Depth errors are reported once per chunk: one tall tree, one report.
    depth_reported: bool,
}

impl<'s> ParseCtx<'s> {
    pub fn new(file: FileId, text: &'s str) -> Self {
        Self {
            file,
            text,
            diagnostics: Vec::new(),
            next_token: None,
            depth_reported: false,
        }
    }

    pub fn start_chunk(&mut self, next_token: Option<(usize, Tok<'s>, usize)>) {
        self.next_token = next_token;
        self.depth_reported = false;
    }

    pub fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r)
    }

    pub fn ident(&self, name: &str, l: usize, r: usize) -> Ident {
        Ident {
            name: name.to_owned(),
            span: self.span(l, r),
        }
    }

    pub fn string(&mut self, raw: &str, l: usize, r: usize) -> StrLit {
        let value = match unescape(raw) {
            Ok(value) => value,
            Err(e) => {
                let span = self.span(l + e.range.start, l + e.range.end);
                self.diagnostics.push(
                    Diagnostic::new(&Code::INVALID_ESCAPE, span, e.message)
                        .label("invalid escape")
                        .help(r#"a backslash is written \\; the escapes are \", \\, \n, \r, \t, \0, \* and \u{…}"#),
                );
                String::new()
            }
        };
        StrLit {
            value,
            span: self.span(l, r),
        }
    }

    pub fn int(&mut self, raw: &str, l: usize, r: usize) -> IntLit {
        let value = literal::parse_int(raw).unwrap_or_else(|e| {
            self.literal_error(&Code::INVALID_INT, &e, l, r);
            0
        });
        IntLit {
            value,
            span: self.span(l, r),
        }
    }

    pub fn int_expr(&mut self, raw: &str, l: usize, r: usize) -> Expr {
        match literal::parse_int(raw) {
            Ok(n) => self.expr(ExprKind::Literal(Literal::Int(n)), l, r),
            Err(e) => self.literal_error_expr(&Code::INVALID_INT, &e, l, r),
        }
    }

    pub fn unit_number(&mut self, raw: &str, l: usize, r: usize) -> Expr {
        match literal::parse_unit_literal(raw) {
            Ok(UnitLiteral::Duration(ms)) => {
                self.expr(ExprKind::Literal(Literal::Duration(ms)), l, r)
            }
            Ok(UnitLiteral::Size(bytes)) => {
                self.expr(ExprKind::Literal(Literal::Size(bytes)), l, r)
            }
            Err(e @ LiteralError::Size(..)) => {
                self.literal_error_expr(&Code::MALFORMED_SIZE, &e, l, r)
            }
            Err(e @ LiteralError::UnknownUnit(_)) => match miscased_unit(raw) {
                Some((code, what, fixed)) => {
                    self.diagnostics.push(
                        Diagnostic::new(
                            code,
                            self.span(l, r),
                            format!("`{raw}` is not a {what}: units are case-sensitive"),
                        )
                        .label("malformed literal")
                        .help(format!("write `{fixed}`")),
                    );
                    Expr::new(ExprKind::Error, self.span(l, r))
                }
                None => self.literal_error_expr(&Code::MALFORMED_DURATION, &e, l, r),
            },
            Err(e) => self.literal_error_expr(&Code::MALFORMED_DURATION, &e, l, r),
        }
    }

    pub fn ip(&mut self, raw: &str, l: usize, r: usize) -> Expr {
        match literal::parse_ip(raw) {
            Ok(net) => self.expr(ExprKind::Literal(Literal::Ip(net)), l, r),
            Err(e) => self.literal_error_expr(&Code::MALFORMED_IP, &e, l, r),
        }
    }

    pub fn timestamp(&mut self, raw: &str, l: usize, r: usize) -> Expr {
        match literal::parse_timestamp(raw) {
            Ok(ms) => self.expr(ExprKind::Literal(Literal::Timestamp(ms)), l, r),
            Err(e) => self.literal_error_expr(&Code::MALFORMED_TIMESTAMP, &e, l, r),
        }
    }

    fn literal_error(&mut self, code: &'static Code, e: &LiteralError, l: usize, r: usize) {
        let help = match code.id {
            "E0020" => "integers are 64-bit: -9223372036854775807 to 9223372036854775807",
            "E0021" => {
                "write an address as `10.1.2.3` and a range as `10.0.0.0/8`; IPv6 goes in `ip(\"2001:db8::/32\")`"
            }
            "E0022" if matches!(e, LiteralError::UnknownUnit(_)) => {
                "a number with a unit is a duration (`500ms`, `30m`, `1h30m`, `7d`) or a size (`512B`, `16KiB`)"
            }
            "E0022" => {
                "durations combine ms, s, m, h and d, largest first: `500ms`, `30m`, `1h30m`"
            }
            "E0023" => "timestamps are RFC 3339 with an offset: `2026-01-01T00:00:00Z`",
            "E0025" => "decimals have at most four fractional digits, as in `12.5` or `0.0001`",
            _ => {
                "a size is a number and one unit, B, KB, KiB, MB, MiB, GB or GiB (as in `16KiB`), and is less than 8 EiB"
            }
        };
        self.diagnostics.push(
            Diagnostic::new(code, self.span(l, r), e.to_string())
                .label("malformed literal")
                .help(help),
        );
    }

    fn literal_error_expr(
        &mut self,
        code: &'static Code,
        e: &LiteralError,
        l: usize,
        r: usize,
    ) -> Expr {
        self.literal_error(code, e, l, r);
        Expr::new(ExprKind::Error, self.span(l, r))
    }

    /// Builds an expression node, replacing it with an error node if the
    /// tree would grow taller than [`MAX_EXPR_DEPTH`].
    ///
    /// Brackets and prefix operators nested too deep are caught before
    /// parsing, at the level a reader counts to (`depth.rs`); what reaches
    /// this check is nesting that shows no bracket, such as a chain of
    /// hundreds of `&&` or `.attr`.
    pub fn expr(&mut self, kind: ExprKind, l: usize, r: usize) -> Expr {
        // The expression may fill a whole generated line: point at its first
        // token (every token starts with an ASCII character).
        let at = self.span(l, (l + 1).min(r));
        let label = format!("level {} starts here", MAX_EXPR_DEPTH + 1);
        self.bounded(kind, l, r, at, label)
    }

    /// A binary node, reported at its operator if it makes the tree too
    /// deep: in a chain `a && b && …` that is the operator where the chain
    /// passes the bound, not the start of the whole chain.
    pub fn binary(
        &mut self,
        (op, ol, or): (BinaryOp, usize, usize),
        lhs: Expr,
        rhs: Expr,
        l: usize,
        r: usize,
    ) -> Expr {
        let kind = ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        let at = self.span(ol, or);
        let label = format!("nesting passes {MAX_EXPR_DEPTH} levels here");
        self.bounded(kind, l, r, at, label)
    }

    fn bounded(&mut self, kind: ExprKind, l: usize, r: usize, at: Span, label: String) -> Expr {
        let expr = Expr::new(kind, self.span(l, r));
        if expr.depth <= MAX_EXPR_DEPTH {
            return expr;
        }
        if !self.depth_reported {
            self.depth_reported = true;
            let diagnostic = nesting_too_deep(at, Nested::Expression).label(label);
            self.diagnostics.push(diagnostic);
        }
        // Dropping `expr` recurses at most MAX_EXPR_DEPTH + 1 levels.
        Expr::new(ExprKind::Error, expr.span)
    }

    /// `-` applied to an integer literal is the negative literal itself, so
    /// `-5` and `- 5` are the same tree.
    pub fn negate(&mut self, operand: Expr, l: usize, r: usize) -> Expr {
        if let ExprKind::Literal(Literal::Int(n)) = operand.kind {
            return self.expr(ExprKind::Literal(Literal::Int(-n)), l, r);
        }
        self.expr(
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            },
            l,
            r,
        )
    }

    /// `base like "pat*"`: `*` is a wildcard, `\*` a literal star.
    pub fn like(
        &mut self,
        base: Expr,
        raw: &str,
        pl: usize,
        pr: usize,
        l: usize,
        r: usize,
    ) -> Expr {
        let pattern_span = self.span(pl, pr);
        let mut pattern = Vec::new();
        let mut literal = String::new();
        let mut ok = true;
        let inner = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        let mut pieces = inner.split('*').peekable();
        // Split on unescaped stars: a piece ending in an odd run of `\` had its star escaped.
        while let Some(piece) = pieces.next() {
            let trailing_backslashes = piece.chars().rev().take_while(|c| *c == '\\').count();
            let escaped_star = trailing_backslashes % 2 == 1 && pieces.peek().is_some();
            let text = if escaped_star {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            match unescape(&format!("\"{text}\"")) {
                Ok(decoded) => literal.push_str(&decoded),
                Err(_) => ok = false,
            }
            if escaped_star {
                literal.push('*');
            } else if pieces.peek().is_some() {
                if !literal.is_empty() {
                    pattern.push(PatternPart::Literal(std::mem::take(&mut literal)));
                }
                if pattern.last() != Some(&PatternPart::Wildcard) {
                    pattern.push(PatternPart::Wildcard);
                }
            }
        }
        if !literal.is_empty() {
            pattern.push(PatternPart::Literal(literal));
        }
        if !ok {
            // Report the escape precisely through the ordinary string path.
            self.string(raw, pl, pr);
        }
        self.expr(
            ExprKind::Like {
                base: Box::new(base),
                pattern,
                pattern_span,
            },
            l,
            r,
        )
    }

    /// `Set<T>` or `Map<String, T>`; any other generic is reported (and
    /// kept, so the resolver reports nothing more about it).
    pub fn generic_type(
        &mut self,
        generic: Ident,
        args: Vec<TypeExpr>,
        l: usize,
        r: usize,
    ) -> TypeExpr {
        let span = self.span(l, r);
        let problem = match (generic.name.as_str(), args.as_slice()) {
            ("Set", [_]) => None,
            ("Set", _) => Some("`Set` takes one type: `Set<T>`".to_owned()),
            ("Map", [TypeExpr::Named(key), _]) if key.name == "String" => None,
            ("Map", [key, _]) => Some(format!(
                "map keys are strings: `Map<String, T>`, not `{}`",
                type_text(key)
            )),
            ("Map", _) => Some("`Map` takes a key and a value type: `Map<String, T>`".to_owned()),
            (other, _) => Some(format!("unknown generic type `{other}`")),
        };
        if let Some(message) = problem {
            self.diagnostics.push(
                Diagnostic::new(&Code::UNKNOWN_TYPE, generic.span, message)
                    .label("not a generic type this way")
                    .help("the generic types are `Set<T>` and `Map<String, T>`"),
            );
        }
        self.bounded_type(TypeExpr::Generic {
            name: generic,
            args,
            span,
        })
    }

    /// `entity Name [in …] enum ["a", "b"]`: the word before the list must
    /// be `enum`.
    pub fn enum_decl(
        &mut self,
        name: Ident,
        parents: Vec<Ident>,
        word: Ident,
        ids: Vec<StrLit>,
        l: usize,
        r: usize,
    ) -> EntityDecl {
        if word.name != "enum" {
            self.diagnostics.push(
                Diagnostic::new(
                    &Code::SYNTAX_ERROR,
                    word.span,
                    format!(
                        "unexpected identifier `{}`; expected `enum`, `in` or `{{`",
                        word.name
                    ),
                )
                .label("unexpected here")
                .help("an enumerated type lists its ids: `entity App enum [\"web\", \"cli\"]`"),
            );
        }
        EntityDecl {
            name,
            parents,
            attrs: None,
            ids: Some(ids),
            span: self.span(l, r),
        }
    }

    /// `with { … }` after an expectation: the word must be `with`.
    pub fn with_clause(&mut self, with: Option<(Ident, Expr)>) -> Option<Expr> {
        let (word, record) = with?;
        if word.name != "with" {
            self.diagnostics.push(
                Diagnostic::new(
                    &Code::SYNTAX_ERROR,
                    word.span,
                    format!(
                        "unexpected identifier `{}`; expected `with`, `because` or `;`",
                        word.name
                    ),
                )
                .label("unexpected here")
                .help("`with { … }` adds context fields for one expectation"),
            );
        }
        Some(record)
    }

    /// A step of a rate-limit sequence in a test.
    #[allow(clippy::too_many_arguments, reason = "one argument per grammar part")]
    pub fn limit_step(
        &mut self,
        at: Option<(Ident, Expr)>,
        count: IntLit,
        unit: Ident,
        outcome: Ident,
        limit: Option<Ident>,
        details: Vec<Setting>,
        l: usize,
        r: usize,
    ) -> LimitStep {
        let mut expect_word = |ident: &Ident, words: &[&str], help: &str| {
            if !words.contains(&ident.name.as_str()) {
                let wanted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                self.diagnostics.push(
                    Diagnostic::new(
                        &Code::SYNTAX_ERROR,
                        ident.span,
                        format!(
                            "unexpected identifier `{}`; expected {}",
                            ident.name,
                            wanted.join(" or ")
                        ),
                    )
                    .label("unexpected here")
                    .help(help.to_owned()),
                );
            }
        };
        let step_help = "a step reads `at 1m: 3 hits => ok;` (the time is optional)";
        if let Some((word, _)) = &at {
            expect_word(word, &["at"], step_help);
        }
        expect_word(&unit, &["hit", "hits"], step_help);
        LimitStep {
            at: at.map(|(_, when)| when),
            count,
            unit,
            outcome,
            limit,
            details,
            span: self.span(l, r),
        }
    }

    pub fn decimal(&mut self, raw: &str, l: usize, r: usize) -> Expr {
        match literal::parse_decimal(raw) {
            Ok(n) => self.expr(ExprKind::Literal(Literal::Decimal(n)), l, r),
            Err(e) => self.literal_error_expr(&Code::MALFORMED_DECIMAL, &e, l, r),
        }
    }

    pub fn record_type(&mut self, fields: Vec<AttrDecl>, l: usize, r: usize) -> TypeExpr {
        let span = self.span(l, r);
        self.bounded_type(TypeExpr::Record(fields, span))
    }

    fn bounded_type(&mut self, ty: TypeExpr) -> TypeExpr {
        if ty.depth() <= MAX_EXPR_DEPTH {
            return ty;
        }
        let span = ty.span();
        if !self.depth_reported {
            self.depth_reported = true;
            self.diagnostics
                .push(nesting_too_deep(span, Nested::Type).label("this type"));
        }
        TypeExpr::Named(Ident {
            name: "Bool".into(),
            span,
        })
    }

    /// Records a syntax error the grammar recovered from with `!`.
    pub fn recovered(&mut self, recovery: ErrorRecovery<usize, Tok<'s>, ()>) {
        let diagnostic = self.syntax_error(&recovery.error);
        self.diagnostics.push(diagnostic);
    }

    /// Describes a syntax error for a user.
    pub fn syntax_error(&self, error: &SyntaxError<'s>) -> Diagnostic {
        match error {
            ParseError::UnrecognizedToken { token, expected } => self.unexpected(token, expected),
            ParseError::ExtraToken { token } => self.unexpected(token, &[]),
            ParseError::UnrecognizedEof { location, expected } => match self.next_token {
                Some((l, tok, r)) if expected.iter().any(|e| e == "\";\"") => Diagnostic::new(
                    &Code::SYNTAX_ERROR,
                    self.span(*location, *location),
                    format!("missing `;` before {}", tok.describe()),
                )
                .label("expected `;` here")
                .with_secondary(self.span(l, r), "the next declaration starts here")
                .help("rules, limits and statements in tests and `http` blocks end with `;`"),
                Some((l, tok, r)) if open_bracket(expected).is_some() => {
                    let (open, close) = open_bracket(expected).unwrap_or(("{", "}"));
                    Diagnostic::new(
                        &Code::SYNTAX_ERROR,
                        self.span(*location, *location),
                        format!("missing `{close}` before {}", tok.describe()),
                    )
                    .label(format!("expected `{close}` here"))
                    .with_secondary(self.span(l, r), "the next declaration starts here")
                    .help(format!(
                        "a `{open}` is still open: close it before the next declaration"
                    ))
                }
                Some(next) => self.unexpected(&next, expected),
                None => {
                    let span = self.span(*location, *location);
                    Diagnostic::new(
                        &Code::UNEXPECTED_EOF,
                        span,
                        format!(
                            "unexpected end of file; expected {}",
                            describe_expected(expected)
                        ),
                    )
                    .label("the file ends here")
                    .help("finish the declaration, or remove it")
                }
            },
            ParseError::InvalidToken { location } => Diagnostic::new(
                &Code::SYNTAX_ERROR,
                self.span(*location, *location),
                "invalid token",
            ),
            ParseError::User { .. } => {
                Diagnostic::new(&Code::SYNTAX_ERROR, self.span(0, 0), "syntax error")
            }
        }
    }

    fn unexpected(&self, token: &(usize, Tok<'s>, usize), expected: &[String]) -> Diagnostic {
        let (l, tok, r) = token;
        let span = self.span(*l, *r);
        let found = tok.describe();
        let expects = |t: &str| expected.iter().any(|e| e == &format!("\"{t}\""));
        // A keyword that only starts a statement, where `;` could end the
        // one before: the `;` is what is missing.
        let starts_statement = matches!(
            tok,
            Tok::Limit
                | Tok::Expect
                | Tok::Entity
                | Tok::Permit
                | Tok::Forbid
                | Tok::At
                | Tok::Test
                | Tok::Ratelimit
                | Tok::Http
                | Tok::Package
        );
        if starts_statement && expects(";") {
            return Diagnostic::new(
                &Code::SYNTAX_ERROR,
                span,
                format!("missing `;` before {found}"),
            )
            .label("expected `;` before this")
            .help("rules, limits and statements in tests and `http` blocks end with `;`");
        }
        let message = if expected.is_empty() {
            format!("unexpected {found}")
        } else {
            format!(
                "unexpected {found}; expected {}",
                describe_expected(expected)
            )
        };
        let mut diagnostic =
            Diagnostic::new(&Code::SYNTAX_ERROR, span, message).label("unexpected here");
        if *tok == Tok::Assign && expects("==") {
            diagnostic = diagnostic.help("equality is written `==`");
        } else if let (Tok::Semi, Some((open, close))) = (tok, open_bracket(expected)) {
            diagnostic = diagnostic.help(format!(
                "a `{open}` is still open: add `{close}` before the `;`"
            ));
        } else if *tok == Tok::Semi && !expects(";") && !expects("(") && !expects_operand(expected)
        {
            diagnostic = diagnostic
                .help("only rules, limits and statements in tests and `http` blocks end with `;`");
        } else if expects(";") && expected.len() <= 4 && self.starts_line(*l) {
            // Only a token that starts a line suggests a `;` forgotten at the
            // end of the one before; inside a line, one would not help.
            diagnostic = diagnostic.help("add a `;` to end the previous rule or statement");
        }
        diagnostic
    }

    /// Whether only whitespace precedes `at` on its line.
    fn starts_line(&self, at: usize) -> bool {
        let before = self.text.get(..at).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..].trim().is_empty()
    }
}

/// What nests too deep: the message and the advice differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nested {
    Expression,
    Type,
}

/// E0012 at `at`, without its label.
pub fn nesting_too_deep(at: Span, what: Nested) -> Diagnostic {
    let (noun, help) = match what {
        Nested::Expression => (
            "expression",
            "split the condition into several `when` clauses or rules",
        ),
        Nested::Type => (
            "type",
            "give inner records names: an attribute can hold an entity type",
        ),
    };
    Diagnostic::new(
        &Code::NESTING_TOO_DEEP,
        at,
        format!("{noun} is nested more than {MAX_EXPR_DEPTH} levels deep"),
    )
    .help(help)
}

/// Whether the parser wanted a name or a value: a `;` found there ends a
/// statement too early rather than ending something that takes no `;`.
fn expects_operand(expected: &[String]) -> bool {
    expected
        .iter()
        .any(|e| matches!(e.as_str(), "IDENT" | "STR" | "INT"))
}

/// The bracket a syntax error shows to be still open: the parser would
/// accept its closing bracket here.
fn open_bracket(expected: &[String]) -> Option<(&'static str, &'static str)> {
    [("(", ")"), ("[", "]"), ("{", "}")]
        .into_iter()
        .find(|(_, close)| expected.iter().any(|e| e.trim_matches('"') == *close))
}

/// A unit literal whose unit is right but for its case (`16kib`, `30M`):
/// the code, what the literal is, and the literal as it should be written.
fn miscased_unit(raw: &str) -> Option<(&'static Code, &'static str, String)> {
    const SIZE_UNITS: [&str; 7] = ["B", "KB", "KiB", "MB", "MiB", "GB", "GiB"];
    const DURATION_UNITS: [&str; 5] = ["ms", "s", "m", "h", "d"];
    let split = raw.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = raw.split_at(split);
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let find =
        |units: &[&'static str]| units.iter().find(|u| u.eq_ignore_ascii_case(unit)).copied();
    if let Some(size) = find(&SIZE_UNITS) {
        return Some((&Code::MALFORMED_SIZE, "size", format!("{number}{size}")));
    }
    // `5M` may mean minutes or megabytes: no guess.
    let duration = find(&DURATION_UNITS).filter(|_| unit != "M");
    duration.map(|d| {
        (
            &Code::MALFORMED_DURATION,
            "duration",
            format!("{number}{d}"),
        )
    })
}

/// Renders lalrpop's expected-terminal list in words.
fn describe_expected(expected: &[String]) -> String {
    const EXPRESSION_STARTS: [&str; 6] =
        ["INT", "STR", "\"(\"", "\"[\"", "\"true\"", "\"principal\""];
    let is_expression = EXPRESSION_STARTS
        .iter()
        .all(|t| expected.iter().any(|e| e == t));
    let mut words: Vec<String> = Vec::new();
    if is_expression {
        words.push("an expression".into());
    }
    for e in expected {
        let word = match e.as_str() {
            // Names start expressions too (`read`, `User::"x"`, `ip(…)`).
            "IDENT" if is_expression => continue,
            "IDENT" => "a name".to_owned(),
            "INT" | "UNIT_NUMBER" | "IP" | "TIMESTAMP" | "STR" | "DECIMAL" if is_expression => {
                continue;
            }
            "INT" => "an integer".to_owned(),
            "DECIMAL" => "a decimal".to_owned(),
            "STR" => "a string".to_owned(),
            "UNIT_NUMBER" => "a duration".to_owned(),
            "IP" => "an IP address".to_owned(),
            "TIMESTAMP" => "a timestamp".to_owned(),
            quoted => {
                let text = quoted.trim_matches('"');
                if is_expression && is_expression_start(text) {
                    continue;
                }
                format!("`{text}`")
            }
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.len() {
        0 => "nothing more".into(),
        1 => words.remove(0),
        n if n <= 8 => {
            let last = words.pop().unwrap_or_default();
            format!("{} or {last}", words.join(", "))
        }
        n => format!("{} or one of {} others", words[..6].join(", "), n - 6),
    }
}

fn is_expression_start(token: &str) -> bool {
    matches!(
        token,
        "(" | "["
            | "{"
            | "!"
            | "-"
            | "if"
            | "true"
            | "false"
            | "principal"
            | "action"
            | "resource"
            | "context"
            | "descriptor"
            | "request"
    )
}

/// A type as written, for messages.
fn type_text(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Named(name) => name.name.clone(),
        TypeExpr::Generic { name, args, .. } => {
            let args: Vec<String> = args.iter().map(type_text).collect();
            format!("{}<{}>", name.name, args.join(", "))
        }
        TypeExpr::Record(..) => "{ … }".to_owned(),
    }
}
