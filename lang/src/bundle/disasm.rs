//! A stable, readable listing of a bundle (`reaper compile --emit asm`):
//! schema, constants, the rule index, each rule's code, rate limits and
//! stores. It changes only when the compiled policy changes, so users can
//! commit it and review its diffs. Names, clause texts and patterns come
//! from policy text (or from an untrusted bundle), so the listing is
//! escaped as a whole before it is returned.

use std::fmt::Write;

use super::{Bundle, Constant, Effect, PatternPart, Scope};
use crate::bytecode::{Function, Op};
use crate::literal;
use crate::plural::count;
use crate::schema::{Schema, field_name};
use crate::types::{ActionId, EntityTypeId, RecordType};

pub fn disassemble(bundle: &Bundle) -> String {
    let mut out = String::new();
    let d = Disasm { bundle };
    d.header(&mut out);
    d.schema(&mut out);
    d.constants(&mut out);
    d.index(&mut out);
    d.rules(&mut out);
    d.domains(&mut out);
    d.stores(&mut out);
    d.http(&mut out);
    match crate::printable::printable(&out) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

struct Disasm<'a> {
    bundle: &'a Bundle,
}

/// Whose context a function reads: `context.f` names depend on the action.
#[derive(Clone, Copy)]
enum Reader {
    /// A rule's function: its first action, if it has one.
    Rule(Option<ActionId>),
    /// Limits and the http mapping read no context.
    Other,
}

impl Disasm<'_> {
    fn schema_ref(&self) -> &Schema {
        &self.bundle.schema
    }

    fn entity(&self, id: EntityTypeId) -> &str {
        self.schema_ref()
            .entity_type(id)
            .map_or("?", |t| t.name.as_str())
    }

    fn action(&self, id: ActionId) -> &str {
        self.schema_ref()
            .action(id)
            .map_or("?", |a| a.name.as_str())
    }

    fn string(&self, index: u32) -> String {
        self.bundle
            .strings
            .get(index as usize)
            .map_or_else(|| "?".to_owned(), |s| format!("{s:?}"))
    }

    fn types(&self, ids: &[EntityTypeId]) -> String {
        let names: Vec<&str> = ids.iter().map(|id| self.entity(*id)).collect();
        format!("[{}]", names.join(", "))
    }

    fn header(&self, out: &mut String) {
        let b = self.bundle;
        let _ = writeln!(out, "; reaper bundle, format {}", super::FORMAT_VERSION);
        if let Some(package) = &b.package {
            let _ = writeln!(out, "; package {package}");
        }
        let _ = writeln!(
            out,
            "; {}, {}, {}, {}, {}, {}",
            count(b.rules.len(), "rule", "rules"),
            count(b.domains.len(), "domain", "domains"),
            count(b.schema.stores.len(), "store", "stores"),
            count(b.functions.len(), "function", "functions"),
            count(b.constants.len(), "constant", "constants"),
            count(b.strings.len(), "string", "strings")
        );
    }

    fn record(&self, record: &RecordType) -> String {
        let fields: Vec<String> = record
            .fields
            .iter()
            .enumerate()
            .map(|(slot, f)| {
                let opt = if f.optional { "?" } else { "" };
                format!(
                    "{}{opt}: {} @{slot}",
                    field_name(&f.name),
                    self.schema_ref().display_type(&f.ty)
                )
            })
            .collect();
        if fields.is_empty() {
            "{}".to_owned()
        } else {
            format!("{{ {} }}", fields.join(", "))
        }
    }

    fn schema(&self, out: &mut String) {
        let _ = writeln!(out, "\nschema");
        for (id, t) in self.schema_ref().entity_types.iter().enumerate() {
            let parents = if t.parents.is_empty() {
                String::new()
            } else {
                format!(" in {}", self.types(&t.parents))
            };
            let body = match &t.ids {
                Some(ids) => {
                    let ids: Vec<String> = ids.iter().map(|i| format!("{i:?}")).collect();
                    format!("enum [{}]", ids.join(", "))
                }
                None => self.record(&t.attrs),
            };
            let _ = writeln!(out, "  entity {} #{id}{parents} {body}", t.name);
        }
        for (id, a) in self.schema_ref().actions.iter().enumerate() {
            let groups = if a.groups.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = a.groups.iter().map(|g| self.action(*g)).collect();
                format!(" in [{}]", names.join(", "))
            };
            if a.is_group {
                let _ = writeln!(out, "  action group {} #{id}{groups}", a.name);
                continue;
            }
            let on = if a.resource_types.is_empty() {
                " on *".to_owned()
            } else {
                format!(" on {}", self.types(&a.resource_types))
            };
            let by = if a.principal_types.is_empty() {
                " by *".to_owned()
            } else {
                format!(" by {}", self.types(&a.principal_types))
            };
            let context = match &a.context {
                Some(record) => format!(" context {}", self.record(record)),
                None => String::new(),
            };
            let _ = writeln!(out, "  action {} #{id}{groups}{on}{by}{context}", a.name);
        }
        let _ = writeln!(out, "  context {}", self.record(&self.schema_ref().context));
        let sensitive = &self.schema_ref().sensitive;
        let redaction = |r: crate::sensitive::Redaction| match r {
            crate::sensitive::Redaction::Mask => "mask",
            crate::sensitive::Redaction::Drop => "drop",
        };
        for (owner, field) in &sensitive.attributes {
            let _ = writeln!(
                out,
                "  sensitive {}.{} {}",
                self.entity(*owner),
                field.path.join("."),
                redaction(field.redaction)
            );
        }
        for field in &sensitive.context {
            let _ = writeln!(
                out,
                "  sensitive context.{} {}",
                field.path.join("."),
                redaction(field.redaction)
            );
        }
    }

    fn constant(&self, index: u32) -> String {
        let Some(constant) = self.bundle.constants.get(index as usize) else {
            return "?".to_owned();
        };
        match constant {
            Constant::Bool(b) => b.to_string(),
            Constant::Int(n) => n.to_string(),
            Constant::String(s) => self.string(*s),
            Constant::Ip(ip) => literal::format_ip(ip),
            Constant::Duration(ms) => literal::format_duration(*ms),
            Constant::Timestamp(ms) => literal::format_timestamp(*ms),
            Constant::Decimal(n) => format!("decimal {}", literal::format_decimal(*n)),
            Constant::Entity(ty, id) => format!("{}::{}", self.entity(*ty), self.string(*id)),
            Constant::Action(a) => format!("action {}", self.action(*a)),
            Constant::Set(items) => {
                let items: Vec<String> = items.iter().map(|i| self.constant(*i)).collect();
                format!("[{}]", items.join(", "))
            }
            Constant::Map(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", self.string(*k), self.constant(*v)))
                    .collect();
                format!("map {{{}}}", entries.join(", "))
            }
            Constant::Record(slots) => {
                let slots: Vec<String> = slots
                    .iter()
                    .enumerate()
                    .map(|(slot, c)| match c {
                        Some(c) => format!("@{slot}: {}", self.constant(*c)),
                        None => format!("@{slot}: -"),
                    })
                    .collect();
                format!("{{{}}}", slots.join(", "))
            }
        }
    }

    fn constants(&self, out: &mut String) {
        if self.bundle.constants.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nconstants");
        for index in 0..self.bundle.constants.len() {
            let index = crate::schema::index_u32(index);
            let _ = writeln!(out, "  c{index:<4} {}", self.constant(index));
        }
    }

    fn scope(&self, scope: Scope) -> String {
        match scope {
            Scope::Any => "any".to_owned(),
            Scope::PrincipalIs(ty, id) => {
                format!("principal == {}::{}", self.entity(ty), self.string(id))
            }
            Scope::PrincipalIn(ty, id) => {
                format!("principal in {}::{}", self.entity(ty), self.string(id))
            }
            Scope::ResourceIs(ty, id) => {
                format!("resource == {}::{}", self.entity(ty), self.string(id))
            }
            Scope::ResourceIn(ty, id) => {
                format!("resource in {}::{}", self.entity(ty), self.string(id))
            }
        }
    }

    fn index(&self, out: &mut String) {
        let _ = writeln!(out, "\nindex");
        for entry in &self.bundle.index {
            let rules: Vec<&str> = entry
                .rules
                .iter()
                .filter_map(|r| self.bundle.rules.get(*r as usize))
                .map(|r| r.id.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  {} on {}: {}",
                self.action(entry.action),
                self.entity(entry.resource_type),
                rules.join(", ")
            );
        }
    }

    fn rules(&self, out: &mut String) {
        // A rule's first action (by the index) names its context's fields.
        let mut first_action: Vec<Option<ActionId>> = vec![None; self.bundle.rules.len()];
        for entry in &self.bundle.index {
            for rule in &entry.rules {
                if let Some(slot) = first_action.get_mut(*rule as usize)
                    && slot.is_none()
                {
                    *slot = Some(entry.action);
                }
            }
        }
        for (index, rule) in self.bundle.rules.iter().enumerate() {
            let effect = match rule.effect {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            let _ = writeln!(
                out,
                "\nrule {:?} {effect} ({}:{})",
                rule.id, rule.file, rule.line
            );
            for (key, value) in &rule.annotations {
                let _ = writeln!(out, "  @{key}({value:?})");
            }
            let _ = writeln!(out, "  scope {}", self.scope(rule.scope));
            let action = first_action.get(index).copied().flatten();
            for clause in &rule.conditions {
                let _ = writeln!(
                    out,
                    "  clause @{}: {} (line {})",
                    clause.start, clause.text, clause.line
                );
                for part in &clause.parts {
                    let _ = writeln!(out, "    part @{}: {}", part.start, part.text);
                }
            }
            self.function_of(out, rule.function, "  ", Reader::Rule(action));
        }
    }

    fn function(&self, out: &mut String, index: u32, indent: &str) {
        self.function_of(out, index, indent, Reader::Other);
    }

    fn function_of(&self, out: &mut String, index: u32, indent: &str, reader: Reader) {
        let Some(function) = self.bundle.functions.get(index as usize) else {
            let _ = writeln!(out, "{indent}f{index} (missing)");
            return;
        };
        let _ = writeln!(
            out,
            "{indent}f{index}, {}",
            count(usize::from(function.registers), "register", "registers")
        );
        self.code(out, function, indent, reader);
    }

    fn code(&self, out: &mut String, function: &Function, indent: &str, reader: Reader) {
        for (pc, op) in function.code.iter().enumerate() {
            let (text, note) = self.op(op, reader);
            let line = format!("{indent}  {pc:>4}  {text}");
            let _ = match note {
                Some(note) => writeln!(out, "{line:<52} ; {note}"),
                None => writeln!(out, "{line}"),
            };
        }
    }

    fn context_field(&self, slot: u32, reader: Reader) -> Option<String> {
        let record = match reader {
            Reader::Rule(Some(action)) => self.schema_ref().context_of(action),
            _ => &self.schema_ref().context,
        };
        let field = record.fields.get(slot as usize)?;
        Some(format!("context.{}", field_name(&field.name)))
    }

    fn context_table(&self, table: u32) -> String {
        let Some(entries) = self.bundle.context_tables.get(table as usize) else {
            return "?".to_owned();
        };
        let names: Vec<String> = entries
            .iter()
            .map(|(action, slot)| {
                let field = self
                    .schema_ref()
                    .context_of(*action)
                    .fields
                    .get(*slot as usize)
                    .map_or("?".to_owned(), |f| field_name(&f.name));
                format!("{}: context.{field} @{slot}", self.action(*action))
            })
            .collect();
        names.join(" | ")
    }

    fn attr_table(&self, table: u32) -> String {
        let Some(entries) = self.bundle.attr_tables.get(table as usize) else {
            return "?".to_owned();
        };
        let names: Vec<String> = entries
            .iter()
            .map(|(ty, slot)| {
                let attr = self
                    .schema_ref()
                    .entity_type(*ty)
                    .and_then(|t| t.attrs.fields.get(*slot as usize))
                    .map_or("?", |f| f.name.as_str());
                format!("{}.{attr}", self.entity(*ty))
            })
            .collect();
        names.join(" | ")
    }

    fn op(&self, op: &Op, reader: Reader) -> (String, Option<String>) {
        let m = |name: &str, args: String| format!("{name:<12} {args}");
        match *op {
            Op::Const { dst, index } => (
                m("const", format!("r{dst}, c{index}")),
                Some(self.constant(index)),
            ),
            Op::Var { dst, var } => (m("var", format!("r{dst}, {}", var.name())), None),
            Op::Field { dst, src, slot } => (m("field", format!("r{dst}, r{src}, @{slot}")), None),
            Op::HasField { dst, src, slot } => {
                (m("has.field", format!("r{dst}, r{src}, @{slot}")), None)
            }
            Op::Attr { dst, src, table } => (
                m("attr", format!("r{dst}, r{src}, t{table}")),
                Some(self.attr_table(table)),
            ),
            Op::HasAttr { dst, src, table } => (
                m("has.attr", format!("r{dst}, r{src}, t{table}")),
                Some(self.attr_table(table)),
            ),
            Op::AttrOf { dst, var, table } => (
                m("attr.of", format!("r{dst}, {}, t{table}", var.name())),
                Some(self.attr_table(table)),
            ),
            Op::HasAttrOf { dst, var, table } => (
                m("has.attr.of", format!("r{dst}, {}, t{table}", var.name())),
                Some(self.attr_table(table)),
            ),
            Op::ContextField { dst, slot } => (
                m("context", format!("r{dst}, @{slot}")),
                self.context_field(slot, reader),
            ),
            Op::ContextHasField { dst, slot } => (
                m("has.context", format!("r{dst}, @{slot}")),
                self.context_field(slot, reader),
            ),
            Op::ContextFieldOf { dst, table } => (
                m("context.of", format!("r{dst}, k{table}")),
                Some(self.context_table(table)),
            ),
            Op::ContextHasFieldOf { dst, table } => (
                m("has.context.of", format!("r{dst}, k{table}")),
                Some(self.context_table(table)),
            ),
            Op::BinaryConst { op, dst, a, index } => (
                m(op.mnemonic(), format!("r{dst}, r{a}, c{index}")),
                Some(self.constant(index)),
            ),
            Op::ConstBinary { op, dst, index, b } => (
                m(op.mnemonic(), format!("r{dst}, c{index}, r{b}")),
                Some(self.constant(index)),
            ),
            Op::Entry { dst, key } => (m("entry", format!("r{dst}, {}", self.string(key))), None),
            Op::HasEntry { dst, key } => (
                m("has.entry", format!("r{dst}, {}", self.string(key))),
                None,
            ),
            Op::Is { dst, src, ty } => (
                m("is", format!("r{dst}, r{src}, {}", self.entity(ty))),
                None,
            ),
            Op::MakeEntity { dst, src, ty } => (
                m("entity", format!("r{dst}, {}::(r{src})", self.entity(ty))),
                None,
            ),
            Op::HttpField { dst, field } => {
                (m("http", format!("r{dst}, request.{}", field.name())), None)
            }
            Op::Header { dst, name } => {
                (m("header", format!("r{dst}, {}", self.string(name))), None)
            }
            Op::HasHeader { dst, name } => (
                m("has.header", format!("r{dst}, {}", self.string(name))),
                None,
            ),
            Op::Param { dst, name } => (m("param", format!("r{dst}, {}", self.string(name))), None),
            Op::Like { dst, src, pattern } => {
                let text = self
                    .bundle
                    .patterns
                    .get(pattern as usize)
                    .map(|p| pattern_text(p));
                (m("like", format!("r{dst}, r{src}, p{pattern}")), text)
            }
            Op::Unary { op, dst, src } => (m(op.mnemonic(), format!("r{dst}, r{src}")), None),
            Op::Binary { op, dst, a, b } => (m(op.mnemonic(), format!("r{dst}, r{a}, r{b}")), None),
            Op::Set { dst, start, count } => (
                m("set", format!("r{dst}, {}", reg_range(start, count))),
                None,
            ),
            Op::Record { dst, start, count } => (
                m("record", format!("r{dst}, {}", reg_range(start, count))),
                None,
            ),
            Op::Jump { target } => (m("jmp", format!("{target}")), None),
            Op::JumpIfFalse { cond, target } => {
                (m("jmp.false", format!("r{cond}, {target}")), None)
            }
            Op::JumpIfTrue { cond, target } => (m("jmp.true", format!("r{cond}, {target}")), None),
            Op::Return { src } => (m("ret", format!("r{src}")), None),
        }
    }

    fn domains(&self, out: &mut String) {
        for domain in &self.bundle.domains {
            let _ = writeln!(out, "\nratelimit {:?}", domain.name);
            for limit in &domain.limits {
                let spec = &limit.spec;
                let algorithm = match spec.algorithm {
                    crate::limits::Algorithm::TokenBucket { burst } => {
                        format!("token_bucket burst {burst}")
                    }
                    other => other.name().to_owned(),
                };
                let shadow = if spec.shadow { ", shadow" } else { "" };
                let _ = writeln!(
                    out,
                    "  limit {}: {} per {}, {algorithm}{shadow} ({}:{})",
                    spec.name,
                    spec.count,
                    literal::format_duration(i64::try_from(spec.period_ms).unwrap_or(i64::MAX)),
                    limit.file,
                    limit.line
                );
                match limit.condition {
                    Some(f) => {
                        let _ = writeln!(out, "    condition");
                        self.function(out, f, "    ");
                    }
                    None => {
                        let _ = writeln!(out, "    condition none");
                    }
                }
                for (i, key) in limit.keys.iter().enumerate() {
                    let _ = writeln!(out, "    key {i}");
                    self.function(out, *key, "    ");
                }
            }
        }
    }

    fn http(&self, out: &mut String) {
        let Some(http) = &self.bundle.http else {
            return;
        };
        let _ = writeln!(out, "\nhttp");
        let _ = writeln!(out, "  principal");
        self.function(out, http.principal, "  ");
        if let Some(context) = http.context {
            let _ = writeln!(out, "  context");
            self.function(out, context, "  ");
        }
        for route in &http.routes {
            let path: String = route
                .segments
                .iter()
                .map(|s| match s {
                    super::Segment::Literal(text) => format!("/{text}"),
                    super::Segment::Param(name) => format!("/{{{name}}}"),
                })
                .collect();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            let method = route.method.as_deref().unwrap_or("*");
            let _ = writeln!(
                out,
                "  route {method} {path:?} => {}",
                self.action(route.action)
            );
            self.function(out, route.resource, "  ");
        }
    }

    fn stores(&self, out: &mut String) {
        if self.schema_ref().stores.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nstores");
        for store in &self.schema_ref().stores {
            let ms = |v: u64| literal::format_duration(i64::try_from(v).unwrap_or(i64::MAX));
            let opt = |v: Option<u64>, unit: &str| {
                v.map_or_else(|| "unbounded".to_owned(), |v| format!("{v}{unit}"))
            };
            let by = if store.principal_types.is_empty() {
                "*".to_owned()
            } else {
                self.types(&store.principal_types)
            };
            let _ = writeln!(
                out,
                "  {} by {by}: ttl {}, max_ttl {}, max_value {}, max_keys {}",
                store.name,
                ms(store.ttl_ms),
                ms(store.max_ttl_ms),
                opt(store.max_value_bytes, " bytes"),
                opt(store.max_keys, "")
            );
        }
    }
}

fn reg_range(start: u16, count: u16) -> String {
    match count {
        0 => "()".to_owned(),
        1 => format!("(r{start})"),
        _ => format!("(r{start}..r{})", start.saturating_add(count - 1)),
    }
}

fn pattern_text(pattern: &[PatternPart]) -> String {
    let mut text = String::from("\"");
    for part in pattern {
        match part {
            PatternPart::Wildcard => text.push('*'),
            PatternPart::Literal(s) => text.push_str(
                &s.replace('\\', "\\\\")
                    .replace('*', "\\*")
                    .replace('"', "\\\""),
            ),
        }
    }
    text.push('"');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{ConditionInfo, Rule};

    #[test]
    fn control_characters_are_escaped_in_the_listing() {
        let bundle = Bundle {
            rules: vec![Rule {
                id: "r\u{1b}[2J".into(),
                effect: Effect::Permit,
                annotations: Vec::new(),
                file: "evil\u{202e}.reaper".into(),
                line: 1,
                function: 0,
                scope: Scope::Any,
                conditions: vec![ConditionInfo {
                    unless: false,
                    text: "context.x == \"\u{1b}]0;title\u{7}\"".into(),
                    line: 1,
                    start: 0,
                    parts: Vec::new(),
                }],
            }],
            ..Bundle::default()
        };
        let listing = disassemble(&bundle);
        assert!(
            !listing
                .chars()
                .any(|c| crate::printable::is_unsafe(c) && c != '\n'),
            "{listing:?}"
        );
        assert!(listing.contains(r#"rule "r\u{1b}[2J" permit (evil\u{202e}.reaper:1)"#));
        assert!(listing.contains(r#"clause @0: context.x == "\u{1b}]0;title\u{7}" (line 1)"#));
    }
}
