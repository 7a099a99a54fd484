//! Lowering every example: the bundle verifies, decodes to what was encoded,
//! and compiling twice gives identical bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::Path;

use reaper_compiler::source::Sources;

fn example(dir: &Path) -> Sources {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "reaper"))
        .collect();
    files.sort();
    let mut sources = Sources::new();
    for file in files {
        sources.add(
            file.display().to_string(),
            std::fs::read_to_string(&file).unwrap(),
        );
    }
    sources
}

#[test]
fn examples_lower_to_verified_reproducible_bundles() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3);
    for dir in dirs {
        let sources = example(&dir);
        let bytes = reaper_compiler::compile(&sources)
            .unwrap_or_else(|d| panic!("{}: {d:#?}", dir.display()));
        let again = reaper_compiler::compile(&example(&dir)).unwrap();
        assert_eq!(bytes, again, "{}: compiling twice differs", dir.display());
        let bundle = reaper_lang::bundle::decode(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(
            reaper_lang::bundle::encode(&bundle),
            bytes,
            "decode/encode round trip"
        );
        let listing = reaper_lang::bundle::disassemble(&bundle);
        assert!(listing.contains("\nindex\n"), "{listing}");
    }
}

#[test]
#[ignore = "prints a listing for manual inspection"]
fn print_listing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(std::env::var("EXAMPLE").unwrap());
    let bytes = reaper_compiler::compile(&example(&dir)).unwrap();
    println!(
        "{}",
        reaper_lang::bundle::disassemble(&reaper_lang::bundle::decode(&bytes).unwrap())
    );
}
