//! miette's graphical report: the message, the code, the source snippet with
//! labelled spans, and help. Labels in another file than the primary span
//! (a declaration in a sibling file) become notes with their location. The
//! snippet is built per diagnostic (`snippet.rs`), so no line is too long to
//! show and no file too large to report on. Every text that may quote the
//! policy (message, labels, help, file names) is escaped for the terminal.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use reaper_compiler::diagnostics::{Diagnostic, Severity};
use reaper_compiler::source::Sources;
use reaper_lang::printable::{printable, printable_line};

use super::snippet::Snippet;
use super::{Batch, range};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    On,
    Off,
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Snippet<'a>,
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
        f.write_str(&printable(&self.diagnostic.message))
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

fn report<'a>(sources: &'a Sources, diagnostic: &'a Diagnostic) -> Report<'a> {
    let file = diagnostic.primary.span.file;
    let primary_message = (!diagnostic.primary.message.is_empty())
        .then(|| printable(&diagnostic.primary.message).into_owned());
    // (message, primary) for each label in this file, in the order of `spans`.
    let mut shown = vec![(primary_message, true)];
    let mut spans = Vec::with_capacity(1 + diagnostic.secondary.len());
    spans.push(diagnostic.primary.span.start..diagnostic.primary.span.end);
    let mut notes = Vec::new();
    for label in &diagnostic.secondary {
        if label.span.file == file {
            shown.push((Some(printable(&label.message).into_owned()), false));
            spans.push(label.span.start..label.span.end);
        } else {
            let ((line, column), _) = range(sources, label.span);
            let name = printable_line(&sources.file(label.span.file).name);
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
    }
    .map(|help| printable(&help).into_owned());
    let (source, spans) = Snippet::new(sources.file(file), &spans);
    let labels = shown
        .into_iter()
        .zip(spans)
        .map(|((message, primary), span)| {
            if primary {
                LabeledSpan::new_primary_with_span(message, span)
            } else {
                LabeledSpan::new_with_span(message, span)
            }
        })
        .collect();
    Report {
        diagnostic,
        source,
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
            // miette gives up on a snippet it cannot read; the message at
            // least is shown.
            out.push_str(&printable(&diagnostic.message));
        }
        out.push('\n');
    }
    out
}
