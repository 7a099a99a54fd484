//! miette's graphical report: the message, the code, the source snippet with
//! labelled spans, and help. Labels in another file than the primary span
//! (a declaration in a sibling file) become notes with their location.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use reaper_compiler::diagnostics::{Diagnostic, Severity};
use reaper_compiler::source::{Sources, Span};

use super::{Batch, range};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    On,
    Off,
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!(
            "{}({})",
            self.diagnostic.code.id, self.diagnostic.code.name
        )))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::from((span.start as usize, span.len()))
}

fn report<'a>(sources: &Sources, diagnostic: &'a Diagnostic) -> Report<'a> {
    let file = diagnostic.primary.span.file;
    let primary_message =
        (!diagnostic.primary.message.is_empty()).then(|| diagnostic.primary.message.clone());
    let mut labels = vec![LabeledSpan::new_primary_with_span(
        primary_message,
        source_span(diagnostic.primary.span),
    )];
    let mut notes = Vec::new();
    for label in &diagnostic.secondary {
        if label.span.file == file {
            labels.push(LabeledSpan::new_with_span(
                Some(label.message.clone()),
                source_span(label.span),
            ));
        } else {
            let ((line, column), _) = range(sources, label.span);
            let name = &sources.file(label.span.file).name;
            notes.push(format!("{}: {name}:{line}:{column}", label.message));
        }
    }
    let help = match (&diagnostic.help, notes.is_empty()) {
        (Some(help), true) => Some(help.clone()),
        (None, true) => None,
        (help, false) => {
            let mut text = help.clone().map(|h| format!("{h}\n")).unwrap_or_default();
            text.push_str(&notes.join("\n"));
            Some(text)
        }
    };
    let source_file = sources.file(file);
    Report {
        diagnostic,
        source: NamedSource::new(source_file.name.clone(), source_file.text.to_string()),
        labels,
        help,
    }
}

pub fn render(batch: &Batch<'_>, colors: Colors) -> String {
    let theme = match colors {
        Colors::On => GraphicalTheme::unicode(),
        Colors::Off => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diagnostic in batch.diagnostics {
        let report = report(batch.sources, diagnostic);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail; keep the message regardless.
            out.push_str(&diagnostic.message);
        }
        out.push('\n');
    }
    out
}
