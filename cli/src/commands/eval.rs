//! `reaper eval PATH|BUNDLE --request req.json` prints the decision as
//! JSON; `--batch requests.jsonl` prints one decision per line (a table to
//! snapshot); `--explain` shows, for each candidate rule, whether it applied
//! and which clause decided it, with the rule ids, file names and clause
//! texts it quotes from the policy escaped for the terminal.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use reaper_lang::printable::printable_line;
use reaper_runtime::{Decision, Engine, RuleOutcome};
use serde_json::{Value as Json, json};

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::Colors;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["request", "batch"])))]
pub struct Args {
    /// A policy file, a package directory, or a compiled bundle.
    pub path: PathBuf,
    /// A JSON request (`-` for stdin).
    #[arg(long)]
    pub request: Option<PathBuf>,
    /// A file of JSON requests, one per line (`-` for stdin).
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// Explain the decision rule by rule (single requests).
    #[arg(long, conflicts_with = "batch")]
    pub explain: bool,
}

pub fn run(args: &Args, colors: Colors) -> Result<Outcome, LoadError> {
    let Some(engine) = pipeline::engine(&args.path, colors)? else {
        return Ok(Outcome::Failure);
    };
    let mut stdout = std::io::stdout().lock();
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
        if args.explain {
            let _ = stdout.write_all(explain(&engine, &request).as_bytes());
        } else {
            let decision = engine.authorize(&request);
            let _ = writeln!(stdout, "{}", pretty(&decision_json(&engine, &decision)));
        }
        return Ok(Outcome::Success);
    }
    let Some(path) = &args.batch else {
        return Ok(Outcome::Failure);
    };
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(|e| LoadError::from_io(path, &e))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut invalid = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| LoadError::from_io(path, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let row = match engine.decode_request(&line) {
            Ok(request) => {
                let mut row = decision_json(&engine, &engine.authorize(&request));
                row.as_object_mut()
                    .map(|o| o.insert("line".into(), json!(number)));
                row
            }
            Err(e) => {
                invalid += 1;
                json!({ "line": number, "invalid": e.to_string() })
            }
        };
        let _ = writeln!(stdout, "{row}");
    }
    if invalid > 0 {
        let path = path.display().to_string();
        eprintln!(
            "error: {invalid} invalid request(s) in {}",
            printable_line(&path)
        );
        return Ok(Outcome::Failure);
    }
    Ok(Outcome::Success)
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

/// `{"decision": "allow", "reasons": [...], "errors": [...], "policy": hash}`
pub fn decision_json(engine: &Engine, decision: &Decision) -> Json {
    let reasons: Vec<&str> = decision
        .reasons
        .iter()
        .map(|r| engine.rule_id(*r))
        .collect();
    let errors: Vec<Json> = decision
        .errors
        .iter()
        .map(|(rule, error)| json!({ "rule": engine.rule_id(*rule), "error": error.to_string() }))
        .collect();
    json!({
        "decision": if decision.allow { "allow" } else { "deny" },
        "reasons": reasons,
        "errors": errors,
        "policy": engine.hash(),
    })
}

/// A readable account of how each candidate rule was decided.
fn explain(engine: &Engine, request: &reaper_runtime::Request) -> String {
    use std::fmt::Write as _;
    let explanation = engine.explain(request);
    let decision = &explanation.decision;
    let mut out = String::new();
    let verdict = if decision.allow { "allow" } else { "deny" };
    let reasons: Vec<String> = decision
        .reasons
        .iter()
        .map(|r| printable_line(engine.rule_id(*r)).into_owned())
        .collect();
    let _ = writeln!(out, "decision: {verdict}");
    let _ = writeln!(
        out,
        "reasons:  {}",
        if reasons.is_empty() {
            "none (no rule applied)".to_owned()
        } else {
            reasons.join(", ")
        }
    );
    let _ = writeln!(out, "policy:   {}", engine.hash());
    let total = engine.bundle().rules.len();
    let _ = writeln!(
        out,
        "\n{} of {total} rules were candidates for this request:",
        explanation.candidates.len()
    );
    for (rule, outcome) in &explanation.candidates {
        let Some(info) = engine.bundle().rules.get(*rule as usize) else {
            continue;
        };
        let effect = match info.effect {
            reaper_lang::bundle::Effect::Permit => "permit",
            reaper_lang::bundle::Effect::Forbid => "forbid",
        };
        let clause = |clause: usize| info.conditions.get(clause);
        let place = |line: u32| format!("({}:{line})", info.file);
        let line = match outcome {
            RuleOutcome::Applied => format!("applied {}", place(info.line)),
            RuleOutcome::NotApplied { clause: index } => match clause(*index) {
                Some(c) => {
                    let verdict = if c.unless { "true" } else { "false" };
                    format!("not applied: `{}` was {verdict} {}", c.text, place(c.line))
                }
                None => format!("not applied {}", place(info.line)),
            },
            RuleOutcome::Failed {
                clause: index,
                error,
            } => match clause(*index) {
                Some(c) => format!("error: {error}, in `{}` {}", c.text, place(c.line)),
                None => format!("error: {error} {}", place(info.line)),
            },
        };
        let mark = match outcome {
            RuleOutcome::Applied => "+",
            RuleOutcome::NotApplied { .. } => "-",
            RuleOutcome::Failed { .. } => "!",
        };
        // The clause text, the file name and an error may quote the policy
        // or the request.
        let id = printable_line(&info.id);
        let line = printable_line(&line);
        let _ = writeln!(out, "  {mark} {id:<24} {effect}  {line}");
    }
    out
}
