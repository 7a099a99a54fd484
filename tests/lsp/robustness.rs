//! Random sessions on an example package: every file open, then random
//! edits (snippets of policy, half-typed fragments and junk inserted,
//! ranges deleted, whole texts replaced) interleaved with requests at
//! random positions. After an edit its version's diagnostics are awaited,
//! or the next edit follows at once (a burst of typing, which the server
//! coalesces); every request must answer (no error, no crash); publishes for a
//! document never go back to an older version. At the end the server must
//! still answer, and the diagnostics it shows must be those of
//! `reaper check --format json` on the final texts written to disk: no
//! stale diagnostics left behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

use crate::client::Server;
use crate::common::{scratch, workspace};
use crate::identity::assert_matches_check;
use crate::text::{file_name, position, uri};

const EXAMPLES: [&str; 3] = ["api-gateway", "document-sharing", "session-store"];

/// What edits insert: declarations and rules of the examples' shapes,
/// half-typed pieces, punctuation, and characters that count differently
/// in UTF-8, UTF-16 and characters.
const FRAGMENTS: &[&str] = &[
    "entity Extra { note?: String }\n",
    "permit read on Document when principal.",
    "permit view on Project when resource.owner == principal;\n",
    "forbid * on Document unless context.mfa;\n",
    "@id(\"extra\")\npermit read on Document when resource has team && principal in resource.team;\n",
    "ratelimit \"api\" { limit extra: 10 per minute by descriptor.user_id; }\n",
    "test \"extra\" { expect ratelimit \"api\" { user_id: \"u\" } matches [extra]; }\n",
    "store extra by [User] { ttl 1h }\n",
    " && ",
    " || principal.email == \"x\"",
    "principal has ",
    "resource.",
    "when ",
    ";",
    "{",
    "}",
    "(",
    "\"",
    "@id(",
    "// comment é\n",
    "é€😀𝄞",
    "\n",
    "\r\n",
    "\t",
    "    ",
    "package other\n",
];

#[derive(Debug, Clone)]
enum Step {
    /// Insert a fragment at a fraction (per mille) of the text; then wait
    /// for its diagnostics, or go on typing at once.
    Insert {
        file: usize,
        at: u16,
        fragment: usize,
        wait: bool,
    },
    /// Delete up to `len` characters from a fraction of the text.
    Delete {
        file: usize,
        at: u16,
        len: u8,
        wait: bool,
    },
    /// Replace the whole text with fragments.
    Replace { file: usize, fragments: Vec<usize> },
    /// A request at a line and a column (maybe past the end of either).
    Request {
        file: usize,
        kind: usize,
        line: u32,
        column: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..8usize, 0..=1000u16, 0..FRAGMENTS.len(), any::<bool>())
            .prop_map(|(file, at, fragment, wait)| Step::Insert { file, at, fragment, wait }),
        2 => (0..8usize, 0..=1000u16, 1..120u8, any::<bool>())
            .prop_map(|(file, at, len, wait)| Step::Delete { file, at, len, wait }),
        1 => (0..8usize, proptest::collection::vec(0..FRAGMENTS.len(), 0..6))
            .prop_map(|(file, fragments)| Step::Replace { file, fragments }),
        3 => (0..8usize, 0..REQUESTS.len(), coordinate(120), coordinate(100))
            .prop_map(|(file, kind, line, column)| Step::Request { file, kind, line, column }),
    ]
}

/// A line or column number: mostly within `usual`, sometimes the largest
/// the protocol allows.
fn coordinate(usual: u32) -> impl Strategy<Value = u32> {
    prop_oneof![9 => 0..usual, 1 => Just(u32::MAX)]
}

/// Requests made at random places; each must answer without an error.
const REQUESTS: [&str; 10] = [
    "textDocument/hover",
    "textDocument/completion",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/documentSymbol",
    "textDocument/foldingRange",
    "textDocument/semanticTokens/full",
    "textDocument/codeAction",
    "textDocument/codeLens",
    "textDocument/formatting",
];

/// The byte offset at `per_mille` of `text`, moved back to a character
/// boundary and off the `\n` of a `\r\n` (an edit there would split it).
fn offset_at(text: &str, per_mille: u16) -> usize {
    let mut at = text.len() * usize::from(per_mille) / 1000;
    while !text.is_char_boundary(at)
        || (at > 0 && text[..at].ends_with('\r') && text[at..].starts_with('\n'))
    {
        at -= 1;
    }
    at
}

fn request(server: &mut Server, uri: &str, kind: &str, line: u32, column: u32) {
    let document = json!({"uri": uri});
    let position = json!({"line": line, "character": column});
    let params = match kind {
        "textDocument/documentSymbol"
        | "textDocument/foldingRange"
        | "textDocument/semanticTokens/full"
        | "textDocument/codeLens" => json!({"textDocument": document}),
        "textDocument/formatting" => {
            json!({"textDocument": document, "options": {"tabSize": 2, "insertSpaces": true}})
        }
        "textDocument/codeAction" => json!({
            "textDocument": document,
            "range": {"start": {"line": 0, "character": 0}, "end": position},
            "context": {"diagnostics": []},
        }),
        "textDocument/references" => json!({
            "textDocument": document,
            "position": position,
            "context": {"includeDeclaration": true},
        }),
        _ => json!({"textDocument": document, "position": position}),
    };
    if let Err(e) = server.try_request(kind, params) {
        panic!(
            "{kind} at {line}:{column} of {uri} failed: {} {}",
            e.code, e.message
        );
    }
}

/// Publishes for a document carry versions that never go down.
fn assert_versions_monotonic(server: &Server, uri: &str) {
    let versions: Vec<i64> = server
        .publishes(uri)
        .iter()
        .filter_map(|p| p.version)
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "{uri}: versions published out of order: {versions:?}"
    );
}

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

fn session(example: &str, steps: &[Step]) {
    let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
    let dir = scratch(&format!("lsp-robust-{n}"));
    let source = workspace().join("examples").join(example);
    let mut names: Vec<String> = std::fs::read_dir(&source)
        .expect("an example")
        .filter_map(Result::ok)
        .map(|e| file_name(&e.path().display().to_string()))
        .filter(|n| n.ends_with(".reaper"))
        .collect();
    names.sort();
    let mut server = Server::start();
    let mut uris = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(source.join(name)).expect("an example file");
        std::fs::write(dir.join(name), &text).expect("copy an example file");
        let uri = uri(&dir.join(name));
        server.open(&uri, &text);
        uris.push(uri);
    }
    for step in steps {
        match step {
            Step::Insert {
                file,
                at,
                fragment,
                wait,
            } => {
                let uri = &uris[file % uris.len()];
                let text = server.doc(uri).text.clone();
                let at = position(&text, offset_at(&text, *at));
                server.change(
                    uri,
                    vec![json!({"range": {"start": at, "end": at}, "text": FRAGMENTS[*fragment]})],
                );
                if *wait {
                    server.wait_diagnostics(uri);
                }
            }
            Step::Delete {
                file,
                at,
                len,
                wait,
            } => {
                let uri = &uris[file % uris.len()];
                let text = server.doc(uri).text.clone();
                let start = offset_at(&text, *at);
                let mut end = start;
                for c in text[start..].chars().take(usize::from(*len)) {
                    end += c.len_utf8();
                }
                // Never split a `\r\n`.
                if text[..end].ends_with('\r') && text[end..].starts_with('\n') {
                    end += 1;
                }
                server.change(
                    uri,
                    vec![json!({
                        "range": {"start": position(&text, start), "end": position(&text, end)},
                        "text": "",
                    })],
                );
                if *wait {
                    server.wait_diagnostics(uri);
                }
            }
            Step::Replace { file, fragments } => {
                let uri = &uris[file % uris.len()];
                let text: String = fragments.iter().map(|i| FRAGMENTS[*i]).collect();
                server.replace(uri, &text);
                server.wait_diagnostics(uri);
            }
            Step::Request {
                file,
                kind,
                line,
                column,
            } => {
                let uri = uris[file % uris.len()].clone();
                request(&mut server, &uri, REQUESTS[*kind], *line, *column);
            }
        }
    }
    for uri in &uris {
        assert_versions_monotonic(&server, uri);
    }
    let settled = server.settle();
    let mut texts = BTreeMap::new();
    let mut actual = BTreeMap::new();
    for uri in &uris {
        let name = file_name(uri);
        let text = server.doc(uri).text.clone();
        std::fs::write(dir.join(&name), &text).expect("write the final text");
        texts.insert(name.clone(), text);
        actual.insert(name, settled[uri].clone());
    }
    assert_matches_check(&format!("{example} after {steps:?}"), &dir, &texts, &actual);
    // Still alive and answering.
    let hover = server.try_request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uris[0]}, "position": {"line": 0, "character": 0}}),
    );
    assert!(hover.is_ok(), "{hover:?}");
    assert!(server.alive());
    assert!(server.oddities().is_empty(), "{:?}", server.oddities());
    let value: Value = server.request("shutdown", Value::Null);
    assert_eq!(value, Value::Null);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 64,
        // Beside this file (proptest would put it in tests/, the directory
        // above, for a test crate in a subdirectory).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/lsp/proptest-regressions/robustness.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_edits_leave_the_diagnostics_of_the_final_text(
        example in 0..EXAMPLES.len(),
        steps in proptest::collection::vec(step(), 1..=10),
    ) {
        session(EXAMPLES[example], &steps);
    }
}
