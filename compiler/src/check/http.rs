//! Checking of the `http` block, which maps an HTTP request (as Envoy's
//! ext_authz sends it) to a principal, an action, a resource and a context:
//! every piece must produce a well-typed authorization request.

use super::Checker;
use super::expr::Scope;
use super::facts::Facts;
use super::types::record_conforms;
use crate::ast::{self, HttpItem, Item};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, RouteSegment, Ty};

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*",
];

impl Checker<'_> {
    pub(super) fn check_http(&mut self, trees: &[&ast::File]) {
        let mut blocks = trees
            .iter()
            .flat_map(|t| t.items.iter())
            .filter_map(|item| match item {
                Item::Http(decl) => Some(decl),
                _ => None,
            });
        let Some(decl) = blocks.next() else { return };
        for extra in blocks {
            self.diags.push(
                Diagnostic::new(
                    &Code::DUPLICATE_DECLARATION,
                    extra.span,
                    "a package has one `http` block",
                )
                .label("second http mapping")
                .with_secondary(decl.span, "first declared here")
                .help("merge the routes into one `http { … }`"),
            );
        }

        let mut principal: Option<typed::Expr> = None;
        // A principal mapped with an error (reported) is not a missing one.
        let mut principal_mapped = false;
        let mut context: Option<(typed::Expr, Span)> = None;
        let mut routes = Vec::new();
        for item in &decl.items {
            match item {
                HttpItem::Principal { value, span } => {
                    let checked = self.entity_of_one_type(
                        value,
                        Scope::Http { params: None },
                        "the principal",
                    );
                    if principal_mapped {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_HTTP_MAPPING,
                                *span,
                                "the principal is mapped twice",
                            )
                            .label("second `principal = …`"),
                        );
                    } else {
                        principal_mapped = true;
                        principal = checked;
                    }
                }
                HttpItem::Context { value, span } => {
                    let (checked, _) = self
                        .expr_cx(Scope::Http { params: None })
                        .check(value, &Facts::default());
                    if context.is_some() {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_HTTP_MAPPING,
                                *span,
                                "the context is mapped twice",
                            )
                            .label("second `context = …`"),
                        );
                    } else {
                        context = Some((checked, *span));
                    }
                }
                HttpItem::Route(route) => {
                    if let Some(route) = self.route(route) {
                        routes.push(route);
                    }
                }
            }
        }
        // The context must fit every routed action's context record (the
        // package's, or an action's own).
        let mut records: Vec<(reaper_lang::types::RecordType, String)> = Vec::new();
        for route in &routes {
            let record = self.names.schema.context_of(route.action).clone();
            if !records.iter().any(|(r, _)| *r == record) {
                records.push((record, self.names.action_name(route.action).to_owned()));
            }
        }
        if records.is_empty() {
            records.push((self.names.schema.context.clone(), String::new()));
        }
        if let Some((checked, _)) = &context {
            for (record, action) in &records {
                let fits = match &checked.ty {
                    Ty::Record(fields) => {
                        record_conforms(&self.names.schema, fields, &Ty::record(record))
                    }
                    Ty::Error => Ok(()),
                    _ => Err("expected a record such as `{ source_ip: request.source_ip }`".into()),
                };
                // The run-time mapping names the top record's fields; a nested
                // record is laid out by its declaration, so it gives them all.
                let fits = fits.and_then(|()| match &checked.kind {
                    typed::ExprKind::Record(fields) => {
                        fields
                            .iter()
                            .try_for_each(|(name, e)| match record.field(name) {
                                Some((_, f)) => complete_records(e, &f.ty),
                                None => Ok(()),
                            })
                    }
                    _ => Ok(()),
                });
                if let Err(why) = fits {
                    let whose = if action.is_empty() || records.len() == 1 {
                        "its declaration".to_owned()
                    } else {
                        format!("the context of `{action}`")
                    };
                    self.diags.push(
                        Diagnostic::new(&Code::INVALID_HTTP_MAPPING, checked.span, format!("the context does not match {whose}: {why}"))
                            .label("mapped context")
                            .help("the mapping must produce every required field of the context with its declared type, for every action a route maps to"),
                    );
                    break;
                }
            }
        }
        let required_context = records
            .iter()
            .any(|(record, _)| record.fields.iter().any(|f| !f.optional));
        if context.is_none() && required_context {
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_HTTP_MAPPING,
                    decl.span,
                    "the http mapping does not say how to build the context",
                )
                .label("no `context = …;`")
                .help("add `context = { … };` giving every required context field"),
            );
        }
        let Some(principal) = principal else {
            if principal_mapped {
                return;
            }
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_HTTP_MAPPING,
                    decl.span,
                    "the http mapping does not say who the principal is",
                )
                .label("no `principal = …;`")
                .help("add, for example, `principal = User::(header(\"x-user-id\"));`"),
            );
            return;
        };
        let origin = self.origin(decl.span);
        self.package.http = Some(typed::HttpMapping {
            principal,
            context: context.map(|(c, _)| c),
            routes,
            origin,
        });
    }

    fn route(&mut self, route: &ast::Route) -> Option<typed::Route> {
        let method = route.method.name.as_str();
        let mut ok = true;
        if !METHODS.contains(&method) {
            let diagnostic = Diagnostic::new(
                &Code::INVALID_HTTP_MAPPING,
                route.method.span,
                format!("unknown HTTP method `{method}`"),
            )
            .label("not a method")
            .suggest(method, METHODS);
            let diagnostic = if diagnostic.help.is_none() {
                diagnostic.help(format!("methods are {}", METHODS.join(", ")))
            } else {
                diagnostic
            };
            self.diags.push(diagnostic);
            ok = false;
        }
        let pattern = match parse_pattern(&route.pattern.value) {
            Ok(pattern) => pattern,
            Err(why) => {
                self.diags.push(
                    Diagnostic::new(&Code::INVALID_HTTP_MAPPING, route.pattern.span, format!("invalid route pattern: {why}"))
                        .label("route pattern")
                        .help("patterns are paths such as \"/docs/{id}\": literal segments and `{name}` parameters"),
                );
                return None;
            }
        };
        let params: Vec<String> = pattern
            .iter()
            .filter_map(|s| match s {
                RouteSegment::Param(name) => Some(name.clone()),
                RouteSegment::Literal(_) => None,
            })
            .collect();
        let mut action = self.names.action(&route.action, &mut self.diags);
        if let Some(group) = action.filter(|a| self.names.is_group(*a)) {
            let name = self.names.action_name(group).to_owned();
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_ACTION_GROUP,
                    route.action.span,
                    format!("`{name}` is an action group; a route maps to one action"),
                )
                .label("not an action of a request")
                .help("map the route to one of the group's actions"),
            );
            action = None;
            ok = false;
        }
        let resource = self.entity_of_one_type(
            &route.resource,
            Scope::Http {
                params: Some(params),
            },
            "the resource",
        );
        let (action, resource) = (action?, resource?);
        let Ty::Entity(types) = &resource.ty else {
            return None;
        };
        let applies =
            self.names.schema.action(action).is_some_and(|a| {
                a.resource_types.is_empty() || a.resource_types.contains(&types[0])
            });
        if !applies {
            let (name, ty) = (
                self.names.action_name(action).to_owned(),
                self.names.entity_name(types[0]).to_owned(),
            );
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_HTTP_MAPPING,
                    route.span,
                    format!("action `{name}` does not apply to `{ty}`"),
                )
                .label("this route's request would be rejected")
                .help(format!("map the route to an action declared `on {ty}`")),
            );
            ok = false;
        }
        let origin = self.origin(route.span);
        ok.then(|| typed::Route {
            method: (method != "*").then(|| method.to_owned()),
            pattern,
            action,
            resource,
            origin,
        })
    }

    /// Checks an expression that must denote an entity of exactly one type.
    fn entity_of_one_type(
        &mut self,
        expr: &ast::Expr,
        scope: Scope,
        what: &str,
    ) -> Option<typed::Expr> {
        let (checked, _) = self.expr_cx(scope).check(expr, &Facts::default());
        match &checked.ty {
            Ty::Entity(types) if types.len() == 1 => Some(checked),
            Ty::Error => None,
            other => {
                let found = super::types::display(&self.names.schema, other);
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_HTTP_MAPPING,
                        expr.span,
                        format!("{what} must be an entity of one type, not `{found}`"),
                    )
                    .label(format!("this is `{found}`"))
                    .help("build it with `Type::(…)`, for example `User::(header(\"x-user-id\"))`"),
                );
                None
            }
        }
    }
}

/// A nested record literal in the mapped context gives every field its
/// declared record has, optional ones included.
fn complete_records(expr: &typed::Expr, ty: &reaper_lang::types::Type) -> Result<(), String> {
    use reaper_lang::types::Type;
    match (&expr.kind, ty) {
        (typed::ExprKind::Record(fields), Type::Record(record)) => {
            for declared in &record.fields {
                match fields.iter().find(|(name, _)| *name == declared.name) {
                    Some((_, value)) => complete_records(value, &declared.ty)?,
                    None => {
                        return Err(format!(
                            "a nested record gives every field; `{}` is missing",
                            declared.name
                        ));
                    }
                }
            }
            Ok(())
        }
        (typed::ExprKind::Set(items), Type::Set(elem)) => items
            .iter()
            .try_for_each(|item| complete_records(item, elem)),
        _ => Ok(()),
    }
}

/// Splits `/docs/{id}` into segments.
fn parse_pattern(pattern: &str) -> Result<Vec<RouteSegment>, String> {
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err("it must start with `/`".into());
    };
    let mut segments = Vec::new();
    if rest.is_empty() {
        return Ok(segments);
    }
    for segment in rest.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("`{{{name}}}` is not a parameter name"));
            }
            if segments.contains(&RouteSegment::Param(name.to_owned())) {
                return Err(format!("parameter `{name}` appears twice"));
            }
            segments.push(RouteSegment::Param(name.to_owned()));
        } else if segment.contains(['{', '}']) {
            return Err(format!("segment `{segment}` mixes text and a parameter"));
        } else if segment.is_empty() {
            return Err("it has an empty segment (`//`)".into());
        } else {
            segments.push(RouteSegment::Literal(segment.to_owned()));
        }
    }
    Ok(segments)
}
