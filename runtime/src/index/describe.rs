//! The index plan as text, for `reaper compile --emit asm`: per bucket, the
//! rules that stay linear and each node's steps, key and rules. Reads and
//! literals are named as in the listing above it (`c3`, `p0`).

use std::fmt::Write;

use reaper_lang::bytecode::Var;
use reaper_lang::types::ActionId;

use super::{Atom, AtomTest, KeyKind, Node, Step};
use crate::engine::{Engine, GuardOperand, GuardRead};

/// At most this many rule ids per line; the count says how many more.
const SHOWN_RULES: usize = 6;

impl Engine {
    /// The index plan the engine chose, one section per (action, resource
    /// type) bucket, in the bundle's index order.
    pub fn index_plan(&self) -> String {
        let mut out = String::new();
        if self.bundle.index.is_empty() {
            return out;
        }
        out.push_str("\nindex plan\n");
        for (entry, bucket) in self.bundle.index.iter().zip(&self.buckets) {
            let schema = &self.bundle.schema;
            let action = schema
                .actions
                .get(entry.action.0 as usize)
                .map_or("?", |a| a.name.as_str());
            let ty = schema
                .entity_types
                .get(entry.resource_type.0 as usize)
                .map_or("?", |t| t.name.as_str());
            let names = Names {
                engine: self,
                action: entry.action,
            };
            let planned: usize = bucket.plan.nodes().iter().map(|n| n.rules.len()).sum();
            let scoped = entry.rules.len().saturating_sub(planned + bucket.any.len());
            let _ = writeln!(
                out,
                "  {action} on {ty}: {scoped} by scope, {} linear{}",
                bucket.any.len(),
                names.rules_suffix(&bucket.any)
            );
            for node in bucket.plan.nodes() {
                let _ = writeln!(out, "    {}", names.node(node));
            }
        }
        out
    }
}

struct Names<'a> {
    engine: &'a Engine,
    action: ActionId,
}

impl Names<'_> {
    fn rules_suffix(&self, rules: &[u32]) -> String {
        if rules.is_empty() {
            return String::new();
        }
        let mut ids: Vec<std::borrow::Cow<'_, str>> = rules
            .iter()
            .take(SHOWN_RULES)
            .map(|r| reaper_lang::printable::printable_line(self.engine.rule_id(*r)))
            .collect();
        if rules.len() > SHOWN_RULES {
            ids.push("…".into());
        }
        format!(": {}", ids.join(", "))
    }

    fn node(&self, node: &Node) -> String {
        let signature = &node.signature;
        let steps: Vec<String> = signature
            .steps
            .iter()
            .map(|step| match step {
                Step::Gate(atom) => self.atom(atom),
                Step::Need { read, kind } => {
                    format!(
                        "{}: {}",
                        self.read(*read),
                        format!("{kind:?}").to_lowercase()
                    )
                }
            })
            .collect();
        let join = if signature.any { " || " } else { " && " };
        let mut text = format!(
            "{} [{}]",
            if signature.any { "any" } else { "all" },
            steps.join(join)
        );
        if let Some((kind, read)) = signature.key {
            let read = self.read(read);
            let keys = node.table.keys();
            let key = match kind {
                KeyKind::Equal => format!("{read} == literal"),
                KeyKind::Member => format!("literal in {read}"),
                KeyKind::Prefix => format!("{read} like \"literal*\""),
                KeyKind::Suffix => format!("{read} like \"*literal\""),
                KeyKind::Exact => format!("{read} like \"literal\""),
            };
            let _ = write!(text, " then key {key}, {keys} keys");
        }
        let _ = write!(
            text,
            ", {} rules{}",
            node.rules.len(),
            self.rules_suffix(&node.rules)
        );
        text
    }

    fn atom(&self, atom: &Atom) -> String {
        let read = self.read(atom.read);
        let text = match atom.test {
            AtomTest::Value => read,
            AtomTest::Binary(test) => {
                let other = match test.other {
                    GuardOperand::Constant(index) => format!("c{index}"),
                    GuardOperand::Read(other) => self.read(other),
                };
                let (a, b) = if test.other_first {
                    (other, read)
                } else {
                    (read, other)
                };
                format!("{a} {} {b}", test.op.mnemonic())
            }
            AtomTest::Like(pattern) => format!("{read} like p{pattern}"),
            AtomTest::Is(ty) => {
                let name = self
                    .engine
                    .bundle
                    .schema
                    .entity_types
                    .get(ty as usize)
                    .map_or("?", |t| t.name.as_str());
                format!("{read} is {name}")
            }
        };
        if atom.negate {
            format!("!({text})")
        } else {
            text
        }
    }

    fn read(&self, read: GuardRead) -> String {
        match read {
            GuardRead::Has { var, table } => format!("{} has {}", var.name(), self.attr(table)),
            GuardRead::Attr { var, table } => format!("{}.{}", var.name(), self.attr(table)),
            GuardRead::ContextHas { slot } => format!("context has {}", self.field(slot)),
            GuardRead::Context { slot } => format!("context.{}", self.field(slot)),
            GuardRead::Var { var } => match var {
                Var::Principal | Var::Resource => var.name().to_owned(),
                _ => "?".to_owned(),
            },
        }
    }

    /// An attribute table's name (every entry names the same attribute).
    fn attr(&self, table: u32) -> String {
        let bundle = &self.engine.bundle;
        bundle
            .attr_tables
            .get(table as usize)
            .and_then(|entries| entries.first())
            .and_then(|(ty, slot)| {
                bundle
                    .schema
                    .entity_type(*ty)
                    .and_then(|t| t.attrs.fields.get(*slot as usize))
            })
            .map_or_else(|| format!("t{table}"), |f| f.name.clone())
    }

    fn field(&self, slot: u32) -> String {
        self.engine
            .bundle
            .schema
            .context_of(self.action)
            .fields
            .get(slot as usize)
            .map_or_else(|| format!("@{slot}"), |f| f.name.clone())
    }
}
