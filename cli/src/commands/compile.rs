//! `reaper compile PATH -o policy.rpb`: checks one package and writes its
//! bundle; `--emit asm` prints the disassembly instead (to stdout, or to
//! `-o`), followed by the index plan an engine loading the bundle chooses.
//! Identical sources give byte-identical output.

use std::io::Write;
use std::path::PathBuf;

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::Colors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// The binary bundle `reaper serve` and `reaper eval` load.
    Bundle,
    /// A stable, readable listing for review and snapshot tests.
    Asm,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A policy file or the directory of one package.
    pub path: PathBuf,
    /// Where to write the output (`-` for stdout). Required for bundles.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Emit::Bundle)]
    pub emit: Emit,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let output = match (&args.output, args.emit) {
        (Some(path), _) => Some(path.clone()),
        (None, Emit::Asm) => None,
        (None, Emit::Bundle) => {
            return Err(LoadError {
                path: args.path.display().to_string(),
                reason:
                    "say where to write the bundle with `-o FILE` (or `--emit asm` for a listing)"
                        .into(),
            });
        }
    };
    let mut checked = pipeline::check_one(&args.path, reaper_compiler::Keep::Bytecode)?;
    checked.report(colors);
    let Ok(bundle) = pipeline::bundle(&mut checked) else {
        return Ok(Outcome::Failure);
    };
    // The typed tree is not needed past here; on a large policy it is most
    // of what is in memory.
    drop(checked);
    let bytes = match args.emit {
        Emit::Bundle => reaper_lang::bundle::encode(&bundle),
        Emit::Asm => asm(&bundle).into_bytes(),
    };
    match output {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(&path, &bytes).map_err(|e| LoadError::from_io(&path, &e))?;
            if args.emit == Emit::Bundle {
                let hash = reaper_lang::bundle::content_hash(&bytes).unwrap_or_default();
                let shown = path.display().to_string();
                eprintln!(
                    "wrote {} ({} bytes, sha256 {hash})",
                    reaper_lang::printable::printable_line(&shown),
                    bytes.len()
                );
            }
        }
        _ => {
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
    }
    Ok(Outcome::Success)
}

/// The listing, then the plan the runtime derives from the bundle at load
/// time (it is not in the bundle, so it is shown as the engine builds it).
fn asm(bundle: &reaper_lang::bundle::Bundle) -> String {
    let mut text = reaper_lang::bundle::disassemble(bundle);
    let plan = match reaper_runtime::Engine::load(&reaper_lang::bundle::encode(bundle)) {
        Ok(engine) => engine.index_plan(),
        Err(e) => format!("\nindex plan: the bundle does not load: {e}\n"),
    };
    text.push_str(&reaper_lang::printable::printable(&plan));
    text
}
