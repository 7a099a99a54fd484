//! Flow facts: what is known to hold where an expression is evaluated.
//! `x has a` makes reading `x.a` safe where it is known true: on the right
//! of `&&`, in a `then` branch, in later `when` clauses; and where it is
//! known *false* that `!(x has a)` or another test failed: on the right of
//! `||`, in an `else` branch, in the clauses after an `unless`. `x is T`
//! narrows `x` to `T` (or, known false, to its other types), and so does
//! `x has a` to the types that declare `a`; `m.contains_key(k)` makes
//! `m.get(k)` safe.

use reaper_lang::types::EntityTypeId;

use crate::ast::{Expr, ExprKind, Literal};

/// Facts known true at a point; small, so kept in vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    present: Vec<(String, String)>,
    narrowed: Vec<(String, Vec<EntityTypeId>)>,
}

/// What an expression establishes when it is true, and when it is false.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    pub when_true: Facts,
    pub when_false: Facts,
}

impl Flow {
    /// An expression that establishes nothing either way.
    pub fn none() -> Flow {
        Flow::default()
    }

    /// Facts for when the expression is true only.
    pub fn when_true(facts: Facts) -> Flow {
        Flow {
            when_true: facts,
            when_false: Facts::default(),
        }
    }

    /// `!e`: what `e` establishes, the other way round.
    pub fn not(self) -> Flow {
        Flow {
            when_true: self.when_false,
            when_false: self.when_true,
        }
    }

    /// `a && b`, with `b` checked where `a` is true.
    pub fn and(a: &Flow, b: &Flow) -> Flow {
        Flow {
            when_true: a.when_true.and(&b.when_true),
            when_false: a.when_false.or(&a.when_true.and(&b.when_false)),
        }
    }

    /// `a || b`, with `b` checked where `a` is false.
    pub fn or(a: &Flow, b: &Flow) -> Flow {
        Flow {
            when_true: a.when_true.or(&a.when_false.and(&b.when_true)),
            when_false: a.when_false.and(&b.when_false),
        }
    }

    /// `if c then x else y` for a `Bool` result.
    pub fn choose(c: &Flow, then: &Flow, otherwise: &Flow) -> Flow {
        Flow {
            when_true: c
                .when_true
                .and(&then.when_true)
                .or(&c.when_false.and(&otherwise.when_true)),
            when_false: c
                .when_true
                .and(&then.when_false)
                .or(&c.when_false.and(&otherwise.when_false)),
        }
    }
}

impl Facts {
    pub fn is_empty(&self) -> bool {
        self.present.is_empty() && self.narrowed.is_empty()
    }

    pub fn has(&self, path: &str, attr: &str) -> bool {
        self.present.iter().any(|(p, a)| p == path && a == attr)
    }

    pub fn narrowed(&self, path: &str) -> Option<&[EntityTypeId]> {
        self.narrowed
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, types)| types.as_slice())
    }

    pub fn present(path: String, attr: String) -> Self {
        Self {
            present: vec![(path, attr)],
            narrowed: Vec::new(),
        }
    }

    pub fn narrowing(path: String, types: Vec<EntityTypeId>) -> Self {
        Self {
            present: Vec::new(),
            narrowed: vec![(path, types)],
        }
    }

    /// Both sets of facts hold (`a && b`).
    pub fn and(&self, other: &Facts) -> Facts {
        if other.is_empty() {
            return self.clone();
        }
        let mut out = self.clone();
        for fact in &other.present {
            if !out.present.contains(fact) {
                out.present.push(fact.clone());
            }
        }
        for (path, types) in &other.narrowed {
            let joined = match out.narrowed(path) {
                Some(existing) => existing
                    .iter()
                    .copied()
                    .filter(|t| types.contains(t))
                    .collect(),
                None => types.clone(),
            };
            out.narrowed.push((path.clone(), joined));
        }
        out
    }

    /// Only what both sides know holds (`a || b`).
    pub fn or(&self, other: &Facts) -> Facts {
        let present = self
            .present
            .iter()
            .filter(|f| other.present.contains(f))
            .cloned()
            .collect();
        let mut narrowed: Vec<(String, Vec<EntityTypeId>)> = Vec::new();
        for (path, _) in &self.narrowed {
            if narrowed.iter().any(|(p, _)| p == path) {
                continue;
            }
            let (Some(mine), Some(theirs)) = (self.narrowed(path), other.narrowed(path)) else {
                continue;
            };
            let mut joined = mine.to_vec();
            joined.extend(theirs.iter().copied());
            joined.sort();
            joined.dedup();
            narrowed.push((path.clone(), joined));
        }
        Facts { present, narrowed }
    }
}

/// A stable key for expressions that denote the same value every time they
/// are read within one evaluation: variables, attribute chains, literals of
/// entities and strings, and an entity's `.id()`. Other expressions have no
/// path and carry no facts.
pub fn path(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Var(var) => Some(var.as_str().to_owned()),
        ExprKind::Attr { base, name } => path(base).map(|p| format!("{p}\u{1}{}", name.name)),
        ExprKind::Entity(lit) => Some(format!("{}::{:?}", lit.ty.name, lit.id.value)),
        ExprKind::Literal(Literal::String(text)) => Some(format!("\u{2}{text:?}")),
        ExprKind::Method { recv, name, args } if name.name == "id" && args.is_empty() => {
            path(recv).map(|p| format!("{p}\u{3}id"))
        }
        ExprKind::Paren(inner) => path(inner),
        _ => None,
    }
}

/// The fact `m.contains_key(k)` establishes about `m`, by key path.
pub fn key_fact(key: &Expr) -> Option<String> {
    path(key).map(|k| format!("\u{4}{k}"))
}
