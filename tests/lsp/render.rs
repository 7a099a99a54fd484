//! Answers rendered for snapshots: diagnostics on one line each, the
//! changed lines of an edited text, completion and symbol kinds by name,
//! the outline as an indented tree, semantic tokens decoded.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::client::{RpcError, Server};
use crate::text::{show_range, slice};

/// One diagnostic on one line: code, severity, range and the text there,
/// source, message.
pub fn show_diagnostic(text: &str, d: &Value) -> String {
    let severity = match d["severity"].as_u64() {
        Some(1) => "error",
        Some(2) => "warning",
        Some(3) => "info",
        Some(4) => "hint",
        _ => "?",
    };
    let code = d["code"]
        .as_str()
        .map_or_else(|| d["code"].to_string(), str::to_owned);
    format!(
        "  {code} {severity} {} `{}` [{}] {}\n",
        show_range(&d["range"]),
        slice(text, &d["range"]),
        d["source"].as_str().unwrap_or("-"),
        d["message"].as_str().unwrap_or_default()
    )
}

/// The lines that differ between two texts, numbered.
pub fn changed_lines(before: &str, after: &str) -> String {
    let mut out = String::new();
    let diff = similar::TextDiff::from_lines(before, after);
    for change in diff.iter_all_changes() {
        let (sign, line) = match change.tag() {
            similar::ChangeTag::Equal => continue,
            similar::ChangeTag::Delete => ('-', change.old_index()),
            similar::ChangeTag::Insert => ('+', change.new_index()),
        };
        let _ = writeln!(
            out,
            "  {sign}{:>3} | {}",
            line.map_or(0, |l| l + 1),
            change.value().trim_end_matches('\n')
        );
    }
    out
}

pub const COMPLETION_KINDS: [&str; 26] = [
    "?",
    "text",
    "method",
    "function",
    "constructor",
    "field",
    "variable",
    "class",
    "interface",
    "module",
    "property",
    "unit",
    "value",
    "enum",
    "keyword",
    "snippet",
    "color",
    "file",
    "reference",
    "folder",
    "enum member",
    "constant",
    "struct",
    "event",
    "operator",
    "type parameter",
];

const SYMBOL_KINDS: [&str; 27] = [
    "?",
    "file",
    "module",
    "namespace",
    "package",
    "class",
    "method",
    "property",
    "field",
    "constructor",
    "enum",
    "interface",
    "function",
    "variable",
    "constant",
    "string",
    "number",
    "boolean",
    "array",
    "object",
    "key",
    "null",
    "enum member",
    "struct",
    "event",
    "operator",
    "type parameter",
];

pub fn kind_name(names: &[&str], kind: &Value) -> String {
    kind.as_u64()
        .and_then(|k| names.get(usize::try_from(k).ok()?))
        .map_or_else(|| kind.to_string(), |k| (*k).to_owned())
}

pub fn show_error(e: &RpcError) -> String {
    format!("  error {}: {}\n", e.code, e.message)
}

pub fn show_symbols(text: &str, symbols: &[Value], depth: usize, out: &mut String) {
    for s in symbols {
        let detail = s["detail"]
            .as_str()
            .map_or(String::new(), |d| format!(" [{d}]"));
        let _ = writeln!(
            out,
            "  {}{} ({}){detail} {} selection {} `{}`",
            "  ".repeat(depth),
            s["name"].as_str().unwrap_or_default(),
            kind_name(&SYMBOL_KINDS, &s["kind"]),
            show_range(&s["range"]),
            show_range(&s["selectionRange"]),
            slice(text, &s["selectionRange"]),
        );
        if let Some(children) = s["children"].as_array() {
            show_symbols(text, children, depth + 1, out);
        }
    }
}

/// Semantic tokens decoded from the relative encoding: one token a line,
/// `line:col len type[+modifiers] `text``.
pub fn show_tokens(server: &Server, text: &str, data: &[Value], out: &mut String) {
    let legend = &server.capabilities["capabilities"]["semanticTokensProvider"]["legend"];
    let types = legend["tokenTypes"].as_array().cloned().unwrap_or_default();
    let modifiers = legend["tokenModifiers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let numbers: Vec<u64> = data.iter().map(|v| v.as_u64().unwrap_or(0)).collect();
    assert_eq!(numbers.len() % 5, 0, "semantic tokens come in fives");
    let (mut line, mut column) = (0u64, 0u64);
    for token in numbers.chunks(5) {
        let [delta_line, delta_start, length, kind, bits] =
            [token[0], token[1], token[2], token[3], token[4]];
        if delta_line > 0 {
            line += delta_line;
            column = delta_start;
        } else {
            column += delta_start;
        }
        let mut name = types
            .get(usize::try_from(kind).unwrap_or(usize::MAX))
            .and_then(Value::as_str)
            .map_or_else(|| format!("type{kind}"), str::to_owned);
        for (i, modifier) in modifiers.iter().enumerate() {
            if bits & (1 << i) != 0 {
                name.push('+');
                name.push_str(modifier.as_str().unwrap_or("?"));
            }
        }
        let range = json!({
            "start": {"line": line, "character": column},
            "end": {"line": line, "character": column + length},
        });
        let _ = writeln!(
            out,
            "  {}:{} {length} {name} `{}`",
            line + 1,
            column + 1,
            slice(text, &range)
        );
    }
}
