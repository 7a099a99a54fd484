//! `reaper test [PATH...]`: runs the `test` blocks of every package and
//! reports like `cargo test`: one line per test, then each failure with the
//! expected and actual decision and reasons. Exit 1 if any test fails or a
//! package does not compile. `--format json` for CI tooling. Test names,
//! descriptions and rule ids come from the policy: the human report escapes
//! them (`reaper_lang::printable`), the JSON report carries them as they are.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use reaper_compiler::test_cases::{Check, TestCase, test_cases};
use reaper_lang::printable::{printable, printable_line};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::Code;
use reaper_runtime::ratelimit::counters::MemoryCounters;
use serde_json::json;

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::Colors;

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
}

/// A fixed instant for rate-limit expectations: a day boundary, so no
/// window of a second, minute, hour or day rolls over during a test.
const TEST_CLOCK_MS: u64 = 1_767_225_600_000;

struct TestResult {
    name: String,
    file: String,
    line: u32,
    failures: Vec<String>,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let packages = pipeline::check_all(&paths)?;
    let mut report: Vec<(String, Option<Vec<TestResult>>)> = Vec::new();
    let mut broken = 0;
    for checked in &packages {
        let name = package_name(checked);
        checked.report(colors);
        let Ok(bundle) = pipeline::bundle(checked) else {
            broken += 1;
            report.push((name, None));
            continue;
        };
        let bytes = reaper_lang::bundle::encode(&bundle);
        let results = match Engine::load(&bytes) {
            Ok(engine) => test_cases(&checked.checked.package)
                .iter()
                .map(|case| run_case(&engine, &bytes, case))
                .collect(),
            Err(e) => {
                eprintln!(
                    "error: {}: internal error: the bundle does not verify: {e}",
                    printable_line(&name)
                );
                broken += 1;
                report.push((name, None));
                continue;
            }
        };
        report.push((name, Some(results)));
    }
    let failed: usize = report
        .iter()
        .flat_map(|(_, r)| r.iter().flatten())
        .filter(|t: &&TestResult| !t.failures.is_empty())
        .count();
    let out = match args.format {
        TestFormat::Human => human(&report),
        TestFormat::Json => json_report(&report),
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

fn run_case(engine: &Engine, bytes: &[u8], case: &TestCase) -> TestResult {
    let mut failures = Vec::new();
    for check in &case.checks {
        if let Some(failure) = run_check(engine, bytes, check) {
            failures.push(failure);
        }
    }
    TestResult {
        name: case.name.clone(),
        file: case.file.clone(),
        line: case.line,
        failures,
    }
}

/// Runs one expectation; `Some(explanation)` when it fails.
fn run_check(engine: &Engine, bytes: &[u8], check: &Check) -> Option<String> {
    match check {
        Check::Invalid {
            description,
            line,
            reason,
        } => Some(format!("{description} (line {line}): {reason}")),
        Check::Authorize {
            description,
            line,
            request,
            permit,
            because,
        } => {
            let decision = engine.authorize(&engine.prepare(request));
            let reasons: BTreeSet<&str> = decision
                .reasons
                .iter()
                .map(|r| engine.rule_id(*r))
                .collect();
            let verdict = |allow: bool| if allow { "permit" } else { "deny" };
            let wrong_reasons = because.as_ref().is_some_and(|want| {
                want.iter().map(String::as_str).collect::<BTreeSet<_>>() != reasons
            });
            if decision.allow == *permit && !wrong_reasons {
                return None;
            }
            let show = |set: &BTreeSet<&str>| {
                if set.is_empty() {
                    "none".to_owned()
                } else {
                    set.iter().copied().collect::<Vec<_>>().join(", ")
                }
            };
            let mut text = format!(
                "{description} (line {line})\n    expected: {}",
                verdict(*permit)
            );
            if let Some(want) = because {
                text.push_str(&format!(" because [{}]", want.join(", ")));
            }
            text.push_str(&format!(
                "\n    actual:   {} because [{}]",
                verdict(decision.allow),
                show(&reasons)
            ));
            for (rule, error) in &decision.errors {
                text.push_str(&format!(
                    "\n    error in rule `{}`: {error}",
                    engine.rule_id(*rule)
                ));
            }
            Some(text)
        }
        Check::RateLimit {
            description,
            line,
            domain,
            descriptor,
            matches,
            allows,
        } => {
            let mut problems = Vec::new();
            if let Some(want) = matches {
                match engine.matching_limits(domain, descriptor) {
                    Ok(found) => {
                        let names: BTreeSet<&str> = found
                            .iter()
                            .filter(|m| m.key.is_ok())
                            .map(|m| engine.limit_name(domain, m.limit))
                            .collect();
                        let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
                        if names != want {
                            let list = |s: &BTreeSet<&str>| {
                                s.iter().copied().collect::<Vec<_>>().join(", ")
                            };
                            problems.push(format!(
                                "expected limits [{}], found [{}]",
                                list(&want),
                                list(&names)
                            ));
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if let Some(n) = allows
                && let Some(problem) = check_allows(bytes, domain, descriptor, *n)
            {
                problems.push(problem);
            }
            (!problems.is_empty()).then(|| {
                format!(
                    "{description} (line {line})\n    {}",
                    problems.join("\n    ")
                )
            })
        }
    }
}

/// Sends `n + 1` hits on fresh counters at a frozen instant: the first `n`
/// must pass and the last must be over the limit.
fn check_allows(
    bytes: &[u8],
    domain: &str,
    entries: &[(String, String)],
    n: u64,
) -> Option<String> {
    let engine = match Engine::load_with_counters(bytes, Arc::new(MemoryCounters::default())) {
        Ok(engine) => engine,
        Err(e) => return Some(e.to_string()),
    };
    let request = reaper_runtime::ratelimit::RateLimitRequest::new(
        domain,
        vec![reaper_runtime::ratelimit::Descriptor::new(entries.to_vec())],
    );
    for hit in 1..=n + 1 {
        let response = match engine.rate_limit(&request, TEST_CLOCK_MS) {
            Ok(response) => response,
            Err(e) => return Some(e.to_string()),
        };
        let enforced = response
            .statuses
            .iter()
            .flat_map(|s| &s.limits)
            .any(|l| !l.shadow);
        if !enforced {
            return Some(format!(
                "expected {n} hits allowed, but no enforced limit applies"
            ));
        }
        match (hit <= n, response.overall) {
            (true, Code::OverLimit) => {
                return Some(format!(
                    "expected {n} hits allowed, but hit {hit} was over the limit"
                ));
            }
            (false, Code::Ok) => {
                return Some(format!(
                    "expected hit {hit} to be over the limit, but it was allowed"
                ));
            }
            _ => {}
        }
    }
    None
}

fn human(report: &[(String, Option<Vec<TestResult>>)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for (package, results) in report {
        let package = printable_line(package);
        let Some(results) = results else {
            let _ = writeln!(
                out,
                "\n{package}: does not compile (see the diagnostics above)"
            );
            continue;
        };
        let _ = writeln!(out, "\nrunning {} tests in {package}", results.len());
        for result in results {
            let name = printable_line(&result.name);
            if result.failures.is_empty() {
                passed += 1;
                let _ = writeln!(out, "test {name} ... ok");
            } else {
                failed += 1;
                let _ = writeln!(out, "test {name} ... FAILED");
                failures.push((package.clone(), result));
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for (package, result) in &failures {
            let _ = writeln!(
                out,
                "\n---- {} ({package}/{}:{}) ----",
                printable_line(&result.name),
                printable_line(&result.file),
                result.line
            );
            // A failure spans lines of its own; what it quotes is escaped.
            for failure in &result.failures {
                let _ = writeln!(out, "  {}", printable(failure));
            }
        }
    }
    let broken = report.iter().filter(|(_, r)| r.is_none()).count();
    let status = if failed == 0 && broken == 0 {
        "ok"
    } else {
        "FAILED"
    };
    let extra = if broken > 0 {
        format!("; {broken} package(s) do not compile")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\ntest result: {status}. {passed} passed; {failed} failed{extra}"
    );
    out
}

fn json_report(report: &[(String, Option<Vec<TestResult>>)]) -> String {
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
                    "failures": r.failures,
                })).collect::<Vec<_>>(),
            }),
        })
        .collect();
    let all = report.iter().flat_map(|(_, r)| r.iter().flatten());
    let passed = all.clone().filter(|r| r.failures.is_empty()).count();
    let failed = all.filter(|r| !r.failures.is_empty()).count();
    let mut out = serde_json::to_string_pretty(
        &json!({ "passed": passed, "failed": failed, "packages": packages }),
    )
    .unwrap_or_default();
    out.push('\n');
    out
}
