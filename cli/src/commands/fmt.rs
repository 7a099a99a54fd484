//! `reaper fmt [PATH...]`: rewrites policies in canonical form. `--check`
//! only lists the files that would change (exit 1 if any); `--stdin` formats
//! standard input to standard output, for editors. A file that does not
//! parse is never rewritten: its diagnostics are printed instead.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use reaper_compiler::parse;
use reaper_compiler::source::{FileId, Sources};
use reaper_lang::printable::printable_line;

use crate::Outcome;
use crate::load::{self, LoadError};
use crate::render::{self, Batch, Colors, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files or directories (every `*.reaper` file below). Defaults to `.`.
    pub paths: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted and exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// With `--check`, print what formatting would change, as a unified diff.
    #[arg(long, requires = "check")]
    pub diff: bool,
    /// Format standard input and write the result to standard output.
    #[arg(long, conflicts_with_all = ["paths", "check"])]
    pub stdin: bool,
}

/// What formatting one file's text gave.
enum Formatted {
    Same,
    Changed(String),
    /// The file does not parse (or is not text); these diagnostics say why.
    Refused(Sources),
}

fn format_text(
    name: &str,
    bytes: &[u8],
) -> (Formatted, Vec<reaper_compiler::diagnostics::Diagnostic>) {
    let file = FileId(0);
    let mut sources = Sources::new();
    match parse::decode(file, bytes) {
        Err(undecodable) => {
            sources.add(name, undecodable.lossy_text);
            (Formatted::Refused(sources), vec![undecodable.diagnostic])
        }
        Ok(text) => match reaper_compiler::fmt::format_source(file, &text) {
            Ok(formatted) if formatted == text => (Formatted::Same, Vec::new()),
            Ok(formatted) => (Formatted::Changed(formatted), Vec::new()),
            Err(diagnostics) => {
                sources.add(name, text);
                (Formatted::Refused(sources), diagnostics)
            }
        },
    }
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    if args.stdin {
        return run_stdin(colors);
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = load::policy_files(&paths)?;
    let mut failed = false;
    let mut stdout = std::io::stdout().lock();
    for path in files {
        let bytes = std::fs::read(&path).map_err(|e| LoadError::from_io(&path, &e))?;
        let name = path.display().to_string();
        let (formatted, diagnostics) = format_text(&name, &bytes);
        let shown = printable_line(&name);
        match formatted {
            Formatted::Same => {}
            Formatted::Changed(text) => {
                if args.check && args.diff {
                    failed = true;
                    let source = String::from_utf8_lossy(&bytes);
                    let diff = similar::TextDiff::from_lines(source.as_ref(), text.as_str());
                    let shown = diff
                        .unified_diff()
                        .context_radius(3)
                        .header(&name, &format!("{name} (formatted)"))
                        .to_string();
                    let _ = write!(stdout, "{}", reaper_lang::printable::printable(&shown));
                } else if args.check {
                    failed = true;
                    let _ = writeln!(stdout, "{shown}");
                } else {
                    write_atomically(&path, text.as_bytes())?;
                    let _ = writeln!(stdout, "formatted {shown}");
                }
            }
            Formatted::Refused(sources) => {
                failed = true;
                let batch = Batch {
                    sources: &sources,
                    diagnostics: &diagnostics,
                };
                let _ =
                    stdout.write_all(render::render(Format::Human, &[batch], colors).as_bytes());
                let _ = writeln!(stdout, "not formatted: {shown} has errors");
            }
        }
    }
    Ok(if failed {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn run_stdin(colors: Colors) -> Result<Outcome, LoadError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::from_io(Path::new("<stdin>"), &e))?;
    let (formatted, diagnostics) = format_text("<stdin>", &bytes);
    let mut stdout = std::io::stdout().lock();
    match formatted {
        Formatted::Same => {
            let _ = stdout.write_all(&bytes);
            Ok(Outcome::Success)
        }
        Formatted::Changed(text) => {
            let _ = stdout.write_all(text.as_bytes());
            Ok(Outcome::Success)
        }
        Formatted::Refused(sources) => {
            let batch = Batch {
                sources: &sources,
                diagnostics: &diagnostics,
            };
            eprint!("{}", render::render(Format::Human, &[batch], colors));
            Ok(Outcome::Failure)
        }
    }
}

/// Replaces `path` by writing a sibling temporary file and renaming it over
/// the original, so an interrupted run never leaves a truncated policy.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.reaper-fmt.tmp"));
    let result = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(LoadError::from_io(path, &e));
    }
    Ok(())
}
