//! `reaper check [PATH...]`: checks every package the paths denote and
//! prints diagnostics. Exit 0 when clean, 1 on errors (or warnings with
//! `--deny-warnings`), 2 when a path cannot be read.

use std::io::Write;
use std::path::PathBuf;

use reaper_lang::plural::count;

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::{self, Batch, Colors, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files or directories (every `*.reaper` file below). Defaults to `.`.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    // Only diagnostics are wanted: rules are not kept once checked.
    let results = pipeline::check_all(&paths, reaper_compiler::Keep::Diagnostics)?;
    let batches: Vec<Batch<'_>> = results
        .iter()
        .map(|c| Batch {
            sources: &c.package.sources,
            diagnostics: &c.diagnostics,
        })
        .collect();
    let mut out = render::render(args.format, &batches, colors);
    let (errors, warnings) = render::counts(&batches);
    if args.format == Format::Human {
        let files: usize = results.iter().map(|c| c.package.sources.len()).sum();
        out.push_str(&summary(errors, warnings, results.len(), files));
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`reaper check | head`) is not an error worth reporting.
    let _ = stdout.write_all(out.as_bytes());
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn summary(errors: usize, warnings: usize, packages: usize, files: usize) -> String {
    let plural = |n: usize, word: &str| count(n, word, &format!("{word}s"));
    let scope = format!(
        "{} ({})",
        plural(packages, "package"),
        plural(files, "file")
    );
    match (errors, warnings) {
        (0, 0) => format!("ok: checked {scope}\n"),
        (0, w) => format!("ok: checked {scope}: {}\n", plural(w, "warning")),
        (e, 0) => format!("failed: {} in {scope}\n", plural(e, "error")),
        (e, w) => format!(
            "failed: {} and {} in {scope}\n",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}
