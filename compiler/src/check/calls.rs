//! Type checking of built-in functions (`ip`, `decimal`, and in the http
//! mapping `header`, `has_header`, `param`) and methods: on sets, maps,
//! strings, IPs, entities, timestamps and durations. Each method is one
//! entry of [`METHODS`]: its receiver, arguments and result.

use reaper_lang::literal;

use super::expr::{Checked, ExprCx, Scope, error};
use super::facts::{Facts, Flow, key_fact, path};
use super::types::{article, unify};
use crate::ast::{self, ExprKind, Literal};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, BinOp, Const, Ty, UnOp};

const FUNCTIONS: [&str; 5] = ["ip", "decimal", "header", "has_header", "param"];

/// The kinds of receiver methods are defined on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Set,
    Map,
    String,
    Ip,
    Entity,
    Timestamp,
    Duration,
}

impl Receiver {
    fn of(ty: &Ty) -> Option<Receiver> {
        Some(match ty {
            Ty::Set(_) | Ty::EmptySet => Receiver::Set,
            Ty::Map(_) => Receiver::Map,
            Ty::String => Receiver::String,
            Ty::Ip => Receiver::Ip,
            Ty::Entity(_) => Receiver::Entity,
            Ty::Timestamp => Receiver::Timestamp,
            Ty::Duration => Receiver::Duration,
            _ => return None,
        })
    }
}

/// What a method computes.
#[derive(Debug, Clone)]
enum Meaning {
    /// One operand: the receiver.
    Unary(UnOp, Ty),
    /// The receiver and one argument, as an operator.
    Binary(BinOp),
}

/// The methods a value of type `ty` has, with their number of arguments
/// (for editors' completion).
pub fn methods_of_type(ty: &Ty) -> Vec<(&'static str, usize)> {
    let Some(receiver) = Receiver::of(ty) else {
        return Vec::new();
    };
    METHODS
        .iter()
        .filter(|(r, ..)| *r == receiver)
        .map(|(_, name, args, _)| (*name, *args))
        .collect()
}

/// Every method: receiver kind, name, number of arguments, meaning.
const METHODS: &[(Receiver, &str, usize, Meaning)] = &[
    (Receiver::Set, "contains", 1, Meaning::Binary(BinOp::InSet)),
    (
        Receiver::Set,
        "contains_all",
        1,
        Meaning::Binary(BinOp::ContainsAll),
    ),
    (
        Receiver::Set,
        "contains_any",
        1,
        Meaning::Binary(BinOp::ContainsAny),
    ),
    (
        Receiver::Set,
        "is_empty",
        0,
        Meaning::Unary(UnOp::IsEmpty, Ty::Bool),
    ),
    (Receiver::Set, "len", 0, Meaning::Unary(UnOp::Len, Ty::Int)),
    (
        Receiver::Map,
        "contains_key",
        1,
        Meaning::Binary(BinOp::HasKey),
    ),
    (Receiver::Map, "get", 1, Meaning::Binary(BinOp::GetKey)),
    (
        Receiver::Map,
        "keys",
        0,
        Meaning::Unary(UnOp::Keys, Ty::Error),
    ),
    (
        Receiver::Map,
        "is_empty",
        0,
        Meaning::Unary(UnOp::IsEmpty, Ty::Bool),
    ),
    (Receiver::Map, "len", 0, Meaning::Unary(UnOp::Len, Ty::Int)),
    (
        Receiver::String,
        "starts_with",
        1,
        Meaning::Binary(BinOp::StartsWith),
    ),
    (
        Receiver::String,
        "ends_with",
        1,
        Meaning::Binary(BinOp::EndsWith),
    ),
    (
        Receiver::String,
        "contains",
        1,
        Meaning::Binary(BinOp::ContainsText),
    ),
    (
        Receiver::Ip,
        "is_ipv4",
        0,
        Meaning::Unary(UnOp::IsIpv4, Ty::Bool),
    ),
    (
        Receiver::Ip,
        "is_ipv6",
        0,
        Meaning::Unary(UnOp::IsIpv6, Ty::Bool),
    ),
    (
        Receiver::Ip,
        "is_loopback",
        0,
        Meaning::Unary(UnOp::IsLoopback, Ty::Bool),
    ),
    (
        Receiver::Ip,
        "is_multicast",
        0,
        Meaning::Unary(UnOp::IsMulticast, Ty::Bool),
    ),
    (
        Receiver::Entity,
        "id",
        0,
        Meaning::Unary(UnOp::EntityId, Ty::String),
    ),
    (
        Receiver::Timestamp,
        "to_date",
        0,
        Meaning::Unary(UnOp::ToDate, Ty::Timestamp),
    ),
    (
        Receiver::Timestamp,
        "to_time",
        0,
        Meaning::Unary(UnOp::ToTime, Ty::Duration),
    ),
    (
        Receiver::Timestamp,
        "day_of_week",
        0,
        Meaning::Unary(UnOp::DayOfWeek, Ty::Int),
    ),
    (
        Receiver::Timestamp,
        "year",
        0,
        Meaning::Unary(UnOp::Year, Ty::Int),
    ),
    (
        Receiver::Timestamp,
        "month",
        0,
        Meaning::Unary(UnOp::Month, Ty::Int),
    ),
    (
        Receiver::Timestamp,
        "day",
        0,
        Meaning::Unary(UnOp::Day, Ty::Int),
    ),
    (
        Receiver::Timestamp,
        "hour",
        0,
        Meaning::Unary(UnOp::Hour, Ty::Int),
    ),
    (
        Receiver::Timestamp,
        "minute",
        0,
        Meaning::Unary(UnOp::Minute, Ty::Int),
    ),
    (
        Receiver::Duration,
        "to_days",
        0,
        Meaning::Unary(UnOp::ToDays, Ty::Int),
    ),
    (
        Receiver::Duration,
        "to_hours",
        0,
        Meaning::Unary(UnOp::ToHours, Ty::Int),
    ),
    (
        Receiver::Duration,
        "to_minutes",
        0,
        Meaning::Unary(UnOp::ToMinutes, Ty::Int),
    ),
    (
        Receiver::Duration,
        "to_seconds",
        0,
        Meaning::Unary(UnOp::ToSeconds, Ty::Int),
    ),
    (
        Receiver::Duration,
        "to_milliseconds",
        0,
        Meaning::Unary(UnOp::ToMilliseconds, Ty::Int),
    ),
];

fn methods_of(receiver: Receiver) -> Vec<&'static str> {
    METHODS
        .iter()
        .filter(|(r, ..)| *r == receiver)
        .map(|(_, name, ..)| *name)
        .collect()
}

impl ExprCx<'_> {
    pub(super) fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        facts: &Facts,
    ) -> typed::Expr {
        if !FUNCTIONS.contains(&name.name.as_str()) {
            let diagnostic = Diagnostic::new(
                &Code::UNKNOWN_FUNCTION,
                name.span,
                format!("unknown function `{}`", name.name),
            )
            .label("no such function")
            .suggest(&name.name, FUNCTIONS);
            let diagnostic = if diagnostic.help.is_none() {
                diagnostic.help(format!("functions are {}", FUNCTIONS.join(", ")))
            } else {
                diagnostic
            };
            self.diags.push(diagnostic);
            for arg in args {
                self.check(arg, facts);
            }
            return error(span);
        }
        if !self.arity(&name.name, &usage(&name.name), args, 1, span) {
            return error(span);
        }
        if matches!(name.name.as_str(), "ip" | "decimal") {
            return self.conversion(name, &args[0], span, facts);
        }
        let Some(text) = self.string_literal_arg(name, &args[0]) else {
            return error(span);
        };
        let kind = match name.name.as_str() {
            "header" | "has_header" => {
                if !matches!(self.scope, Scope::Http { .. }) {
                    return self.http_only(name, span);
                }
                // HTTP/2 header names are lowercase; Envoy delivers them so.
                let header = text.to_ascii_lowercase();
                if name.name == "header" {
                    (typed::ExprKind::Header(header), Ty::String)
                } else {
                    (typed::ExprKind::HasHeader(header), Ty::Bool)
                }
            }
            _ => match &self.scope {
                Scope::Http {
                    params: Some(params),
                } => {
                    if !params.contains(&text) {
                        let diagnostic = Diagnostic::new(
                            &Code::INVALID_HTTP_MAPPING,
                            args[0].span,
                            format!("the route has no path parameter `{text}`"),
                        )
                        .label("not in the route's pattern")
                        .suggest(&text, params.iter().map(String::as_str));
                        let diagnostic = if diagnostic.help.is_none() {
                            diagnostic
                                .help("parameters are the `{name}` segments of the route's pattern")
                        } else {
                            diagnostic
                        };
                        self.diags.push(diagnostic);
                        return error(span);
                    }
                    (typed::ExprKind::Param(text), Ty::String)
                }
                Scope::Http { params: None } => {
                    self.diags.push(
                        Diagnostic::new(&Code::INVALID_HTTP_MAPPING, span, "`param` is only available in a route")
                            .label("outside a route")
                            .help("path parameters come from a route's pattern, as in `GET \"/docs/{id}\" => …`"),
                    );
                    return error(span);
                }
                _ => return self.http_only(name, span),
            },
        };
        typed::Expr {
            kind: kind.0,
            ty: kind.1,
            span,
        }
    }

    /// `ip(s)` and `decimal(s)`: a literal is checked now and becomes a
    /// constant; a computed string is converted at run time, where text
    /// that is not one is an error (in a rate limit, the limit does not
    /// apply, as with a missing descriptor entry).
    fn conversion(
        &mut self,
        name: &ast::Ident,
        arg: &ast::Expr,
        span: Span,
        facts: &Facts,
    ) -> typed::Expr {
        let is_ip = name.name == "ip";
        if let ExprKind::Literal(Literal::String(text)) = &arg.kind {
            let parsed = if is_ip {
                literal::parse_ip(text).map(|net| (Const::Ip(net), Ty::Ip))
            } else {
                literal::parse_decimal(text).map(|n| (Const::Decimal(n), Ty::Decimal))
            };
            return match parsed {
                Ok((value, ty)) => constant(value, ty, span),
                Err(e) => {
                    let (code, help) = if is_ip {
                        (
                            &Code::MALFORMED_IP,
                            "write an address (`2001:db8::1`) or a range (`2001:db8::/32`)",
                        )
                    } else {
                        (
                            &Code::MALFORMED_DECIMAL,
                            "write a number with at most four fractional digits, as in `12.5`",
                        )
                    };
                    self.diags.push(
                        Diagnostic::new(code, arg.span, e.to_string())
                            .label("malformed literal")
                            .help(help),
                    );
                    error(span)
                }
            };
        }
        let operand = self.expect(
            arg,
            facts,
            &Ty::String,
            &format!("`{}` converts a `String`", name.name),
        );
        let (op, ty) = if is_ip {
            (UnOp::ParseIp, Ty::Ip)
        } else {
            (UnOp::ParseDecimal, Ty::Decimal)
        };
        typed::Expr::unary(op, operand, ty, span)
    }

    fn http_only(&mut self, name: &ast::Ident, span: Span) -> typed::Expr {
        self.diags.push(
            Diagnostic::new(
                &Code::UNKNOWN_FUNCTION,
                name.span,
                format!("`{}` is only available in the http mapping", name.name),
            )
            .label("outside `http { … }`")
            .help("requests carry headers only when they arrive over HTTP; map them to the context in `http { … }`"),
        );
        error(span)
    }

    fn arity(
        &mut self,
        name: &str,
        usage: &str,
        args: &[ast::Expr],
        want: usize,
        span: Span,
    ) -> bool {
        if args.len() == want {
            return true;
        }
        let takes = reaper_lang::plural::count(want, "argument", "arguments");
        self.diags.push(
            Diagnostic::new(
                &Code::ARITY,
                span,
                format!("`{name}` takes {takes}, not {}", args.len()),
            )
            .label("wrong number of arguments")
            .help(format!("write `{usage}`")),
        );
        false
    }

    fn string_literal_arg(&mut self, name: &ast::Ident, arg: &ast::Expr) -> Option<String> {
        if let ExprKind::Literal(Literal::String(text)) = &arg.kind {
            return Some(text.clone());
        }
        if !matches!(arg.kind, ExprKind::Error) {
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    arg.span,
                    format!("`{}` takes a string literal", name.name),
                )
                .label("not a string literal")
                .help(format!("write the text in quotes: `{}(\"…\")`", name.name)),
            );
        }
        None
    }

    pub(super) fn method(
        &mut self,
        recv: &ast::Expr,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        facts: &Facts,
    ) -> Checked {
        let (receiver, _) = self.check(recv, facts);
        let typed_args: Vec<typed::Expr> = args.iter().map(|a| self.check(a, facts).0).collect();
        if receiver.ty.is_error() {
            return (error(span), Flow::none());
        }
        let method = name.name.as_str();
        let kind = Receiver::of(&receiver.ty);
        let entry = kind.and_then(|kind| {
            METHODS
                .iter()
                .find(|(r, n, ..)| *r == kind && *n == method)
                .cloned()
        });
        let Some((_, _, want, meaning)) = entry else {
            self.unknown_method(&receiver.ty, kind, name);
            return (error(span), Flow::none());
        };
        if !self.arity(method, &method_usage(method, kind), args, want, span) {
            return (error(span), Flow::none());
        }
        let meaning = match meaning {
            Meaning::Unary(UnOp::Keys, _) => {
                Meaning::Unary(UnOp::Keys, Ty::Set(Box::new(Ty::String)))
            }
            other => other,
        };
        let (op, ty) = match meaning {
            Meaning::Unary(op, ty) => {
                return (typed::Expr::unary(op, receiver, ty, span), Flow::none());
            }
            Meaning::Binary(op) => (op, Ty::Bool),
        };
        let Some(arg) = typed_args.into_iter().next() else {
            return (error(span), Flow::none());
        };
        match (op, &receiver.ty) {
            (BinOp::HasKey | BinOp::GetKey, Ty::Map(value)) => {
                let value = (**value).clone();
                self.map_method(op, recv, receiver, &args[0], arg, value, span, facts)
            }
            (BinOp::StartsWith | BinOp::EndsWith | BinOp::ContainsText, _) => {
                if !matches!(arg.ty, Ty::String | Ty::Error) {
                    let found = arg.ty.clone();
                    self.mismatch(
                        args[0].span,
                        &Ty::String,
                        &found,
                        "the argument is a `String`",
                    );
                    return (error(span), Flow::none());
                }
                (
                    typed::Expr::binary(op, receiver, arg, ty, span),
                    Flow::none(),
                )
            }
            _ => (
                self.set_method(op, method, receiver, arg, &args[0], span),
                Flow::none(),
            ),
        }
    }

    fn unknown_method(&mut self, ty: &Ty, kind: Option<Receiver>, name: &ast::Ident) {
        let on = self.show(ty);
        let candidates = kind.map(methods_of).unwrap_or_default();
        let diagnostic = Diagnostic::new(
            &Code::UNKNOWN_FUNCTION,
            name.span,
            format!("`{on}` has no method `{}`", name.name),
        )
        .label("unknown method")
        .suggest(&name.name, candidates.iter().copied());
        let diagnostic = match (diagnostic.help.is_none(), candidates.is_empty()) {
            (true, false) => {
                diagnostic.help(format!("methods of `{on}`: {}", candidates.join(", ")))
            }
            (true, true) => diagnostic.help(
                "sets, maps, strings, IPs, entities, timestamps and durations have methods; other values have none",
            ),
            _ => diagnostic,
        };
        self.diags.push(diagnostic);
    }

    /// `m.contains_key(k)` (a guard) and `m.get(k)` (which needs one, like
    /// an optional attribute: the key may be absent).
    #[allow(clippy::too_many_arguments, reason = "the parts of one call")]
    fn map_method(
        &mut self,
        op: BinOp,
        recv: &ast::Expr,
        receiver: typed::Expr,
        key_expr: &ast::Expr,
        key: typed::Expr,
        value: Ty,
        span: Span,
        facts: &Facts,
    ) -> Checked {
        if !matches!(key.ty, Ty::String | Ty::Error) {
            let found = key.ty.clone();
            self.mismatch(key_expr.span, &Ty::String, &found, "map keys are `String`s");
            return (error(span), Flow::none());
        }
        let fact = path(recv).zip(key_fact(key_expr));
        if op == BinOp::HasKey {
            let flow = fact.map_or_else(Flow::none, |(m, k)| Flow::when_true(Facts::present(m, k)));
            return (typed::Expr::binary(op, receiver, key, Ty::Bool, span), flow);
        }
        let guarded = fact.as_ref().is_some_and(|(m, k)| facts.has(m, k));
        if !guarded {
            let (m, k) = (describe(recv), describe(key_expr));
            self.diags.push(
                Diagnostic::new(
                    &Code::UNGUARDED_OPTIONAL,
                    span,
                    "the key may be absent from the map",
                )
                .label("read without a `contains_key` guard")
                .help(format!(
                    "test it first: `{m}.contains_key({k}) && {m}.get({k}) …`; the guard must test the same key expression"
                )),
            );
        }
        (
            typed::Expr::binary(op, receiver, key, value, span),
            Flow::none(),
        )
    }

    /// `contains`, `contains_all`, `contains_any` on sets. On sets of IPs
    /// they test containment in the ranges, like `in`.
    fn set_method(
        &mut self,
        op: BinOp,
        method: &str,
        receiver: typed::Expr,
        arg: typed::Expr,
        arg_expr: &ast::Expr,
        span: Span,
    ) -> typed::Expr {
        let elem = match &receiver.ty {
            Ty::Set(elem) => (**elem).clone(),
            _ => Ty::Error,
        };
        let ranges = elem == Ty::Ip;
        let (op, lhs, rhs, fits) = match op {
            // `s.contains(x)` is `x in s`.
            BinOp::InSet => {
                let fits = arg.ty.is_error() || elem.is_error() || unify(&elem, &arg.ty).is_some();
                let op = if ranges {
                    BinOp::InRanges
                } else {
                    BinOp::InSet
                };
                (op, arg, receiver, fits)
            }
            _ => {
                let fits = match &arg.ty {
                    Ty::Error | Ty::EmptySet => true,
                    Ty::Set(other) => elem.is_error() || unify(&elem, other).is_some(),
                    _ => false,
                };
                let op = match (op, ranges) {
                    (BinOp::ContainsAll, true) => BinOp::ContainsAllRanges,
                    (BinOp::ContainsAny, true) => BinOp::ContainsAnyRanges,
                    (op, _) => op,
                };
                (op, receiver, arg, fits)
            }
        };
        if !fits {
            let (set, found) = if matches!(op, BinOp::InSet | BinOp::InRanges) {
                (self.show(&rhs.ty), self.show(&lhs.ty))
            } else {
                (self.show(&lhs.ty), self.show(&rhs.ty))
            };
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    arg_expr.span,
                    format!(
                        "`{method}` on {} cannot take {}",
                        article(&set),
                        article(&found)
                    ),
                )
                .label(format!("this is `{found}`"))
                .help("the argument must have the set's element type"),
            );
            return error(span);
        }
        typed::Expr::binary(op, lhs, rhs, Ty::Bool, span)
    }
}

/// A short rendering of a key or map expression for help texts.
fn describe(expr: &ast::Expr) -> String {
    match &expr.kind {
        ExprKind::Var(var) => var.as_str().to_owned(),
        ExprKind::Attr { base, name } if !name.quoted => {
            format!("{}.{}", describe(base), name.name)
        }
        ExprKind::Attr { base, name } => format!("{}[{:?}]", describe(base), name.name),
        ExprKind::Literal(Literal::String(text)) => format!("{text:?}"),
        ExprKind::Method { recv, name, args } if args.is_empty() => {
            format!("{}.{}()", describe(recv), name.name)
        }
        ExprKind::Paren(inner) => describe(inner),
        _ => "key".to_owned(),
    }
}

/// How a function is called, for help texts.
fn usage(name: &str) -> String {
    match name {
        "ip" => "ip(\"10.0.0.0/8\")".into(),
        "decimal" => "decimal(\"12.5\")".into(),
        "header" | "has_header" => format!("{name}(\"x-user-id\")"),
        "param" => "param(\"id\")".into(),
        other => format!("{other}(…)"),
    }
}

/// How a method is called on its kind of receiver (`set.contains(value)`).
fn method_usage(name: &str, receiver: Option<Receiver>) -> String {
    let value = match receiver {
        Some(Receiver::Set) => "set",
        Some(Receiver::Map) => "map",
        Some(Receiver::String) => "text",
        Some(Receiver::Ip) => "address",
        Some(Receiver::Entity) => "entity",
        Some(Receiver::Timestamp) => "time",
        Some(Receiver::Duration) => "duration",
        None => "value",
    };
    let args = match name {
        "contains" if value == "text" => "\"text\"",
        "contains" => "value",
        "contains_all" | "contains_any" => "[value, …]",
        "contains_key" | "get" => "\"key\"",
        "starts_with" | "ends_with" => "\"text\"",
        _ => "",
    };
    format!("{value}.{name}({args})")
}

fn constant(value: Const, ty: Ty, span: Span) -> typed::Expr {
    typed::Expr {
        kind: typed::ExprKind::Const(value),
        ty,
        span,
    }
}
