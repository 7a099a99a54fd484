//! `reaper test [PATH...]`: runs the `test` blocks of every package and
//! reports like `cargo test`: one line per test, then each failure with the
//! expected and actual decision and reasons. Exit 1 if any test fails or a
//! package does not compile. `--format json` for CI tooling. Test names,
//! descriptions and rule ids come from the policy: the human report escapes
//! them (`reaper_lang::printable`), the JSON report carries them as they are.

use std::io::Write;
use std::path::PathBuf;

use reaper_compiler::test_cases::{TestCase, test_cases};
use reaper_runtime::Engine;
use reaper_test_runner::{Failure, TestResult, failure_text, run_case, verdict};
use serde_json::json;

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::Colors;
use reaper_lang::plural::count;
use reaper_lang::printable::{printable, printable_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files or directories (every package below). Defaults to `.`.
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Run only the tests whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut packages = pipeline::check_all(&paths, reaper_compiler::Keep::Bytecode)?;
    let mut report: Vec<(String, Option<Vec<TestResult>>)> = Vec::new();
    let mut filtered_out = 0;
    for checked in &mut packages {
        let name = package_name(checked);
        checked.report(colors);
        let Ok(bundle) = pipeline::bundle(checked) else {
            report.push((name, None));
            continue;
        };
        let bytes = reaper_lang::bundle::encode(&bundle);
        let results = match Engine::load(&bytes) {
            Ok(engine) => {
                let cases = test_cases(&checked.checked.package);
                let selected: Vec<&TestCase> = cases
                    .iter()
                    .filter(|case| {
                        args.filter
                            .as_ref()
                            .is_none_or(|f| case.name.contains(f.as_str()))
                    })
                    .collect();
                filtered_out += cases.len() - selected.len();
                selected
                    .into_iter()
                    .map(|case| run_case(&engine, &bytes, case))
                    .collect()
            }
            Err(e) => {
                eprintln!(
                    "error: {}: internal error: the bundle does not verify: {e}",
                    printable_line(&name)
                );
                report.push((name, None));
                continue;
            }
        };
        report.push((name, Some(results)));
    }
    let failed = report
        .iter()
        .flat_map(|(_, r)| r.iter().flatten())
        .filter(|t| !t.failures.is_empty())
        .count();
    let broken = report.iter().filter(|(_, r)| r.is_none()).count();
    let out = match args.format {
        TestFormat::Human => human(&report, filtered_out),
        TestFormat::Json => json_report(&report, filtered_out),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(if failed > 0 || broken > 0 {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn package_name(checked: &pipeline::CheckedPackage) -> String {
    let first = checked
        .package
        .sources
        .files()
        .next()
        .map(|(_, f)| f.name.clone())
        .unwrap_or_default();
    match first.rsplit_once(['/', '\\']) {
        Some((dir, _)) => dir.to_owned(),
        None => ".".to_owned(),
    }
}

fn human(report: &[(String, Option<Vec<TestResult>>)], filtered_out: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for (package, results) in report {
        let Some(results) = results else {
            let _ = writeln!(
                out,
                "\n{}: does not compile (see the diagnostics above)",
                printable_line(package)
            );
            continue;
        };
        let _ = writeln!(
            out,
            "\nrunning {} in {}",
            count(results.len(), "test", "tests"),
            printable_line(package)
        );
        for result in results {
            if result.failures.is_empty() {
                passed += 1;
                let _ = writeln!(out, "test {} ... ok", printable_line(&result.name));
            } else {
                failed += 1;
                let _ = writeln!(out, "test {} ... FAILED", printable_line(&result.name));
                failures.push((package, result));
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for (package, result) in &failures {
            let _ = writeln!(
                out,
                "\n---- {} ({}/{}:{}) ----",
                printable_line(&result.name),
                printable_line(package),
                printable_line(&result.file),
                result.line
            );
            for failure in &result.failures {
                // A failure spans lines of its own; what it quotes is escaped.
                let _ = writeln!(out, "  {}", printable(&failure_text(failure)));
            }
        }
    }
    let broken = report.iter().filter(|(_, r)| r.is_none()).count();
    let status = if failed == 0 && broken == 0 {
        "ok"
    } else {
        "FAILED"
    };
    let mut extra = String::new();
    if filtered_out > 0 {
        extra.push_str(&format!("; {filtered_out} filtered out"));
    }
    if broken > 0 {
        extra.push_str(&format!(
            "; {} not compile",
            count(broken, "package does", "packages do")
        ));
    }
    let _ = writeln!(
        out,
        "\ntest result: {status}. {passed} passed; {failed} failed{extra}"
    );
    out
}

fn failure_json(failure: &Failure) -> serde_json::Value {
    match failure {
        Failure::Invalid {
            description,
            line,
            reason,
        } => {
            json!({ "kind": "invalid", "description": description, "line": line, "reason": reason })
        }
        Failure::Authorize {
            description,
            line,
            expected_permit,
            expected_reasons,
            actual_permit,
            actual_reasons,
            errors,
        } => json!({
            "kind": "authorize",
            "description": description,
            "line": line,
            "expected": { "decision": verdict(*expected_permit), "reasons": expected_reasons },
            "actual": {
                "decision": verdict(*actual_permit),
                "reasons": actual_reasons,
                "errors": errors
                    .iter()
                    .map(|(rule, error)| json!({ "rule": rule, "error": error }))
                    .collect::<Vec<_>>(),
            },
        }),
        Failure::RateLimit {
            description,
            line,
            problems,
        } => json!({
            "kind": "ratelimit",
            "description": description,
            "line": line,
            "problems": problems,
        }),
    }
}

fn json_report(report: &[(String, Option<Vec<TestResult>>)], filtered_out: usize) -> String {
    let packages: Vec<serde_json::Value> = report
        .iter()
        .map(|(package, results)| match results {
            None => json!({ "package": package, "compiled": false, "tests": [] }),
            Some(results) => json!({
                "package": package,
                "compiled": true,
                "tests": results.iter().map(|r| json!({
                    "name": r.name,
                    "file": r.file,
                    "line": r.line,
                    "passed": r.failures.is_empty(),
                    "failures": r.failures.iter().map(failure_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        })
        .collect();
    let all = report.iter().flat_map(|(_, r)| r.iter().flatten());
    let passed = all.clone().filter(|r| r.failures.is_empty()).count();
    let failed = all.filter(|r| !r.failures.is_empty()).count();
    let mut out = serde_json::to_string_pretty(&json!({
        "passed": passed,
        "failed": failed,
        "filtered_out": filtered_out,
        "packages": packages,
    }))
    .unwrap_or_default();
    out.push('\n');
    out
}
