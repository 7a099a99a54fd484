//! Checking of `store` declarations: known settings, the right kind of value
//! for each, a required `ttl`, and limits that make sense (`max_ttl ≥ ttl`).

use std::collections::HashMap;

use reaper_lang::limits::StoreSpec;

use super::Checker;
use crate::ast::{self, ExprKind, Item, Literal};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;

pub const STORE_SETTINGS: [&str; 4] = ["ttl", "max_ttl", "max_value", "max_keys"];

impl Checker<'_> {
    pub(super) fn check_stores(&mut self, trees: &[&ast::File]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for tree in trees {
            for item in &tree.items {
                let Item::Store(decl) = item else { continue };
                if let Some(previous) = seen.get(&decl.name.name) {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::DUPLICATE_DECLARATION,
                            decl.name.span,
                            format!("store `{}` is declared twice", decl.name.name),
                        )
                        .label("declared again here")
                        .with_secondary(*previous, "first declared here"),
                    );
                    continue;
                }
                seen.insert(decl.name.name.clone(), decl.name.span);
                if let Some(spec) = self.store(decl) {
                    self.names.schema.stores.push(spec);
                }
            }
        }
        self.store_spans = seen;
    }

    fn store(&mut self, decl: &ast::StoreDecl) -> Option<StoreSpec> {
        let mut values: HashMap<&str, (i64, Span)> = HashMap::new();
        for setting in &decl.settings {
            let key = setting.key.name.as_str();
            if !STORE_SETTINGS.contains(&key) {
                let diagnostic = Diagnostic::new(
                    &Code::UNKNOWN_SETTING,
                    setting.key.span,
                    format!("unknown store setting `{key}`"),
                )
                .label("not a store setting")
                .suggest(key, STORE_SETTINGS);
                let diagnostic = if diagnostic.help.is_none() {
                    diagnostic.help(format!("store settings are {}", STORE_SETTINGS.join(", ")))
                } else {
                    diagnostic
                };
                self.diags.push(diagnostic);
                continue;
            }
            if let Some((_, previous)) = values.get(key) {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        setting.span,
                        format!("`{key}` is set twice"),
                    )
                    .label("set again here")
                    .with_secondary(*previous, "first set here"),
                );
                continue;
            }
            let (value, kind) = match setting.value.as_ref().map(|v| &v.kind) {
                Some(ExprKind::Literal(Literal::Duration(ms))) => (*ms, "duration"),
                Some(ExprKind::Literal(Literal::Size(bytes))) => (*bytes, "size"),
                Some(ExprKind::Literal(Literal::Int(n))) => (*n, "integer"),
                Some(ExprKind::Error) => continue,
                _ => (0, "other"),
            };
            let wanted = match key {
                "ttl" | "max_ttl" => ("duration", "a duration such as `30m`"),
                "max_value" => ("size", "a size such as `16KiB`"),
                _ => ("integer", "an integer such as `1_000_000`"),
            };
            let accepts = kind == wanted.0 || (key == "max_value" && kind == "integer");
            if !accepts {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        setting.span,
                        format!("`{key}` takes {}", wanted.1),
                    )
                    .label("wrong kind of value"),
                );
                continue;
            }
            if value <= 0 {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_STORE,
                        setting.span,
                        format!("`{key}` must be greater than zero"),
                    )
                    .label("zero or less")
                    .help(match key {
                        "ttl" | "max_ttl" => "a zero TTL would expire every value as it is written",
                        _ => "a zero limit would refuse every write",
                    }),
                );
                continue;
            }
            values.insert(key, (value, setting.span));
        }
        let Some((ttl, ttl_span)) = values.get("ttl").copied() else {
            // A `ttl` with a bad value was reported where it is written.
            if decl.settings.iter().any(|s| s.key.name == "ttl") {
                return None;
            }
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_SETTING,
                    decl.name.span,
                    format!("store `{}` has no `ttl`", decl.name.name),
                )
                .label("missing `ttl`")
                .help("every store needs a default TTL: `ttl 30m`"),
            );
            return None;
        };
        let max_ttl = match values.get("max_ttl").copied() {
            Some((max, span)) if max < ttl => {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_STORE,
                        span,
                        "`max_ttl` is shorter than `ttl`",
                    )
                    .label("the largest TTL a write may ask for")
                    .with_secondary(ttl_span, "the default TTL is longer")
                    .help("`max_ttl` must be at least `ttl`"),
                );
                ttl
            }
            Some((max, _)) => max,
            None => ttl,
        };
        let positive = |key: &str| values.get(key).map(|(v, _)| v.unsigned_abs());
        Some(StoreSpec {
            name: decl.name.name.clone(),
            ttl_ms: ttl.unsigned_abs(),
            max_ttl_ms: max_ttl.unsigned_abs(),
            max_value_bytes: positive("max_value"),
            max_keys: positive("max_keys"),
            principal_types: self
                .names
                .store_principals
                .get(&decl.name.name)
                .cloned()
                .unwrap_or_default(),
        })
    }
}
