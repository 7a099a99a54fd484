//! Layout decisions, one behaviour per test, and snapshots of whole files
//! (`testdata/*.reaper`, shown with their formatted output).

use super::*;
use crate::lex::Comment;

/// Formats `text`, checking the invariants every output must meet.
fn fmt(text: &str) -> String {
    let parsed = parse(FileId(0), text);
    let errors: Vec<_> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let (out, mismatches) = format_parsed(FileId(0), text, &parsed.file, &parsed.comments);
    assert_eq!(mismatches, 0, "the printer lost its place in:\n{text}");
    let again = parse(FileId(0), &out);
    assert!(!again.diagnostics.iter().any(Diagnostic::is_error), "{out}");
    assert_eq!(
        tree_fingerprint(&again.file),
        tree_fingerprint(&parsed.file),
        "{out}"
    );
    let texts = |comments: &[Comment]| comments.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&again.comments), texts(&parsed.comments), "{out}");
    assert_eq!(
        format_source(FileId(0), &out).as_deref(),
        Ok(out.as_str()),
        "not idempotent"
    );
    out
}

/// Asserts the formatted text; `expected` starts with a newline for layout.
#[track_caller]
fn check(input: &str, expected: &str) {
    let expected = expected.strip_prefix('\n').unwrap_or(expected);
    let out = fmt(input);
    assert_eq!(
        out, expected,
        "\n--- got ---\n{out}--- want ---\n{expected}"
    );
}

#[test]
fn short_rule_is_one_line() {
    check(
        "permit  read\non Document\n  when resource.public ;",
        "permit read on Document when resource.public;\n",
    );
}

#[test]
fn long_rule_puts_each_clause_on_its_own_line() {
    check(
        r#"forbid * on Document when "confidential" in resource.labels unless context.source_ip in 10.0.0.0/8 || context.mfa;"#,
        r#"
forbid * on Document
  when "confidential" in resource.labels
  unless context.source_ip in 10.0.0.0/8 || context.mfa;
"#,
    );
}

#[test]
fn long_condition_breaks_before_top_level_operators() {
    check(
        r#"permit when principal.department == "eng" && resource.labels.contains("internal") && !context.locked || principal in Team::"admins";"#,
        r#"
permit
  when principal.department == "eng" && resource.labels.contains("internal") && !context.locked
    || principal in Team::"admins";
"#,
    );
    // A nested chain that does not fit either breaks one level deeper.
    check(
        r#"permit when principal.department == "engineering" && resource.labels.contains("internal") && !context.locked || principal in Team::"admins";"#,
        r#"
permit
  when principal.department == "engineering"
      && resource.labels.contains("internal")
      && !context.locked
    || principal in Team::"admins";
"#,
    );
    check(
        r#"permit when principal.department == "engineering" && resource.labels.contains("internal-only-label") && !context.locked;"#,
        r#"
permit
  when principal.department == "engineering"
    && resource.labels.contains("internal-only-label")
    && !context.locked;
"#,
    );
}

#[test]
fn a_line_is_exactly_100_columns_at_most() {
    // 100 columns exactly stays on one line; 101 breaks.
    let fits = format!("permit when resource.{} == 1;", "a".repeat(73));
    assert_eq!(fits.len(), 100);
    assert_eq!(fmt(&fits), format!("{fits}\n"));
    let long = format!("permit when resource.{} == 1;", "a".repeat(74));
    assert_eq!(
        fmt(&long),
        format!("permit\n  when resource.{} == 1;\n", "a".repeat(74))
    );
}

#[test]
fn nothing_to_break_may_exceed_the_width() {
    let string = format!("\"{}\"", "x".repeat(120));
    check(
        &format!("permit when {string} == {string};"),
        &format!("\npermit\n  when {string} == {string};\n"),
    );
}

#[test]
fn parentheses_are_kept_exactly() {
    check(
        "permit when ((a)) && (b || c) && !(d);",
        "permit when ((a)) && (b || c) && !(d);\n",
    );
}

#[test]
fn declarations_are_one_line_or_one_field_per_line() {
    check(
        "entity User in Team{department:String,email?:String}\nentity E {}\nentity Team in [ ]",
        "entity User in [Team] { department: String, email?: String }\nentity E {}\nentity Team\n",
    );
    check(
        "context { source_ip: Ip, mfa: Bool, now: Timestamp, region: String, tags: Set<String>, nested: { a: Int } }",
        "
context {
  source_ip: Ip,
  mfa: Bool,
  now: Timestamp,
  region: String,
  tags: Set<String>,
  nested: { a: Int },
}
",
    );
}

#[test]
fn type_lists_are_bare_for_one_and_bracketed_for_several() {
    check(
        "action read on [Document] by [User]\naction a, b, on [X, Y] by Z\naction c on []\n\
         permit [read] on [Document];\npermit * on [Document, Folder];\npermit on [];",
        "action read on Document by User\naction a, b on [X, Y] by Z\naction c\n\
         permit [read] on Document;\npermit * on [Document, Folder];\npermit on [];\n",
    );
}

#[test]
fn literals_keep_their_spelling_except_folded_negations() {
    check(
        r#"permit when - 5 < -5 && x - - 3 > 1_000 && t < 1h30m && s <= 16KiB && "a\"b\u{e9}" like "a\*b*" && ip == 10.0.0.0/8 && now > 2026-01-01T00:00:00Z;"#,
        r#"
permit
  when -5 < -5
    && x - -3 > 1_000
    && t < 1h30m
    && s <= 16KiB
    && "a\"b\u{e9}" like "a\*b*"
    && ip == 10.0.0.0/8
    && now > 2026-01-01T00:00:00Z;
"#,
    );
}

#[test]
fn records_sets_and_calls() {
    check(
        r#"http { context = {a:1,"b c":[ ],d:{ },e:f(x,y),g:x.contains( y ),h:r["k k"],i:U::(p("id"))}; }"#,
        r#"
http {
  context = { a: 1, "b c": [], d: {}, e: f(x, y), g: x.contains(y), h: r["k k"], i: U::(p("id")) };
}
"#,
    );
}

#[test]
fn a_record_breaks_before_the_short_lists_after_it() {
    check(
        r#"test "t" { expect ratelimit "api" { user_id: "bo", plan: "free", method: "POST", org_id: "acme" } matches [per_user, writes] allows 20;
resource Document::"vacation" { owner: User::"hr", public: false, labels: [], editors: [] } in [Folder::"hr"]; }"#,
        r#"
test "t" {
  expect ratelimit "api" {
    user_id: "bo",
    plan: "free",
    method: "POST",
    org_id: "acme",
  } matches [per_user, writes] allows 20;
  resource Document::"vacation" {
    owner: User::"hr",
    public: false,
    labels: [],
    editors: [],
  } in [Folder::"hr"];
}
"#,
    );
    // Elsewhere the last list breaks first: the parents stay on the line.
    check(
        "entity Document in [Folder, Archive] { owner: User, public: Bool, labels: Set<String>, editors: Set<User> }",
        "
entity Document in [Folder, Archive] {
  owner: User,
  public: Bool,
  labels: Set<String>,
  editors: Set<User>,
}
",
    );
}

#[test]
fn blank_lines_collapse_and_never_open_or_close() {
    check(
        "\n\n\nentity A\n\n\n\nentity B\nentity C\n\n\n",
        "entity A\n\nentity B\nentity C\n",
    );
    check(
        "test \"t\" {\n\n  expect permit a;\n\n\n  expect permit b;\n  expect permit c;\n\n}",
        "test \"t\" {\n  expect permit a;\n\n  expect permit b;\n  expect permit c;\n}\n",
    );
}

#[test]
fn annotations_go_on_their_own_lines() {
    check(
        "@id(\"a\")   @advice permit read;",
        "@id(\"a\")\n@advice\npermit read;\n",
    );
}

#[test]
fn comments_before_items_keep_their_blank_lines() {
    check(
        "// one\n\n\n// two\nentity A\n\n// three\n\nentity B",
        "// one\n\n// two\nentity A\n\n// three\n\nentity B\n",
    );
}

#[test]
fn trailing_comments_stay_on_their_line() {
    check(
        "entity A // a\naction read   // b\npermit read; // c",
        "entity A // a\naction read // b\npermit read; // c\n",
    );
}

#[test]
fn a_trailing_comment_breaks_its_line() {
    check(
        "permit read // why\n on Document when x;",
        "permit read // why\non Document\n  when x;\n",
    );
}

#[test]
fn comments_between_condition_operands() {
    check(
        "permit when a // after a\n && b && // after and\n c\n // before or\n || d;",
        "
permit
  when a // after a
      && b
      && // after and
      c
    // before or
    || d;
",
    );
}

#[test]
fn comments_before_separators_move_after_them() {
    check(
        "entity A { a: Int // a\n , b: Int }\npermit read when x // x\n;",
        "entity A {\n  a: Int, // a\n  b: Int,\n}\npermit read when x; // x\n",
    );
}

#[test]
fn comments_inside_test_blocks() {
    check(
        "test \"t\" { // open\n// first\nprincipal User::\"a\"; // p\n\n\n// before expect\nexpect permit read;\n// last\n\n}",
        "
test \"t\" { // open
  // first
  principal User::\"a\"; // p

  // before expect
  expect permit read;
  // last
}
",
    );
}

#[test]
fn comments_in_empty_blocks_and_lists() {
    check(
        "ratelimit \"r\" {\n// none\n}\nhttp { // soon\n}\npermit when [ // empty\n];",
        "ratelimit \"r\" {\n  // none\n}\nhttp { // soon\n}\npermit\n  when [ // empty\n  ];\n",
    );
}

#[test]
fn comments_at_the_end_of_the_file() {
    check(
        "entity A\n// end\n\n\n// really\n\n",
        "entity A\n// end\n\n// really\n",
    );
    check("entity A // end", "entity A // end\n");
}

#[test]
fn files_with_only_comments_or_nothing() {
    check("\n\n// a\n\n\n// b\n\n", "// a\n\n// b\n");
    check("", "");
    check(" \n\n \t\n", "");
}

#[test]
fn crlf_and_tabs_become_canonical() {
    check(
        "package p\r\n\r\n\r\nentity A\t// a\r\n// b\r\nentity B\r\n",
        "package p\n\nentity A // a\n// b\nentity B\n",
    );
}

#[test]
fn comments_that_look_like_code_stay_comments() {
    check(
        "entity A // } permit read;\nentity B",
        "entity A // } permit read;\nentity B\n",
    );
}

#[test]
fn syntax_errors_are_not_formatted() {
    let refused = |text: &str| match format_source(FileId(0), text) {
        Ok(_) => false,
        Err(diagnostics) => diagnostics.iter().any(Diagnostic::is_error),
    };
    assert!(refused("permit read when;"));
    assert!(refused("entity A {"));
    assert!(refused("permit when \"\\q\";"));
}

#[test]
fn fingerprints_ignore_layout_but_not_meaning() {
    let fp = |text: &str| tree_fingerprint(&parse(FileId(0), text).file);
    assert_eq!(
        fp("permit read when a&&b;"),
        fp("permit\n  read // c\n  when a && b ;")
    );
    assert_eq!(fp("permit when x == -5;"), fp("permit when x == - 5;"));
    assert_ne!(fp("permit when (a);"), fp("permit when a;"));
    assert_ne!(fp("permit [read];"), fp("permit read;"));
    assert_ne!(fp("permit when r.a;"), fp("permit when r[\"a\"];"));
    assert_ne!(fp("entity A {}"), fp("entity A"));
}

#[test]
fn snapshots() {
    insta::glob!("testdata/*.reaper", |path| {
        let input = std::fs::read_to_string(path).unwrap_or_default();
        let output = fmt(&input);
        insta::assert_snapshot!(format!(
            "{input}\n---------------- formatted ----------------\n{output}"
        ));
    });
}

#[test]
fn deep_trees_do_not_overflow_the_stack() {
    let depth = crate::ast::MAX_EXPR_DEPTH as usize - 6;
    let parens = format!("permit when {}x{};", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(
        fmt(&parens),
        format!(
            "permit\n  when {}x{};\n",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    );
    let nots = format!("permit when {}x;", "!".repeat(depth));
    fmt(&nots);
    let chain = format!("permit when {} x;", "x &&".repeat(depth));
    assert_eq!(fmt(&chain).lines().count(), depth + 2);
}
