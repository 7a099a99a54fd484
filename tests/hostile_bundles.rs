//! `reaper eval` on hostile bundles: damaged bytes, constant and schema
//! graphs that expand exponentially, tables far beyond any policy, and
//! entity data deeper than any real hierarchy. Each is refused, or
//! evaluated, within a time bound and without panicking.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{PERMIT, code, example, reaper, run, scratch, stderr, stdout, workspace, write};
use reaper_lang::bundle::{self, Constant};
use reaper_lang::schema::{ActionDef, EntityTypeDef};
use reaper_lang::types::RecordType;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// The document-sharing bundle, compiled by the library.
fn example_bundle() -> Vec<u8> {
    std::fs::read(workspace().join("tests/golden/document-sharing.rpb")).unwrap()
}

fn rehash(bytes: &mut [u8]) {
    let digest = Sha256::digest(&bytes[40..]);
    bytes[8..40].copy_from_slice(&digest);
}

#[test]
fn a_damaged_bundle_is_refused_with_exit_2() {
    let dir = scratch("eval-damaged");
    write(&dir, "request.json", PERMIT);
    let bytes = example_bundle();
    let mut flipped = bytes.clone();
    flipped[1000] ^= 0x01;
    let mut newer = bytes.clone();
    newer[4] = 9;
    let mut extra = bytes.clone();
    extra.push(0);
    rehash(&mut extra);
    let mut sections = bytes.clone();
    sections[40] = 13;
    rehash(&mut sections);
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "flipped.rpb",
            &flipped,
            "bundle content hash does not match: the bundle is corrupted",
        ),
        (
            "short.rpb",
            &bytes[..30],
            "bundle is truncated: shorter than the header",
        ),
        (
            "newer.rpb",
            &newer,
            "bundle format version 9 is not supported (this build reads version 3)",
        ),
        (
            "extra.rpb",
            &extra,
            "bundle section table is malformed: bytes after the last section",
        ),
        (
            "sections.rpb",
            &sections,
            "bundle section table is malformed: 13 sections, expected 12",
        ),
    ];
    for (name, damaged, reason) in cases {
        write(&dir, name, damaged);
        let out = run(&dir, &["eval", name, "--request", "request.json"]);
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{name}");
        assert_eq!(stderr(&out), format!("error: {name}: {reason}\n"));
    }
    // The undamaged bundle loads.
    write(&dir, "good.rpb", &bytes);
    write(&dir, "request.json", PERMIT);
    let out = run(&dir, &["eval", "good.rpb", "--request", "request.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Runs `reaper eval POLICY --request request.json` in `dir`; `None` if it
/// is still running after `limit` (it is then killed).
fn eval_within(dir: &Path, policy: &str, limit: Duration) -> Option<Output> {
    let mut child = reaper(dir)
        .args(["eval", policy, "--request", "request.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A hostile bundle must be refused (exit 2) or evaluated, promptly, and
/// never crash the process. Returns the run's output.
#[track_caller]
fn refused_or_evaluated_promptly(name: &str, bytes: &[u8], limit: Duration) -> Output {
    let dir = scratch(name);
    write(&dir, "request.json", PERMIT);
    write(&dir, "hostile.rpb", bytes);
    let start = Instant::now();
    let out = eval_within(&dir, "hostile.rpb", limit)
        .unwrap_or_else(|| panic!("`reaper eval` still ran after {limit:?}"));
    assert!(
        [0, 2].contains(&code(&out)),
        "exit {:?} after {:?}: {}",
        out.status,
        start.elapsed(),
        stderr(&out)
    );
    out
}

/// Constants are a flat table whose sets and records refer to earlier
/// constants, so a table can describe a DAG whose tree is exponentially
/// large; loading sorts sets with a comparison that walks the tree. A 2.7 KB
/// bundle (64 records of two fields, each the previous record, and a set of
/// the last one twice) once never finished loading; the verifier now
/// bounds the expanded size of the table.
#[test]
fn a_bundle_with_a_constant_dag_is_refused_promptly() {
    let mut bundle = bundle::decode(&example_bundle()).unwrap();
    let base = u32::try_from(bundle.constants.len()).unwrap();
    bundle.constants.push(Constant::Int(0));
    for k in 1..=64 {
        let previous = base + k - 1;
        bundle
            .constants
            .push(Constant::Record(vec![Some(previous), Some(previous)]));
    }
    bundle
        .constants
        .push(Constant::Set(vec![base + 64, base + 64]));
    let bytes = bundle::encode(&bundle);
    let out = refused_or_evaluated_promptly("hostile-constants", &bytes, Duration::from_secs(10));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("beyond 4194304 nodes when expanded"),
        "{}",
        stderr(&out)
    );
}

/// The document-sharing bundle with its schema section (id 3) replaced by
/// `section`, the section table and the hash fixed up.
fn with_schema_section(section: &[u8]) -> Vec<u8> {
    let bytes = example_bundle();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let count = u32_at(40);
    let mut sections: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let (offset, len) = (u32_at(48 + 12 * i), u32_at(52 + 12 * i));
            bytes[offset..offset + len].to_vec()
        })
        .collect();
    sections[2] = section.to_vec();
    let mut out = bytes[..40].to_vec();
    out.extend_from_slice(&u32::try_from(count).unwrap().to_le_bytes());
    let mut offset = 44 + 12 * count;
    for (i, section) in sections.iter().enumerate() {
        for n in [i + 1, offset, section.len()] {
            out.extend_from_slice(&u32::try_from(n).unwrap().to_le_bytes());
        }
        offset += section.len();
    }
    for section in &sections {
        out.extend_from_slice(section);
    }
    rehash(&mut out);
    out
}

/// The schema section stores types as a flat table (entries refer to
/// earlier ones) that decoding expands into trees, so a record type with
/// two fields of the previous record type doubles in size per entry. A
/// 2.4 KB bundle with 40 such types once made `bundle::decode` allocate
/// until the process aborted; the expanded size is now bounded before any
/// tree is built.
#[test]
fn a_bundle_with_a_schema_type_dag_is_refused_promptly() {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push(u8::try_from(n & 0x7f).unwrap() | 0x80);
            n >>= 7;
        }
        out.push(u8::try_from(n).unwrap());
    }
    // postcard: types = [Int, Record{a: T0, b: T0}, Record{a: T1, b: T1}, …],
    // no entity types, no actions, context { ctx: T40 }, no stores, no
    // sensitive fields.
    let n = 40;
    let mut section = Vec::new();
    varint(n + 1, &mut section);
    section.push(1); // TypeNode::Int
    for i in 1..=n {
        section.extend_from_slice(&[10, 2]); // TypeNode::Record, two fields
        for name in [b'a', b'b'] {
            section.extend_from_slice(&[1, name]);
            varint(i - 1, &mut section);
            section.push(0); // not optional
        }
    }
    section.extend_from_slice(&[0, 0, 1, 3, b'c', b't', b'x']);
    varint(n, &mut section);
    section.push(0);
    section.push(0); // no stores
    section.extend_from_slice(&[0, 0]); // nothing @sensitive
    let out = refused_or_evaluated_promptly(
        "hostile-schema",
        &with_schema_section(&section),
        Duration::from_secs(2),
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("beyond 4194304 nodes when expanded"),
        "{}",
        stderr(&out)
    );
}

/// The engine indexes rules by (action, resource type); nothing bounds
/// either count, and a dense table for a 1.5 MB bundle with 100,000 of each
/// once asked for 80 GB. Large tables are now sparse, so the bundle loads
/// and decides as the original does.
#[test]
fn a_bundle_with_many_actions_and_types_loads_and_decides() {
    let mut bundle = bundle::decode(&example_bundle()).unwrap();
    for i in 0..100_000 {
        bundle.schema.entity_types.push(EntityTypeDef {
            name: format!("T{i}"),
            parents: Vec::new(),
            attrs: RecordType::default(),
            ids: None,
        });
        bundle.schema.actions.push(ActionDef {
            name: format!("a{i}"),
            resource_types: Vec::new(),
            principal_types: Vec::new(),
            groups: Vec::new(),
            is_group: false,
            context: None,
        });
    }
    let bytes = bundle::encode(&bundle);
    let out = refused_or_evaluated_promptly("hostile-tables", &bytes, Duration::from_secs(20));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let decision: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(decision["decision"], "allow", "{decision}");
    assert_eq!(decision["reasons"], json!(["editors"]), "{decision}");
}

/// A `.rpb` file is a bundle whatever its first bytes, so one whose magic
/// is damaged is reported as a bad bundle (exit 2), not as a policy file
/// that is not UTF-8.
#[test]
fn a_bundle_with_damaged_magic_is_reported_as_a_bundle() {
    let dir = scratch("eval-bad-magic");
    write(&dir, "request.json", PERMIT);
    let mut bytes = example_bundle();
    bytes[0] ^= 0x01;
    write(&dir, "docs.rpb", &bytes);
    let out = run(&dir, &["eval", "docs.rpb", "--request", "request.json"]);
    assert_eq!(
        stderr(&out),
        "error: docs.rpb: not a Reaper bundle (bad magic bytes)\n"
    );
    assert_eq!(code(&out), 2);
}

/// Preparing a request once computed every entity's full ancestor set, so
/// a chain of parents cost quadratic time and memory: 10,000 teams each in
/// the next (a 790 KB request, within every documented limit) took 3.9 s
/// and 412 MB. Now only the principal's and the resource's are computed.
#[test]
fn a_long_chain_of_parents_is_evaluated_promptly() {
    let mut request: Json = serde_json::from_str(PERMIT).unwrap();
    let teams = 9_998; // with alice and the document: 10,000 entities
    request["principal"]["parents"] = json!([{ "type": "Team", "id": "t0" }]);
    request["entities"] = (0..teams)
        .map(|i| {
            json!({
                "type": "Team",
                "id": format!("t{i}"),
                "parents": [{ "type": "Team", "id": format!("t{}", i + 1) }],
            })
        })
        .collect();
    let dir = scratch("eval-chain");
    write(&dir, "request.json", request.to_string());
    let limit = Duration::from_secs(5);
    let out = eval_within(&dir, &example("document-sharing"), limit)
        .unwrap_or_else(|| panic!("`reaper eval` still ran after {limit:?}"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
