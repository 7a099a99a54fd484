//! Families of rules that start alike and differ in one literal, as real
//! policies repeat conditions: the runtime's index groups such rules into
//! nodes (equality tables, set members, `like` prefixes and suffixes, Bool,
//! `has` and `is` gates, `||` with a shared test, comparisons before the
//! key), so these exercise every index path against the reference. The
//! literals are the values requests carry, so keys both hit and miss, and
//! requests lack optional attributes and entity data often enough for the
//! fallback paths (a failed read runs every rule of the node) to run.

use super::Head;
use super::exprs::quote;
use crate::model::{DOC, Model};
use crate::tape::Tape;

/// Strings requests carry (and `like` literals without wildcards).
const TEXTS: &[&str] = &[
    "",
    "a",
    "b",
    "ab",
    "x@corp.com",
    "@corp.com",
    "é",
    "A",
    "zz",
];
const INTS: &[&str] = &["0", "1", "2", "-1"];
const IDS: &[&str] = &["a", "b", "c"];

/// Rule templates: the condition, with `{s}` (a quoted string), `{p}` (a
/// `like` literal), `{n}` (an Int) or `{e}` (a User id) for the literal
/// that varies; and the actions they are about.
const TEMPLATES: &[(&str, &str)] = &[
    ("resource.name == {s}", "[read, edit]"),
    ("context has agent && context.agent == {s}", "read"),
    ("{s} in resource.labels", "[read, edit]"),
    (
        "principal.tags.contains({s}) || principal == resource.owner",
        "read",
    ),
    (
        "principal has email && principal.email like \"*{p}\"",
        "read",
    ),
    (
        "principal has email && principal.email like \"{p}*\" && context.mfa",
        "[read, edit]",
    ),
    (
        "principal has email && principal.email like \"{p}\"",
        "read",
    ),
    ("resource.public && resource.size == {n}", "read"),
    ("!resource.public && context.n == {n}", "[read, edit]"),
    ("principal.age < {n} && {s} in resource.labels", "read"),
    ("principal has quota && principal.quota < {n}", "read"),
    ("resource.owner == User::{e} && context.mfa", "[read, edit]"),
    ("principal is Service && principal.key == {s}", "touch"),
    ("context.mfa || {s} in context.tags", "read"),
    ("resource.owner == principal && !(context.n > {n})", "edit"),
    ("!(resource.name == {s}) && resource.public", "read"),
    (
        "principal.admin && principal.name == {s} && context.n == {n}",
        "read",
    ),
];

/// Up to two families of 2 to 6 rules each, numbered from `first`.
pub fn families(model: &Model, tape: &mut Tape<'_>, first: usize) -> (Vec<String>, Vec<Head>) {
    let mut rules = Vec::new();
    let mut heads = Vec::new();
    for family in 0..tape.pick(3) {
        let (template, actions) = *tape.choose(TEMPLATES);
        for member in 0..2 + tape.pick(5) {
            let mut condition = template.to_owned();
            for (hole, values) in [("{s}", TEXTS), ("{p}", TEXTS), ("{n}", INTS), ("{e}", IDS)] {
                while let Some(at) = condition.find(hole) {
                    let value = *tape.choose(values);
                    let text = match hole {
                        "{s}" | "{e}" => quote(value),
                        _ => value.to_owned(),
                    };
                    condition.replace_range(at..at + hole.len(), &text);
                }
            }
            let effect = if tape.chance(30) { "forbid" } else { "permit" };
            rules.push(format!(
                "@id(\"f{}-{family}-{member}\")\n{effect} {actions} on Doc when {condition};",
                first + rules.len()
            ));
            let names: Vec<&str> = actions.trim_matches(['[', ']']).split(", ").collect();
            heads.push(Head {
                actions: model
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| names.contains(&a.name))
                    .map(|(i, _)| i)
                    .collect(),
                resource_types: vec![DOC],
                store: None,
            });
        }
    }
    (rules, heads)
}
