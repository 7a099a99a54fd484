//! Writes a generated policy (see [`reaper_benches::policy`]) to a file, for
//! measuring the `reaper` binary itself: peak memory of `check` and
//! `compile` on large inputs (`docs/benchmarks.md`, "Memory").
//!
//! `cargo run --release -p reaper-benches --example write_policy -- RULES OUT`

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(rules), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: write_policy RULES OUT");
        return ExitCode::FAILURE;
    };
    let Ok(rules) = rules.parse::<usize>() else {
        eprintln!("RULES must be a count of rules, got `{rules}`");
        return ExitCode::FAILURE;
    };
    let text = reaper_benches::policy(rules);
    if let Err(error) = std::fs::write(&out, &text) {
        eprintln!("cannot write {out}: {error}");
        return ExitCode::FAILURE;
    }
    println!("{out}: {rules} rules, {} bytes", text.len());
    ExitCode::SUCCESS
}
