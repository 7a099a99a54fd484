//! Data-driven cases. Each directory of `tests/lsp/cases/` is a package:
//! `*.reaper` files in which `⟨name⟩` marks a cursor position (the markers
//! are stripped before the files are written to a scratch directory and
//! opened), and `requests.json`, the requests to make, in order:
//!
//! ```json
//! { "closed": ["tests.reaper"],
//!   "requests": [
//!     { "kind": "hover", "at": "owner_read", "note": "an attribute read" },
//!     { "kind": "rename", "at": "user_decl", "new_name": "Person" },
//!     { "kind": "formatting", "file": "messy.reaper" } ] }
//! ```
//!
//! Kinds: `hover`, `definition`, `references` (`include_declaration`,
//! default true), `prepare_rename`, `rename` (`new_name`), `completion`,
//! `code_actions` (an empty range at the marker, or the whole `file`),
//! `formatting`, `symbols`, `folding`, `semantic_tokens`, `lenses`,
//! `run_test` (`file`, `test`) and `diagnostics` (of `file`, or of all).
//! Files listed in `closed` stay on disk, unopened. A bare array is a list
//! of requests.
//!
//! The sources (with their markers) and every answer are rendered as text,
//! one insta snapshot per case: locations as `file:line:col..line:col` and
//! the text there (1-based, columns in UTF-16 units), completion labels
//! sorted, workspace edits applied to the files and shown as the changed
//! lines of the result (the whole result for formatting), semantic tokens
//! decoded. Adding a case is adding a directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::client::Server;
use crate::common::scratch;
use crate::render::{
    COMPLETION_KINDS, changed_lines, kind_name, show_diagnostic, show_error, show_symbols,
    show_tokens,
};
use crate::text::{self, apply_edits, file_name, show_range, slice, uri};

const OPEN: char = '⟨';
const CLOSE: char = '⟩';

struct Case {
    dir: PathBuf,
    /// File name → text as written in the case (markers included).
    written: BTreeMap<String, String>,
    /// File name → text without markers, as opened.
    texts: BTreeMap<String, String>,
    /// Marker → (file name, byte offset in the text without markers).
    markers: BTreeMap<String, (String, usize)>,
    closed: Vec<String>,
    requests: Vec<Value>,
}

fn strip_markers(
    written: &str,
    file: &str,
    markers: &mut BTreeMap<String, (String, usize)>,
) -> String {
    let mut out = String::with_capacity(written.len());
    let mut rest = written;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len_utf8()..];
        let end = after
            .find(CLOSE)
            .unwrap_or_else(|| panic!("{file}: a marker without `{CLOSE}`"));
        let name = &after[..end];
        let previous = markers.insert(name.to_owned(), (file.to_owned(), out.len()));
        assert!(previous.is_none(), "{file}: marker `{name}` used twice");
        rest = &after[end + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

impl Case {
    fn load(source: &Path) -> Case {
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = scratch(&format!("lsp-case-{name}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "reaper"))
            .collect();
        files.sort();
        let mut written = BTreeMap::new();
        let mut texts = BTreeMap::new();
        let mut markers = BTreeMap::new();
        for path in files {
            let file = file_name(&path.display().to_string());
            let original = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let stripped = strip_markers(&original, &file, &mut markers);
            std::fs::write(dir.join(&file), &stripped).expect("write a case file");
            written.insert(file.clone(), original);
            texts.insert(file, stripped);
        }
        let spec: Value = serde_json::from_str(
            &std::fs::read_to_string(source.join("requests.json")).expect("requests.json"),
        )
        .unwrap_or_else(|e| panic!("{}/requests.json: {e}", source.display()));
        let (closed, requests) = match spec {
            Value::Array(requests) => (Vec::new(), requests),
            spec => (
                spec["closed"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                spec["requests"].as_array().cloned().unwrap_or_default(),
            ),
        };
        Case {
            dir,
            written,
            texts,
            markers,
            closed,
            requests,
        }
    }

    fn uri(&self, file: &str) -> String {
        uri(&self.dir.join(file))
    }

    /// The file and LSP position of a marker.
    fn marker(&self, name: &str) -> (String, Value) {
        let (file, offset) = self
            .markers
            .get(name)
            .unwrap_or_else(|| panic!("no marker `{name}` in the case"));
        (file.clone(), text::position(&self.texts[file], *offset))
    }

    /// The file a request is about: its `file`, else its marker's.
    fn file_of(&self, request: &Value) -> String {
        match (request["file"].as_str(), request["at"].as_str()) {
            (Some(file), _) => file.to_owned(),
            (None, Some(at)) => self.marker(at).0,
            (None, None) => panic!("a request without `at` or `file`: {request}"),
        }
    }

    /// `file:line:col..line:col `text`` for a location in the case.
    fn location(&self, uri: &str, range: &Value) -> String {
        let file = file_name(uri);
        match self.texts.get(&file) {
            Some(text) if uri == self.uri(&file) => {
                format!("{file}:{} `{}`", show_range(range), slice(text, range))
            }
            _ => format!("{uri}:{}", show_range(range)),
        }
    }

    /// The result of a workspace edit: per changed file, the lines that
    /// differ, before (`-`) and after (`+`), with their line numbers.
    fn workspace_edit(&self, edit: &Value, out: &mut String) {
        let mut by_uri: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if let Some(changes) = edit["changes"].as_object() {
            for (uri, edits) in changes {
                by_uri
                    .entry(uri.clone())
                    .or_default()
                    .extend(edits.as_array().cloned().unwrap_or_default());
            }
        }
        if let Some(document_changes) = edit["documentChanges"].as_array() {
            for change in document_changes {
                let uri = change["textDocument"]["uri"].as_str().unwrap_or_default();
                by_uri
                    .entry(uri.to_owned())
                    .or_default()
                    .extend(change["edits"].as_array().cloned().unwrap_or_default());
            }
        }
        if by_uri.is_empty() {
            out.push_str("  (no edits)\n");
        }
        for (uri, edits) in by_uri {
            let file = file_name(&uri);
            let Some(before) = self.texts.get(&file).filter(|_| uri == self.uri(&file)) else {
                let _ = writeln!(out, "  edits outside the case: {uri} {edits:?}");
                continue;
            };
            let after = apply_edits(before, &edits);
            let _ = writeln!(out, "  {file} ({} edits):", edits.len());
            out.push_str(&changed_lines(before, &after));
        }
    }

    fn diagnostics(&self, server: &Server, file: &str, out: &mut String) {
        let uri = self.uri(file);
        let text = &self.texts[file];
        let Some(publish) = server.last_publish(&uri) else {
            let _ = writeln!(out, "{file}: nothing published");
            return;
        };
        if publish.diagnostics.is_empty() {
            let _ = writeln!(out, "{file}: none");
            return;
        }
        let _ = writeln!(out, "{file}:");
        for d in &publish.diagnostics {
            out.push_str(&show_diagnostic(text, d));
        }
    }
}

fn show_locations(case: &Case, result: &Value, out: &mut String) {
    let list = match result {
        Value::Null => {
            out.push_str("  null\n");
            return;
        }
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    let mut shown: Vec<((String, u64, u64), String)> = list
        .iter()
        .map(|l| {
            // A LocationLink names its target differently.
            let uri = l["uri"].as_str().or(l["targetUri"].as_str()).unwrap_or("?");
            let range = if l.get("range").is_some() {
                &l["range"]
            } else {
                &l["targetSelectionRange"]
            };
            let start = &range["start"];
            let key = (
                file_name(uri),
                start["line"].as_u64().unwrap_or(0),
                start["character"].as_u64().unwrap_or(0),
            );
            (key, case.location(uri, range))
        })
        .collect();
    shown.sort();
    if shown.is_empty() {
        out.push_str("  (none)\n");
    }
    for (_, s) in shown {
        let _ = writeln!(out, "  {s}");
    }
}

/// Makes one request and renders its answer.
fn run_request(case: &Case, server: &mut Server, request: &Value, out: &mut String) {
    let kind = request["kind"].as_str().unwrap_or("?");
    if kind == "diagnostics" && request.get("file").is_none() {
        let _ = writeln!(out, "\n=== diagnostics of every file");
        for file in case.texts.keys() {
            case.diagnostics(server, file, out);
        }
        return;
    }
    let file = case.file_of(request);
    let uri = case.uri(&file);
    let text = case.texts[&file].clone();
    let at = request["at"].as_str();
    let position = at.map(|m| case.marker(m).1);
    let place = match at {
        Some(m) => format!("⟨{m}⟩ {file}:{}", {
            let p = position.as_ref().expect("a position");
            format!(
                "{}:{}",
                p["line"].as_u64().unwrap_or(0) + 1,
                p["character"].as_u64().unwrap_or(0) + 1
            )
        }),
        None => file.clone(),
    };
    let mut title = format!("=== {kind} {place}");
    for key in ["new_name", "test", "include_declaration"] {
        if let Some(value) = request.get(key) {
            let _ = write!(title, " {key}={value}");
        }
    }
    if let Some(note) = request["note"].as_str() {
        let _ = write!(title, " — {note}");
    }
    let _ = writeln!(out, "\n{title}");
    let document = json!({"uri": uri});
    let at_position =
        || json!({"textDocument": document, "position": position.clone().expect("`at`")});
    match kind {
        "hover" => match server.try_request("textDocument/hover", at_position()) {
            Err(e) => out.push_str(&show_error(&e)),
            Ok(Value::Null) => out.push_str("  null\n"),
            Ok(hover) => {
                if let Some(range) = hover.get("range") {
                    let _ = writeln!(out, "  range {}", case.location(&uri, range));
                }
                let contents = &hover["contents"];
                let value = contents["value"]
                    .as_str()
                    .map_or_else(|| contents.to_string(), str::to_owned);
                let _ = writeln!(
                    out,
                    "  {}:",
                    contents["kind"].as_str().unwrap_or("contents")
                );
                for line in value.lines() {
                    let _ = writeln!(out, "  | {line}");
                }
            }
        },
        "definition" => match server.try_request("textDocument/definition", at_position()) {
            Err(e) => out.push_str(&show_error(&e)),
            Ok(result) => show_locations(case, &result, out),
        },
        "references" => {
            let include = request["include_declaration"].as_bool().unwrap_or(true);
            let mut params = at_position();
            params["context"] = json!({"includeDeclaration": include});
            match server.try_request("textDocument/references", params) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(result) => show_locations(case, &result, out),
            }
        }
        "prepare_rename" => match server.try_request("textDocument/prepareRename", at_position()) {
            Err(e) => out.push_str(&show_error(&e)),
            Ok(Value::Null) => out.push_str("  null\n"),
            Ok(result) => {
                let range = result.get("range").unwrap_or(&result);
                let _ = writeln!(out, "  range {}", case.location(&uri, range));
                if let Some(placeholder) = result["placeholder"].as_str() {
                    let _ = writeln!(out, "  placeholder `{placeholder}`");
                }
            }
        },
        "rename" => {
            let mut params = at_position();
            params["newName"] = request["new_name"].clone();
            match server.try_request("textDocument/rename", params) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(Value::Null) => out.push_str("  null\n"),
                Ok(edit) => case.workspace_edit(&edit, out),
            }
        }
        "completion" => {
            let mut params = at_position();
            params["context"] = json!({"triggerKind": 1});
            match server.try_request("textDocument/completion", params) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(Value::Null) => out.push_str("  null\n"),
                Ok(result) => {
                    let items = result
                        .as_array()
                        .or(result["items"].as_array())
                        .cloned()
                        .unwrap_or_default();
                    let mut shown: Vec<String> = items
                        .iter()
                        .map(|i| {
                            let label = i["label"].as_str().unwrap_or_default();
                            let mut line =
                                format!("{label} ({})", kind_name(&COMPLETION_KINDS, &i["kind"]));
                            if let Some(detail) = i["detail"].as_str() {
                                let _ = write!(line, " {detail}");
                            }
                            if let Some(insert) = i["insertText"].as_str().filter(|t| t != &label) {
                                let _ = write!(line, " inserts `{insert}`");
                            }
                            line
                        })
                        .collect();
                    shown.sort();
                    if shown.is_empty() {
                        out.push_str("  (none)\n");
                    }
                    for s in shown {
                        let _ = writeln!(out, "  {s}");
                    }
                }
            }
        }
        "formatting" => {
            let params =
                json!({"textDocument": document, "options": {"tabSize": 2, "insertSpaces": true}});
            match server.try_request("textDocument/formatting", params) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(Value::Null) => out.push_str("  null (left as it is)\n"),
                Ok(Value::Array(edits)) if edits.is_empty() => {
                    out.push_str("  (no edits: already formatted)\n");
                }
                Ok(Value::Array(edits)) => {
                    let formatted = apply_edits(&text, &edits);
                    let _ = writeln!(out, "  {} edit(s); the result:", edits.len());
                    for line in formatted.lines() {
                        let _ = writeln!(out, "  | {line}");
                    }
                    if !formatted.ends_with('\n') {
                        out.push_str("  (no final line break)\n");
                    }
                }
                Ok(other) => {
                    let _ = writeln!(out, "  unexpected: {other}");
                }
            }
        }
        "code_actions" => {
            let range = match &position {
                Some(p) => json!({"start": p, "end": p}),
                None => {
                    json!({"start": text::position(&text, 0), "end": text::position(&text, text.len())})
                }
            };
            let published = server
                .last_publish(&uri)
                .map(|p| p.diagnostics)
                .unwrap_or_default();
            let params = json!({
                "textDocument": document,
                "range": range,
                "context": {"diagnostics": published, "triggerKind": 1},
            });
            match server.try_request("textDocument/codeAction", params) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(Value::Null) => out.push_str("  null\n"),
                Ok(Value::Array(actions)) if actions.is_empty() => out.push_str("  (none)\n"),
                Ok(Value::Array(actions)) => {
                    for action in actions {
                        let fixes: Vec<String> = action["diagnostics"]
                            .as_array()
                            .map(|ds| {
                                ds.iter()
                                    .map(|d| d["code"].as_str().unwrap_or("?").to_owned())
                                    .collect()
                            })
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "  {} [{}{}] fixes {}",
                            action["title"].as_str().unwrap_or_default(),
                            action["kind"].as_str().unwrap_or("no kind"),
                            if action["isPreferred"] == json!(true) {
                                ", preferred"
                            } else {
                                ""
                            },
                            fixes.join(", ")
                        );
                        case.workspace_edit(&action["edit"], out);
                    }
                }
                Ok(other) => {
                    let _ = writeln!(out, "  unexpected: {other}");
                }
            }
        }
        "symbols" => match server.try_request(
            "textDocument/documentSymbol",
            json!({"textDocument": document}),
        ) {
            Err(e) => out.push_str(&show_error(&e)),
            Ok(Value::Array(symbols)) => show_symbols(&text, &symbols, 0, out),
            Ok(other) => {
                let _ = writeln!(out, "  {other}");
            }
        },
        "folding" => match server.try_request(
            "textDocument/foldingRange",
            json!({"textDocument": document}),
        ) {
            Err(e) => out.push_str(&show_error(&e)),
            Ok(Value::Array(folds)) => {
                for f in folds {
                    let _ = writeln!(
                        out,
                        "  lines {}..{} {}",
                        f["startLine"].as_u64().unwrap_or(0) + 1,
                        f["endLine"].as_u64().unwrap_or(0) + 1,
                        f["kind"].as_str().unwrap_or("-")
                    );
                }
            }
            Ok(other) => {
                let _ = writeln!(out, "  {other}");
            }
        },
        "semantic_tokens" => {
            match server.try_request(
                "textDocument/semanticTokens/full",
                json!({"textDocument": document}),
            ) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(result) => {
                    let data = result["data"].as_array().cloned().unwrap_or_default();
                    show_tokens(server, &text, &data, out);
                }
            }
        }
        "lenses" => {
            match server.try_request("textDocument/codeLens", json!({"textDocument": document})) {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(Value::Array(lenses)) => {
                    for lens in lenses {
                        let command = &lens["command"];
                        let arguments: Vec<String> = command["arguments"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|v| match v.as_str() {
                                        Some(s) if s == uri => "<uri>".to_owned(),
                                        _ => v.to_string(),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "  {} {:?} {}({})",
                            case.location(&uri, &lens["range"]),
                            command["title"].as_str().unwrap_or_default(),
                            command["command"].as_str().unwrap_or_default(),
                            arguments.join(", ")
                        );
                    }
                }
                Ok(other) => {
                    let _ = writeln!(out, "  {other}");
                }
            }
        }
        "run_test" => {
            let name = request["test"].as_str().expect("run_test needs `test`");
            let since = server.publish_count();
            let messages = server.messages().len();
            let result = server.try_request(
                "workspace/executeCommand",
                json!({"command": "reaper.runTest", "arguments": [uri, name]}),
            );
            match result {
                Err(e) => out.push_str(&show_error(&e)),
                Ok(result) => {
                    let _ = writeln!(out, "  passed: {}", result["passed"]);
                    let _ = writeln!(
                        out,
                        "  summary: {}",
                        result["summary"].as_str().unwrap_or("?")
                    );
                    for failure in result["failures"].as_array().cloned().unwrap_or_default() {
                        let _ = writeln!(
                            out,
                            "  failure at line {}: {}",
                            failure["line"],
                            failure["message"].as_str().unwrap_or("?")
                        );
                    }
                    // The run publishes the document's diagnostics with its
                    // failures (none when it passed).
                    let published = server.wait_publish(&uri, since, |_| true);
                    for message in server.messages().iter().skip(messages) {
                        let _ = writeln!(
                            out,
                            "  showMessage type {}: {}",
                            message["type"],
                            message["message"].as_str().unwrap_or("?")
                        );
                    }
                    let _ = writeln!(out, "  published for {file}:");
                    if published.is_empty() {
                        out.push_str("    none\n");
                    }
                    for d in &published {
                        out.push_str(&show_diagnostic(&text, d));
                    }
                }
            }
        }
        "diagnostics" => case.diagnostics(server, &file, out),
        other => panic!("unknown request kind `{other}`"),
    }
}

fn run_case(source: &Path) -> String {
    let case = Case::load(source);
    let mut server = Server::start();
    let mut out = String::new();
    for (file, written) in &case.written {
        let closed = if case.closed.contains(file) {
            " (not opened)"
        } else {
            ""
        };
        let _ = writeln!(out, "--- {file}{closed}");
        out.push_str(written);
        if !written.ends_with('\n') {
            out.push_str("⏎ (no final line break)\n");
        }
    }
    let opened: Vec<&String> = case
        .texts
        .keys()
        .filter(|f| !case.closed.contains(f))
        .collect();
    for file in &opened {
        server.open(&case.uri(file), &case.texts[*file]);
    }
    // Texts on disk and in the buffers agree, so whichever check a publish
    // comes from, its diagnostics are the package's.
    for file in &opened {
        server.wait_diagnostics(&case.uri(file));
    }
    out.push_str("\n=== diagnostics on opening\n");
    for file in case.texts.keys() {
        if case.closed.contains(file) {
            // A file not open is published too (it is part of the package).
            server.wait_diagnostics_until(&case.uri(file), |_| true);
        }
        case.diagnostics(&server, file, &mut out);
    }
    for request in &case.requests {
        run_request(&case, &mut server, request, &mut out);
    }
    assert!(server.oddities().is_empty(), "{:?}", server.oddities());
    out
}

#[test]
fn cases() {
    insta::glob!("cases/*/requests.json", |path| {
        let source = path.parent().expect("the case directory");
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Named after the case directory rather than its requests file.
        insta::with_settings!({ snapshot_suffix => name }, {
            insta::assert_snapshot!(run_case(source));
        });
    });
}
