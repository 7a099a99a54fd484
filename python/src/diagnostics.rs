//! Compiling policy sources, and turning the compiler's diagnostics into
//! `reaper.PolicyError`: each diagnostic as structured data (code,
//! severity, message, file, line, column, help) and all of them rendered
//! in the `file:line:col: error[code]: message` form with the source line
//! and a caret, as editors and terminals read it.

use std::fmt::Write as _;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use reaper_compiler::diagnostics::Diagnostic;
use reaper_compiler::source::Sources;
use reaper_lang::printable::printable_line;

use crate::errors;

/// Compiles `(name, text)` sources (one package) to bundle bytes, or
/// raises `PolicyError` with every diagnostic.
#[pyfunction]
pub fn compile_sources<'py>(
    py: Python<'py>,
    sources: Vec<(String, String)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut package = Sources::new();
    for (name, text) in sources {
        package.add(name, text);
    }
    // Compiling is pure CPU work on owned data: other threads may run.
    let compiled = py.detach(|| reaper_compiler::compile(&package));
    match compiled {
        Ok(bundle) => Ok(PyBytes::new(py, &bundle)),
        Err(mut diagnostics) => {
            reaper_compiler::diagnostics::sort(&mut diagnostics);
            Err(policy_error(py, &package, &diagnostics))
        }
    }
}

fn policy_error(py: Python<'_>, sources: &Sources, diagnostics: &[Diagnostic]) -> PyErr {
    let mut rendered = String::new();
    let mut structured = Vec::with_capacity(diagnostics.len());
    for d in diagnostics {
        let file = sources.file(d.primary.span.file);
        let start = file.line_col(d.primary.span.start);
        let end = file.line_col(d.primary.span.end);
        render(
            &mut rendered,
            d,
            &file.name,
            &file.text,
            start.line,
            start.column,
            end,
        );
        let fields = PyDict::new(py);
        let built = (|| -> PyResult<Py<PyAny>> {
            fields.set_item("code", d.code.id)?;
            fields.set_item("name", d.code.name)?;
            fields.set_item("severity", d.severity().as_str())?;
            fields.set_item("message", &d.message)?;
            fields.set_item("file", &file.name)?;
            fields.set_item("line", start.line)?;
            fields.set_item("column", start.column)?;
            fields.set_item("end_line", end.line)?;
            fields.set_item("end_column", end.column)?;
            fields.set_item("label", &d.primary.message)?;
            fields.set_item("help", d.help.as_deref())?;
            errors::diagnostic(py, &fields)
        })();
        match built {
            Ok(diagnostic) => structured.push(diagnostic),
            Err(error) => return error,
        }
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let _ = write!(
        rendered,
        "{}",
        reaper_lang::plural::count(errors, "error", "errors")
    );
    errors::policy_error(py, &rendered, structured)
}

/// One diagnostic: its line, the source line and a caret under the span
/// (to the end of the line when it spans several), the help.
fn render(
    out: &mut String,
    d: &Diagnostic,
    file: &str,
    text: &str,
    line: u32,
    column: u32,
    end: reaper_compiler::source::LineCol,
) {
    let _ = writeln!(
        out,
        "{}:{line}:{column}: {}[{}]: {}",
        printable_line(file),
        d.severity().as_str(),
        d.code.id,
        printable_line(&d.message)
    );
    if let Some(source) = text.lines().nth(line.saturating_sub(1) as usize) {
        let source = printable_line(source);
        let width = if end.line == line {
            end.column.saturating_sub(column).max(1)
        } else {
            (source.chars().count() as u32)
                .saturating_sub(column - 1)
                .max(1)
        };
        let gutter = line.to_string();
        let _ = writeln!(out, "{gutter} | {source}");
        let _ = write!(
            out,
            "{} | {}{}",
            " ".repeat(gutter.len()),
            " ".repeat(column.saturating_sub(1) as usize),
            "^".repeat(width as usize)
        );
        if d.primary.message.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, " {}", printable_line(&d.primary.message));
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  help: {}", printable_line(help));
    }
}
