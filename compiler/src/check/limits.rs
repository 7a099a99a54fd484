//! Checking of `ratelimit` domains: unique domains and limit names, counts
//! and periods that can let traffic through, options that fit together, and
//! conditions and `by` keys over the descriptor.

use std::collections::HashMap;

use reaper_lang::limits::{Algorithm, LimitSpec};

use super::Checker;
use super::expr::Scope;
use super::facts::Facts;
use crate::ast::{self, ConditionKind, ExprKind, Item, Literal, Per};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, Ty};

pub const UNITS: [(&str, u64); 4] = [
    ("second", 1_000),
    ("minute", 60_000),
    ("hour", 3_600_000),
    ("day", 86_400_000),
];
pub const OPTIONS: [&str; 5] = [
    "burst",
    "shadow",
    "fixed_window",
    "sliding_window",
    "token_bucket",
];

impl Checker<'_> {
    pub(super) fn check_ratelimits(&mut self, trees: &[&ast::File]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for tree in trees {
            for item in &tree.items {
                let Item::RateLimit(decl) = item else {
                    continue;
                };
                if let Some(previous) = seen.get(&decl.domain.value) {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::DUPLICATE_DECLARATION,
                            decl.domain.span,
                            format!(
                                "rate-limit domain {:?} is declared twice",
                                decl.domain.value
                            ),
                        )
                        .label("declared again here")
                        .with_secondary(*previous, "first declared here")
                        .help("put all limits of a domain in one `ratelimit` block"),
                    );
                    continue;
                }
                seen.insert(decl.domain.value.clone(), decl.domain.span);
                let mut names: HashMap<&str, Span> = HashMap::new();
                let mut limits = Vec::new();
                for limit in &decl.limits {
                    if let Some(previous) = names.get(limit.name.name.as_str()) {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::DUPLICATE_DECLARATION,
                                limit.name.span,
                                format!(
                                    "limit `{}` is declared twice in this domain",
                                    limit.name.name
                                ),
                            )
                            .label("declared again here")
                            .with_secondary(*previous, "first declared here"),
                        );
                        continue;
                    }
                    names.insert(&limit.name.name, limit.name.span);
                    if let Some(checked) = self.limit(limit) {
                        limits.push(checked);
                    }
                }
                let origin = self.origin(decl.span);
                self.package.domains.push(typed::Domain {
                    name: decl.domain.value.clone(),
                    limits,
                    origin,
                });
            }
        }
    }

    fn limit(&mut self, limit: &ast::LimitDecl) -> Option<typed::Limit> {
        let count = limit.count.value;
        let mut valid = true;
        if count < 1 {
            self.diags.push(
                Diagnostic::new(&Code::IMPOSSIBLE_LIMIT, limit.count.span, format!("a limit of {count} lets no request through"))
                    .label("must be at least 1")
                    .help("to block traffic, write a `forbid` rule; to count without enforcing, add `, shadow`"),
            );
            valid = false;
        }
        let period_ms = self.period(&limit.per);
        valid &= period_ms.is_some();
        let options = self.options(limit, count);
        valid &= options.is_some();
        let (algorithm, shadow) = options.unwrap_or((Algorithm::FixedWindow, false));

        let conditions = self.conditions(&limit.conditions, &Scope::Limit);
        self.warn_fails_open(&conditions);
        // What the clauses establish holds for the `by` keys.
        let mut facts = Facts::default();
        for condition in &limit.conditions {
            let (_, flow) = self
                .expr_cx(Scope::Limit)
                .condition(&condition.expr, &facts);
            facts = match condition.kind {
                ConditionKind::When => facts.and(&flow.when_true),
                ConditionKind::Unless => facts.and(&flow.when_false),
            };
        }
        let mut by = Vec::new();
        let mut cx = self.expr_cx(Scope::Limit);
        for key in &limit.by {
            by.push(cx.expect(
                key,
                &facts,
                &Ty::String,
                "a `by` key is a `String`, such as `descriptor.user_id`",
            ));
        }
        let origin = self.origin(limit.span);
        valid.then(|| typed::Limit {
            spec: LimitSpec {
                name: limit.name.name.clone(),
                count: count.unsigned_abs(),
                period_ms: period_ms.unwrap_or(1),
                algorithm,
                shadow,
            },
            conditions,
            by,
            origin,
        })
    }

    /// Warns about descriptor entries read where their absence would, by
    /// the reading, still let the limit apply: under `!=`, `!`, `unless` or
    /// an `if` test. A missing entry makes the limit not apply at all, so
    /// such a limit quietly skips the descriptors that lack the entry.
    fn warn_fails_open(&mut self, conditions: &[typed::Condition]) {
        let mut guarded: Vec<String> = Vec::new();
        let mut reads: Vec<(Span, String, String)> = Vec::new();
        for condition in conditions {
            let negative = condition.kind == ConditionKind::Unless;
            let (when_true, when_false) = entry_reads(
                &condition.expr,
                &guarded,
                negative,
                &condition.text,
                &mut reads,
            );
            guarded.extend(if negative { when_false } else { when_true });
        }
        let mut reported: Vec<String> = Vec::new();
        for (span, key, clause) in reads {
            if reported.contains(&key) {
                continue;
            }
            let shown = reaper_lang::schema::field_name(&key);
            self.diags.push(
                Diagnostic::new(
                    &Code::LIMIT_FAILS_OPEN,
                    span,
                    format!("this limit does not apply to a descriptor without `{key}`"),
                )
                .label(format!("a missing `{key}` stops the limit here"))
                .help(format!(
                    "`{clause}` cannot be evaluated without `{key}`, so such descriptors are not counted (the limit fails open); to count them, write `!(descriptor has {shown}) || …`; to skip them on purpose, write `descriptor has {shown} && …`"
                )),
            );
            reported.push(key);
        }
    }

    fn period(&mut self, per: &Per) -> Option<u64> {
        match per {
            Per::Unit(unit) => {
                if let Some((_, ms)) = UNITS.iter().find(|(name, _)| *name == unit.name) {
                    return Some(*ms);
                }
                let names = UNITS.map(|(n, _)| n);
                let diagnostic = Diagnostic::new(
                    &Code::UNKNOWN_SETTING,
                    unit.span,
                    format!("unknown unit `{}`", unit.name),
                )
                .label("not a unit")
                .suggest(&unit.name, names);
                let diagnostic = if diagnostic.help.is_none() {
                    diagnostic.help("write `per second`, `per minute`, `per hour`, `per day`, or a duration such as `per 10s`")
                } else {
                    diagnostic
                };
                self.diags.push(diagnostic);
                None
            }
            Per::Duration(expr) => match expr.kind {
                ExprKind::Literal(Literal::Duration(ms)) if ms > 0 => Some(ms.unsigned_abs()),
                ExprKind::Literal(Literal::Duration(_)) => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::IMPOSSIBLE_LIMIT,
                            expr.span,
                            "a limit's period must be longer than zero",
                        )
                        .label("empty period")
                        .help("write a period such as `per 10s` or `per minute`"),
                    );
                    None
                }
                ExprKind::Error => None,
                _ => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::INVALID_SETTING,
                            expr.span,
                            "`per` takes a unit or a duration",
                        )
                        .label("not a duration")
                        .help("write `per minute` or `per 10s`"),
                    );
                    None
                }
            },
        }
    }

    /// The algorithm and shadow flag the options choose.
    fn options(&mut self, limit: &ast::LimitDecl, count: i64) -> Option<(Algorithm, bool)> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut algorithm: Option<(&str, Span)> = None;
        let mut burst: Option<(u64, Span)> = None;
        let mut shadow = false;
        let mut ok = true;
        for option in &limit.options {
            let key = option.key.name.as_str();
            if !OPTIONS.contains(&key) {
                let diagnostic = Diagnostic::new(
                    &Code::UNKNOWN_SETTING,
                    option.key.span,
                    format!("unknown limit option `{key}`"),
                )
                .label("not a limit option")
                .suggest(key, OPTIONS);
                let diagnostic = if diagnostic.help.is_none() {
                    diagnostic.help(format!("limit options are {}", OPTIONS.join(", ")))
                } else {
                    diagnostic
                };
                self.diags.push(diagnostic);
                ok = false;
                continue;
            }
            if let Some(previous) = seen.insert(key, option.span) {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        option.span,
                        format!("`{key}` is given twice"),
                    )
                    .label("given again here")
                    .with_secondary(previous, "first given here"),
                );
                ok = false;
                continue;
            }
            match (key, option.value.as_ref().map(|v| &v.kind)) {
                ("burst", Some(ExprKind::Literal(Literal::Int(n)))) if *n >= 1 => {
                    burst = Some((n.unsigned_abs(), option.span));
                }
                ("burst", Some(ExprKind::Literal(Literal::Int(n)))) => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::IMPOSSIBLE_LIMIT,
                            option.span,
                            format!("a burst of {n} lets no request through"),
                        )
                        .label("must be at least 1"),
                    );
                    ok = false;
                }
                ("burst", Some(ExprKind::Error)) => ok = false,
                ("burst", _) => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::INVALID_SETTING,
                            option.span,
                            "`burst` takes a number of requests",
                        )
                        .label("expected an integer")
                        .help("write `burst 20`"),
                    );
                    ok = false;
                }
                (_, Some(_)) => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::INVALID_SETTING,
                            option.span,
                            format!("`{key}` takes no value"),
                        )
                        .label("unexpected value"),
                    );
                    ok = false;
                }
                ("shadow", None) => shadow = true,
                (algo, None) => {
                    if let Some((previous, span)) = algorithm {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_SETTING,
                                option.span,
                                format!(
                                    "a limit has one algorithm: `{previous}` and `{algo}` conflict"
                                ),
                            )
                            .label("second algorithm")
                            .with_secondary(span, "first algorithm"),
                        );
                        ok = false;
                    }
                    algorithm = Some((algo, option.span));
                }
            }
        }
        let algorithm = match (algorithm.map(|a| a.0), burst) {
            (None | Some("token_bucket"), Some((burst, _))) => Algorithm::TokenBucket { burst },
            (Some("token_bucket"), None) => Algorithm::TokenBucket {
                burst: count.unsigned_abs().max(1),
            },
            (Some("sliding_window"), None) => Algorithm::SlidingWindow,
            (None | Some(_), None) => Algorithm::FixedWindow,
            (Some(algo), Some((_, span))) => {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        span,
                        format!("`burst` does not apply to `{algo}`"),
                    )
                    .label("only token buckets have a burst")
                    .help("drop the algorithm (a burst implies a token bucket) or drop `burst`"),
                );
                return None;
            }
        };
        ok.then_some((algorithm, shadow))
    }
}

/// Walks a limit condition for descriptor entries read in a negative
/// position without a `has` guard (pushed to `out` with the clause's text);
/// returns the entries known present when the expression is true, and when
/// it is false.
fn entry_reads(
    expr: &typed::Expr,
    guarded: &[String],
    negative: bool,
    clause: &str,
    out: &mut Vec<(Span, String, String)>,
) -> (Vec<String>, Vec<String>) {
    use typed::{Access, BinOp, ExprKind as K, UnOp};
    let none = || (Vec::new(), Vec::new());
    match &expr.kind {
        K::Has(read) => match &read.access {
            Access::Descriptor { key } => (vec![key.clone()], Vec::new()),
            _ => none(),
        },
        K::Attr(read) => {
            if let Access::Descriptor { key } = &read.access
                && negative
                && !guarded.contains(key)
            {
                out.push((expr.span, key.clone(), clause.to_owned()));
            }
            none()
        }
        K::Unary {
            op: UnOp::Not,
            operand,
        } => {
            let (t, f) = entry_reads(operand, guarded, !negative, clause, out);
            (f, t)
        }
        K::Binary {
            op: BinOp::And,
            lhs,
            rhs,
        } => {
            let (lt, lf) = entry_reads(lhs, guarded, negative, clause, out);
            let inner: Vec<String> = guarded.iter().chain(&lt).cloned().collect();
            let (rt, rf) = entry_reads(rhs, &inner, negative, clause, out);
            let when_false = lf.into_iter().filter(|k| rf.contains(k)).collect();
            (lt.into_iter().chain(rt).collect(), when_false)
        }
        K::Binary {
            op: BinOp::Or,
            lhs,
            rhs,
        } => {
            let (lt, lf) = entry_reads(lhs, guarded, negative, clause, out);
            let inner: Vec<String> = guarded.iter().chain(&lf).cloned().collect();
            let (rt, rf) = entry_reads(rhs, &inner, negative, clause, out);
            let when_true = lt.into_iter().filter(|k| rt.contains(k)).collect();
            (when_true, lf.into_iter().chain(rf).collect())
        }
        K::Binary {
            op: BinOp::Ne,
            lhs,
            rhs,
        } => {
            entry_reads(lhs, guarded, !negative, clause, out);
            entry_reads(rhs, guarded, !negative, clause, out);
            none()
        }
        K::If {
            cond,
            then,
            otherwise,
        } => {
            // Absence skips both branches, which an `if` rarely means.
            let (ct, cf) = entry_reads(cond, guarded, true, clause, out);
            let in_then: Vec<String> = guarded.iter().chain(&ct).cloned().collect();
            let in_else: Vec<String> = guarded.iter().chain(&cf).cloned().collect();
            entry_reads(then, &in_then, negative, clause, out);
            entry_reads(otherwise, &in_else, negative, clause, out);
            none()
        }
        _ => {
            for child in children(expr) {
                entry_reads(child, guarded, negative, clause, out);
            }
            none()
        }
    }
}

/// The direct sub-expressions of a typed expression.
pub(super) fn children(expr: &typed::Expr) -> Vec<&typed::Expr> {
    use typed::ExprKind as K;
    match &expr.kind {
        K::Const(_) | K::Var(_) | K::Header(_) | K::HasHeader(_) | K::Param(_) | K::Error => {
            Vec::new()
        }
        K::DynEntity { id, .. } => vec![id],
        K::Set(items) => items.iter().collect(),
        K::Record(fields) => fields.iter().map(|(_, e)| e).collect(),
        K::Attr(read) | K::Has(read) => vec![&read.base],
        K::Is { base, .. } | K::Like { base, .. } => vec![base],
        K::Unary { operand, .. } => vec![operand],
        K::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        K::If {
            cond,
            then,
            otherwise,
        } => vec![cond, then, otherwise],
    }
}
