//! Data-driven diagnostics tests. Each case is a policy under
//! `tests/ui/<stage>/`: a file `<case>.reaper`, or a directory `<case>.pkg/`
//! for a package of several files. The case is checked by the real binary
//! and its source and rendered report are pinned by an insta snapshot, so a
//! reviewer sees exactly what a user sees. Adding a case is adding a file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use reaper_compiler::diagnostics::ALL_CODES;
use reaper_lang::printable::printable;

/// Renders a case: its source files, then `reaper check`'s output and exit code.
fn render_case(ui: &Path, case: &Path) -> String {
    let relative = case.strip_prefix(ui).unwrap_or(case);
    let files: Vec<std::path::PathBuf> = if case.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(case)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|e| e == "reaper"));
        files.sort();
        files
    } else {
        vec![case.to_path_buf()]
    };
    let mut out = String::new();
    for file in &files {
        let name = file.strip_prefix(ui).unwrap_or(file).display().to_string();
        let bytes = std::fs::read(file).unwrap_or_default();
        // Escaped as reaper shows it, so reading a snapshot of a case with
        // control characters (lex/control_characters) cannot drive the
        // reviewer's terminal.
        let source = String::from_utf8_lossy(&bytes);
        out.push_str(&format!("--- {name}\n{}", printable(&source)));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    let target = relative.display().to_string();
    let output = common::run(ui, &["check", "--format", "human", &target]);
    out.push_str(&format!(
        "--- reaper check {target} (exit {})\n",
        common::code(&output)
    ));
    out.push_str(&common::stdout(&output));
    out.push_str(&common::stderr(&output));
    out
}

#[test]
fn ui() {
    let ui = common::workspace().join("tests/ui");
    insta::glob!("ui/**/*.reaper", |path| {
        let parent = path.parent().unwrap_or(path);
        let in_package = parent.extension().is_some_and(|e| e == "pkg");
        if !in_package {
            insta::assert_snapshot!(render_case(&ui, path));
        } else if path.file_name().is_some_and(|n| n == "main.reaper") {
            // A package case is snapshotted once, through its main file.
            insta::assert_snapshot!(render_case(&ui, parent));
        }
    });
}

/// Codes covered elsewhere because a case file cannot hold them.
const COVERED_ELSEWHERE: [(&str, &str); 2] = [
    ("E0002", "tests/cli.rs: a generated file over 64 MiB"),
    (
        "E0900",
        "reports compiler bugs; no valid policy triggers it",
    ),
];

#[test]
fn every_code_has_a_case() {
    let snapshots = common::workspace().join("tests/snapshots");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&snapshots)
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for code in ALL_CODES {
            if text.contains(&format!("{}({})", code.id, code.name)) {
                seen.insert(code.id);
            }
        }
    }
    let missing: Vec<&str> = ALL_CODES
        .iter()
        .map(|c| c.id)
        .filter(|id| !seen.contains(id) && !COVERED_ELSEWHERE.iter().any(|(c, _)| c == id))
        .collect();
    assert!(
        missing.is_empty(),
        "diagnostic codes with no UI case: {missing:?}"
    );
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string(common::workspace().join("docs/diagnostics.md"))
        .unwrap_or_default();
    let documented: BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let codes: BTreeSet<&str> = ALL_CODES.iter().map(|c| c.id).collect();
    let undocumented: Vec<_> = codes.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&codes).collect();
    assert!(
        undocumented.is_empty(),
        "codes missing from docs/diagnostics.md: {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "docs/diagnostics.md documents unknown codes: {stale:?}"
    );
}
