//! End-to-end tests of the `reaper` command line: exit codes, output
//! formats, directory arguments and hostile inputs, run on the real binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::Path;

use common::{code, run, scratch, stderr, stdout, write};

const CLEAN: &str = r#"entity User { department: String, email?: String }
entity Document { owner: User }
action read on Document by User

@id("owner-reads")
permit read on Document when principal == resource.owner;
@id("corp-email")
permit read on Document when principal has email && principal.email like "*@corp.example";
"#;

/// Three independent mistakes in three places.
const THREE_MISTAKES: &str = r#"entity User { department: String }
entity Document { owner: Usr }
action read on Document by User

permit read on Document when principal.departmnt == "eng";
permit raed on Document;
"#;

#[test]
fn clean_policy_exits_zero() {
    let dir = scratch("clean");
    write(&dir, "policy.reaper", CLEAN);
    let out = run(&dir, &["check", "policy.reaper"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(stdout(&out), "ok: checked 1 package (1 file)\n");
}

#[test]
fn three_mistakes_give_three_diagnostics_in_one_run() {
    let dir = scratch("three");
    write(&dir, "policy.reaper", THREE_MISTAKES);
    let out = run(&dir, &["check", "--format", "json", "policy.reaper"]);
    assert_eq!(code(&out), 1);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let diagnostics = json.as_array().expect("an array");
    let found: Vec<(String, u64, u64)> = diagnostics
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
                d["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("E0109".to_owned(), 2, 26),
            ("E0101".to_owned(), 5, 40),
            ("E0102".to_owned(), 6, 8),
        ]
    );
    for d in diagnostics {
        for key in [
            "file",
            "end_line",
            "end_column",
            "severity",
            "message",
            "help",
            "labels",
        ] {
            assert!(d.get(key).is_some(), "missing `{key}` in {d}");
        }
        assert_eq!(d["file"], "policy.reaper");
        assert!(d["end_column"].as_u64() > d["column"].as_u64());
        assert!(
            d["help"]
                .as_str()
                .is_some_and(|h| h.contains("did you mean")),
            "{d}"
        );
    }
}

#[test]
fn short_format_is_one_line_per_diagnostic() {
    let dir = scratch("short");
    write(&dir, "policy.reaper", THREE_MISTAKES);
    let out = run(&dir, &["check", "--format", "short", "policy.reaper"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        "policy.reaper:2:26: error[E0109]: unknown type `Usr`\n\
         policy.reaper:5:40: error[E0101]: `User` has no attribute `departmnt`\n\
         policy.reaper:6:8: error[E0102]: unknown action `raed`\n"
    );
}

#[test]
fn human_format_shows_source_and_help() {
    let dir = scratch("human");
    write(&dir, "policy.reaper", THREE_MISTAKES);
    let out = run(&dir, &["check", "policy.reaper"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("E0101(unknown-attribute)"), "{text}");
    assert!(
        text.contains("permit read on Document when principal.departmnt"),
        "{text}"
    );
    assert!(text.contains("help: did you mean `department`?"), "{text}");
    assert!(
        text.ends_with("failed: 3 errors in 1 package (1 file)\n"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colors when NO_COLOR is set");
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let dir = scratch("warnings");
    write(&dir, "policy.reaper", format!("{CLEAN}entity Unused\n"));
    let out = run(&dir, &["check", "policy.reaper"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("W0101"));
    let out = run(&dir, &["check", "--deny-warnings", "policy.reaper"]);
    assert_eq!(code(&out), 1);
}

#[test]
fn a_directory_is_checked_package_by_package() {
    let dir = scratch("packages");
    std::fs::create_dir_all(dir.join("a/nested")).ok();
    std::fs::create_dir_all(dir.join("b")).ok();
    write(
        &dir.join("a"),
        "schema.reaper",
        "entity User\nentity Document\naction read on Document by User\n",
    );
    write(
        &dir.join("a"),
        "rules.reaper",
        "permit read on Document when principal == User::\"x\";\n",
    );
    // The same names in another directory are another package: no conflict.
    write(
        &dir.join("a/nested"),
        "p.reaper",
        "entity User\naction read on User\npermit read;\n",
    );
    write(&dir.join("b"), "p.reaper", "permit read;\n");
    write(&dir, "notes.txt", "not a policy");
    let out = run(&dir, &["check", "--format", "short", "."]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        "./b/p.reaper:1:8: error[E0102]: unknown action `read`\n"
    );
}

#[test]
fn usage_and_io_problems_exit_two() {
    let dir = scratch("io");
    let out = run(&dir, &["check", "missing.reaper"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        "error: missing.reaper: no such file or directory\n"
    );

    let out = run(&dir, &["check", "."]);
    assert_eq!(code(&out), 2, "an empty directory has nothing to check");
    assert!(stderr(&out).contains("no `*.reaper` files found"));

    let out = run(&dir, &["check", "--format", "xml", "."]);
    assert_eq!(code(&out), 2, "clap reports usage errors with 2");
}

#[test]
fn hostile_inputs_get_diagnostics_not_crashes() {
    let dir = scratch("hostile");
    std::fs::write(
        dir.join("binary.reaper"),
        b"entity User\n\xff\xfe\x00garbage",
    )
    .ok();
    let out = run(&dir, &["check", "--format", "short", "binary.reaper"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).starts_with("binary.reaper:2:1: error[E0001]"),
        "{}",
        stdout(&out)
    );

    write(&dir, "empty.reaper", "");
    let out = run(&dir, &["check", "--format", "short", "empty.reaper"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("warning[W0001]"));

    let deep = format!(
        "entity User\naction a on User\npermit a when {}true{};\n",
        "(".repeat(50_000),
        ")".repeat(50_000)
    );
    write(&dir, "deep.reaper", &deep);
    let out = run(&dir, &["check", "--format", "short", "deep.reaper"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("error[E0012]"), "{}", stdout(&out));

    let not = format!(
        "entity User\naction a on User\npermit a when {}true;\n",
        "!".repeat(100_000)
    );
    write(&dir, "not.reaper", &not);
    let out = run(&dir, &["check", "--format", "short", "not.reaper"]);
    assert!(stdout(&out).contains("error[E0012]"), "{}", stdout(&out));

    let chain = format!(
        "entity User\naction a on User\npermit a when 1{} == 2;\n",
        " + 1".repeat(100_000)
    );
    write(&dir, "chain.reaper", &chain);
    let out = run(&dir, &["check", "--format", "short", "chain.reaper"]);
    assert!(stdout(&out).contains("error[E0012]"), "{}", stdout(&out));

    // Over the size limit: refused with a diagnostic, never read as policy.
    let big = vec![b' '; (64 << 20) + 1];
    std::fs::write(dir.join("big.reaper"), big).ok();
    let out = run(&dir, &["check", "--format", "short", "big.reaper"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("error[E0002]"), "{}", stdout(&out));
}

/// Every command that prints diagnostics for people, on one policy file in
/// `dir`: (command line, where the report goes).
fn human_reports<'a>(dir: &Path, file: &'a str) -> Vec<(Vec<&'a str>, &'static str)> {
    write(
        dir,
        "request.json",
        r#"{"principal": {"type": "User", "id": "u1"}, "action": "read", "resource": {"type": "Document", "id": "d"}}"#,
    );
    vec![
        (vec!["check", file], "stdout"),
        (vec!["compile", "--emit", "asm", file], "stderr"),
        (vec!["test", file], "stderr"),
        (vec!["eval", file, "--request", "request.json"], "stderr"),
    ]
}

/// A one-line allow-list of 5,000 users with a typo near the end, and 100,000
/// nested parentheses on one line: their diagnostics start past column
/// 65,535, where miette's report panicked (exit 101) in every command.
#[test]
fn long_line_diagnostics_do_not_panic() {
    let dir = scratch("long-lines");
    let users: Vec<String> = (0..4999).map(|i| format!("User::\"u{i}\"")).collect();
    let allow = format!(
        "entity User\nentity Document\naction read on Document by User\n\
         permit read on Document when principal in [{}, Usr::\"u4999\"];\n",
        users.join(", ")
    );
    write(&dir, "allow.reaper", &allow);
    let column = allow
        .lines()
        .nth(3)
        .and_then(|l| l.find("Usr"))
        .unwrap_or(0)
        + 1;
    let parens = format!(
        "entity User\nentity Document\naction read on Document by User\n\
         permit read on Document when {}true{};\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    write(&dir, "parens.reaper", &parens);
    let cases = [
        (
            "allow.reaper",
            format!("[allow.reaper:4:{column}]"),
            "E0100",
        ),
        // The 257th parenthesis from the left.
        ("parens.reaper", "[parens.reaper:4:286]".to_owned(), "E0012"),
    ];
    for (file, place, code_id) in &cases {
        for (args, stream) in human_reports(&dir, file) {
            let out = run(&dir, &args);
            let report = if stream == "stdout" {
                stdout(&out)
            } else {
                stderr(&out)
            };
            assert_eq!(code(&out), 1, "reaper {args:?}: {}", stderr(&out));
            assert!(report.contains(code_id), "reaper {args:?}: {report}");
            assert!(report.contains(place.as_str()), "reaper {args:?}: {report}");
            assert!(report.contains('…'), "the line is cut: {report}");
            assert!(
                report.len() < 2_000,
                "reaper {args:?} printed {} bytes",
                report.len()
            );
        }
        for format in ["short", "json"] {
            let out = run(&dir, &["check", "--format", format, file]);
            assert_eq!(code(&out), 1, "--format {format}: {}", stderr(&out));
            assert!(stdout(&out).contains(code_id), "{}", stdout(&out));
        }
    }
}

/// E0012 used to point at the 257th level counted from the inside (the
/// parser builds trees bottom-up), near the end of a generated line; a
/// reader counts from the left.
#[test]
fn nesting_too_deep_is_reported_where_a_reader_counts_257() {
    let dir = scratch("nesting-from-the-left");
    let head = "entity User\naction a on User\npermit a when ";
    let cases = [
        (
            format!(
                "{head}{}true{};\n",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
            14 + 257,
        ),
        (format!("{head}{}true;\n", "!".repeat(100_000)), 14 + 257),
        (
            format!(
                "{head}{}true{};\n",
                "![-(".repeat(25_000),
                ")]".repeat(25_000)
            ),
            14 + 257,
        ),
        // No brackets: the 256th `+`, where the chain passes 256 levels.
        (
            format!("{head}1{} == 2;\n", " + 1".repeat(100_000)),
            14 + 1 + 255 * 4 + 2,
        ),
    ];
    for (i, (text, column)) in cases.iter().enumerate() {
        let name = format!("case{i}.reaper");
        write(&dir, &name, text);
        let out = run(&dir, &["check", "--format", "short", &name]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert_eq!(
            stdout(&out).lines().next().unwrap_or_default(),
            format!(
                "{name}:3:{column}: error[E0012]: expression is nested more than 256 levels deep"
            ),
        );
        assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    }
}

/// Whether `text` holds a character a terminal would obey (line feeds and
/// tabs aside).
fn has_raw_controls(text: &str) -> bool {
    text.chars()
        .any(|c| reaper_lang::printable::is_unsafe(c) && c != '\n' && c != '\t')
}

/// ESC sequences, a bell, a carriage return, a C1 control and a
/// right-to-left override in a comment, string literals, a rule id and the
/// file name: human and short output show them escaped, JSON as JSON
/// escapes, and nothing reaches the terminal raw.
#[test]
fn control_characters_are_escaped_in_diagnostics() {
    let dir = scratch("control-characters");
    let file = "evil\u{1b}[31m\u{202e}.reaper";
    write(
        &dir,
        file,
        "// \u{1b}]0;pwned\u{7} \u{202e}comment\u{9b}2J\n\
         entity User { department: String }\n\
         action read on User by User\n\
         @id(\"r\u{1b}[2J\")\n\
         permit read when principal.department == \"\u{1b}[31m\r\" && principal.departmnt == \"x\";\n\
         @id(\"r\u{1b}[2J\")\n\
         permit read;\n",
    );
    let human = run(&dir, &["check", file]);
    assert_eq!(code(&human), 1);
    let text = stdout(&human);
    assert!(!has_raw_controls(&text), "{text:?}");
    assert!(
        text.contains(r#"rule id `r\u{1b}[2J` is used twice"#),
        "{text}"
    );
    assert!(
        text.contains(r"[evil\u{1b}[31m\u{202e}.reaper:5:"),
        "{text}"
    );
    assert!(
        text.contains(r#"== "\u{1b}[31m\u{d}" && principal.departmnt"#),
        "{text}"
    );

    let short = run(&dir, &["check", "--format", "short", file]);
    let text = stdout(&short);
    assert!(!has_raw_controls(&text), "{text:?}");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(
            r"evil\u{1b}[31m\u{202e}.reaper:6:5: error[E0104]: rule id `r\u{1b}[2J` is used twice"
        ),
        "{text}"
    );

    let json = run(&dir, &["check", "--format", "json", file]);
    let text = stdout(&json);
    assert!(!text.contains('\u{1b}'), "serde_json escapes ESC: {text}");
    assert!(text.contains(r"r\u001b[2J"), "{text}");
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed[1]["message"], "rule id `r\u{1b}[2J` is used twice");

    // A policy that compiles: its listing quotes the literal and the clause.
    write(
        &dir,
        "clean.reaper",
        "entity User { department: String }\n\
         action read on User by User\n\
         @id(\"r\u{1b}[2J\")\n\
         permit read when principal.department like \"\u{1b}[31m*\u{202e}\";\n",
    );
    let asm = run(&dir, &["compile", "--emit", "asm", "clean.reaper"]);
    assert_eq!(code(&asm), 0, "{}", stderr(&asm));
    let text = stdout(&asm);
    assert!(!has_raw_controls(&text), "{text:?}");
    assert!(text.contains(r#"rule "r\u{1b}[2J""#), "{text}");
    assert!(text.contains(r#"like "\u{1b}[31m*\u{202e}""#), "{text}");
}

#[test]
fn examples_check_clean() {
    let root = common::workspace();
    let out = run(&root, &["check", "--deny-warnings", "examples"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

/// Issue 7, item 15: `reaper fmt --check --diff` shows what formatting
/// would change, as a unified diff, and changes nothing.
#[test]
fn fmt_check_diff_prints_a_unified_diff() {
    let dir = scratch("fmt-diff");
    let source = "entity   User\naction read on User by User\npermit   read;\n";
    write(&dir, "policy.reaper", source);
    let out = run(&dir, &["fmt", "--check", "--diff", "policy.reaper"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "--- policy.reaper\n+++ policy.reaper (formatted)\n@@ -1,3 +1,3 @@\n-entity   User\n+entity User\n action read on User by User\n-permit   read;\n+permit read;\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("policy.reaper")).unwrap(),
        source
    );
    let out = run(&dir, &["fmt", "--diff", "policy.reaper"]);
    assert_eq!(code(&out), 2, "--diff needs --check");
}
