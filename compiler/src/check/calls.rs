//! Type checking of built-in functions (`ip`, and in the http mapping
//! `header`, `has_header`, `param`) and methods (sets and IPs).

use reaper_lang::literal;

use super::expr::{ExprCx, Scope, error};
use super::facts::Facts;
use super::types::{article, unify};
use crate::ast::{self, ExprKind, Literal};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, BinOp, Const, Ty, UnOp};

const FUNCTIONS: [&str; 4] = ["ip", "header", "has_header", "param"];
const SET_METHODS: [&str; 5] = [
    "contains",
    "contains_all",
    "contains_any",
    "is_empty",
    "len",
];
const IP_METHODS: [&str; 4] = ["is_ipv4", "is_ipv6", "is_loopback", "is_multicast"];

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
        if !self.arity(name, args, 1, span) {
            return error(span);
        }
        let Some(text) = self.string_literal_arg(name, &args[0]) else {
            return error(span);
        };
        let kind = match name.name.as_str() {
            "ip" => match literal::parse_ip(&text) {
                Ok(net) => return constant(Const::Ip(net), Ty::Ip, span),
                Err(e) => {
                    self.diags.push(
                        Diagnostic::new(&Code::MALFORMED_IP, args[0].span, e.to_string())
                            .label("malformed literal")
                            .help("write an address (`2001:db8::1`) or a range (`2001:db8::/32`)"),
                    );
                    return error(span);
                }
            },
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

    fn arity(&mut self, name: &ast::Ident, args: &[ast::Expr], want: usize, span: Span) -> bool {
        if args.len() == want {
            return true;
        }
        let plural = if want == 1 { "" } else { "s" };
        self.diags.push(
            Diagnostic::new(
                &Code::ARITY,
                span,
                format!(
                    "`{}` takes {want} argument{plural}, not {}",
                    name.name,
                    args.len()
                ),
            )
            .label("wrong number of arguments")
            .help(format!("write `{}`", usage(&name.name))),
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
    ) -> typed::Expr {
        let (receiver, _) = self.check(recv, facts);
        let typed_args: Vec<typed::Expr> = args.iter().map(|a| self.check(a, facts).0).collect();
        if receiver.ty.is_error() {
            return error(span);
        }
        let method = name.name.as_str();
        let (known, candidates): (bool, &[&str]) = match &receiver.ty {
            Ty::Set(_) | Ty::EmptySet => (SET_METHODS.contains(&method), &SET_METHODS),
            Ty::Ip => (IP_METHODS.contains(&method), &IP_METHODS),
            _ => (false, &[]),
        };
        if !known {
            let on = self.show(&receiver.ty);
            let diagnostic = Diagnostic::new(
                &Code::UNKNOWN_FUNCTION,
                name.span,
                format!("`{on}` has no method `{method}`"),
            )
            .label("unknown method")
            .suggest(method, candidates.iter().copied());
            let diagnostic = match (diagnostic.help.is_none(), candidates.is_empty()) {
                (true, false) => {
                    diagnostic.help(format!("methods of `{on}`: {}", candidates.join(", ")))
                }
                (true, true) if receiver.ty == Ty::String => diagnostic.help(
                    "strings have no methods; match them with `like`, as in `s like \"*@example.com\"`",
                ),
                (true, true) => {
                    diagnostic.help("sets and IPs have methods; other values have none")
                }
                _ => diagnostic,
            };
            self.diags.push(diagnostic);
            return error(span);
        }
        let want = usize::from(matches!(
            method,
            "contains" | "contains_all" | "contains_any"
        ));
        if !self.arity(name, args, want, span) {
            return error(span);
        }
        let unary = |op, ty, operand: typed::Expr| typed::Expr {
            kind: typed::ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            ty,
            span,
        };
        match method {
            "is_empty" => return unary(UnOp::IsEmpty, Ty::Bool, receiver),
            "len" => return unary(UnOp::Len, Ty::Int, receiver),
            "is_ipv4" => return unary(UnOp::IsIpv4, Ty::Bool, receiver),
            "is_ipv6" => return unary(UnOp::IsIpv6, Ty::Bool, receiver),
            "is_loopback" => return unary(UnOp::IsLoopback, Ty::Bool, receiver),
            "is_multicast" => return unary(UnOp::IsMulticast, Ty::Bool, receiver),
            _ => {}
        }
        let Some(arg) = typed_args.into_iter().next() else {
            return error(span);
        };
        let elem = match &receiver.ty {
            Ty::Set(elem) => (**elem).clone(),
            _ => Ty::Error,
        };
        let (op, lhs, rhs, fits) = match method {
            // `s.contains(x)` is `x in s`.
            "contains" => {
                let fits = arg.ty.is_error() || elem.is_error() || unify(&elem, &arg.ty).is_some();
                (BinOp::InSet, arg, receiver, fits)
            }
            _ => {
                let fits = match &arg.ty {
                    Ty::Error | Ty::EmptySet => true,
                    Ty::Set(other) => elem.is_error() || unify(&elem, other).is_some(),
                    _ => false,
                };
                let op = if method == "contains_all" {
                    BinOp::ContainsAll
                } else {
                    BinOp::ContainsAny
                };
                (op, receiver, arg, fits)
            }
        };
        if !fits {
            let (set, found) = (
                self.show(&if op == BinOp::InSet {
                    rhs.ty.clone()
                } else {
                    lhs.ty.clone()
                }),
                {
                    let a = if op == BinOp::InSet { &lhs } else { &rhs };
                    self.show(&a.ty)
                },
            );
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    args[0].span,
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
        typed::Expr {
            kind: typed::ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            ty: Ty::Bool,
            span,
        }
    }
}

/// How a function or method is called, for help texts.
fn usage(name: &str) -> String {
    match name {
        "ip" => "ip(\"10.0.0.0/8\")".into(),
        "header" | "has_header" => format!("{name}(\"x-user-id\")"),
        "param" => "param(\"id\")".into(),
        "contains" => "set.contains(value)".into(),
        "contains_all" | "contains_any" => format!("set.{name}([value, …])"),
        "is_empty" | "len" => format!("set.{name}()"),
        other => format!("address.{other}()"),
    }
}

fn constant(value: Const, ty: Ty, span: Span) -> typed::Expr {
    typed::Expr {
        kind: typed::ExprKind::Const(value),
        ty,
        span,
    }
}
