//! Expressions and types. Parentheses are printed exactly where the tree
//! has [`ExprKind::Paren`], so the printed text parses back to the same
//! tree; the only break opportunities are before `&&`/`||` and inside
//! lists, records, calls and `if`.

use crate::ast::{
    ActionRef, AttrDecl, BinaryOp, EntityLit, Expr, ExprKind, FieldName, Ident, Literal,
    RecordField, TypeExpr, UnaryOp,
};

use super::doc::Doc;
use super::printer::{BRACES, BRACKETS, Delims, PARENS, Printer};

impl<'a> Printer<'a> {
    pub(super) fn expr(&mut self, expr: &Expr) -> Doc<'a> {
        match &expr.kind {
            ExprKind::Literal(lit) => self.literal(expr, lit),
            ExprKind::Var(var) => self.at(expr.span, var.as_str()),
            ExprKind::Entity(lit) => self.entity_lit(lit),
            ExprKind::DynEntity { ty, id } => Doc::concat(vec![
                self.ident(ty),
                self.kw("::"),
                self.kw("("),
                self.expr(id),
                self.kw(")"),
            ]),
            ExprKind::Set(items) => self.list(BRACKETS, items, Self::expr),
            ExprKind::Record(fields) => self.record(BRACES, fields),
            ExprKind::Attr { base, name } => {
                let base = self.expr(base);
                let access = if name.quoted {
                    Doc::concat(vec![self.kw("["), self.verbatim(name.span), self.kw("]")])
                } else {
                    Doc::concat(vec![self.kw("."), self.field_name(name)])
                };
                Doc::concat(vec![base, access])
            }
            ExprKind::Has { base, name } => Doc::concat(vec![
                self.expr(base),
                Doc::Space,
                self.kw("has"),
                Doc::Space,
                self.field_name(name),
            ]),
            ExprKind::Is { base, ty } => Doc::concat(vec![
                self.expr(base),
                Doc::Space,
                self.kw("is"),
                Doc::Space,
                self.ident(ty),
            ]),
            ExprKind::Like {
                base, pattern_span, ..
            } => Doc::concat(vec![
                self.expr(base),
                Doc::Space,
                self.kw("like"),
                Doc::Space,
                self.verbatim(*pattern_span),
            ]),
            ExprKind::Call { name, args } => {
                let name = self.ident(name);
                Doc::concat(vec![name, self.list(PARENS, args, Self::expr)])
            }
            ExprKind::Method { recv, name, args } => Doc::concat(vec![
                self.expr(recv),
                self.kw("."),
                self.ident(name),
                self.list(PARENS, args, Self::expr),
            ]),
            ExprKind::Unary { op, operand } => {
                let op = match op {
                    UnaryOp::Not => self.kw("!"),
                    UnaryOp::Neg => self.kw("-"),
                };
                Doc::concat(vec![op, self.expr(operand)])
            }
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And | BinaryOp::Or => self.chain(*op, expr),
                _ => Doc::concat(vec![
                    self.expr(lhs),
                    Doc::Space,
                    self.kw(op.as_str()),
                    Doc::Space,
                    self.expr(rhs),
                ]),
            },
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let head = Doc::concat(vec![self.kw("if"), Doc::Space, self.expr(cond)]);
                let then = Doc::concat(vec![
                    Doc::Line,
                    self.kw("then"),
                    Doc::Space,
                    self.expr(then),
                ]);
                let otherwise = Doc::concat(vec![
                    Doc::Line,
                    self.kw("else"),
                    Doc::Space,
                    self.expr(otherwise),
                ]);
                Doc::group(Doc::concat(vec![
                    head,
                    Doc::indent(Doc::concat(vec![then, otherwise])),
                ]))
            }
            ExprKind::Paren(inner) => {
                Doc::concat(vec![self.kw("("), self.expr(inner), self.kw(")")])
            }
            ExprKind::Name(ident) => self.ident(ident),
            ExprKind::Error => self.copy(expr.span),
        }
    }

    /// `a && b && c` as one group: flat, or broken before every operator of
    /// the chain with the operator leading the continuation line.
    fn chain(&mut self, op: BinaryOp, expr: &Expr) -> Doc<'a> {
        let mut operands = Vec::new();
        let mut left = expr;
        while let ExprKind::Binary { op: o, lhs, rhs } = &left.kind {
            if *o != op {
                break;
            }
            operands.push(&**rhs);
            left = lhs;
        }
        operands.push(left);
        operands.reverse();
        // A chain of the other operator as first operand (`a && b || c`)
        // breaks one level deeper than this chain, so precedence shows.
        let first = match &operands[0].kind {
            ExprKind::Binary {
                op: BinaryOp::And | BinaryOp::Or,
                ..
            } => Doc::indent(self.expr(operands[0])),
            _ => self.expr(operands[0]),
        };
        let mut rest = Vec::new();
        for operand in &operands[1..] {
            rest.push(Doc::Line);
            rest.push(self.kw(op.as_str()));
            rest.push(Doc::Space);
            rest.push(self.expr(operand));
        }
        Doc::group(Doc::concat(vec![first, Doc::indent(Doc::concat(rest))]))
    }

    /// Numbers, durations, sizes, IPs, timestamps and strings keep their
    /// source spelling; only a folded negation (`- 5`) is respelt (`-5`).
    fn literal(&mut self, expr: &Expr, lit: &Literal) -> Doc<'a> {
        match lit {
            Literal::Bool(b) => self.at(expr.span, if *b { "true" } else { "false" }),
            Literal::Int(n) => {
                let source = self.source(expr.span);
                let plain = source.bytes().all(|b| b.is_ascii_digit() || b == b'_');
                if plain {
                    self.at(expr.span, source)
                } else {
                    self.at(expr.span, n.to_string())
                }
            }
            Literal::String(_)
            | Literal::Ip(_)
            | Literal::Duration(_)
            | Literal::Size(_)
            | Literal::Timestamp(_)
            | Literal::Decimal(_) => self.verbatim(expr.span),
        }
    }

    /// `delims` is [`BRACES`], maybe set to break first.
    pub(super) fn record(&mut self, delims: Delims, fields: &[RecordField]) -> Doc<'a> {
        self.list(delims, fields, Self::record_field)
    }

    fn record_field(&mut self, field: &RecordField) -> Doc<'a> {
        Doc::concat(vec![
            self.field_name(&field.name),
            self.kw(":"),
            Doc::Space,
            self.expr(&field.value),
        ])
    }

    pub(super) fn field_name(&mut self, name: &FieldName) -> Doc<'a> {
        if name.quoted {
            self.verbatim(name.span)
        } else {
            self.at(name.span, name.name.clone())
        }
    }

    pub(super) fn ident(&mut self, ident: &Ident) -> Doc<'a> {
        self.at(ident.span, ident.name.clone())
    }

    pub(super) fn entity_lit(&mut self, lit: &EntityLit) -> Doc<'a> {
        Doc::concat(vec![
            self.ident(&lit.ty),
            self.kw("::"),
            self.verbatim(lit.id.span),
        ])
    }

    pub(super) fn action_ref(&mut self, action: &ActionRef) -> Doc<'a> {
        if action.store {
            Doc::concat(vec![
                self.kw("store"),
                self.kw("."),
                self.ident(&action.name),
            ])
        } else {
            self.ident(&action.name)
        }
    }

    pub(super) fn attr_decls(&mut self, attrs: &[AttrDecl]) -> Doc<'a> {
        self.list(BRACES, attrs, Self::attr_decl)
    }

    fn attr_decl(&mut self, attr: &AttrDecl) -> Doc<'a> {
        let mut docs = Vec::new();
        for annotation in &attr.annotations {
            docs.extend([self.annotation(annotation), Doc::Space]);
        }
        docs.push(self.field_name(&attr.name));
        if attr.optional {
            docs.push(self.kw("?"));
        }
        docs.push(self.kw(":"));
        docs.push(Doc::Space);
        docs.push(self.type_expr(&attr.ty));
        Doc::concat(docs)
    }

    pub(super) fn type_expr(&mut self, ty: &TypeExpr) -> Doc<'a> {
        match ty {
            TypeExpr::Named(ident) => self.ident(ident),
            TypeExpr::Generic { name, args, .. } => {
                let mut docs = vec![self.ident(name), self.kw("<")];
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        docs.extend([self.sep(","), Doc::Space]);
                    }
                    docs.push(self.type_expr(arg));
                }
                self.skip(",");
                docs.push(self.kw(">"));
                Doc::concat(docs)
            }
            TypeExpr::Record(fields, _) => self.attr_decls(fields),
        }
    }
}
