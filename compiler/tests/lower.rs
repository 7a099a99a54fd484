//! Lowering every example: the bundle verifies, decodes to what was encoded,
//! and compiling twice gives identical bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

#[test]
fn examples_lower_to_verified_reproducible_bundles() {
    let dirs = common::example_dirs();
    assert!(dirs.len() >= 3);
    for dir in dirs {
        let sources = common::package_sources(&dir);
        let bytes = reaper_compiler::compile(&sources)
            .unwrap_or_else(|d| panic!("{}: {d:#?}", dir.display()));
        let again = reaper_compiler::compile(&common::package_sources(&dir)).unwrap();
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
