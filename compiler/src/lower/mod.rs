//! Stage 5, lowering: a checked package to a bundle. Strings, constants and
//! patterns are interned; every rule condition, limit condition, limit key
//! and http mapping piece becomes a function; rules are indexed by action,
//! resource type and literal scope.

mod codegen;
pub(crate) mod fold;
pub mod index;
mod pool;

use reaper_lang::bundle::{self, Bundle, Effect, IndexEntry, Scope};

use crate::typed::{self, Package, RouteSegment};
use codegen::FnBuilder;
pub use codegen::Unsupported;
use index::RuleScope;
use pool::Pool;

/// Lowers a package that checked without errors.
pub fn lower(package: &Package) -> Result<Bundle, Unsupported> {
    let mut pool = Pool::default();
    let mut functions = Vec::new();
    let mut function = |_: &mut Pool, f: reaper_lang::bytecode::Function| {
        functions.push(f);
        reaper_lang::schema::index_u32(functions.len() - 1)
    };
    let schema = &package.schema;

    let mut rules = Vec::with_capacity(package.rules.len());
    for rule in &package.rules {
        let (code, starts) = FnBuilder::new(&mut pool).conditions(&rule.conditions)?;
        let index = function(&mut pool, code);
        let conditions = rule
            .conditions
            .iter()
            .zip(starts)
            .map(|(c, (start, parts))| bundle::ConditionInfo {
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
        let scope = match index::scope(rule, schema) {
            RuleScope::Any => Scope::Any,
            RuleScope::PrincipalIs(uid) => Scope::PrincipalIs(uid.ty, pool.string(&uid.id)),
            RuleScope::PrincipalIn(uid) => Scope::PrincipalIn(uid.ty, pool.string(&uid.id)),
            RuleScope::ResourceIs(uid) => Scope::ResourceIs(uid.ty, pool.string(&uid.id)),
            RuleScope::ResourceIn(uid) => Scope::ResourceIn(uid.ty, pool.string(&uid.id)),
        };
        rules.push(bundle::Rule {
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
    }
    let index_entries = index::build(&package.rules, schema)
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
                let (code, _) = FnBuilder::new(&mut pool).conditions(&limit.conditions)?;
                Some(function(&mut pool, code))
            };
            let mut keys = Vec::with_capacity(limit.by.len());
            for key in &limit.by {
                let code = FnBuilder::new(&mut pool).value(key)?;
                keys.push(function(&mut pool, code));
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
            let code = FnBuilder::new(&mut pool).value(&http.principal)?;
            let principal = function(&mut pool, code);
            let context = match &http.context {
                Some(context) => {
                    let code = FnBuilder::new(&mut pool).value(context)?;
                    Some(function(&mut pool, code))
                }
                None => None,
            };
            let mut routes = Vec::with_capacity(http.routes.len());
            for route in &http.routes {
                let code = FnBuilder::new(&mut pool).value(&route.resource)?;
                routes.push(bundle::Route {
                    method: route.method.clone(),
                    segments: route
                        .pattern
                        .iter()
                        .map(|s| match s {
                            RouteSegment::Literal(text) => bundle::Segment::Literal(text.clone()),
                            RouteSegment::Param(name) => bundle::Segment::Param(name.clone()),
                        })
                        .collect(),
                    action: route.action,
                    resource: function(&mut pool, code),
                });
            }
            let context_fields = match http.context.as_ref().map(|c| &c.ty) {
                Some(typed::Ty::Record(fields)) => fields.iter().map(|f| f.name.clone()).collect(),
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

    Ok(Bundle {
        package: package.name.clone(),
        strings: pool.strings,
        schema: package.schema.clone(),
        constants: pool.constants,
        patterns: pool.patterns,
        attr_tables: pool.attr_tables,
        functions,
        rules,
        index: index_entries,
        domains,
        context_tables: pool.context_tables,
        http,
    })
}
