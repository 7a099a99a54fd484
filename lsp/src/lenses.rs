//! Test code lenses: "▶ run test" above each `test` block, and running one
//! test with the engine on the package as it is in the editor (unsaved
//! buffers included), through the same runner as `reaper test`.

use reaper_compiler::ast::Item;
use reaper_compiler::source::FileId;
use reaper_compiler::test_cases::test_cases;
use reaper_compiler::{Keep, check_files_keeping};
use reaper_runtime::Engine;
use reaper_test_runner::{failure_text, run_case};
use serde_json::json;
use tower_lsp_server::ls_types::{CodeLens, Command, Uri};

use crate::diagnostics::range;
use crate::package::Analysis;

/// The command a lens runs; the client sends it back to `executeCommand`.
pub const RUN_TEST: &str = "reaper.runTest";

pub fn lenses(analysis: &Analysis, file: FileId, uri: &Uri) -> Vec<CodeLens> {
    let Some(Some(parsed)) = analysis.parsed.get(file.0 as usize) else {
        return Vec::new();
    };
    parsed
        .parsed
        .file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Test(test) => Some(CodeLens {
                range: range(&analysis.package, test.name.span),
                command: Some(Command {
                    title: "▶ run test".to_owned(),
                    command: RUN_TEST.to_owned(),
                    arguments: Some(vec![json!(uri.as_str()), json!(test.name.value)]),
                }),
                data: None,
            }),
            _ => None,
        })
        .collect()
}

/// How a test run ended.
#[derive(Debug)]
pub struct Outcome {
    /// One line for the user.
    pub summary: String,
    pub passed: bool,
    /// Failures by 1-based line of the expectation, in the file the test is in.
    pub failures: Vec<(u32, String)>,
}

/// Runs the test named `name` of the package.
pub fn run(analysis: &Analysis, name: &str) -> Outcome {
    let failed = |summary: String| Outcome {
        summary,
        passed: false,
        failures: Vec::new(),
    };
    let package = &analysis.package;
    if package.diagnostics.iter().any(|d| d.is_error()) {
        return failed(format!(
            "test `{name}` not run: the package has errors; fix them first"
        ));
    }
    let (sources, valid) = crate::package::sources(package, None);
    let checked = check_files_keeping(&sources, &valid, Keep::Bytecode);
    let Some(bundle) = checked.bundle.as_ref().filter(|_| !checked.has_errors()) else {
        return failed(format!(
            "test `{name}` not run: the package does not compile"
        ));
    };
    let bytes = reaper_lang::bundle::encode(bundle);
    let engine = match Engine::load(&bytes) {
        Ok(engine) => engine,
        Err(e) => {
            return failed(format!(
                "test `{name}` not run: the bundle does not verify: {e}"
            ));
        }
    };
    let cases = test_cases(&checked.package);
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        return failed(format!("no test named `{name}` in this package"));
    };
    let result = run_case(&engine, &bytes, case);
    if result.failures.is_empty() {
        return Outcome {
            summary: format!("test `{name}` passed"),
            passed: true,
            failures: Vec::new(),
        };
    }
    let failures: Vec<(u32, String)> = result
        .failures
        .iter()
        .map(|f| (f.line(), failure_text(f)))
        .collect();
    Outcome {
        summary: format!(
            "test `{name}` failed: {}",
            failures.first().map_or("", |(_, text)| text.as_str())
        ),
        passed: false,
        failures,
    }
}
