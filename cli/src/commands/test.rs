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
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::Code;
use reaper_runtime::ratelimit::counters::MemoryCounters;
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

/// A fixed instant for rate-limit expectations: a day boundary, so no
/// window of a second, minute, hour or day rolls over during a test.
const TEST_CLOCK_MS: u64 = 1_767_225_600_000;

struct TestResult {
    name: String,
    file: String,
    line: u32,
    failures: Vec<Failure>,
}

/// Why one expectation of a test failed, as data: the human and JSON
/// reports are two renderings of it.
enum Failure {
    Authorize {
        description: String,
        line: u32,
        expected_permit: bool,
        expected_reasons: Option<Vec<String>>,
        actual_permit: bool,
        actual_reasons: Vec<String>,
        errors: Vec<(String, String)>,
    },
    RateLimit {
        description: String,
        line: u32,
        problems: Vec<String>,
    },
    /// Test data the compiler could not turn into a request.
    Invalid {
        description: String,
        line: u32,
        reason: String,
    },
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

fn run_case(engine: &Engine, bytes: &[u8], case: &TestCase) -> TestResult {
    let failures = case
        .checks
        .iter()
        .filter_map(|check| run_check(engine, bytes, check))
        .collect();
    TestResult {
        name: case.name.clone(),
        file: case.file.clone(),
        line: case.line,
        failures,
    }
}

/// Runs one expectation; `Some(failure)` when it fails.
fn run_check(engine: &Engine, bytes: &[u8], check: &Check) -> Option<Failure> {
    match check {
        Check::Invalid {
            description,
            line,
            reason,
        } => Some(Failure::Invalid {
            description: description.clone(),
            line: *line,
            reason: reason.clone(),
        }),
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
            let wrong_reasons = because.as_ref().is_some_and(|want| {
                want.iter().map(String::as_str).collect::<BTreeSet<_>>() != reasons
            });
            if decision.allow == *permit && !wrong_reasons {
                return None;
            }
            Some(Failure::Authorize {
                description: description.clone(),
                line: *line,
                expected_permit: *permit,
                expected_reasons: because.clone(),
                actual_permit: decision.allow,
                actual_reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
                errors: decision
                    .errors
                    .iter()
                    .map(|(rule, error)| (engine.rule_id(*rule).to_owned(), error.to_string()))
                    .collect(),
            })
        }
        Check::RateLimit {
            description,
            line,
            domain,
            descriptor,
            matches,
            allows,
            steps,
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
            if !steps.is_empty()
                && let Some(problem) = check_steps(bytes, domain, descriptor, steps)
            {
                problems.push(problem);
            }
            (!problems.is_empty()).then(|| Failure::RateLimit {
                description: description.clone(),
                line: *line,
                problems,
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

/// Sends each step's hits in order, on fresh counters shared by the whole
/// sequence, each at its time; every hit of a step must get the step's
/// outcome, and the last one its details.
fn check_steps(
    bytes: &[u8],
    domain: &str,
    entries: &[(String, String)],
    steps: &[reaper_compiler::typed::LimitStep],
) -> Option<String> {
    let engine = match Engine::load_with_counters(bytes, Arc::new(MemoryCounters::default())) {
        Ok(engine) => engine,
        Err(e) => return Some(e.to_string()),
    };
    let request = reaper_runtime::ratelimit::RateLimitRequest::new(
        domain,
        vec![reaper_runtime::ratelimit::Descriptor::new(entries.to_vec())],
    );
    let mut sent = 0u64;
    for step in steps {
        let now = TEST_CLOCK_MS.saturating_add(step.at_ms);
        let at = reaper_lang::literal::format_duration(i64::try_from(step.at_ms).unwrap_or(0));
        let mut last = None;
        for _ in 0..step.hits {
            sent += 1;
            let response = match engine.rate_limit(&request, now) {
                Ok(response) => response,
                Err(e) => return Some(e.to_string()),
            };
            let over = response.overall == Code::OverLimit;
            if over != step.over_limit {
                let got = if over { "over_limit" } else { "ok" };
                let want = if step.over_limit { "over_limit" } else { "ok" };
                return Some(format!(
                    "line {}: hit {sent} (at {at}) was {got}, expected {want}",
                    step.line
                ));
            }
            last = Some(response);
        }
        // The details describe the state the step's last hit reported.
        let current = last
            .as_ref()
            .and_then(|r| r.statuses.first())
            .and_then(|s| s.current());
        if let Some(want) = &step.limit {
            let got = current.map(|l| engine.limit_name(domain, l.limit));
            if got != Some(want.as_str()) {
                return Some(format!(
                    "line {}: after hit {sent}, the limit closest to tripping is {}, expected `{want}`",
                    step.line,
                    got.map_or("none".to_owned(), |g| format!("`{g}`"))
                ));
            }
        }
        if let Some(want) = step.remaining {
            let got = current.map(|l| l.remaining);
            if got != Some(want) {
                return Some(format!(
                    "line {}: after hit {sent}, {} remaining, expected {want}",
                    step.line,
                    got.map_or("no limit".to_owned(), |g| g.to_string())
                ));
            }
        }
        if let Some(want) = step.reset_ms {
            let got = current.map(|l| l.reset_ms);
            if got != Some(want) {
                let show = |ms: u64| {
                    reaper_lang::literal::format_duration(i64::try_from(ms).unwrap_or(i64::MAX))
                };
                return Some(format!(
                    "line {}: after hit {sent}, the window resets in {}, expected {}",
                    step.line,
                    got.map_or("(no limit)".to_owned(), show),
                    show(want)
                ));
            }
        }
    }
    None
}

fn verdict(permit: bool) -> &'static str {
    if permit { "permit" } else { "deny" }
}

/// One failure as the human report shows it.
fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Invalid {
            description,
            line,
            reason,
        } => format!("{description} (line {line}): {reason}"),
        Failure::Authorize {
            description,
            line,
            expected_permit,
            expected_reasons,
            actual_permit,
            actual_reasons,
            errors,
        } => {
            let mut text = format!(
                "{description} (line {line})\n    expected: {}",
                verdict(*expected_permit)
            );
            match expected_reasons {
                Some(want) if want.is_empty() => text.push_str(" (no rule applies)"),
                Some(want) => text.push_str(&format!(" because [{}]", want.join(", "))),
                None => {}
            }
            text.push_str(&format!("\n    actual:   {}", verdict(*actual_permit)));
            if actual_reasons.is_empty() {
                text.push_str(" (no rule applied)");
            } else {
                text.push_str(&format!(" because [{}]", actual_reasons.join(", ")));
            }
            for (rule, error) in errors {
                text.push_str(&format!("\n    error in rule `{rule}`: {error}"));
            }
            text
        }
        Failure::RateLimit {
            description,
            line,
            problems,
        } => format!(
            "{description} (line {line})\n    {}",
            problems.join("\n    ")
        ),
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
