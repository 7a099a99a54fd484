//! Stage 5, lowering: a checked package to a bundle. Strings, constants and
//! patterns are interned; every rule condition, limit condition, limit key
//! and http mapping piece becomes a function; rules are indexed by action,
//! resource type and literal scope.

mod codegen;
pub(crate) mod fold;
pub mod index;
mod pool;

use reaper_lang::bundle::{self, Bundle, Effect, IndexEntry, Scope};

use reaper_lang::schema::Schema;

use crate::typed::{self, Package, RouteSegment};
pub use codegen::Unsupported;
use codegen::{ClauseCode, FnBuilder};
use index::RuleScope;
use pool::Pool;

/// The diagnostic for a package that checked without errors and still did
/// not lower: a compiler bug, reported rather than hidden.
pub fn internal_error(unsupported: &Unsupported) -> crate::diagnostics::Diagnostic {
    crate::diagnostics::Diagnostic::new(
        &crate::diagnostics::Code::INTERNAL_ERROR,
        crate::source::Span::default(),
        format!("internal compiler error: cannot lower {}", unsupported.0),
    )
}

/// Lowers a package that checked without errors.
pub fn lower(package: &Package) -> Result<Bundle, Unsupported> {
    let mut lowerer = Lowerer::default();
    for rule in &package.rules {
        lowerer.rule(rule, &package.schema)?;
    }
    lowerer.finish(package)
}

/// A bundle being built: rules are lowered one at a time, as they are
/// checked if the caller wishes (so a rule's typed tree need not outlive
/// it), then the rest of the package at [`Lowerer::finish`].
#[derive(Default)]
pub struct Lowerer {
    pool: Pool,
    functions: Vec<reaper_lang::bytecode::Function>,
    rules: Vec<bundle::Rule>,
    index: index::Index,
}

impl Lowerer {
    fn function(&mut self, f: reaper_lang::bytecode::Function) -> u32 {
        self.functions.push(f);
        reaper_lang::schema::index_u32(self.functions.len() - 1)
    }

    /// Builds a function and adds it; its index.
    fn code(
        &mut self,
        build: impl FnOnce(FnBuilder<'_>) -> Result<reaper_lang::bytecode::Function, Unsupported>,
    ) -> Result<u32, Unsupported> {
        let f = build(FnBuilder::new(&mut self.pool))?;
        Ok(self.function(f))
    }

    /// Makes room for `count` more rules: a large policy's bundle rules,
    /// grown by doubling, would hold up to twice the memory they need.
    pub fn reserve_rules(&mut self, count: usize) {
        self.rules.reserve_exact(count);
        self.functions.reserve_exact(count);
    }

    /// Lowers the package's next rule.
    pub fn rule(&mut self, rule: &typed::Rule, schema: &Schema) -> Result<(), Unsupported> {
        let (code, starts) = FnBuilder::new(&mut self.pool).conditions(&rule.conditions)?;
        let index = self.function(code);
        let conditions = rule
            .conditions
            .iter()
            .zip(starts)
            .map(|(c, ClauseCode { start, parts })| bundle::ConditionInfo {
                unless: c.kind == typed::ConditionKind::Unless,
                text: c.text.clone(),
                line: c.line,
                start,
                parts: c
                    .parts
                    .iter()
                    .zip(parts)
                    .map(|(text, (start, end))| bundle::PartInfo {
                        text: text.clone(),
                        start,
                        end,
                    })
                    .collect(),
            })
            .collect();
        let pool = &mut self.pool;
        let scope = match index::scope(rule, schema) {
            RuleScope::Any => Scope::Any,
            RuleScope::PrincipalIs(uid) => Scope::PrincipalIs(uid.ty, pool.string(&uid.id)),
            RuleScope::PrincipalIn(uid) => Scope::PrincipalIn(uid.ty, pool.string(&uid.id)),
            RuleScope::ResourceIs(uid) => Scope::ResourceIs(uid.ty, pool.string(&uid.id)),
            RuleScope::ResourceIn(uid) => Scope::ResourceIn(uid.ty, pool.string(&uid.id)),
        };
        let number = reaper_lang::schema::index_u32(self.rules.len());
        index::add(&mut self.index, number, rule, schema);
        self.rules.push(bundle::Rule {
            id: rule.id.clone(),
            effect: match rule.effect {
                typed::Effect::Permit => Effect::Permit,
                typed::Effect::Forbid => Effect::Forbid,
            },
            annotations: rule.annotations.clone(),
            file: rule.origin.file_name().to_owned(),
            line: rule.origin.line,
            function: index,
            scope,
            conditions,
        });
        Ok(())
    }

    /// The bundle, once every rule of `package` went through
    /// [`Lowerer::rule`] (its rules are not read again).
    pub fn finish(mut self, package: &Package) -> Result<Bundle, Unsupported> {
        let index_entries = std::mem::take(&mut self.index)
            .into_iter()
            .map(|((action, resource_type), rules)| IndexEntry {
                action,
                resource_type,
                rules,
            })
            .collect();

        let mut domains = Vec::with_capacity(package.domains.len());
        for domain in &package.domains {
            let mut limits = Vec::with_capacity(domain.limits.len());
            for limit in &domain.limits {
                let condition = if limit.conditions.is_empty() {
                    None
                } else {
                    Some(self.code(|b| Ok(b.conditions(&limit.conditions)?.0))?)
                };
                let mut keys = Vec::with_capacity(limit.by.len());
                for key in &limit.by {
                    keys.push(self.code(|b| b.value(key))?);
                }
                limits.push(bundle::Limit {
                    spec: limit.spec.clone(),
                    condition,
                    keys,
                    file: limit.origin.file_name().to_owned(),
                    line: limit.origin.line,
                });
            }
            domains.push(bundle::Domain {
                name: domain.name.clone(),
                limits,
            });
        }

        let http = match &package.http {
            None => None,
            Some(http) => {
                let principal = self.code(|b| b.value(&http.principal))?;
                let context = match &http.context {
                    Some(context) => Some(self.code(|b| b.value(context))?),
                    None => None,
                };
                let mut routes = Vec::with_capacity(http.routes.len());
                for route in &http.routes {
                    let resource = self.code(|b| b.value(&route.resource))?;
                    routes.push(bundle::Route {
                        method: route.method.clone(),
                        segments: route
                            .pattern
                            .iter()
                            .map(|s| match s {
                                RouteSegment::Literal(text) => {
                                    bundle::Segment::Literal(text.clone())
                                }
                                RouteSegment::Param(name) => bundle::Segment::Param(name.clone()),
                            })
                            .collect(),
                        action: route.action,
                        resource,
                    });
                }
                let context_fields = match http.context.as_ref().map(|c| &c.ty) {
                    Some(typed::Ty::Record(fields)) => {
                        fields.iter().map(|f| f.name.clone()).collect()
                    }
                    _ => Vec::new(),
                };
                Some(bundle::HttpMapping {
                    principal,
                    context,
                    context_fields,
                    routes,
                })
            }
        };

        let pool = self.pool;
        Ok(Bundle {
            package: package.name.clone(),
            strings: pool.strings.into_iter().collect(),
            schema: package.schema.clone(),
            constants: pool.constants.into_iter().collect(),
            patterns: pool.patterns.into_iter().collect(),
            attr_tables: pool.attr_tables.into_iter().collect(),
            functions: self.functions,
            rules: self.rules,
            index: index_entries,
            domains,
            context_tables: pool.context_tables.into_iter().collect(),
            http,
        })
    }
}
