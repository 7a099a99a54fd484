//! Rule scopes and the rule index. A rule's scope is what a request must
//! match before its conditions are evaluated at all: its actions and
//! resource types, and at most one literal entity test (the most selective
//! of its top-level `when` conjuncts `principal == E`, `resource == E`,
//! `principal in E`, `resource in E`, or its `on store`). A request only
//! runs rules whose scope it matches, so cost does not grow with rules that
//! cannot apply. Rules out of scope are not evaluated, so they cannot report
//! errors either; the reference evaluator implements the same rule.

use std::collections::BTreeMap;

use reaper_lang::schema::Schema;
use reaper_lang::types::{ActionId, EntityTypeId};
use reaper_lang::value::Uid;

use crate::typed::{BinOp, ConditionKind, Const, Expr, ExprKind, Rule, Var};

/// A rule's literal entity scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleScope {
    Any,
    PrincipalIs(Uid),
    PrincipalIn(Uid),
    ResourceIs(Uid),
    ResourceIn(Uid),
}

impl RuleScope {
    /// Lower is more selective.
    fn rank(&self) -> u8 {
        match self {
            RuleScope::PrincipalIs(_) => 0,
            RuleScope::ResourceIs(_) => 1,
            RuleScope::PrincipalIn(_) => 2,
            RuleScope::ResourceIn(_) => 3,
            RuleScope::Any => 4,
        }
    }
}

/// The scope of a rule (see the module docs).
pub fn scope(rule: &Rule, schema: &Schema) -> RuleScope {
    if let Some(store) = &rule.store {
        let ty = schema
            .entity_type_id(reaper_lang::schema::STORE_ENTITY)
            .unwrap_or(EntityTypeId(0));
        return RuleScope::ResourceIs(Uid {
            ty,
            id: store.clone(),
        });
    }
    let mut best = RuleScope::Any;
    for condition in rule
        .conditions
        .iter()
        .filter(|c| c.kind == ConditionKind::When)
    {
        let mut conjuncts = Vec::new();
        flatten_and(&condition.expr, &mut conjuncts);
        for conjunct in conjuncts {
            if let Some(candidate) = literal_test(conjunct)
                && candidate.rank() < best.rank()
            {
                best = candidate;
            }
        }
    }
    best
}

fn flatten_and<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &expr.kind {
        ExprKind::Binary {
            op: BinOp::And,
            lhs,
            rhs,
        } => {
            flatten_and(lhs, out);
            flatten_and(rhs, out);
        }
        _ => out.push(expr),
    }
}

fn literal_test(expr: &Expr) -> Option<RuleScope> {
    let ExprKind::Binary { op, lhs, rhs } = &expr.kind else {
        return None;
    };
    let entity = |e: &Expr| match &e.kind {
        ExprKind::Const(Const::Entity(ty, id)) => Some(Uid {
            ty: *ty,
            id: id.clone(),
        }),
        _ => None,
    };
    let var = |e: &Expr| match e.kind {
        ExprKind::Var(v @ (Var::Principal | Var::Resource)) => Some(v),
        _ => None,
    };
    let (var, uid) = match op {
        BinOp::Eq => match (var(lhs), entity(rhs), var(rhs), entity(lhs)) {
            (Some(v), Some(uid), _, _) | (_, _, Some(v), Some(uid)) => (v, uid),
            _ => return None,
        },
        BinOp::InEntity => (var(lhs)?, entity(rhs)?),
        _ => return None,
    };
    Some(match (op, var) {
        (BinOp::Eq, Var::Principal) => RuleScope::PrincipalIs(uid),
        (BinOp::Eq, _) => RuleScope::ResourceIs(uid),
        (_, Var::Principal) => RuleScope::PrincipalIn(uid),
        _ => RuleScope::ResourceIn(uid),
    })
}

/// Whether `action` applies to resources of type `ty`.
pub fn applies(schema: &Schema, action: ActionId, ty: EntityTypeId) -> bool {
    schema
        .action(action)
        .is_some_and(|a| a.resource_types.is_empty() || a.resource_types.contains(&ty))
}

/// For each (action, resource type), the rules that may apply, in order.
pub type Index = BTreeMap<(ActionId, EntityTypeId), Vec<u32>>;

/// Adds the rule numbered `number` (rules are added in order) to `index`.
pub fn add(index: &mut Index, number: u32, rule: &Rule, schema: &Schema) {
    for action in &rule.actions {
        for ty in &rule.resource_types {
            if applies(schema, *action, *ty) {
                index.entry((*action, *ty)).or_default().push(number);
            }
        }
    }
}
