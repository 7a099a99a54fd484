//! The fast request decoder against the precise one: on every generated
//! request and on edits of it — keys reordered, removed, repeated or
//! unknown; values of the wrong kind or out of range; array items repeated
//! or dropped; every string character escaped — the fast path must accept
//! exactly the texts the precise decoder accepts, and mean the same
//! request (compared as data, and by the decision it gets). The same
//! request in protobuf must mean the same; edited protobuf (cut short,
//! a byte changed, a field repeated or unknown) may take the precise path,
//! but whatever the fast path accepts the precise one must accept alike.

use reaper_lang::request::Request;
use reaper_runtime::Engine;
use serde_json::Value as Json;

/// A JSON tree that keeps key order and may repeat a key.
#[derive(Clone)]
enum Tree {
    Leaf(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    fn from(json: &Json) -> Tree {
        match json {
            Json::Array(items) => Tree::Array(items.iter().map(Tree::from).collect()),
            Json::Object(map) => Tree::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Tree::from(v)))
                    .collect(),
            ),
            leaf => Tree::Leaf(leaf.to_string()),
        }
    }

    fn print(&self, escape_all: bool, out: &mut String) {
        match self {
            Tree::Leaf(text) if escape_all && text.starts_with('"') => {
                let inner: String = serde_json::from_str(text).unwrap_or_default();
                out.push_str(&escaped(&inner));
            }
            Tree::Leaf(text) => out.push_str(text),
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.print(escape_all, out);
                }
                out.push(']');
            }
            Tree::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n ");
                    }
                    if escape_all {
                        out.push_str(&escaped(key));
                    } else {
                        out.push_str(&Json::String(key.clone()).to_string());
                    }
                    out.push_str(": ");
                    value.print(escape_all, out);
                }
                out.push('}');
            }
        }
    }

    /// Calls `edit` on the `target`-th node (in pre-order) that `select`
    /// picks; returns how many it picks in all.
    fn edit_nth(
        &mut self,
        select: &dyn Fn(&Tree) -> bool,
        target: usize,
        seen: &mut usize,
        edit: &mut dyn FnMut(&mut Tree),
    ) {
        if select(self) {
            if *seen == target {
                edit(self);
            }
            *seen += 1;
        }
        match self {
            Tree::Leaf(_) => {}
            Tree::Array(items) => {
                for item in items {
                    item.edit_nth(select, target, seen, edit);
                }
            }
            Tree::Object(members) => {
                for (_, value) in members {
                    value.edit_nth(select, target, seen, edit);
                }
            }
        }
    }
}

/// Every character as a `\u` escape (surrogate pairs beyond the BMP).
fn escaped(text: &str) -> String {
    let mut out = String::from("\"");
    for unit in text.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

/// Values of every JSON kind, and numbers JSON readers disagree on.
const REPLACEMENTS: &[&str] = &[
    "null",
    "true",
    "0",
    "-0",
    "1.5",
    "1e2",
    "9223372036854775808",
    "-9223372036854775809",
    "\"x\"",
    "\"\"",
    "[]",
    "{}",
    "\"10.0.0.1\"",
    "\"1h\"",
    "\"2026-01-01T00:00:00Z\"",
    "\"1.5\"",
    "{\"type\": \"User\", \"id\": \"u\"}",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

const EDITS_PER_REQUEST: usize = 8;

/// Compares the two decoders on `json` and on edits of it, and on the
/// request in protobuf and edits of that.
pub fn agree(engine: &Engine, json: &str, request: &Request) -> Result<(), String> {
    compare(engine, json)?;
    protobuf(engine, json, request)?;
    let parsed: Json = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let tree = Tree::from(&parsed);
    let seed = json.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng(seed | 1);
    for _ in 0..EDITS_PER_REQUEST {
        let mut tree = tree.clone();
        let kind = rng.next(8);
        let is_object: &dyn Fn(&Tree) -> bool = &|t| matches!(t, Tree::Object(m) if !m.is_empty());
        let is_array: &dyn Fn(&Tree) -> bool = &|t| matches!(t, Tree::Array(a) if !a.is_empty());
        let is_any: &dyn Fn(&Tree) -> bool = &|_| true;
        let select = match kind {
            0..=3 => is_object,
            4 | 5 => is_array,
            _ => is_any,
        };
        let mut count = 0;
        tree.edit_nth(select, usize::MAX, &mut count, &mut |_| {});
        let target = rng.next(count);
        let pick = rng.next(1 << 16);
        let replacement = REPLACEMENTS[pick % REPLACEMENTS.len()];
        let mut seen = 0;
        tree.edit_nth(select, target, &mut seen, &mut |node| match (kind, node) {
            (0, Tree::Object(members)) => members.reverse(),
            (1, Tree::Object(members)) => {
                members.remove(pick % members.len());
            }
            (2, Tree::Object(members)) => {
                let member = members[pick % members.len()].clone();
                members.push(member);
            }
            (3, Tree::Object(members)) => members.push(("zz".into(), Tree::Leaf("1".into()))),
            (4, Tree::Array(items)) => {
                let item = items[pick % items.len()].clone();
                items.push(item);
            }
            (5, Tree::Array(items)) => {
                items.remove(pick % items.len());
            }
            (6, node) => *node = Tree::Leaf(replacement.into()),
            _ => {}
        });
        let mut text = String::new();
        tree.print(kind == 7, &mut text);
        compare(engine, &text)?;
    }
    Ok(())
}

fn compare(engine: &Engine, json: &str) -> Result<(), String> {
    let fast = engine.decode_request_fast(json);
    let precise = engine.decode_request_precisely(json);
    match (fast, precise) {
        (None, Err(_)) => Ok(()),
        (Some(_), Err(e)) => Err(format!(
            "the fast decoder accepts a request the precise one refuses ({e})\n{json}"
        )),
        (None, Ok(_)) => Err(format!(
            "the fast decoder declines a request the precise one accepts\n{json}"
        )),
        (Some(fast), Ok(precise)) => {
            let (a, b) = (
                engine.describe_request(&fast),
                engine.describe_request(&precise),
            );
            if a != b {
                return Err(format!(
                    "the decoders read a request differently\n{json}\n--- fast\n{a:#?}\n--- precise\n{b:#?}"
                ));
            }
            let (a, b) = (engine.authorize(&fast), engine.authorize(&precise));
            if a != b {
                return Err(format!(
                    "the decoders' requests get different decisions\n{json}\n--- fast {a:?}\n--- precise {b:?}"
                ));
            }
            Ok(())
        }
    }
}

fn protobuf(engine: &Engine, json: &str, request: &Request) -> Result<(), String> {
    let bytes = engine.encode_request_protobuf(request);
    let expected = engine
        .decode_request_precisely(json)
        .map(|r| engine.describe_request(&r))
        .map_err(|e| e.to_string())?;
    let fast = engine.decode_request_protobuf_fast(&bytes).ok_or_else(|| {
        let precise = engine.decode_request_protobuf_precisely(&bytes).err();
        format!(
            "the fast protobuf decoder declines a valid request (precisely: {precise:?})\n{json}"
        )
    })?;
    let precise = engine
        .decode_request_protobuf_precisely(&bytes)
        .map_err(|e| {
            format!("the precise protobuf decoder refuses a valid request: {e}\n{json}")
        })?;
    for (path, got) in [("fast", fast), ("precise", precise)] {
        if engine.describe_request(&got) != expected {
            return Err(format!(
                "the {path} protobuf decoder reads a request differently\n{json}"
            ));
        }
    }
    let mut rng = Rng((bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..EDITS_PER_REQUEST {
        let mut edited = bytes.clone();
        let at = rng.next(edited.len());
        match rng.next(4) {
            0 => edited.truncate(at),
            1 => edited[at] ^= 1 << rng.next(8),
            // A second `action`, and an unknown field.
            2 => edited.extend_from_slice(&[0x12, 1, b'x']),
            _ => edited.extend_from_slice(&[0xf8, 0x01, 0x05]),
        }
        let Some(fast) = engine.decode_request_protobuf_fast(&edited) else {
            continue;
        };
        match engine.decode_request_protobuf_precisely(&edited) {
            Ok(precise) if engine.describe_request(&precise) == engine.describe_request(&fast) => {}
            Ok(_) => {
                return Err(format!(
                    "the protobuf decoders read an edited request differently\n{json}\n{edited:?}"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the fast protobuf decoder accepts what the precise one refuses ({e})\n{json}\n{edited:?}"
                ));
            }
        }
    }
    Ok(())
}
