//! Helpers shared by the integration tests: running the real `reaper`
//! binary and locating the workspace.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (the parent of `cli/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A `reaper` command with colors off, run from `dir`.
pub fn reaper(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reaper"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    command
}

/// Runs `reaper ARGS` in `dir` and returns its output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    reaper(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run reaper: {e}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// A fresh, empty directory under the target directory, removed first if a
/// previous run left it behind.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Writes `text` to the file `name` of `dir`; its path.
pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    path
}

/// The path of the example package `name` (`examples/<name>`).
pub fn example(name: &str) -> String {
    workspace()
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// A request the document-sharing example permits: Alice reads a document
/// that lists her among its editors.
pub const PERMIT: &str = r#"{
  "principal": {
    "type": "User",
    "id": "alice",
    "attrs": { "clearance": 2, "contractor": false, "email": "alice@example.com" },
    "parents": [{ "type": "Team", "id": "eng" }]
  },
  "action": "read",
  "resource": {
    "type": "Document",
    "id": "plan",
    "attrs": {
      "owner": { "type": "User", "id": "bob" },
      "public": false,
      "labels": ["internal"],
      "editors": [{ "type": "User", "id": "alice" }]
    },
    "parents": [{ "type": "Folder", "id": "projects" }]
  },
  "context": { "source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z" },
  "entities": [
    { "type": "Team", "id": "eng", "parents": [{ "type": "Team", "id": "all" }] },
    { "type": "User", "id": "bob", "attrs": { "clearance": 3, "contractor": false } }
  ]
}"#;
pub mod server;

/// How long to wait, if the current minute ends within `margin`, for the
/// next one to start: a fixed window is clock-aligned, and a count that
/// crosses its end starts over. `Duration::ZERO` when there is time.
pub fn until_fresh_minute(margin: std::time::Duration) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into =
        std::time::Duration::from_millis(u64::try_from(now.as_millis() % 60_000).unwrap_or(0));
    let left = std::time::Duration::from_secs(60).saturating_sub(into);
    if left < margin {
        left + std::time::Duration::from_millis(200)
    } else {
        std::time::Duration::ZERO
    }
}
