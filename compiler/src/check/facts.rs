//! Flow facts: what is known to hold where an expression is evaluated.
//! `x has a` makes reading `x.a` safe on the right of `&&`, in a `then`
//! branch and in later `when` clauses; `x is T` narrows `x` to type `T` there.

use reaper_lang::types::EntityTypeId;

use crate::ast::{Expr, ExprKind};

/// Facts known true at a point; small, so kept in vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    present: Vec<(String, String)>,
    narrowed: Vec<(String, Vec<EntityTypeId>)>,
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
        let narrowed = self
            .narrowed
            .iter()
            .filter_map(|(path, types)| {
                let theirs = other.narrowed(path)?;
                let mut joined = types.clone();
                joined.extend(theirs.iter().copied());
                joined.sort();
                joined.dedup();
                Some((path.clone(), joined))
            })
            .collect();
        Facts { present, narrowed }
    }
}

/// A stable key for expressions that denote the same value every time they
/// are read within one evaluation: variables, attribute chains, literals of
/// entities. Other expressions have no path and carry no facts.
pub fn path(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Var(var) => Some(var.as_str().to_owned()),
        ExprKind::Attr { base, name } => path(base).map(|p| format!("{p}\u{1}{}", name.name)),
        ExprKind::Entity(lit) => Some(format!("{}::{:?}", lit.ty.name, lit.id.value)),
        ExprKind::Paren(inner) => path(inner),
        _ => None,
    }
}
