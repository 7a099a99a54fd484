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

/// Lowering each rule as it is checked (`Keep::Bytecode`, what `reaper
/// compile` does to keep memory flat) gives the bundle lowering the kept
/// typed package gives; keeping only diagnostics keeps no rule and the same
/// diagnostics.
#[test]
fn lowering_while_checking_gives_the_same_bundle() {
    use reaper_compiler::{Keep, check_files_keeping};
    for dir in common::example_dirs() {
        let sources = common::package_sources(&dir);
        let ids: Vec<_> = sources.files().map(|(id, _)| id).collect();
        let typed = check_files_keeping(&sources, &ids, Keep::Typed);
        let whole = reaper_compiler::compile_checked(&typed)
            .unwrap_or_else(|d| panic!("{}: {d:#?}", dir.display()));
        let streamed = check_files_keeping(&sources, &ids, Keep::Bytecode);
        assert_eq!(streamed.bundle.as_ref(), Some(&whole), "{}", dir.display());
        assert!(streamed.package.rules.is_empty());
        let diagnostics = check_files_keeping(&sources, &ids, Keep::Diagnostics);
        assert!(diagnostics.package.rules.is_empty() && diagnostics.bundle.is_none());
        assert_eq!(
            diagnostics.diagnostics,
            typed.diagnostics,
            "{}",
            dir.display()
        );
    }
}

/// A package with errors lowers to nothing, whatever is kept, and a
/// package checked for diagnostics only cannot be lowered afterwards (its
/// rules are gone), which is an error, not a wrong bundle.
#[test]
fn lowering_needs_an_error_free_package_with_its_rules() {
    use reaper_compiler::source::Sources;
    use reaper_compiler::{Keep, check_files_keeping};
    let mut sources = Sources::new();
    let file = sources.add(
        "p.reaper",
        "entity User\naction read on User by User\npermit read when principal.nope;\n",
    );
    let streamed = check_files_keeping(&sources, &[file], Keep::Bytecode);
    assert!(streamed.has_errors() && streamed.bundle.is_none());

    let mut sources = Sources::new();
    let file = sources.add(
        "p.reaper",
        "entity User\naction read on User by User\npermit read;\n",
    );
    let diagnostics = check_files_keeping(&sources, &[file], Keep::Diagnostics);
    assert!(!diagnostics.has_errors());
    let refused = reaper_compiler::compile_checked(&diagnostics).unwrap_err();
    assert!(
        refused[0].message.contains("internal compiler error"),
        "{refused:?}"
    );
}
