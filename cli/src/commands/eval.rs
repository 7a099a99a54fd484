//! `reaper eval PATH|BUNDLE` tries a policy on one input, outside `test`
//! blocks, for each of its concerns:
//!
//! - `--request req.json`: an authorization request; prints the decision
//!   as JSON. `--batch requests.jsonl`: one request per line, one decision
//!   per line. `--explain` shows, for each candidate rule, whether it
//!   applied and which clause (and which part of it) decided, as text or
//!   with `--format json`.
//! - `--ratelimit req.json`: Envoy's `RateLimitRequest` as JSON (the form
//!   `/v1/ratelimit` takes); prints the response per hit, `--repeat N`
//!   times, at `--now` (default: the current time).
//! - `--http req.json`: an HTTP request as Envoy's ext_authz check sees it;
//!   prints the authorization request the policy's `http` block maps it to,
//!   and its decision.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use reaper_lang::request::Limits;
use reaper_runtime::http::HttpRequest;
use reaper_runtime::report::{accounts, decision_json, explain_json};
use reaper_runtime::{Engine, Explanation};
use serde_json::{Value as Json, json};

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::Colors;
use reaper_lang::printable::printable_line;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["request", "batch", "ratelimit", "http"])))]
pub struct Args {
    /// A policy file, a package directory, or a compiled bundle.
    pub path: PathBuf,
    /// A JSON authorization request (`-` for stdin).
    #[arg(long)]
    pub request: Option<PathBuf>,
    /// A file of JSON authorization requests, one per line (`-` for stdin).
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// A rate-limit request: Envoy's `RateLimitRequest` as JSON.
    #[arg(long)]
    pub ratelimit: Option<PathBuf>,
    /// An HTTP request, as JSON: method, path, headers, source address.
    #[arg(long)]
    pub http: Option<PathBuf>,
    /// Explain the decision rule by rule.
    #[arg(long, conflicts_with_all = ["ratelimit"])]
    pub explain: bool,
    /// How to print explanations: `human` (the default for one request) or
    /// `json` (the default with `--batch`).
    #[arg(long, value_enum)]
    pub format: Option<EvalFormat>,
    /// The time rate limits are counted at, and an HTTP request is made at
    /// (RFC 3339). Defaults to now.
    #[arg(long)]
    pub now: Option<String>,
    /// Send the rate-limit request this many times, printing each answer.
    #[arg(long, default_value_t = 1, requires = "ratelimit")]
    pub repeat: u64,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let Some(engine) = pipeline::engine(&args.path, colors)? else {
        return Ok(Outcome::Failure);
    };
    let now_ms = match &args.now {
        Some(text) => reaper_lang::literal::parse_timestamp(text).map_err(|e| LoadError {
            path: "--now".into(),
            reason: e.to_string(),
        })?,
        None => wall_clock_ms(),
    };
    if let Some(path) = &args.ratelimit {
        return ratelimit(&engine, path, now_ms, args.repeat);
    }
    if let Some(path) = &args.http {
        return http(&engine, path, now_ms, args);
    }
    if let Some(path) = &args.request {
        let text = read_input(path)?;
        let request = match engine.decode_request(&text) {
            Ok(request) => request,
            Err(e) => {
                let message = format!("{}: invalid request: {e}", path.display());
                eprintln!("error: {}", printable_line(&message));
                return Ok(Outcome::Failure);
            }
        };
        print_decision(&engine, &request, args, None);
        return Ok(Outcome::Success);
    }
    let Some(path) = &args.batch else {
        return Ok(Outcome::Failure);
    };
    batch(&engine, path, args)
}

/// Prints one decision: JSON, or an explanation.
fn print_decision(
    engine: &Engine,
    request: &reaper_runtime::Request,
    args: &Args,
    mapped: Option<&Json>,
) {
    let mut stdout = std::io::stdout().lock();
    let format = args.format.unwrap_or(if args.explain {
        EvalFormat::Human
    } else {
        EvalFormat::Json
    });
    if args.explain && format == EvalFormat::Human {
        if let Some(mapped) = mapped {
            let _ = writeln!(stdout, "request:  {}", printable_line(&mapped.to_string()));
        }
        let _ = stdout.write_all(explain_text(engine, &engine.explain(request)).as_bytes());
        return;
    }
    let mut out = if args.explain {
        explain_json(engine, &engine.explain(request))
    } else {
        decision_json(engine, &engine.authorize(request))
    };
    if let (Some(mapped), Some(object)) = (mapped, out.as_object_mut()) {
        object.insert("request".into(), mapped.clone());
    }
    let _ = writeln!(stdout, "{}", pretty(&out));
}

fn batch(engine: &Engine, path: &Path, args: &Args) -> Result<Outcome, LoadError> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(|e| LoadError::from_io(path, &e))?;
        Box::new(std::io::BufReader::new(file))
    };
    let human = args.format == Some(EvalFormat::Human);
    let mut stdout = std::io::stdout().lock();
    let mut invalid = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| LoadError::from_io(path, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let request = match engine.decode_request(&line) {
            Ok(request) => request,
            Err(e) => {
                invalid += 1;
                if human {
                    let _ = writeln!(
                        stdout,
                        "line {number}: invalid: {}\n",
                        printable_line(&e.to_string())
                    );
                } else {
                    let _ = writeln!(
                        stdout,
                        "{}",
                        json!({ "line": number, "invalid": e.to_string() })
                    );
                }
                continue;
            }
        };
        if human && args.explain {
            let text = explain_text(engine, &engine.explain(&request));
            let _ = writeln!(stdout, "line {number}:\n{text}");
            continue;
        }
        let mut row = if args.explain {
            explain_json(engine, &engine.explain(&request))
        } else {
            decision_json(engine, &engine.authorize(&request))
        };
        if let Some(object) = row.as_object_mut() {
            object.insert("line".into(), json!(number));
        }
        let _ = writeln!(stdout, "{row}");
    }
    if invalid > 0 {
        eprintln!(
            "error: {} in {}",
            reaper_lang::plural::count(invalid, "invalid request", "invalid requests"),
            printable_line(&path.display().to_string())
        );
        return Ok(Outcome::Failure);
    }
    Ok(Outcome::Success)
}

fn ratelimit(engine: &Engine, path: &Path, now_ms: i64, repeat: u64) -> Result<Outcome, LoadError> {
    let text = read_input(path)?;
    let request = match reaper_runtime::ratelimit::json::decode(&text, &Limits::default()) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("{}: invalid rate-limit request: {e}", path.display());
            eprintln!("error: {}", printable_line(&message));
            return Ok(Outcome::Failure);
        }
    };
    let now = u64::try_from(now_ms).unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    for hit in 1..=repeat.max(1) {
        match engine.rate_limit(&request, now) {
            Ok(response) => {
                let mut out =
                    reaper_runtime::ratelimit::json::encode(engine, &request.domain, &response);
                if repeat > 1
                    && let Some(object) = out.as_object_mut()
                {
                    object.insert("hit".into(), json!(hit));
                }
                let text = if repeat > 1 {
                    out.to_string()
                } else {
                    pretty(&out)
                };
                let _ = writeln!(stdout, "{text}");
            }
            Err(e) => {
                // An unknown domain: Envoy's rate-limit services answer OK.
                eprintln!("error: {}", printable_line(&e.to_string()));
                return Ok(Outcome::Failure);
            }
        }
    }
    Ok(Outcome::Success)
}

/// `{"method", "path", "host"?, "headers"?: {name: value}, "source_ip",
/// "time"?, "entities"?: [...]}`: an HTTP request, and the entity data the
/// server would hold for the mapped request.
fn http(engine: &Engine, path: &Path, now_ms: i64, args: &Args) -> Result<Outcome, LoadError> {
    let text = read_input(path)?;
    let (request, entities) = match HttpRequest::from_json(&text, now_ms) {
        Ok(parsed) => parsed,
        Err(why) => {
            let message = format!("{}: invalid HTTP request: {why}", path.display());
            eprintln!("error: {}", printable_line(&message));
            return Ok(Outcome::Failure);
        }
    };
    let mapped = match engine.map_http(&request) {
        Ok(mapped) => mapped,
        Err(e) => {
            // No request to decide: the check is denied, with the reason.
            let out = json!({
                "decision": "deny",
                "reasons": [],
                "errors": [{ "mapping": e.to_string() }],
                "policy": engine.hash(),
            });
            let _ = writeln!(std::io::stdout().lock(), "{}", pretty(&out));
            return Ok(Outcome::Success);
        }
    };
    let mut full = mapped.request.clone();
    if let (Some(object), Some(entities)) = (full.as_object_mut(), entities) {
        object.insert("entities".into(), entities);
    }
    let prepared = match engine.decode_request(&full.to_string()) {
        Ok(prepared) => prepared,
        Err(e) => {
            let message = format!("{}: the mapped request is invalid: {e}", path.display());
            eprintln!("error: {}", printable_line(&message));
            return Ok(Outcome::Failure);
        }
    };
    print_decision(engine, &prepared, args, Some(&mapped.request));
    Ok(Outcome::Success)
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn read_input(path: &Path) -> Result<String, LoadError> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| LoadError::from_io(path, &e))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| LoadError::from_io(path, &e))
}

fn pretty(value: &Json) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A readable account of how each candidate rule was decided.
fn explain_text(engine: &Engine, explanation: &Explanation) -> String {
    use std::fmt::Write as _;
    let decision = &explanation.decision;
    let mut out = String::new();
    let verdict = if decision.allow { "allow" } else { "deny" };
    let reasons: Vec<&str> = decision
        .reasons
        .iter()
        .map(|r| engine.rule_id(*r))
        .collect();
    let _ = writeln!(out, "decision: {verdict}");
    let _ = writeln!(
        out,
        "reasons:  {}",
        if reasons.is_empty() {
            "none (no rule applied)".to_owned()
        } else {
            printable_line(&reasons.join(", ")).into_owned()
        }
    );
    let _ = writeln!(out, "policy:   {}", engine.hash());
    let total = engine.bundle().rules.len();
    let _ = writeln!(
        out,
        "\n{} of {} were candidates for this request:",
        explanation.candidates.len(),
        reaper_lang::plural::count(total, "rule", "rules")
    );
    for a in accounts(engine, explanation) {
        let place = format!("({}:{})", a.file, a.line);
        let decided = |c: &reaper_lang::bundle::ConditionInfo| match a.part {
            Some(part) => format!("`{part}`, in `{}`,", c.text),
            None => format!("`{}`", c.text),
        };
        let line = match (a.outcome, a.clause, &a.error) {
            ("applied", _, _) => format!("applied {place}"),
            (_, Some(c), Some(error)) => format!("error: {error}, in {} {place}", decided(c)),
            (_, None, Some(error)) => format!("error: {error} {place}"),
            (_, Some(c), None) => {
                // An `unless` clause is decided by a true part; a `when` by
                // a false one.
                let value = if c.unless { "true" } else { "false" };
                format!("not applied: {} was {value} {place}", decided(c))
            }
            (_, None, None) => format!("not applied {place}"),
        };
        let mark = match a.outcome {
            "applied" => "+",
            "not_applied" => "-",
            _ => "!",
        };
        let _ = writeln!(
            out,
            "  {mark} {:<24} {}  {}",
            printable_line(a.id),
            a.effect,
            printable_line(&line)
        );
    }
    out
}
