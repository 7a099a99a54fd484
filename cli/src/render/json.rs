//! A JSON array with one object per diagnostic, each with the ranges an
//! editor needs to underline it. Lines and columns are 1-based; columns
//! count characters.

use serde::Serialize;

use super::{Batch, range};
use reaper_compiler::source::{Sources, Span};

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    severity: &'static str,
    code: &'static str,
    name: &'static str,
    message: &'a str,
    help: Option<&'a str>,
    labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    message: &'a str,
    primary: bool,
}

fn label<'a>(sources: &'a Sources, span: Span, message: &'a str, primary: bool) -> JsonLabel<'a> {
    let ((line, column), (end_line, end_column)) = range(sources, span);
    JsonLabel {
        file: &sources.file(span.file).name,
        line,
        column,
        end_line,
        end_column,
        message,
        primary,
    }
}

pub fn render(batches: &[Batch<'_>]) -> String {
    let mut all = Vec::new();
    for batch in batches {
        for d in batch.diagnostics {
            let primary = label(batch.sources, d.primary.span, &d.primary.message, true);
            let mut labels = vec![label(
                batch.sources,
                d.primary.span,
                &d.primary.message,
                true,
            )];
            labels.extend(
                d.secondary
                    .iter()
                    .map(|l| label(batch.sources, l.span, &l.message, false)),
            );
            all.push(JsonDiagnostic {
                file: primary.file,
                line: primary.line,
                column: primary.column,
                end_line: primary.end_line,
                end_column: primary.end_column,
                severity: d.severity().as_str(),
                code: d.code.id,
                name: d.code.name,
                message: &d.message,
                help: d.help.as_deref(),
                labels,
            });
        }
    }
    let mut out = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}
