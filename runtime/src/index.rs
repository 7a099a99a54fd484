//! The rule index beyond literal scopes: at load time, each unscoped rule's
//! code is read back into the tests it starts with (an `&&` chain, or a
//! whole `||` of tests), and rules that start alike are grouped into
//! *nodes*. Per request a node checks its shared tests once and looks its
//! selective test up in a table (equality with a literal, a literal member
//! of a set attribute, a `like` prefix or suffix), so only the rules that
//! may apply run. Nothing here is believed from the bundle: the plan is
//! derived from verified bytecode, and a rule is skipped only when its code
//! would certainly return false without an error.

use reaper_lang::bundle::Bundle;
use reaper_lang::bytecode::BinaryOp;
use reaper_lang::pattern::PatternPart;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::engine::{GuardOperand, GuardRead, GuardTest};
use crate::scratch::Scratch;
use crate::value::{Val, Words};
use crate::vm::Env;

mod describe;
mod read_back;

use read_back::shape;

/// A node needs at least this many rules; smaller groups stay linear,
/// where the rule's own hoisted guard is as cheap as the node's tests.
const MIN_NODE_RULES: usize = 2;

/// One test a rule's code performs: a read of request data, maybe an
/// operator applied to it, maybe negated. It has no effect but its value
/// or its failure, so checking it outside the VM gives the VM's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Atom {
    read: GuardRead,
    test: AtomTest,
    negate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AtomTest {
    /// The read's value itself (a Bool attribute or field, a `has`).
    Value,
    Binary(GuardTest),
    /// `like patterns[p]`
    Like(u32),
    /// `is` an entity type.
    Is(u32),
}

/// What the index can tell of a rule's code.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `a && b && … && rest`: the leading tests (the rest may be anything).
    All(Vec<Atom>),
    /// `a || b || …`, the whole code.
    Any(Vec<Atom>),
}

/// The value kind a read must have for a test on it to be unable to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Any value: the operator never fails (`==`, `!=`).
    Any,
    Int,
    Str,
    Set,
    Ip,
    Entity,
}

impl Kind {
    fn holds(self, value: Words) -> bool {
        if value == Words::NONE {
            return false;
        }
        matches!(
            (self, Val::from_words(value)),
            (Kind::Any, _)
                | (Kind::Int, Val::Int(_))
                | (Kind::Str, Val::Str(_))
                | (Kind::Set, Val::Set(_))
                | (Kind::Ip, Val::Ip(_))
                | (Kind::Entity, Val::Entity(_))
        )
    }
}

/// A step of a node, checked once per request for all its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    /// A test whose value is shared by the node's rules (no literal, or a
    /// Bool one): evaluated, memoized per request.
    Gate(Atom),
    /// A test with a literal that differs between rules: only its read is
    /// checked, so the test is known not to fail.
    Need { read: GuardRead, kind: Kind },
}

/// How a node's selective test is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyKind {
    /// `read == literal`
    Equal,
    /// `literal in read` (`read.contains(literal)`)
    Member,
    /// `read like "lit*"`
    Prefix,
    /// `read like "*lit"`
    Suffix,
    /// `read like "lit"`
    Exact,
}

/// A rule's key: the kind, the read, and the literal (a scalar constant's
/// words, or a pattern's text).
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyValue {
    Words(Words),
    Text(Box<str>),
}

/// What a node's rules have in common: whether they are `&&` or `||`
/// chains, the steps before the key, and the key's kind and read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Signature {
    any: bool,
    steps: Vec<Step>,
    key: Option<(KeyKind, GuardRead)>,
}

/// The rules of a node by their key's literal.
#[derive(Debug, Default)]
struct Table {
    words: FxHashMap<Words, u32>,
    /// By literal length, for prefixes and suffixes; one entry for exact.
    texts: Vec<(usize, FxHashMap<Box<str>, u32>)>,
    /// The rule lists the maps point into.
    lists: Vec<Box<[u32]>>,
}

/// Rules that start with the same tests.
#[derive(Debug)]
pub(crate) struct Node {
    signature: Signature,
    /// Gate atoms as indices into the plan's atoms, in step order.
    gates: Box<[u32]>,
    table: Table,
    /// Every rule of the node, in rule order.
    rules: Box<[u32]>,
}

/// The index plan of one bucket's unscoped rules.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    atoms: Box<[Atom]>,
    nodes: Box<[Node]>,
}

/// Memoized gate results: unknown, false, true, failed.
const UNKNOWN: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const FAILED: u8 = 3;

impl Plan {
    /// Groups `rules` (a bucket's unscoped rules) into nodes; returns the
    /// plan and the rules that stay linear. `constants` are the bundle's
    /// constants as the VM sees them.
    pub fn build(bundle: &Bundle, constants: &[Val], rules: &[u32]) -> (Plan, Vec<u32>) {
        let mut linear = Vec::new();
        let mut groups: FxHashMap<Signature, Vec<(u32, Option<KeyValue>)>> = FxHashMap::default();
        let mut order: Vec<Signature> = Vec::new();
        for &rule in rules {
            let plan = bundle
                .rules
                .get(rule as usize)
                .and_then(|r| bundle.functions.get(r.function as usize))
                .and_then(shape)
                .and_then(|shape| rule_plan(bundle, constants, &shape));
            match plan {
                Some((signature, key)) => {
                    let group = groups.entry(signature.clone()).or_default();
                    if group.is_empty() {
                        order.push(signature);
                    }
                    group.push((rule, key));
                }
                None => linear.push(rule),
            }
        }
        let mut atoms: Vec<Atom> = Vec::new();
        let mut nodes = Vec::new();
        for signature in order {
            let Some(members) = groups.remove(&signature) else {
                continue;
            };
            if members.len() < MIN_NODE_RULES {
                linear.extend(members.iter().map(|(rule, _)| *rule));
                continue;
            }
            let gates = signature
                .steps
                .iter()
                .filter_map(|step| match step {
                    Step::Gate(atom) => Some(intern(&mut atoms, *atom)),
                    Step::Need { .. } => None,
                })
                .collect();
            let table = Table::new(&members);
            let rules = members.iter().map(|(rule, _)| *rule).collect();
            nodes.push(Node {
                signature,
                gates,
                table,
                rules,
            });
        }
        linear.sort_unstable();
        let plan = Plan {
            atoms: atoms.into(),
            nodes: nodes.into(),
        };
        (plan, linear)
    }

    /// Every rule of every node (for explanations, which show them all).
    pub fn for_each_rule(&self, visit: &mut impl FnMut(u32)) {
        for node in self.nodes.iter() {
            node.rules.iter().for_each(|r| visit(*r));
        }
    }

    /// Calls `visit` for each rule that may apply to the request: each
    /// rule of a node whose tests cannot rule it out, once.
    #[inline]
    pub fn select(&self, env: &Env<'_>, visit: &mut impl FnMut(u32)) {
        if self.nodes.is_empty() {
            return;
        }
        let mut memo: SmallVec<[u8; 16]> = SmallVec::from_elem(UNKNOWN, self.atoms.len());
        for node in self.nodes.iter() {
            match node.verdict(env, &self.atoms, &mut memo) {
                Verdict::Skip => {}
                Verdict::All => node.rules.iter().for_each(|r| visit(*r)),
                Verdict::Key => {
                    if !node.select_by_key(env, visit) {
                        node.rules.iter().for_each(|r| visit(*r));
                    }
                }
            }
        }
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

fn intern(atoms: &mut Vec<Atom>, atom: Atom) -> u32 {
    let index = atoms.iter().position(|a| *a == atom).unwrap_or_else(|| {
        atoms.push(atom);
        atoms.len() - 1
    });
    reaper_lang::schema::index_u32(index)
}

/// What a node's steps say of its rules for one request.
enum Verdict {
    /// None applies, and none would fail.
    Skip,
    /// Run them all (a step failed, or nothing selects among them).
    All,
    /// Run those the key selects.
    Key,
}

impl Node {
    fn verdict(&self, env: &Env<'_>, atoms: &[Atom], memo: &mut [u8]) -> Verdict {
        let mut gates = self.gates.iter();
        for step in &self.signature.steps {
            let value = match step {
                Step::Need { read, kind } => {
                    if kind.holds(env.guard_read(*read)) {
                        continue;
                    }
                    FAILED
                }
                Step::Gate(_) => {
                    let Some(&index) = gates.next() else {
                        return Verdict::All;
                    };
                    gate(env, atoms, memo, index)
                }
            };
            match (value, self.signature.any) {
                // `&&`: a false test ends the rule with false, and every
                // step before it was checked not to fail.
                (FALSE, false) => return Verdict::Skip,
                (TRUE, false) | (FALSE, true) => {}
                // A failure (or, in `||`, a true test): the rule runs.
                _ => return Verdict::All,
            }
        }
        match (&self.signature.key, self.signature.any) {
            (Some(_), _) => Verdict::Key,
            // Every test of a whole `||` was false.
            (None, true) => Verdict::Skip,
            (None, false) => Verdict::All,
        }
    }

    /// Visits the rules whose key holds; false when the key's read fails
    /// or has the wrong kind (then every rule must run).
    fn select_by_key(&self, env: &Env<'_>, visit: &mut impl FnMut(u32)) -> bool {
        let Some((kind, read)) = self.signature.key else {
            return false;
        };
        let value = env.guard_read(read);
        if value == Words::NONE {
            return false;
        }
        let table = &self.table;
        let mut visit_list = |list: u32| {
            if let Some(rules) = table.lists.get(list as usize) {
                rules.iter().for_each(|r| visit(*r));
            }
        };
        match kind {
            KeyKind::Equal => {
                if let Some(list) = table.words.get(&value) {
                    visit_list(*list);
                }
            }
            KeyKind::Member => {
                let Some(set) = value.set() else {
                    return false;
                };
                // A set's members are distinct, but a list is visited once
                // even if they were not.
                let mut seen: SmallVec<[u32; 8]> = SmallVec::new();
                for member in env.input_pools().slice(set) {
                    let member = member.to_words();
                    if let Some(&list) = table.words.get(&member)
                        && !seen.contains(&list)
                    {
                        seen.push(list);
                        visit_list(list);
                    }
                }
            }
            KeyKind::Prefix | KeyKind::Suffix | KeyKind::Exact => {
                let Val::Str(sym) = Val::from_words(value) else {
                    return false;
                };
                let scratch = Scratch::default();
                let text = env.text(&scratch, sym);
                for (len, map) in &table.texts {
                    let part = match kind {
                        KeyKind::Prefix => text.get(..*len),
                        KeyKind::Suffix => text
                            .len()
                            .checked_sub(*len)
                            .and_then(|start| text.get(start..)),
                        _ => (text.len() == *len).then_some(text),
                    };
                    if let Some(list) = part.and_then(|part| map.get(part)) {
                        visit_list(*list);
                    }
                }
            }
        }
        true
    }

    #[cfg(test)]
    pub fn rules(&self) -> &[u32] {
        &self.rules
    }
}

/// A gate's memoized result for this request.
fn gate(env: &Env<'_>, atoms: &[Atom], memo: &mut [u8], index: u32) -> u8 {
    let Some(slot) = memo.get_mut(index as usize) else {
        return FAILED;
    };
    if *slot == UNKNOWN {
        *slot = match atoms.get(index as usize).and_then(|atom| atom.eval(env)) {
            Some(true) => TRUE,
            Some(false) => FALSE,
            None => FAILED,
        };
    }
    *slot
}

impl Atom {
    /// The test's value, as the VM computes it; `None` when it would fail
    /// (or gives no Bool, which the VM's jump refuses).
    fn eval(&self, env: &Env<'_>) -> Option<bool> {
        let value = env.guard_read(self.read);
        if value == Words::NONE {
            return None;
        }
        let result = match self.test {
            AtomTest::Value => value.as_bool()?,
            AtomTest::Binary(test) => env.guard_test(value, test)?,
            AtomTest::Like(pattern) => {
                let Val::Str(sym) = Val::from_words(value) else {
                    return None;
                };
                let pattern = env.engine.bundle.patterns.get(pattern as usize)?;
                reaper_lang::pattern::matches(pattern, env.text(&Scratch::default(), sym))
            }
            AtomTest::Is(ty) => value.entity()?.ty() == ty,
        };
        Some(result != self.negate)
    }
}

impl Table {
    fn new(members: &[(u32, Option<KeyValue>)]) -> Table {
        let mut table = Table::default();
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut new_list = || {
            lists.push(Vec::new());
            reaper_lang::schema::index_u32(lists.len() - 1)
        };
        let mut placed: Vec<(u32, u32)> = Vec::with_capacity(members.len());
        for (rule, key) in members {
            let list = match key {
                None => continue,
                Some(KeyValue::Words(words)) => {
                    *table.words.entry(*words).or_insert_with(&mut new_list)
                }
                Some(KeyValue::Text(text)) => {
                    let at = match table.texts.iter().position(|(len, _)| *len == text.len()) {
                        Some(at) => at,
                        None => {
                            table.texts.push((text.len(), FxHashMap::default()));
                            table.texts.len() - 1
                        }
                    };
                    let Some((_, map)) = table.texts.get_mut(at) else {
                        continue;
                    };
                    *map.entry(text.clone()).or_insert_with(&mut new_list)
                }
            };
            placed.push((list, *rule));
        }
        for (list, rule) in placed {
            if let Some(rules) = lists.get_mut(list as usize) {
                rules.push(rule);
            }
        }
        table.lists = lists.into_iter().map(Vec::into_boxed_slice).collect();
        table
    }

    fn keys(&self) -> usize {
        self.lists.len()
    }
}

/// What an atom can be in a node.
enum Role {
    Gate,
    Need(Kind),
    Key(KeyKind, KeyValue),
}

/// An atom's role in a node, or `None` when the index cannot tell that
/// it does not fail.
fn role(bundle: &Bundle, constants: &[Val], atom: &Atom) -> Option<Role> {
    let AtomTest::Binary(test) = atom.test else {
        return match atom.test {
            AtomTest::Like(pattern) if !atom.negate => {
                let pattern = bundle.patterns.get(pattern as usize)?;
                Some(match pattern.as_slice() {
                    [PatternPart::Literal(text)] => Role::Key(KeyKind::Exact, text_key(text)),
                    [PatternPart::Literal(text), PatternPart::Wildcard] => {
                        Role::Key(KeyKind::Prefix, text_key(text))
                    }
                    [PatternPart::Wildcard, PatternPart::Literal(text)] => {
                        Role::Key(KeyKind::Suffix, text_key(text))
                    }
                    _ => Role::Need(Kind::Str),
                })
            }
            AtomTest::Like(_) => Some(Role::Need(Kind::Str)),
            _ => Some(Role::Gate),
        };
    };
    let GuardOperand::Constant(index) = test.other else {
        // Two reads: the same for every rule that makes it.
        return Some(Role::Gate);
    };
    let constant = bundle.constants.get(index as usize)?;
    // The constant as the VM compares it: equal texts have equal symbols.
    let value = constants.get(index as usize).map(|v| v.to_words());
    let scalar = value.is_some_and(|w| w.is_scalar());
    match (test.op, test.other_first, value) {
        (_, _, Some(w)) if w.as_bool().is_some() => Some(Role::Gate),
        (BinaryOp::Eq, _, Some(w)) if scalar && !atom.negate => {
            Some(Role::Key(KeyKind::Equal, KeyValue::Words(w)))
        }
        (BinaryOp::InSet, true, Some(w)) if scalar && !atom.negate => {
            Some(Role::Key(KeyKind::Member, KeyValue::Words(w)))
        }
        _ => need(test.op, test.other_first, constant).map(Role::Need),
    }
}

fn text_key(text: &str) -> KeyValue {
    KeyValue::Text(text.into())
}

/// The kind the read must have for `read op constant` (or `constant op
/// read`) to be unable to fail, for the operators whose failure depends on
/// that alone.
fn need(
    op: BinaryOp,
    constant_first: bool,
    constant: &reaper_lang::bundle::Constant,
) -> Option<Kind> {
    use reaper_lang::bundle::Constant;
    let int = matches!(
        constant,
        Constant::Int(_) | Constant::Duration(_) | Constant::Timestamp(_) | Constant::Decimal(_)
    );
    Some(match (op, constant_first, constant) {
        (BinaryOp::Eq | BinaryOp::Ne, _, _) => Kind::Any,
        (BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge, _, _) if int => Kind::Int,
        (BinaryOp::InSet, false, Constant::Set(_)) => Kind::Any,
        (BinaryOp::InSet, true, _) => Kind::Set,
        (BinaryOp::InRange, _, Constant::Ip(_)) => Kind::Ip,
        (
            BinaryOp::StartsWith | BinaryOp::EndsWith | BinaryOp::ContainsText,
            _,
            Constant::String(_),
        ) => Kind::Str,
        (BinaryOp::InEntity, _, Constant::Entity(..)) => Kind::Entity,
        _ => return None,
    })
}

/// A rule's node signature and its key's literal, or `None` when the rule
/// stays linear.
fn rule_plan(
    bundle: &Bundle,
    constants: &[Val],
    shape: &Shape,
) -> Option<(Signature, Option<KeyValue>)> {
    let mut steps = Vec::new();
    let push = |steps: &mut Vec<Step>, step: Step| {
        if !steps.contains(&step) {
            steps.push(step);
        }
    };
    match shape {
        Shape::All(atoms) => {
            let mut key = None;
            for atom in atoms {
                match role(bundle, constants, atom) {
                    // What comes after a test that might fail cannot help.
                    None => break,
                    Some(Role::Gate) => push(&mut steps, Step::Gate(*atom)),
                    Some(Role::Need(kind)) => push(
                        &mut steps,
                        Step::Need {
                            read: atom.read,
                            kind,
                        },
                    ),
                    Some(Role::Key(kind, value)) => {
                        key = Some((kind, atom.read, value));
                        break;
                    }
                }
            }
            if key.is_none() {
                // Steps after the last gate only check reads: no use.
                let last_gate = steps.iter().rposition(|s| matches!(s, Step::Gate(_)))?;
                steps.truncate(last_gate + 1);
            }
            Some(signature(false, steps, key))
        }
        Shape::Any(atoms) => {
            // Every test must be a gate but one, which may be the key.
            let mut key = None;
            for atom in atoms {
                match role(bundle, constants, atom)? {
                    Role::Gate => push(&mut steps, Step::Gate(*atom)),
                    Role::Key(kind, value) if key.is_none() => {
                        key = Some((kind, atom.read, value));
                    }
                    _ => return None,
                }
            }
            Some(signature(true, steps, key))
        }
    }
}

/// A node signature, and the rule's key literal apart from it.
fn signature(
    any: bool,
    steps: Vec<Step>,
    key: Option<(KeyKind, GuardRead, KeyValue)>,
) -> (Signature, Option<KeyValue>) {
    let (key, value) = match key {
        Some((kind, read, value)) => (Some((kind, read)), Some(value)),
        None => (None, None),
    };
    (Signature { any, steps, key }, value)
}

#[cfg(test)]
mod tests;
