//! The `reaper` binary: parses arguments and runs one command. Each command
//! lives in its own file under `commands/`; reading files happens here and
//! rendering diagnostics in the library's `render` module, never in the
//! compiler.

mod commands;
mod load;
mod pipeline;

use reaper_cli::render;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use reaper_lang::printable::printable_line;

/// Policy as code: authorization, rate limits and retention in one language.
#[derive(Debug, Parser)]
#[command(name = "reaper", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to color output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policies and report diagnostics.
    Check(commands::check::Args),
    /// Format policies canonically, keeping comments.
    Fmt(commands::fmt::Args),
    /// Compile a policy to a bundle, or print its disassembly.
    Compile(commands::compile::Args),
    /// Evaluate authorization requests against a policy or bundle.
    Eval(commands::eval::Args),
    /// Run the policy's `test` blocks.
    Test(commands::test::Args),
    /// Serve decisions, rate limits and the TTL store over HTTP.
    Serve(commands::serve::Args),
    /// Run the language server (LSP over stdio) for editors.
    Lsp(commands::lsp::Args),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How a command ended. Usage and IO problems are errors (exit 2); a policy
/// with errors, failing tests or unformatted files is a failure (exit 1).
#[derive(Debug)]
pub enum Outcome {
    Success,
    Failure,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let colors = match cli.color {
        ColorChoice::Always => render::Colors::On,
        ColorChoice::Never => render::Colors::Off,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            if std::io::stdout().is_terminal() && !no_color {
                render::Colors::On
            } else {
                render::Colors::Off
            }
        }
    };
    let result = match cli.command {
        Command::Check(args) => commands::check::run(&args, colors),
        Command::Fmt(args) => commands::fmt::run(&args, colors),
        Command::Compile(args) => commands::compile::run(&args, colors),
        Command::Eval(args) => commands::eval::run(&args, colors),
        Command::Test(args) => commands::test::run(&args, colors),
        Command::Serve(args) => commands::serve::run(&args, colors),
        Command::Lsp(args) => commands::lsp::run(&args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(error) => {
            // Paths come from the command line and the directories walked.
            eprintln!("error: {}", printable_line(&error.to_string()));
            ExitCode::from(2)
        }
    }
}
