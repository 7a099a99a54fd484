#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

//! `reaper fmt` round trips: on every example and UI-test policy, on inline
//! cases, and on generated policies with comments between random tokens,
//! formatting succeeds, is idempotent, keeps the tree (same fingerprint)
//! and keeps every comment.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use reaper_compiler::fmt::{format_source, tree_fingerprint};
use reaper_compiler::parse::parse;
use reaper_compiler::source::FileId;

/// Formats `text` and checks every round-trip property; returns the output.
fn check_round_trip(name: &str, text: &str) -> Result<String, String> {
    let before = parse(FileId(0), text);
    let out = format_source(FileId(0), text).map_err(|diagnostics| {
        let messages: Vec<_> = diagnostics.iter().map(|d| d.message.clone()).collect();
        format!("{name}: formatting refused: {messages:?}\n{text}")
    })?;
    let after = parse(FileId(0), &out);
    if after.diagnostics.iter().any(|d| d.is_error()) {
        return Err(format!("{name}: the output does not parse:\n{out}"));
    }
    if tree_fingerprint(&after.file) != tree_fingerprint(&before.file) {
        return Err(format!(
            "{name}: formatting changed the tree:\n{text}\n--- became ---\n{out}"
        ));
    }
    // The same sequence, so the same multiset and the same order.
    let texts = |comments: &[reaper_compiler::lex::Comment]| {
        comments.iter().map(|c| c.text.clone()).collect::<Vec<_>>()
    };
    if texts(&after.comments) != texts(&before.comments) {
        return Err(format!(
            "{name}: comments were lost, duplicated or reordered:\n{text}\n--- became ---\n{out}"
        ));
    }
    let twice = format_source(FileId(0), &out).map_err(|_| format!("{name}: output refused"))?;
    if twice != out {
        return Err(format!(
            "{name}: not idempotent:\n{out}\n--- became ---\n{twice}"
        ));
    }
    if !(out.is_empty() || out.ends_with('\n') && !out.ends_with("\n\n")) {
        return Err(format!(
            "{name}: output must end in exactly one newline:\n{out:?}"
        ));
    }
    if out.lines().any(|l| l.ends_with(' ')) {
        return Err(format!("{name}: trailing whitespace:\n{out}"));
    }
    Ok(out)
}

fn reaper_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            reaper_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "reaper") {
            found.push(path);
        }
    }
}

#[test]
fn fmt_policy_files_round_trip() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples", "tests/ui", "compiler/src/fmt/testdata"] {
        reaper_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut checked = 0;
    for path in &files {
        // Not UTF-8 (a UI test of the decoder): nothing to format.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if parse(FileId(0), &text)
            .diagnostics
            .iter()
            .any(|d| d.is_error())
        {
            continue; // a UI test of a syntax error: nothing to format
        }
        if let Err(e) = check_round_trip(&path.display().to_string(), &text) {
            panic!("{e}");
        }
        checked += 1;
    }
    eprintln!("{checked} of {} policy files round-tripped", files.len());
}

const INLINE: &[(&str, &str)] = &[
    ("empty", ""),
    ("blank", "\n\n  \n"),
    ("comments only", "// a\n\n\n// b\n"),
    (
        "comments everywhere",
        "// head\n@id(\"x\") // after annotation\n// before effect\npermit // after effect\n\
         read on // after on\n [A, // after A\n B] when a // c1\n && // c2\n b // c3\n ; // after\n",
    ),
    (
        "blocks with comments",
        "test \"t\" { // open\n\n\n  // first\n  expect permit read; // trail\n\n\n  // last\n\n}\n\
         ratelimit \"r\" {\n// only\n}\nhttp {}\n",
    ),
    (
        "negative and spelled literals",
        "permit when - 5 == -5 && x - - 3 > 1_000 && context.t < 1h30m && s == 16KiB;",
    ),
    (
        "long everything",
        "entity Document in Folder { owner: User, public: Bool, labels: Set<String>, \
         history: Set<{ at: Timestamp, by: User }> }\n\
         forbid * on [Document, Folder] when \"confidential\" in resource.labels && \
         !(context.source_ip in 10.0.0.0/8) && principal.clearance < 3 || resource.public \
         unless principal in Team::\"security\";\n",
    ),
    (
        // Found by the generator: dropping the empty `on []` put the
        // action's `context` at the start of a line, where it is the
        // package's.
        "comment before an empty clause and an action's context",
        " action list // c1 a && b; } {\non [ ] context { source_ip : Ip , mfa : Bool } ",
    ),
    (
        "comment after a clause, before an empty one",
        "action list on Doc // c\n by [] context { mfa: Bool }\naction other on [] context {}\n",
    ),
];

#[test]
fn fmt_inline_cases_round_trip() {
    for (name, text) in INLINE {
        if let Err(e) = check_round_trip(name, text) {
            panic!("{e}");
        }
    }
}

// ---------------------------------------------------------------- generator
//
// Expressions are generated as trees and printed with the fewest parentheses
// the grammar needs, so the text is valid; which tree the parser builds from
// it does not matter, only that formatting keeps it.

#[derive(Debug, Clone)]
enum G {
    Leaf(Vec<String>),
    /// A binary operator and its precedence level, which says how tightly
    /// each operand must bind (see `emit`).
    Bin(&'static str, u8, Box<G>, Box<G>),
    /// `base has x`, `base is T`, `base like "p"`: a relation on a `Sum`.
    RelSuffix(Box<G>, Vec<String>),
    Unary(&'static str, Box<G>),
    Attr(Box<G>, Vec<String>),
    Method(Box<G>, &'static str, Vec<G>),
    If(Box<G>, Box<G>, Box<G>),
    Call(&'static str, Vec<G>),
    Set(Vec<G>),
    Record(Vec<(&'static str, G)>),
}

const IF: u8 = 0;
const OR: u8 = 1;
const AND: u8 = 2;
const REL: u8 = 3;
const SUM: u8 = 4;
const PRODUCT: u8 = 5;
const UNARY: u8 = 6;
const POSTFIX: u8 = 7;
const PRIMARY: u8 = 8;

impl G {
    fn level(&self) -> u8 {
        match self {
            G::If(..) => IF,
            G::Bin(_, level, ..) => *level,
            G::RelSuffix(..) => REL,
            G::Unary(..) => UNARY,
            G::Attr(..) | G::Method(..) => POSTFIX,
            G::Leaf(_) | G::Call(..) | G::Set(_) | G::Record(_) => PRIMARY,
        }
    }

    fn emit(&self, min: u8, out: &mut Vec<String>) {
        let paren = self.level() < min;
        if paren {
            out.push("(".into());
        }
        match self {
            G::Leaf(tokens) => out.extend(tokens.iter().cloned()),
            G::Bin(op, level, lhs, rhs) => {
                let (l, r) = match *level {
                    OR => (OR, AND),
                    AND => (AND, REL),
                    REL => (SUM, SUM),
                    SUM => (SUM, PRODUCT),
                    _ => (PRODUCT, UNARY),
                };
                lhs.emit(l, out);
                out.push((*op).into());
                rhs.emit(r, out);
            }
            G::RelSuffix(base, suffix) => {
                base.emit(SUM, out);
                out.extend(suffix.iter().cloned());
            }
            G::Unary(op, operand) => {
                out.push((*op).into());
                operand.emit(UNARY, out);
            }
            G::Attr(base, access) => {
                base.emit(POSTFIX, out);
                out.extend(access.iter().cloned());
            }
            G::Method(recv, name, args) => {
                recv.emit(POSTFIX, out);
                out.extend([".".into(), (*name).into()]);
                emit_list("(", ")", args, out);
            }
            G::If(c, t, e) => {
                out.push("if".into());
                c.emit(IF, out);
                out.push("then".into());
                t.emit(IF, out);
                out.push("else".into());
                e.emit(IF, out);
            }
            G::Call(name, args) => {
                out.push((*name).into());
                emit_list("(", ")", args, out);
            }
            G::Set(items) => emit_list("[", "]", items, out),
            G::Record(fields) => {
                out.push("{".into());
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(",".into());
                    }
                    out.extend([(*name).into(), ":".into()]);
                    value.emit(IF, out);
                }
                out.push("}".into());
            }
        }
        if paren {
            out.push(")".into());
        }
    }
}

fn emit_list(open: &str, close: &str, items: &[G], out: &mut Vec<String>) {
    out.push(open.into());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(",".into());
        }
        item.emit(IF, out);
    }
    out.push(close.into());
}

/// Splits on spaces outside string literals.
fn tokens(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            ' ' if !quoted => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
                quoted ^= c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
            }
        }
    }
    out
}

fn leaf() -> impl Strategy<Value = G> {
    prop_oneof![
        Just("principal"),
        Just("resource"),
        Just("context"),
        Just("true"),
        Just("false"),
        Just("42"),
        Just("1_000"),
        Just("- 5"),
        Just("\"a\\\"b\""),
        Just("\"confidential\""),
        Just("30m"),
        Just("1h30m"),
        Just("16KiB"),
        Just("10.0.0.0/8"),
        Just("2026-01-01T00:00:00Z"),
        Just("User :: \"alice\""),
        Just("some_name"),
    ]
    .prop_map(|s| G::Leaf(tokens(s)))
}

fn expr() -> impl Strategy<Value = G> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let b = |e: G| Box::new(e);
        prop_oneof![
            (
                prop_oneof![
                    Just(("||", OR)),
                    Just(("&&", AND)),
                    Just(("==", REL)),
                    Just(("!=", REL)),
                    Just(("<", REL)),
                    Just(("in", REL)),
                    Just(("+", SUM)),
                    Just(("-", SUM)),
                    Just(("*", PRODUCT)),
                ],
                inner.clone(),
                inner.clone()
            )
                .prop_map(move |((op, level), l, r)| G::Bin(op, level, b(l), b(r))),
            (
                inner.clone(),
                prop_oneof![
                    Just("has labels"),
                    Just("has \"x y\""),
                    Just("is User"),
                    Just("like \"/search*\""),
                ]
            )
                .prop_map(move |(base, s)| G::RelSuffix(b(base), tokens(s))),
            (prop_oneof![Just("!"), Just("-")], inner.clone())
                .prop_map(move |(op, e)| G::Unary(op, b(e))),
            (
                inner.clone(),
                prop_oneof![Just(". owner"), Just("[ \"a b\" ]"), Just(". limit")]
            )
                .prop_map(move |(base, s)| G::Attr(b(base), tokens(s))),
            (inner.clone(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(move |(recv, args)| G::Method(b(recv), "contains", args)),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(move |(c, t, e)| G::If(
                b(c),
                b(t),
                b(e)
            )),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|args| G::Call("ip", args)),
            prop::collection::vec(inner.clone(), 0..4).prop_map(G::Set),
            prop::collection::vec(
                (prop_oneof![Just("a"), Just("\"b c\""), Just("when")], inner),
                0..3
            )
            .prop_map(G::Record),
        ]
    })
}

fn expr_tokens() -> impl Strategy<Value = Vec<String>> {
    expr().prop_map(|g| {
        let mut out = Vec::new();
        g.emit(IF, &mut out);
        out
    })
}

fn rule() -> impl Strategy<Value = Vec<String>> {
    let annotations =
        prop::collection::vec(prop_oneof![Just("@ id ( \"x\" )"), Just("@ advice")], 0..3);
    let effect = prop_oneof![Just("permit"), Just("forbid")];
    let actions = prop_oneof![
        Just(""),
        Just("*"),
        Just("read"),
        Just("[ read , edit ]"),
        Just("[ read ]"),
        Just("store . read"),
    ];
    let resource = prop_oneof![
        Just(""),
        Just("on Document"),
        Just("on [ Document ]"),
        Just("on [ Document , Folder ]"),
        Just("on store sessions"),
    ];
    let conditions = prop::collection::vec(
        (prop_oneof![Just("when"), Just("unless")], expr_tokens()),
        0..3,
    );
    (annotations, effect, actions, resource, conditions).prop_map(|(anns, e, a, r, conds)| {
        let mut out = Vec::new();
        for ann in anns {
            out.extend(tokens(ann));
        }
        out.push(e.into());
        for part in [a, r] {
            if !part.is_empty() {
                out.extend(tokens(part));
            }
        }
        for (kind, expr) in conds {
            out.push(kind.into());
            out.extend(expr);
        }
        out.push(";".into());
        out
    })
}

fn declaration() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just("entity Team"),
        Just("entity User in Team { department : String , email ? : String , }"),
        Just("entity Doc in [ Folder , Team ] { owner : User , tags : Set < { a : Int } > }"),
        Just("action read , edit on [ Document ] by User"),
        Just("action list on [ ]"),
        Just("context { source_ip : Ip , mfa : Bool }"),
        Just("store sessions { ttl 30m , max_keys 1_000_000 }"),
        Just("store empty { }"),
        Just("package p"),
    ]
    .prop_map(tokens)
}

fn limit() -> impl Strategy<Value = Vec<String>> {
    (
        prop_oneof![
            Just(""),
            Just(", burst 20"),
            Just(", shadow"),
            Just(", burst 2 , shadow")
        ],
        prop::collection::vec(
            (prop_oneof![Just("when"), Just("unless")], expr_tokens()),
            0..2,
        ),
        prop_oneof![
            Just(""),
            Just("by descriptor . user_id"),
            Just("by descriptor . a , 1")
        ],
    )
        .prop_map(|(options, conds, by)| {
            let mut out = tokens("limit l : 5 per minute");
            if !options.is_empty() {
                out.extend(tokens(options));
            }
            for (kind, expr) in conds {
                out.push(kind.into());
                out.extend(expr);
            }
            if !by.is_empty() {
                out.extend(tokens(by));
            }
            out.push(";".into());
            out
        })
}

fn block_item() -> impl Strategy<Value = Vec<String>> {
    let statement = prop_oneof![
        Just(tokens(
            "principal User :: \"a\" { x : 1 } in Team :: \"t\" ;"
        )),
        Just(tokens("resource Doc :: \"d\" in [ ] ;")),
        Just(tokens(
            "expect deny delete on Doc :: \"d\" because [ \"r\" , ] ;"
        )),
        Just(tokens(
            "expect ratelimit \"edge\" { path : \"/\" } matches [ l ] allows 5 ;"
        )),
        expr_tokens().prop_map(|e| {
            let mut out = tokens("context {");
            out.extend(tokens("a :"));
            out.extend(e);
            out.extend(tokens("} ;"));
            out
        }),
    ];
    prop_oneof![
        prop::collection::vec(statement, 0..4).prop_map(|stmts| {
            let mut out = tokens("test \"t\" {");
            out.extend(stmts.into_iter().flatten());
            out.push("}".into());
            out
        }),
        prop::collection::vec(limit(), 0..3).prop_map(|limits| {
            let mut out = tokens("ratelimit \"edge\" {");
            out.extend(limits.into_iter().flatten());
            out.push("}".into());
            out
        }),
        expr_tokens().prop_map(|e| {
            let mut out = tokens("http { principal = User :: ( header ( \"x\" ) ) ; context =");
            out.extend(e);
            out.extend(tokens("; GET \"/d/{id}\" => store . read Doc :: \"x\" ; }"));
            out
        }),
    ]
}

fn policy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![3 => rule(), 1 => declaration(), 1 => block_item()],
        1..5,
    )
    .prop_map(|items| {
        // `package` is only valid first.
        let mut items: Vec<_> = items.into_iter().filter(|i| i[0] != "package").collect();
        if items.is_empty() {
            items.push(tokens("entity Team"));
        }
        items.into_iter().flatten().collect()
    })
}

/// What goes between two tokens.
#[derive(Debug, Clone, Copy)]
enum Sep {
    Space,
    Newline,
    BlankLines,
    Trailing,
    Standalone,
    StandaloneAfterBlank,
}

fn sep() -> impl Strategy<Value = Sep> {
    prop_oneof![
        12 => Just(Sep::Space),
        2 => Just(Sep::Newline),
        1 => Just(Sep::BlankLines),
        1 => Just(Sep::Trailing),
        1 => Just(Sep::Standalone),
        1 => Just(Sep::StandaloneAfterBlank),
    ]
}

fn source() -> impl Strategy<Value = String> {
    policy()
        .prop_flat_map(|tokens| {
            let n = tokens.len() + 1;
            (Just(tokens), prop::collection::vec(sep(), n))
        })
        .prop_map(|(tokens, seps)| {
            let mut text = String::new();
            let mut comments = 0;
            let mut comment = || {
                comments += 1;
                // Comment text that looks like code must stay a comment.
                format!("// c{comments} a && b; }} {{")
            };
            for (i, sep) in seps.iter().enumerate() {
                match sep {
                    Sep::Space => text.push(' '),
                    Sep::Newline => text.push('\n'),
                    Sep::BlankLines => text.push_str("\n\n\n"),
                    Sep::Trailing => text.push_str(&format!(" {}\n", comment())),
                    Sep::Standalone => text.push_str(&format!("\n  {}\n", comment())),
                    Sep::StandaloneAfterBlank => {
                        text.push_str(&format!("\n\n{}\n\n", comment()));
                    }
                }
                if let Some(token) = tokens.get(i) {
                    text.push_str(token);
                }
            }
            text
        })
}

proptest! {
    // No failure persistence: a failure prints its minimal input, which
    // belongs in `INLINE` as a regression case.
    #![proptest_config(ProptestConfig {
        // `PROPTEST_CASES=100000` for a longer search.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fmt_generated_policies_round_trip(text in source()) {
        if std::env::var_os("SHOW_GENERATED").is_some() { eprintln!("=====\n{text}"); }
        if let Err(e) = check_round_trip("generated", &text) {
            prop_assert!(false, "{}", e);
        }
    }
}
