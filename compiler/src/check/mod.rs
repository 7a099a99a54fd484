//! Stage 4, types: checks a package's rules, limits, stores, http mapping
//! and tests against the schema the resolver built, producing the typed tree
//! and every diagnostic in one pass.

mod access;
mod calls;
mod expr;
mod facts;
mod http;
mod impossible;
mod limits;
mod lints;
mod rules;
mod stores;
mod tests;
pub mod types;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::{self, Item};
use crate::diagnostics::{self, Code, Diagnostic};
use crate::parse;
use crate::resolve::{self, Names};
use crate::source::{FileId, Sources, Span};
use crate::typed::{self, Origin};

pub use calls::methods_of_type;
pub use expr::Scope;
/// Words that complete limit and store settings (for editors).
pub use limits::{OPTIONS as LIMIT_OPTIONS, UNITS as PERIOD_UNITS};
pub use stores::STORE_SETTINGS;

/// The result of checking a package: its typed tree (complete when there
/// are no errors and rules were kept whole, see [`Keep`]), its bundle when
/// rules were lowered as they were checked, and all diagnostics, sorted by
/// place.
#[derive(Debug)]
pub struct Checked {
    pub package: typed::Package,
    pub diagnostics: Vec<Diagnostic>,
    /// With [`Keep::Bytecode`] and no errors: the compiled package. Only
    /// with [`Keep::Typed`] does `package.rules` hold the rules.
    pub bundle: Option<reaper_lang::bundle::Bundle>,
    /// What was kept of the rules.
    pub keep: Keep,
}

/// What checking keeps of each rule once the rule is checked. A large
/// policy's typed rules are several times its source, so callers that need
/// less than all of them say so and memory stays flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The typed rules whole: for the reference evaluator and for callers
    /// that lower later.
    Typed,
    /// The rules' bytecode: each rule is lowered as soon as it is checked
    /// and its conditions dropped ([`Checked::bundle`]).
    Bytecode,
    /// Only what the package's diagnostics need (ids, effects, actions).
    Diagnostics,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks every file of `sources` as one package.
pub fn check(sources: &Sources) -> Checked {
    let ids: Vec<FileId> = sources.files().map(|(id, _)| id).collect();
    check_files(sources, &ids)
}

/// Parses and checks the files `ids` of `sources` as one package (the others
/// are only there to render diagnostics, like a file that is not UTF-8).
pub fn check_files(sources: &Sources, ids: &[FileId]) -> Checked {
    check_files_keeping(sources, ids, Keep::Typed)
}

/// [`check_files`], keeping of the rules what `keep` says.
pub fn check_files_keeping(sources: &Sources, ids: &[FileId], keep: Keep) -> Checked {
    check_files_recording(sources, ids, keep, false).0
}

/// [`check_files_keeping`], also recording what each name and expression
/// was found to be when `record` is set (for editors, [`crate::symbols`]).
pub fn check_files_recording(
    sources: &Sources,
    ids: &[FileId],
    keep: Keep,
    record: bool,
) -> (Checked, Option<Box<crate::symbols::Recorded>>) {
    let mut diags = Vec::new();
    let mut files = Vec::with_capacity(ids.len());
    let mut rules = Vec::new();
    for id in ids {
        let (parsed, found) = parse::parse_deferring_rules(*id, &sources.file(*id).text);
        diags.extend(parsed.diagnostics);
        files.push(parsed.file);
        rules.extend(found);
    }
    let parse_errors: Vec<Span> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.primary.span)
        .collect();
    let (mut checked, recorded) =
        check_package(sources, &files, &rules, parse_errors, keep, record);
    diags.append(&mut checked.diagnostics);
    diagnostics::sort(&mut diags);
    checked.diagnostics = diags;
    (checked, recorded)
}

/// Checks parsed files and their rules, which are parsed one at a time
/// here and their trees dropped once checked: on a large policy, all rule
/// trees at once would be most of the memory a check takes. `parse_errors`
/// are where parsing reported errors (what did not parse may hold a
/// declaration or use the checker misses).
fn check_package(
    sources: &Sources,
    files: &[ast::File],
    rules: &[parse::RuleChunk],
    parse_errors: Vec<Span>,
    keep: Keep,
    record: bool,
) -> (Checked, Option<Box<crate::symbols::Recorded>>) {
    let mut diags = Vec::new();
    let broken_items: Vec<Span> = files
        .iter()
        .flat_map(|t| t.items.iter())
        .filter_map(|i| match i {
            Item::Error(broken) => Some(broken.span),
            _ => None,
        })
        .collect();
    let trees: Vec<&ast::File> = files.iter().collect();
    let mut names = resolve::resolve(&trees, &mut diags);
    if record {
        names.recorded = Some(Box::default());
    }
    let mut checker = Checker {
        sources,
        names,
        diags,
        package: typed::Package::default(),
        rule_ids: BTreeMap::new(),
        permits: Permits::default(),
        store_spans: HashMap::new(),
        parse_errors,
        broken_items,
        lowering: match keep {
            Keep::Bytecode => Lowering::Running(Box::default()),
            Keep::Typed | Keep::Diagnostics => Lowering::Off {
                keep_rules: keep == Keep::Typed,
            },
        },
    };
    checker.package.name = checker.package_name(&trees);
    checker.check_stores(&trees);
    match &mut checker.lowering {
        Lowering::Off { keep_rules: true } => checker.package.rules.reserve_exact(rules.len()),
        Lowering::Running(lowerer) => lowerer.reserve_rules(rules.len()),
        _ => {}
    }
    for chunk in rules {
        checker.parse_and_check_rule(*chunk);
    }
    checker.check_ratelimits(&trees);
    checker.check_http(&trees);
    checker.check_tests(&trees);
    checker.lint();
    checker.package.schema = std::mem::take(&mut checker.names.schema);
    let bundle = checker.finish_lowering();
    let recorded = checker.names.recorded.take();
    let mut diagnostics = checker.diags;
    diagnostics::sort(&mut diagnostics);
    let checked = Checked {
        package: checker.package,
        diagnostics,
        bundle,
        keep,
    };
    (checked, recorded)
}

/// What permit rules cover, for the package's lints.
#[derive(Default)]
struct Permits {
    actions: HashSet<reaper_lang::types::ActionId>,
    /// Whether a permit applies to any store (`on Store`).
    any_store: bool,
    /// Stores a permit names (`on store NAME`).
    stores: HashSet<String>,
}

/// Lowering as rules are checked ([`Keep::Bytecode`]).
enum Lowering {
    Off {
        /// Whether typed rules keep their conditions ([`Keep::Typed`]).
        keep_rules: bool,
    },
    Running(Box<crate::lower::Lowerer>),
    /// A rule did not lower. With errors in the package that is expected
    /// (an erroneous tree has no code); without, it is a compiler bug.
    Failed(crate::lower::Unsupported),
}

pub(crate) struct Checker<'a> {
    sources: &'a Sources,
    names: Names,
    diags: Vec<Diagnostic>,
    package: typed::Package,
    /// Rule ids seen so far, with the span that gave each.
    /// Every rule's id, with the span that gave it (ordered, so
    /// suggestions among them do not depend on hashing).
    rule_ids: BTreeMap<String, Span>,
    /// What the permit rules seen so far cover.
    permits: Permits,
    /// Where each store was declared.
    store_spans: HashMap<String, Span>,
    /// Where parsing reported errors.
    parse_errors: Vec<Span>,
    /// Items that did not parse.
    broken_items: Vec<Span>,
    lowering: Lowering,
}

impl Checker<'_> {
    /// Parses a rule and checks it; a syntax error is recorded as one found
    /// while parsing the file would have been.
    fn parse_and_check_rule(&mut self, chunk: parse::RuleChunk) {
        let mut syntax_errors = Vec::new();
        let item = parse::parse_rule(
            chunk,
            &self.sources.file(chunk.file).text,
            &mut syntax_errors,
        );
        self.parse_errors.extend(
            syntax_errors
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.primary.span),
        );
        self.diags.append(&mut syntax_errors);
        match item {
            Some(Item::Rule(rule)) => self.check_rule(&rule),
            Some(Item::Error(broken)) => self.broken_items.push(broken.span),
            _ => {}
        }
    }

    /// What becomes of a checked rule: what the package's lints need of it
    /// is noted, then it is kept whole, lowered (unless a rule failed to
    /// before), or dropped.
    fn keep_rule(&mut self, rule: typed::Rule) {
        if rule.effect == ast::Effect::Permit {
            self.permits.actions.extend(&rule.actions);
            if rule.resource_types.contains(&self.names.store_entity()) {
                match &rule.store {
                    Some(store) => {
                        self.permits.stores.insert(store.clone());
                    }
                    None => self.permits.any_store = true,
                }
            }
        }
        match &mut self.lowering {
            Lowering::Off { keep_rules: true } => self.package.rules.push(rule),
            Lowering::Off { keep_rules: false } | Lowering::Failed(_) => {}
            Lowering::Running(lowerer) => {
                if let Err(unsupported) = lowerer.rule(&rule, &self.names.schema) {
                    self.lowering = Lowering::Failed(unsupported);
                }
            }
        }
    }

    /// The bundle, when rules were lowered and the package has no errors;
    /// a rule that did not lower without errors is an internal error.
    fn finish_lowering(&mut self) -> Option<reaper_lang::bundle::Bundle> {
        let lowering = std::mem::replace(&mut self.lowering, Lowering::Off { keep_rules: false });
        let result = match lowering {
            Lowering::Off { .. } => return None,
            _ if self.has_parse_errors() || self.diags.iter().any(Diagnostic::is_error) => {
                return None;
            }
            Lowering::Running(lowerer) => lowerer.finish(&self.package),
            Lowering::Failed(unsupported) => Err(unsupported),
        };
        match result {
            Ok(bundle) => Some(bundle),
            Err(unsupported) => {
                self.diags.push(crate::lower::internal_error(&unsupported));
                None
            }
        }
    }

    fn origin(&self, span: Span) -> Origin {
        let file = self.sources.file(span.file);
        Origin {
            file: file.name.clone(),
            line: file.line_col(span.start).line,
            span,
        }
    }

    /// Whether parsing reported errors (or left items out).
    fn has_parse_errors(&self) -> bool {
        !self.parse_errors.is_empty() || !self.broken_items.is_empty()
    }

    /// Whether `name` (an identifier, or a quoted string with its quotes)
    /// appears in an item that did not parse, which may declare it: then a
    /// use of the name is not reported as unknown.
    fn in_broken_item(&self, name: &str) -> bool {
        self.broken_items.iter().any(|span| {
            let text = self.sources.text(*span);
            text.match_indices(name).any(|(at, _)| {
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
                let after = text[at + name.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !word(c));
                before && after
            })
        })
    }

    /// Whether an error was reported inside `span`: a block that lost a
    /// statement to a syntax error, or a declaration left out as invalid.
    fn error_within(&self, span: Span) -> bool {
        let checked = self
            .diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.primary.span);
        self.parse_errors
            .iter()
            .copied()
            .chain(checked)
            .any(|e| e.file == span.file && e.start >= span.start && e.end <= span.end)
    }

    /// A checked condition with its canonical text, the texts of its
    /// chain's operands and its line, for explanations.
    fn condition(&self, condition: &ast::Condition, expr: typed::Expr) -> typed::Condition {
        let file = condition.span.file;
        let source = &self.sources.file(file).text;
        let keyword = match condition.kind {
            ast::ConditionKind::When => "when",
            ast::ConditionKind::Unless => "unless",
        };
        let text = format!(
            "{keyword} {}",
            crate::fmt::expr_text(file, source, &condition.expr)
        );
        let chain = match condition.kind {
            ast::ConditionKind::When => ast::BinaryOp::And,
            ast::ConditionKind::Unless => ast::BinaryOp::Or,
        };
        let mut operands = Vec::new();
        flatten(&condition.expr, chain, &mut operands);
        let parts = if operands.len() > 1 {
            operands
                .iter()
                .map(|e| crate::fmt::expr_text(file, source, e))
                .collect()
        } else {
            Vec::new()
        };
        typed::Condition {
            kind: condition.kind,
            expr,
            text,
            parts,
            line: self.origin(condition.span).line,
        }
    }

    fn store_span(&self, name: &str) -> Span {
        self.store_spans.get(name).copied().unwrap_or_default()
    }

    fn expr_cx(&mut self, scope: Scope) -> expr::ExprCx<'_> {
        expr::ExprCx {
            names: &mut self.names,
            diags: &mut self.diags,
            scope,
        }
    }

    /// The package name all files agree on.
    fn package_name(&mut self, trees: &[&ast::File]) -> Option<String> {
        let mut first: Option<&ast::Ident> = None;
        for tree in trees {
            let Some(name) = &tree.package else { continue };
            match first {
                None => first = Some(name),
                Some(first) if first.name != name.name => self.diags.push(
                    Diagnostic::new(
                        &Code::PACKAGE_MISMATCH,
                        name.span,
                        format!(
                            "this file is in package `{}`, but another is in `{}`",
                            name.name, first.name
                        ),
                    )
                    .label("different package")
                    .with_secondary(first.span, "first package declared here")
                    .help("all files of one policy directory belong to one package"),
                ),
                Some(_) => {}
            }
        }
        first.map(|n| n.name.clone())
    }
}

/// The operands of a chain of `op` (`a && b && (c && d)`: a, b, c, d).
pub(crate) fn flatten<'e>(expr: &'e ast::Expr, op: ast::BinaryOp, out: &mut Vec<&'e ast::Expr>) {
    match &expr.kind {
        ast::ExprKind::Binary { op: o, lhs, rhs } if *o == op => {
            flatten(lhs, op, out);
            flatten(rhs, op, out);
        }
        ast::ExprKind::Paren(inner) if is_chain(inner, op) => flatten(inner, op, out),
        _ => out.push(expr),
    }
}

fn is_chain(expr: &ast::Expr, op: ast::BinaryOp) -> bool {
    match &expr.kind {
        ast::ExprKind::Binary { op: o, .. } => *o == op,
        ast::ExprKind::Paren(inner) => is_chain(inner, op),
        _ => false,
    }
}
