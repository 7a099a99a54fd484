//! The editor shows what `reaper check` prints: for every example package,
//! every `tests/ui` case (each copied into a scratch directory) and a few
//! packages written here (characters outside the BMP, CRLF line breaks),
//! all files are opened in one `reaper lsp` and each file's published
//! diagnostics must equal `reaper check --format json` on the same files.
//!
//! The expected LSP diagnostic is derived from the JSON one: same code,
//! message and severity; the range converted from 1-based lines and
//! character columns to 0-based lines and UTF-16 columns; related
//! information = the labels, primary first (message, file, range), then one
//! `help: …` entry at the primary range when there is help. The help is
//! also published as a hint diagnostic right after, at the same range,
//! pointing back at the primary label. Files that are not UTF-8 cannot be
//! opened as text: they stay on disk, and the server reads them as
//! `reaper check` does.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::client::Server;
use crate::common::{reaper, run, scratch, stdout, workspace};
use crate::text::{file_name, from_check, uri};

/// The JSON diagnostics of `reaper check --format json .` in `dir`, by file
/// name.
fn check_json(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let output = run(dir, &["check", "--format", "json", "."]);
    let all: Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| {
        panic!(
            "reaper check --format json in {}: {e}\n{}",
            dir.display(),
            stdout(&output)
        )
    });
    let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for d in all.as_array().cloned().unwrap_or_default() {
        by_file
            .entry(file_name(d["file"].as_str().unwrap_or_default()))
            .or_default()
            .push(d);
    }
    by_file
}

/// A range in `file` from `reaper check`'s numbers.
fn range_of(texts: &BTreeMap<String, String>, at: &Value) -> Value {
    let file = file_name(at["file"].as_str().unwrap_or_default());
    let text = texts.get(&file).map_or("", String::as_str);
    let n = |key: &str| at[key].as_u64().unwrap_or(0);
    json!({
        "start": from_check(text, n("line"), n("column")),
        "end": from_check(text, n("end_line"), n("end_column")),
    })
}

/// The LSP diagnostics expected for one JSON diagnostic: it, then its help
/// as a hint.
fn expected(texts: &BTreeMap<String, String>, d: &Value) -> Vec<Value> {
    let range = range_of(texts, d);
    let file = file_name(d["file"].as_str().unwrap_or_default());
    let severity = match d["severity"].as_str() {
        Some("error") => 1,
        Some("warning") => 2,
        other => panic!("a severity `reaper check` does not print: {other:?}"),
    };
    let mut labels = d["labels"].as_array().cloned().unwrap_or_default();
    // Primary first; the others in the order printed.
    labels.sort_by_key(|l| l["primary"] != json!(true));
    let mut related: Vec<Value> = labels
        .iter()
        .map(|l| {
            json!({
                "file": file_name(l["file"].as_str().unwrap_or_default()),
                "range": range_of(texts, l),
                "message": l["message"],
            })
        })
        .collect();
    let help = d["help"].as_str();
    if let Some(help) = help {
        related.push(json!({"file": file, "range": range, "message": format!("help: {help}")}));
    }
    let mut out = vec![json!({
        "range": range,
        "severity": severity,
        "code": d["code"],
        "source": "reaper",
        "message": d["message"],
        "related": related,
    })];
    if let Some(help) = help {
        let primary = related.first().cloned().unwrap_or(Value::Null);
        out.push(json!({
            "range": range,
            "severity": 4,
            "code": d["code"],
            "source": "reaper",
            "message": format!("help: {help}"),
            "related": [{"file": primary["file"], "range": primary["range"], "message": "original diagnostic"}],
        }));
    }
    out
}

/// A published diagnostic in the same shape (URIs as file names; fields
/// `reaper check` has no counterpart for left out).
fn published(d: &Value) -> Value {
    let related: Vec<Value> = d["relatedInformation"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            json!({
                "file": file_name(r["location"]["uri"].as_str().unwrap_or_default()),
                "range": r["location"]["range"],
                "message": r["message"],
            })
        })
        .collect();
    json!({
        "range": d["range"],
        "severity": d["severity"],
        "code": d["code"],
        "source": d["source"],
        "message": d["message"],
        "related": related,
    })
}

/// Writes `files` to a scratch directory, opens the UTF-8 ones and
/// compares every file's diagnostics with `reaper check`'s. The number of
/// diagnostics compared.
fn compare(server: &mut Server, label: &str, files: &[(String, Vec<u8>)]) -> usize {
    let dir = scratch(&format!("lsp-identity-{label}"));
    let mut texts = BTreeMap::new();
    let mut opened = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write a package file");
        texts.insert(name.clone(), String::from_utf8_lossy(bytes).into_owned());
        if let Ok(text) = std::str::from_utf8(bytes) {
            let uri = uri(&dir.join(name));
            server.open(&uri, text);
            opened.push(uri);
        }
    }
    if opened.is_empty() {
        // The server checks the packages of open documents only: open a
        // file of comments beside the undecodable one (both tools see it).
        let name = "opened.reaper".to_owned();
        let text = "// Opened so that the package is checked.\n";
        std::fs::write(dir.join(&name), text).expect("write a package file");
        texts.insert(name.clone(), text.to_owned());
        let uri = uri(&dir.join(name));
        server.open(&uri, text);
        opened.push(uri);
    }
    let mut actual: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    {
        // Open documents are sent again unchanged, so the publish awaited
        // for each comes from a check that had every document open; files
        // left on disk are published by that same check.
        let since = server.publish_count();
        for (uri, diagnostics) in server.settle() {
            if opened.contains(&uri) {
                actual.insert(file_name(&uri), diagnostics);
            }
        }
        let on_disk: Vec<String> = texts
            .keys()
            .filter(|n| !actual.contains_key(*n))
            .cloned()
            .collect();
        for name in on_disk {
            let diagnostics = server.wait_publish(&uri(&dir.join(&name)), since, |_| true);
            actual.insert(name, diagnostics);
        }
    }
    let compared = assert_matches_check(label, &dir, &texts, &actual);
    for uri in opened {
        server.close(&uri);
    }
    compared
}

/// Asserts that the published diagnostics of each file of `dir` (`actual`,
/// by file name; `texts`, the files as on disk) are `reaper check`'s. The
/// number of diagnostics compared.
pub fn assert_matches_check(
    label: &str,
    dir: &Path,
    texts: &BTreeMap<String, String>,
    actual: &BTreeMap<String, Vec<Value>>,
) -> usize {
    let check = check_json(dir);
    let mut compared = 0;
    for name in texts.keys() {
        let want: Vec<Value> = check
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|d| expected(texts, d))
            .collect();
        let got: Vec<Value> = actual
            .get(name)
            .unwrap_or_else(|| panic!("{label}: nothing published for {name}"))
            .iter()
            .map(published)
            .collect();
        assert!(
            want == got,
            "{label}: {name}: the published diagnostics differ from `reaper check`'s\n\
             expected: {}\n\
             published: {}",
            serde_json::to_string_pretty(&want).unwrap_or_default(),
            serde_json::to_string_pretty(&got).unwrap_or_default(),
        );
        compared += want.len();
    }
    compared
}

/// A package's files: names and contents.
type Files = Vec<(String, Vec<u8>)>;

/// The `*.reaper` files of a directory, by name.
fn package(dir: &Path) -> Files {
    let mut files: Files = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "reaper"))
        .map(|p| {
            let name = file_name(&p.display().to_string());
            (name, std::fs::read(&p).expect("read a policy file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn examples_publish_what_reaper_check_prints() {
    let mut server = Server::start();
    let examples = workspace().join("examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&examples)
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "the examples are there");
    for dir in dirs {
        let name = file_name(&dir.display().to_string());
        compare(&mut server, &format!("example-{name}"), &package(&dir));
    }
    assert_eq!(server.shutdown(), Some(0));
}

#[test]
fn ui_cases_publish_what_reaper_check_prints() {
    let ui = workspace().join("tests/ui");
    let mut cases: Vec<(String, Files)> = Vec::new();
    let mut stages: Vec<_> = std::fs::read_dir(&ui)
        .expect("tests/ui")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    stages.sort();
    for stage in stages {
        let stage_name = file_name(&stage.display().to_string());
        let mut entries: Vec<_> = std::fs::read_dir(&stage)
            .expect("a ui stage")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            let name = file_name(&entry.display().to_string());
            let label = format!("ui-{stage_name}-{}", name.replace('.', "-"));
            if entry.is_dir() {
                cases.push((label, package(&entry)));
            } else if name.ends_with(".reaper") {
                let bytes = std::fs::read(&entry).expect("read a ui case");
                cases.push((label, vec![(name, bytes)]));
            }
        }
    }
    assert!(cases.len() > 50, "the ui cases are there");
    let mut server = Server::start();
    let mut compared = 0;
    for (label, files) in &cases {
        compared += compare(&mut server, label, files);
    }
    assert!(compared > 100, "diagnostics were compared: {compared}");
    assert_eq!(server.shutdown(), Some(0));
}

const SCHEMA: &str = "package emoji\n\n\
    entity User { dept: String, nick?: String }\n\
    entity Doc { owner: User }\n\
    action read on [Doc] by [User]\n";

/// Characters outside the BMP count two UTF-16 units and one character:
/// diagnostics after them on the same line, on them, and spanning them.
#[test]
fn positions_after_astral_characters_are_utf16() {
    let rules = "package emoji\n\n\
        // 😀 a comment 🎉 before the rules\n\
        permit read on Doc when \"😀😀\" == principal.dpt;\n\
        permit read on Doc when principal.nick == \"🎉\" && principal.dept == \"x\";\n\
        permit read on Doc when principal.dept == \"a\" 😀 ;\n\
        permit read on Doc when \"𝄞\" == 𝄞 && resource.ownr == principal;\n";
    let mut server = Server::start();
    let compared = compare(
        &mut server,
        "astral",
        &[
            ("rules.reaper".to_owned(), rules.as_bytes().to_vec()),
            ("schema.reaper".to_owned(), SCHEMA.as_bytes().to_vec()),
        ],
    );
    assert!(compared >= 4, "the astral case has diagnostics: {compared}");
    assert_eq!(server.shutdown(), Some(0));
}

/// CRLF line breaks, and a package split across several files where one
/// file's mistake is labelled in another.
#[test]
fn crlf_and_labels_across_files() {
    let rules = "package emoji\r\n\r\n\
        permit read on Doc when principal.dpt == \"x\";\r\n\
        permit read on Doc when principal.nick == \"é\";\r\n";
    let again = "package emoji\n\nentity Doc { owner: User }\n";
    let mut server = Server::start();
    let compared = compare(
        &mut server,
        "crlf",
        &[
            ("again.reaper".to_owned(), again.as_bytes().to_vec()),
            ("rules.reaper".to_owned(), rules.as_bytes().to_vec()),
            ("schema.reaper".to_owned(), SCHEMA.as_bytes().to_vec()),
        ],
    );
    assert!(compared >= 3, "the CRLF case has diagnostics: {compared}");
    assert_eq!(server.shutdown(), Some(0));
}

/// `reaper fmt --stdin` on `text`: the formatted text, or `None` when it
/// refuses (syntax errors).
fn fmt_stdin(dir: &Path, text: &str) -> Option<String> {
    use std::io::Write as _;
    let mut child = reaper(dir)
        .args(["fmt", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run reaper fmt --stdin");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write to reaper fmt");
    let output = child.wait_with_output().expect("reaper fmt --stdin");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Formatting a document gives what `reaper fmt` writes, on every example
/// and `tests/ui` file and on unformatted variants of them (squeezed
/// spaces, CRLF line breaks); where `reaper fmt` refuses (syntax errors),
/// the server leaves the text as it is.
#[test]
fn formatting_is_reaper_fmt() {
    let mut inputs: Vec<(String, String)> = Vec::new();
    for root in ["examples", "tests/ui"] {
        let mut stack = vec![workspace().join(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)
                .expect("a directory")
                .filter_map(Result::ok)
            {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "reaper")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    inputs.push((path.display().to_string(), text));
                }
            }
        }
    }
    inputs.sort();
    let variants: Vec<(String, String)> = inputs
        .iter()
        .filter(|(name, _)| name.contains("examples/"))
        .flat_map(|(name, text)| {
            [
                (format!("{name} (CRLF)"), text.replace('\n', "\r\n")),
                (
                    format!("{name} (squeezed)"),
                    text.replace(" {", "{")
                        .replace(": ", ":")
                        .replace("  ", " "),
                ),
            ]
        })
        .collect();
    inputs.extend(variants);
    let dir = scratch("lsp-formatting");
    let path = dir.join("format.reaper");
    std::fs::write(&path, "").expect("a file to open");
    let document = uri(&path);
    let mut server = Server::start();
    let mut formatted = 0;
    for (name, text) in &inputs {
        server.open(&document, text);
        let answer = server.request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": document}, "options": {"tabSize": 2, "insertSpaces": true}}),
        );
        server.close(&document);
        let from_server = match answer {
            Value::Null => None,
            Value::Array(edits) => Some(crate::text::apply_edits(text, &edits)),
            other => panic!("{name}: formatting answered {other}"),
        };
        let from_cli = fmt_stdin(&dir, text);
        assert!(
            from_server == from_cli,
            "{name}: formatting differs from `reaper fmt --stdin`\n--- server\n{}\n--- reaper fmt\n{}",
            from_server.as_deref().unwrap_or("(left as it is)"),
            from_cli.as_deref().unwrap_or("(refused)"),
        );
        formatted += usize::from(from_cli.is_some());
    }
    assert!(formatted > 30, "files were formatted: {formatted}");
    assert_eq!(server.shutdown(), Some(0));
}
