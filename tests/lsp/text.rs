//! Positions and edits as the tests see them: LSP positions (0-based
//! lines, UTF-16 code units) to byte offsets and back, `reaper check`'s
//! 1-based character columns to LSP positions, file URIs, workspace edits
//! applied to texts, and ranges rendered for snapshots.

use std::path::Path;

use serde_json::{Value, json};

/// The `file://` URI of an absolute path. Test directories live under the
/// target directory and are named by the tests, so their paths need no
/// percent-encoding; one that would is refused rather than guessed at,
/// since the server compares the URIs it builds from paths with ours.
pub fn uri(path: &Path) -> String {
    let path = path.display().to_string();
    assert!(
        path.starts_with('/')
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.+".contains(c)),
        "a test path that would need percent-encoding: {path}"
    );
    format!("file://{path}")
}

/// The file name a URI ends with.
pub fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_owned()
}

/// The lines of a text as LSP counts them (ending at `\n`, `\r\n` or a
/// lone `\r`), with the byte offset each starts at, line breaks excluded.
fn lines(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\n' => {
                out.push((start, &text[start..at]));
                start = at + 1;
            }
            b'\r' if bytes.get(at + 1) == Some(&b'\n') => {
                out.push((start, &text[start..at]));
                at += 1;
                start = at + 1;
            }
            b'\r' => {
                out.push((start, &text[start..at]));
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    out.push((start, &text[start..]));
    out
}

/// The byte offset of an LSP position, clamped to its line and the text as
/// the server clamps it.
pub fn offset(text: &str, position: &Value) -> usize {
    let line = usize::try_from(position["line"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
    let column = position["character"].as_u64().unwrap_or(0);
    let lines = lines(text);
    let Some(&(start, line_text)) = lines.get(line) else {
        return text.len();
    };
    let mut units = 0;
    for (at, c) in line_text.char_indices() {
        if units >= column {
            return start + at;
        }
        units += c.len_utf16() as u64;
    }
    start + line_text.len()
}

/// The LSP position of a byte offset (inside a `\r\n`, after the `\r`:
/// the end of that line, as the server places a span ending there).
pub fn position(text: &str, offset: usize) -> Value {
    let lines = lines(text);
    let line = lines
        .partition_point(|(start, _)| *start <= offset)
        .saturating_sub(1);
    let (start, _) = lines[line];
    let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

/// The LSP position of `reaper check`'s 1-based line (counting `\n` only)
/// and 1-based column counted in characters (a `\r` counts as one).
pub fn from_check(text: &str, line: u64, column: u64) -> Value {
    let line = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    let chars = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let rest = &text[start.min(text.len())..];
    let within: usize = rest.chars().take(chars).map(char::len_utf8).sum();
    position(text, start + within)
}

/// The text a range covers.
pub fn slice<'a>(text: &'a str, range: &Value) -> &'a str {
    let start = offset(text, &range["start"]);
    let end = offset(text, &range["end"]).max(start);
    &text[start..end]
}

/// `line:col..line:col`, 1-based as editors show them (columns in UTF-16
/// code units, as the protocol counts them).
pub fn show_range(range: &Value) -> String {
    let p = |v: &Value| {
        format!(
            "{}:{}",
            v["line"].as_u64().unwrap_or(0) + 1,
            v["character"].as_u64().unwrap_or(0) + 1
        )
    };
    format!("{}..{}", p(&range["start"]), p(&range["end"]))
}

/// A text with LSP text edits applied (all against the original text, as
/// the protocol says; they must not overlap).
pub fn apply_edits(text: &str, edits: &[Value]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            let start = offset(text, &e["range"]["start"]);
            let end = offset(text, &e["range"]["end"]).max(start);
            (start, end, e["newText"].as_str().unwrap_or_default())
        })
        .collect();
    spans.sort_by_key(|(start, end, _)| (*start, *end));
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "overlapping edits: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    let mut out = text.to_owned();
    for (start, end, new) in spans.into_iter().rev() {
        out.replace_range(start..end, new);
    }
    out
}
