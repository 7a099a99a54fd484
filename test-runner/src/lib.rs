//! Runs a package's `test` blocks against the engine: each expectation
//! as a request to a freshly loaded bundle, rate-limit expectations on
//! fresh in-memory counters at a frozen instant. Results are data; `reaper
//! test` and `reaper lsp` render them.

use std::collections::BTreeSet;
use std::sync::Arc;

use reaper_compiler::test_cases::{Check, TestCase};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::Code;
use reaper_runtime::ratelimit::counters::MemoryCounters;

/// A fixed instant for rate-limit expectations: a day boundary, so no
/// window of a second, minute, hour or day rolls over during a test.
pub const TEST_CLOCK_MS: u64 = 1_767_225_600_000;
/// One test's outcome: passed when it has no failures.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub file: String,
    pub line: u32,
    pub failures: Vec<Failure>,
}

/// Why one expectation of a test failed, as data: the human and JSON
/// reports are two renderings of it.
#[derive(Debug, Clone)]
pub enum Failure {
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

/// Runs one test case against `engine`, loaded from `bytes` (rate-limit
/// expectations load their own copies, on fresh counters).
pub fn run_case(engine: &Engine, bytes: &[u8], case: &TestCase) -> TestResult {
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

/// The bundle loaded again on fresh in-memory counters, and the request
/// for one descriptor of `domain`.
fn fresh_counters(
    bytes: &[u8],
    domain: &str,
    entries: &[(String, String)],
) -> Result<(Engine, reaper_runtime::ratelimit::RateLimitRequest), String> {
    let engine = Engine::load_with_counters(bytes, Arc::new(MemoryCounters::default()))
        .map_err(|e| e.to_string())?;
    let request = reaper_runtime::ratelimit::RateLimitRequest::new(
        domain,
        vec![reaper_runtime::ratelimit::Descriptor::new(entries.to_vec())],
    );
    Ok((engine, request))
}

/// Sends `n + 1` hits on fresh counters at a frozen instant: the first `n`
/// must pass and the last must be over the limit.
fn check_allows(
    bytes: &[u8],
    domain: &str,
    entries: &[(String, String)],
    n: u64,
) -> Option<String> {
    let (engine, request) = match fresh_counters(bytes, domain, entries) {
        Ok(loaded) => loaded,
        Err(e) => return Some(e),
    };
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
    let (engine, request) = match fresh_counters(bytes, domain, entries) {
        Ok(loaded) => loaded,
        Err(e) => return Some(e),
    };
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

impl Failure {
    /// The line of the expectation that failed.
    pub fn line(&self) -> u32 {
        match self {
            Failure::Authorize { line, .. }
            | Failure::RateLimit { line, .. }
            | Failure::Invalid { line, .. } => *line,
        }
    }
}

pub fn verdict(permit: bool) -> &'static str {
    if permit { "permit" } else { "deny" }
}

/// One failure as the human report shows it.
pub fn failure_text(failure: &Failure) -> String {
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
