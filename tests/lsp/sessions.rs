//! Editing sessions across a package: unsaved buffers override the files
//! on disk for the whole package, closing a buffer goes back to the disk,
//! a new unsaved file joins its directory's package, untitled buffers stand
//! alone, and half-typed text gets diagnostics rather than silence.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::client::Server;
use crate::common::{scratch, write};
use crate::identity::assert_matches_check;
use crate::text::{position, uri};

const SCHEMA: &str = "package docs\n\n\
    entity User { dept: String, email?: String }\n\
    entity Doc { owner: User }\n\
    action read on [Doc] by [User]\n";

const RULES: &str = "package docs\n\n\
    @id(\"same-dept\")\n\
    permit read on Doc when principal.dept == resource.owner.dept;\n";

/// `code message` of each diagnostic, in order.
fn summary(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["code"].as_str().unwrap_or("?"),
                d["message"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// A change replacing `old` (its first occurrence) in `text` by `new`.
fn replace_change(text: &str, old: &str, new: &str) -> Value {
    let start = text
        .find(old)
        .unwrap_or_else(|| panic!("`{old}` is not in the text"));
    json!({
        "range": {"start": position(text, start), "end": position(text, start + old.len())},
        "text": new,
    })
}

#[test]
fn an_unsaved_edit_reaches_a_file_that_is_not_open_until_the_buffer_closes() {
    let dir = scratch("lsp-session-unsaved");
    let schema = uri(&write(&dir, "schema.reaper", SCHEMA));
    let rules = uri(&write(&dir, "rules.reaper", RULES));
    let mut server = Server::start();
    server.open(&schema, SCHEMA);
    assert_eq!(
        summary(&server.wait_diagnostics(&schema)),
        Vec::<String>::new()
    );
    // rules.reaper is not open: it is read from disk and published too.
    server.wait_diagnostics_until(&rules, <[Value]>::is_empty);

    // Remove `dept` from the buffer, without saving.
    let since = server.publish_count();
    let text = server.doc(&schema).text.clone();
    let change = replace_change(&text, "dept: String, ", "");
    server.change(&schema, vec![change]);
    assert_eq!(
        summary(&server.wait_diagnostics(&schema)),
        Vec::<String>::new()
    );
    let broken = server.wait_publish(&rules, since, |p| !p.diagnostics.is_empty());
    assert_eq!(
        summary(&broken),
        [
            "E0101 `User` has no attribute `dept`",
            "E0101 help: declared attributes: email",
            "E0101 `User` has no attribute `dept`",
            "E0101 help: declared attributes: email",
        ],
        "both reads, each with its help as a hint"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("schema.reaper")).expect("schema on disk"),
        SCHEMA,
        "the disk is left alone"
    );

    // Undo: the attribute is back, and so is silence.
    let since = server.publish_count();
    let text = server.doc(&schema).text.clone();
    let at = text.find("email?").expect("the attribute");
    server.change(
        &schema,
        vec![json!({
            "range": {"start": position(&text, at), "end": position(&text, at)},
            "text": "dept: String, ",
        })],
    );
    assert_eq!(server.doc(&schema).text, SCHEMA);
    server.wait_diagnostics(&schema);
    server.wait_publish(&rules, since, |p| p.diagnostics.is_empty());

    // Break it again, then close the buffer without saving: the server
    // reads schema.reaper from disk again.
    let since = server.publish_count();
    server.replace(&schema, &SCHEMA.replace("dept: String, ", ""));
    server.wait_diagnostics(&schema);
    server.wait_publish(&rules, since, |p| !p.diagnostics.is_empty());
    let since = server.publish_count();
    server.close(&schema);
    server.wait_publish(&rules, since, |p| p.diagnostics.is_empty());
    // The closed file is still part of the package, published from disk
    // (no version: it is not open).
    let from_disk = server.wait_publish(&schema, since, |p| p.version.is_none());
    assert!(from_disk.is_empty(), "{from_disk:?}");
    assert_eq!(server.shutdown(), Some(0));
}

#[test]
fn a_new_unsaved_file_joins_its_directorys_package_and_leaves_it_when_closed() {
    let dir = scratch("lsp-session-new-file");
    write(&dir, "schema.reaper", SCHEMA);
    let rules_text = "package docs\n\npermit archive on Doc;\n";
    let rules = uri(&write(&dir, "rules.reaper", rules_text));
    let mut server = Server::start();
    server.open(&rules, rules_text);
    assert_eq!(
        summary(&server.wait_diagnostics(&rules)),
        [
            "E0102 unknown action `archive`",
            "E0102 help: declare it: `action archive on …`"
        ]
    );

    // A file that exists only in the editor declares `archive`.
    let archive = uri(&dir.join("archive.reaper"));
    let since = server.publish_count();
    let archive_text = "package docs\n\naction archive on [Doc] by [User]\n\
        permit read on Doc when principal.nope == \"x\";\n";
    server.open(&archive, archive_text);
    server.wait_publish(&rules, since, |p| p.diagnostics.is_empty());
    assert_eq!(
        summary(&server.wait_diagnostics(&archive)),
        [
            "E0101 `User` has no attribute `nope`",
            "E0101 help: declared attributes: dept, email",
        ],
        "the new file is checked with the rest of the package"
    );
    assert!(!dir.join("archive.reaper").exists());

    // Closed without saving: it is gone from the package, and what was
    // shown for it is cleared.
    let since = server.publish_count();
    server.close(&archive);
    let back = server.wait_publish(&rules, since, |p| !p.diagnostics.is_empty());
    assert_eq!(summary(&back)[0], "E0102 unknown action `archive`");
    let cleared = server.wait_publish(&archive, since, |_| true);
    assert!(cleared.is_empty(), "{cleared:?}");
    assert_eq!(server.shutdown(), Some(0));
}

#[test]
fn half_typed_text_gets_diagnostics_until_it_is_finished() {
    let dir = scratch("lsp-session-half-typed");
    write(&dir, "schema.reaper", SCHEMA);
    let rules = uri(&dir.join("rules.reaper"));
    let mut server = Server::start();
    let typing = "package docs\n\npermit read on Doc when principal.";
    server.open(&rules, typing);
    let first = server.wait_diagnostics(&rules);
    assert_eq!(
        summary(&first)[0].split(';').next(),
        Some("E0011 unexpected end of file"),
        "{first:?}"
    );
    // Type the rest, a few characters at a time, as an editor sends it.
    for piece in ["de", "pt", " == ", "\"x\"", ";", "\n"] {
        let text = server.doc(&rules).text.clone();
        let end = position(&text, text.len());
        server.change(
            &rules,
            vec![json!({"range": {"start": end, "end": end}, "text": piece})],
        );
        let diagnostics = server.wait_diagnostics(&rules);
        let done =
            server.doc(&rules).text.ends_with(';') || server.doc(&rules).text.ends_with(";\n");
        assert_eq!(
            diagnostics.is_empty(),
            done,
            "after typing {piece:?}: {:?}",
            summary(&diagnostics)
        );
    }
    assert_eq!(server.shutdown(), Some(0));
}

#[test]
fn an_untitled_buffer_is_a_package_of_its_own() {
    let mut server = Server::start();
    let untitled = "untitled:Untitled-1";
    server.open(
        untitled,
        "entity User\nentity Doc\naction read on [Doc] by [User]\npermit raed on Doc;\n",
    );
    assert_eq!(
        summary(&server.wait_diagnostics(untitled)),
        [
            "E0102 unknown action `raed`",
            "E0102 help: did you mean `read`?"
        ]
    );
    let hover = server.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": untitled}, "position": {"line": 3, "character": 16}}),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("entity type `Doc`")),
        "{hover}"
    );
    // Nothing on disk keeps it alive: closing clears what was shown.
    let since = server.publish_count();
    server.close(untitled);
    let cleared = server.wait_publish(untitled, since, |_| true);
    assert!(cleared.is_empty(), "{cleared:?}");
    assert_eq!(server.shutdown(), Some(0));
}

/// The protocol's line breaks are `\n`, `\r\n` and `\r`, nothing else: a
/// LINE SEPARATOR (U+2028), PARAGRAPH SEPARATOR (U+2029) or NEXT LINE
/// (U+0085) in a comment does not start a line, so an edit on the lines
/// after it must land where the client says.
#[test]
fn unicode_line_separators_do_not_shift_incremental_edits() {
    let mut wrong = Vec::new();
    for separator in ['\u{2028}', '\u{2029}', '\u{85}'] {
        let dir = scratch("lsp-session-separators");
        let schema = format!(
            "package docs\n\n// A comment with a separator:{separator}still the comment.\n\
             entity User\nentity Doc\naction read on [Doc] by [User]\n"
        );
        let schema_uri = uri(&write(&dir, "schema.reaper", &schema));
        let mut server = Server::start();
        server.open(&schema_uri, &schema);
        server.wait_diagnostics(&schema_uri);
        // Line 5 (0-based) is the `action` line: one more action there.
        server.change(
            &schema_uri,
            vec![json!({
                "range": {"start": {"line": 5, "character": 7}, "end": {"line": 5, "character": 7}},
                "text": "write, ",
            })],
        );
        let text = server.doc(&schema_uri).text.clone();
        assert!(text.contains("\naction write, read on"));
        let diagnostics = server.wait_diagnostics(&schema_uri);
        // What `reaper check` says of the client's text.
        write(&dir, "schema.reaper", &text);
        let texts = BTreeMap::from([("schema.reaper".to_owned(), text)]);
        let actual = BTreeMap::from([("schema.reaper".to_owned(), diagnostics)]);
        let label = format!("U+{:04X} in a comment", u32::from(separator));
        let same = std::panic::catch_unwind(|| assert_matches_check(&label, &dir, &texts, &actual));
        if same.is_err() {
            wrong.push(label);
        }
        assert_eq!(server.shutdown(), Some(0));
    }
    assert!(
        wrong.is_empty(),
        "the server's text is not the client's after: {wrong:?}"
    );
}

/// A lone `\r` ends a line in the protocol: positions after it count from
/// the next line.
#[test]
fn a_lone_carriage_return_ends_a_line() {
    let mut server = Server::start();
    let untitled = "untitled:lone-cr";
    server.open(
        untitled,
        "entity User\rentity Doc\naction read on [Doc] by [User]\rpermit raed on Doc;\n",
    );
    let diagnostics = server.wait_diagnostics(untitled);
    assert_eq!(
        summary(&diagnostics)[0],
        "E0102 unknown action `raed`",
        "{diagnostics:?}"
    );
    // Lines: `entity User`, `entity Doc`, `action …`, `permit raed on Doc;`.
    assert_eq!(
        diagnostics[0]["range"],
        json!({"start": {"line": 3, "character": 7}, "end": {"line": 3, "character": 11}}),
    );
    assert_eq!(server.shutdown(), Some(0));
}

/// Navigation into a package no open document belongs to (an editor
/// peeking at a definition) is answered from the files on disk.
#[test]
fn requests_on_a_package_that_is_not_open_read_the_disk() {
    let dir = scratch("lsp-session-not-open");
    let schema = uri(&write(&dir, "schema.reaper", SCHEMA));
    let rules = uri(&write(&dir, "rules.reaper", RULES));
    let mut server = Server::start();
    let at = RULES.find("dept ==").expect("a read") + 1;
    let definition = server.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": rules}, "position": position(RULES, at)}),
    );
    let start = SCHEMA.find("dept").expect("the declaration");
    assert_eq!(
        definition,
        json!([{
            "uri": schema,
            "range": {"start": position(SCHEMA, start), "end": position(SCHEMA, start + 4)},
        }])
    );
    assert_eq!(server.shutdown(), Some(0));
}

/// A test's failures are shown until the document changes: closed and
/// changed on disk (the editor says so with `didChangeWatchedFiles`), the
/// failures of the old text go.
#[test]
fn test_failures_go_when_the_file_changes_on_disk() {
    let dir = scratch("lsp-session-test-failures");
    write(&dir, "schema.reaper", SCHEMA);
    write(&dir, "rules.reaper", RULES);
    let failing = "package docs\n\ntest \"strangers\" {\n  \
        principal User::\"bo\" { dept: \"eng\" };\n  \
        resource Doc::\"d\" { owner: User::\"ana\" };\n  \
        entity User::\"ana\" { dept: \"ops\" };\n  \
        expect permit read;\n}\n";
    let tests = uri(&write(&dir, "tests.reaper", failing));
    let mut server = Server::start();
    server.open(&tests, failing);
    assert!(server.wait_diagnostics(&tests).is_empty());
    let since = server.publish_count();
    let outcome = server.request(
        "workspace/executeCommand",
        json!({"command": "reaper.runTest", "arguments": [tests, "strangers"]}),
    );
    assert_eq!(outcome["passed"], json!(false));
    let shown = server.wait_publish(&tests, since, |p| !p.diagnostics.is_empty());
    assert_eq!(shown[0]["source"], json!("reaper test"));

    // The editor closes the file; then it changes on disk: the test is gone.
    server.close(&tests);
    let since = server.publish_count();
    write(&dir, "tests.reaper", "package docs\n");
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": tests, "type": 2}]}),
    );
    let after = server.wait_publish(&tests, since, |_| true);
    assert!(
        after.iter().all(|d| d["source"] != json!("reaper test")),
        "stale test failures: {after:?}"
    );
    assert_eq!(server.shutdown(), Some(0));
}

/// `exit` ends the process: with code 0 after `shutdown` (see
/// `Server::shutdown`), with code 1 without it, as the protocol says.
#[test]
fn exit_without_shutdown_is_an_error() {
    let mut server = Server::start();
    server.notify("exit", Value::Null);
    assert_eq!(server.wait_exit(), Some(1));
}

/// A client that offers UTF-8 gets byte columns, in diagnostics and in the
/// changes it sends.
#[test]
fn utf8_positions_when_the_client_offers_them() {
    let dir = scratch("lsp-session-utf8");
    write(&dir, "schema.reaper", SCHEMA);
    let rules = uri(&dir.join("rules.reaper"));
    let mut server = Server::start_with_encodings(&["utf-8", "utf-16"]);
    assert_eq!(
        server.capabilities["capabilities"]["positionEncoding"],
        json!("utf-8")
    );
    let text = "package docs\n\npermit read on Doc when \"😀é\" == principal.dpt;\n";
    server.open(&rules, text);
    let diagnostics = server.wait_diagnostics(&rules);
    let start = text.find("dpt").expect("the typo");
    let line_start = text.find("permit").expect("the rule");
    let column = start - line_start;
    assert_eq!(
        diagnostics[0]["range"],
        json!({"start": {"line": 2, "character": column}, "end": {"line": 2, "character": column + 3}}),
        "{diagnostics:?}"
    );
    // The fix, sent with byte columns too (raw: the client's own copy of
    // the text counts UTF-16 units).
    server.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": rules, "version": 2},
            "contentChanges": [{
                "range": {"start": {"line": 2, "character": column}, "end": {"line": 2, "character": column + 3}},
                "text": "dept",
            }],
        }),
    );
    let fixed = server.wait_publish(&rules, 0, |p| p.version == Some(2));
    assert!(fixed.is_empty(), "{fixed:?}");
    assert_eq!(server.shutdown(), Some(0));
}
