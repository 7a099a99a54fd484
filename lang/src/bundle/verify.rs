//! The bundle verifier: checks every reference a bundle makes (types,
//! strings, constants, functions, registers, jumps, slots) so the runtime
//! can index without bounds surprises. Register *types* are not verified;
//! the VM treats a value of the wrong type as a run-time error.

use super::{Bundle, Constant, Scope, TableExtent};
use crate::bundle::format::BundleError;
use crate::bytecode::{MAX_REGISTERS, Op};
use crate::types::EntityTypeId;

fn invalid<T>(why: String) -> Result<T, BundleError> {
    Err(BundleError::Invalid(why))
}

pub fn verify(bundle: &Bundle) -> Result<(), BundleError> {
    let entity_types = bundle.schema.entity_types.len();
    let actions = bundle.schema.actions.len();
    let strings = bundle.strings.len();
    let entity_ok = |id: EntityTypeId| (id.0 as usize) < entity_types;

    for (index, def) in bundle.schema.entity_types.iter().enumerate() {
        if let Some(parent) = def.parents.iter().find(|p| !entity_ok(**p)) {
            return invalid(format!(
                "entity type {index} has unknown parent type {}",
                parent.0
            ));
        }
    }
    for (index, def) in bundle.schema.actions.iter().enumerate() {
        let all = def.resource_types.iter().chain(&def.principal_types);
        if let Some(bad) = all.into_iter().find(|t| !entity_ok(**t)) {
            return invalid(format!(
                "action {index} names unknown entity type {}",
                bad.0
            ));
        }
        if let Some(bad) = def.groups.iter().find(|g| g.0 as usize >= actions) {
            return invalid(format!(
                "action {index} is in unknown action group {}",
                bad.0
            ));
        }
    }
    for store in &bundle.schema.stores {
        if let Some(bad) = store.principal_types.iter().find(|t| !entity_ok(**t)) {
            return invalid(format!(
                "store `{}` names unknown entity type {}",
                store.name, bad.0
            ));
        }
    }

    let mut extent = TableExtent::with_capacity(bundle.constants.len());
    for (index, constant) in bundle.constants.iter().enumerate() {
        let earlier = |id: u32| -> Result<usize, BundleError> {
            let id = id as usize;
            if id < index {
                Ok(id)
            } else {
                invalid(format!(
                    "constant {index} refers to constant {id}, not an earlier one"
                ))
            }
        };
        let children: Vec<usize> = match constant {
            Constant::String(s) | Constant::Entity(_, s) if *s as usize >= strings => {
                return invalid(format!(
                    "constant {index} refers to string {s} of {strings}"
                ));
            }
            Constant::Entity(ty, _) if !entity_ok(*ty) => {
                return invalid(format!(
                    "constant {index} names unknown entity type {}",
                    ty.0
                ));
            }
            Constant::Action(a) if a.0 as usize >= actions => {
                return invalid(format!("constant {index} names unknown action {}", a.0));
            }
            Constant::Set(items) => items
                .iter()
                .map(|item| earlier(*item))
                .collect::<Result<_, _>>()?,
            Constant::Record(slots) => slots
                .iter()
                .flatten()
                .map(|slot| earlier(*slot))
                .collect::<Result<_, _>>()?,
            Constant::Map(entries) => {
                if let Some((key, _)) = entries.iter().find(|(k, _)| *k as usize >= strings) {
                    return invalid(format!(
                        "constant {index} has key string {key} of {strings}"
                    ));
                }
                entries
                    .iter()
                    .map(|(_, value)| earlier(*value))
                    .collect::<Result<_, _>>()?
            }
            _ => Vec::new(),
        };
        extent
            .push(&format!("constant {index}"), children)
            .map_err(BundleError::Invalid)?;
    }

    for (index, table) in bundle.attr_tables.iter().enumerate() {
        for (ty, slot) in table {
            let Some(def) = bundle.schema.entity_type(*ty) else {
                return invalid(format!(
                    "attribute table {index} names unknown entity type {}",
                    ty.0
                ));
            };
            if *slot as usize >= def.attrs.fields.len() {
                return invalid(format!(
                    "attribute table {index} has slot {slot} beyond `{}`'s attributes",
                    def.name
                ));
            }
        }
    }

    for (index, table) in bundle.context_tables.iter().enumerate() {
        for (action, slot) in table {
            if action.0 as usize >= actions {
                return invalid(format!(
                    "context table {index} names unknown action {}",
                    action.0
                ));
            }
            let fields = bundle.schema.context_of(*action).fields.len();
            if *slot as usize >= fields {
                return invalid(format!(
                    "context table {index} has slot {slot} beyond the context of action {}",
                    action.0
                ));
            }
        }
    }

    for (index, function) in bundle.functions.iter().enumerate() {
        verify_function(bundle, index, function)?;
    }

    let functions = bundle.functions.len();
    for (index, rule) in bundle.rules.iter().enumerate() {
        let Some(function) = bundle.functions.get(rule.function as usize) else {
            return invalid(format!(
                "rule {index} refers to function {} of {functions}",
                rule.function
            ));
        };
        let starts_in_order = rule.conditions.windows(2).all(|w| w[0].start < w[1].start);
        let parts_ok = rule.conditions.iter().all(|c| {
            c.parts
                .iter()
                .all(|p| p.start < p.end && p.end as usize <= function.code.len())
        });
        if !starts_in_order
            || !parts_ok
            || rule
                .conditions
                .iter()
                .any(|c| c.start as usize >= function.code.len())
        {
            return invalid(format!(
                "rule {index} has clause offsets out of order or beyond its code"
            ));
        }
        match rule.scope {
            Scope::Any => {}
            Scope::PrincipalIs(ty, id)
            | Scope::PrincipalIn(ty, id)
            | Scope::ResourceIs(ty, id)
            | Scope::ResourceIn(ty, id) => {
                if !entity_ok(ty) || id as usize >= strings {
                    return invalid(format!(
                        "rule {index} has a scope outside the schema or string table"
                    ));
                }
            }
        }
    }
    let rules = bundle.rules.len();
    for (index, entry) in bundle.index.iter().enumerate() {
        if entry.action.0 as usize >= actions || !entity_ok(entry.resource_type) {
            return invalid(format!(
                "index entry {index} names an unknown action or type"
            ));
        }
        if let Some(bad) = entry.rules.iter().find(|r| **r as usize >= rules) {
            return invalid(format!(
                "index entry {index} refers to rule {bad} of {rules}"
            ));
        }
        if entry.rules.windows(2).any(|w| w[0] >= w[1]) {
            return invalid(format!("index entry {index} does not list rules in order"));
        }
    }
    if bundle
        .index
        .windows(2)
        .any(|w| (w[0].action, w[0].resource_type) >= (w[1].action, w[1].resource_type))
    {
        return invalid("index entries are not sorted and distinct".into());
    }
    for domain in &bundle.domains {
        for limit in &domain.limits {
            let refs = limit.condition.iter().chain(&limit.keys);
            if let Some(bad) = refs.into_iter().find(|f| **f as usize >= functions) {
                return invalid(format!(
                    "limit `{}` refers to function {bad} of {functions}",
                    limit.spec.name
                ));
            }
            if limit.spec.count == 0 || limit.spec.period_ms == 0 {
                return invalid(format!(
                    "limit `{}` has a zero count or period",
                    limit.spec.name
                ));
            }
        }
    }
    if let Some(http) = &bundle.http {
        let refs = [http.principal]
            .into_iter()
            .chain(http.context)
            .chain(http.routes.iter().map(|r| r.resource));
        if let Some(bad) = refs.into_iter().find(|f| *f as usize >= functions) {
            return invalid(format!(
                "the http mapping refers to function {bad} of {functions}"
            ));
        }
        if let Some(route) = http.routes.iter().find(|r| r.action.0 as usize >= actions) {
            return invalid(format!(
                "an http route names unknown action {}",
                route.action.0
            ));
        }
    }
    Ok(())
}

fn verify_function(
    bundle: &Bundle,
    index: usize,
    function: &crate::bytecode::Function,
) -> Result<(), BundleError> {
    let registers = function.registers;
    if registers == 0 || registers > MAX_REGISTERS {
        return invalid(format!(
            "function {index} has {registers} registers (1 to {MAX_REGISTERS})"
        ));
    }
    let code = &function.code;
    if !matches!(code.last(), Some(Op::Return { .. })) {
        return invalid(format!("function {index} does not end with `ret`"));
    }
    let in_range = |what: &str, n: usize, len: usize, pc: usize| {
        if n < len {
            Ok(())
        } else {
            invalid(format!(
                "function {index} at {pc}: {what} {n} is out of range ({len})"
            ))
        }
    };
    for (pc, op) in code.iter().enumerate() {
        let (reads, write) = op.registers();
        for reg in reads.iter().chain(write.iter()) {
            in_range("register", *reg as usize, registers as usize, pc)?;
        }
        if let Op::Set { start, count, .. } | Op::Record { start, count, .. } = *op {
            in_range(
                "register",
                start as usize + count as usize,
                registers as usize + 1,
                pc,
            )?;
        }
        if let Some(target) = op.target() {
            // Forward-only jumps: every instruction runs at most once.
            if target as usize <= pc || target as usize >= code.len() {
                return invalid(format!(
                    "function {index} at {pc}: jump to {target} is not forward within the code"
                ));
            }
        }
        match *op {
            Op::Const { index: c, .. } => {
                in_range("constant", c as usize, bundle.constants.len(), pc)?
            }
            Op::Attr { table, .. }
            | Op::HasAttr { table, .. }
            | Op::AttrOf { table, .. }
            | Op::HasAttrOf { table, .. } => {
                in_range(
                    "attribute table",
                    table as usize,
                    bundle.attr_tables.len(),
                    pc,
                )?;
            }
            Op::ContextFieldOf { table, .. } | Op::ContextHasFieldOf { table, .. } => {
                in_range(
                    "context table",
                    table as usize,
                    bundle.context_tables.len(),
                    pc,
                )?;
            }
            Op::Entry { key, .. } | Op::HasEntry { key, .. } => {
                in_range("string", key as usize, bundle.strings.len(), pc)?
            }
            Op::Like { pattern, .. } => {
                in_range("pattern", pattern as usize, bundle.patterns.len(), pc)?
            }
            Op::Is { ty, .. } | Op::MakeEntity { ty, .. } => {
                in_range(
                    "entity type",
                    ty.0 as usize,
                    bundle.schema.entity_types.len(),
                    pc,
                )?;
            }
            Op::Header { name, .. } | Op::HasHeader { name, .. } | Op::Param { name, .. } => {
                in_range("string", name as usize, bundle.strings.len(), pc)?;
            }
            _ => {}
        }
    }
    Ok(())
}
