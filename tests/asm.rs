//! Disassembly snapshots: `reaper compile --emit asm` of every example and
//! of every focused case under `tests/asm/`. The listing changes only when
//! compiled code changes, so these pin code generation and the index.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

fn listing(target: &str) -> String {
    let output = common::run(&common::workspace(), &["compile", "--emit", "asm", target]);
    assert_eq!(common::code(&output), 0, "{}", common::stderr(&output));
    common::stdout(&output)
}

#[test]
fn examples() {
    let examples = common::workspace().join("examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(
            format!("example_{name}"),
            listing(&format!("examples/{name}"))
        );
    }
}

#[test]
fn focused_cases() {
    insta::glob!("asm/*.reaper", |path| {
        let relative = path.strip_prefix(common::workspace()).unwrap();
        insta::assert_snapshot!(listing(&relative.display().to_string()));
    });
}
