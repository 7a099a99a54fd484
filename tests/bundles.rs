//! Bundles as untrusted input, and the format's stability.
//!
//! - Golden bundles: compiling the examples must give exactly the bytes in
//!   `tests/golden/`; a difference is a format or code-generation change
//!   that must be deliberate (regenerate with `REAPER_BLESS=1`).
//! - Corruption: every truncation and every single-byte change of a bundle
//!   is refused with an error; with the hash recomputed, the decoder,
//!   verifier and VM see the damage itself and must still never panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::Path;

use reaper_compiler::source::Sources;
use reaper_lang::bundle::{self, BundleError};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{Descriptor, RateLimitRequest};
use sha2::{Digest, Sha256};

fn compile(dir: &Path) -> Vec<u8> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|f| f.extension().is_some_and(|e| e == "reaper"));
    files.sort();
    let mut sources = Sources::new();
    for file in files {
        sources.add(
            file.display().to_string(),
            std::fs::read_to_string(&file).unwrap(),
        );
    }
    reaper_compiler::compile(&sources).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()))
}

const EXAMPLES: [&str; 3] = ["api-gateway", "document-sharing", "session-store"];

#[test]
fn examples_match_their_golden_bundles() {
    let root = common::workspace();
    for name in EXAMPLES {
        let bytes = compile(&root.join("examples").join(name));
        let golden = root.join("tests/golden").join(format!("{name}.rpb"));
        if std::env::var_os("REAPER_BLESS").is_some() {
            std::fs::write(&golden, &bytes).unwrap();
        }
        let expected = std::fs::read(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (run with REAPER_BLESS=1)", golden.display()));
        assert!(
            bytes == expected,
            "{name}: the compiled bundle differs from {} ({} vs {} bytes). If the format or code generation changed \
             on purpose, bump the format version when old bundles no longer load, then regenerate with REAPER_BLESS=1.",
            golden.display(),
            bytes.len(),
            expected.len()
        );
        bundle::decode(&expected)
            .unwrap_or_else(|e| panic!("{name}: golden bundle no longer loads: {e}"));
    }
}

/// A request for the document-sharing policy, to run damaged bundles on.
const REQUEST: &str = r#"{
  "principal": {"type": "User", "id": "alice", "attrs": {"clearance": 2, "contractor": false, "email": "a@example.com"}, "parents": [{"type": "Team", "id": "eng"}]},
  "action": "read",
  "resource": {"type": "Document", "id": "plan", "attrs": {"owner": {"type": "User", "id": "bob"}, "public": false, "labels": ["confidential"], "editors": [{"type": "User", "id": "alice"}]}},
  "context": {"source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z"}
}"#;

fn rehash(bytes: &mut [u8]) {
    let digest = Sha256::digest(&bytes[40..]);
    bytes[8..40].copy_from_slice(&digest);
}

/// Loads damaged bytes; if they load, uses the engine, which must answer
/// (possibly with errors) rather than panic.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(engine) = Engine::load(bytes) else {
        return false;
    };
    if let Ok(request) = engine.decode_request(REQUEST) {
        let _ = engine.authorize(&request);
        let _ = engine.explain(&request);
    }
    let limits = RateLimitRequest::new(
        "edge",
        vec![Descriptor::new(vec![("user_id", "u"), ("path", "/login")])],
    );
    let _ = engine.rate_limit(&limits, 1_767_225_600_000);
    let _ = bundle::disassemble(engine.bundle());
    true
}

#[test]
fn every_truncation_is_refused() {
    let bytes = compile(&common::workspace().join("examples/document-sharing"));
    for len in 0..bytes.len() {
        let result = bundle::decode(&bytes[..len]);
        assert!(result.is_err(), "a bundle cut to {len} bytes loaded");
    }
}

#[test]
fn every_byte_change_is_refused_by_the_hash_or_survived() {
    let bytes = compile(&common::workspace().join("examples/document-sharing"));
    assert!(exercise(&bytes));
    let mut loaded_after_rehash = 0;
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            // As damaged on disk: refused, by magic, version or hash.
            match bundle::decode(&damaged) {
                Err(
                    BundleError::BadMagic
                    | BundleError::UnsupportedVersion { .. }
                    | BundleError::ReservedBytes(_)
                    | BundleError::HashMismatch,
                ) => {}
                other => panic!("byte {i} ^ {mask:#04x}: expected a refusal, got {other:?}"),
            }
            // As crafted by an attacker who recomputes the hash: the decoder,
            // verifier and VM face the damage and must not panic.
            if i >= 40 {
                rehash(&mut damaged);
                if exercise(&damaged) {
                    loaded_after_rehash += 1;
                }
            }
        }
    }
    // Some changes are harmless (a different string, a different constant):
    // those load and run; all others were refused with a typed error.
    eprintln!("{loaded_after_rehash} rehashed single-byte changes still loaded and ran");
}
