#!/usr/bin/env bash
# Runs everything CI runs, in order: formatting, lints, the examples, and
# every test. `.ci/run` calls exactly this script; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> reaper fmt --check examples/ and reaper check examples/"
cargo build --locked -q -p reaper-cli
"${CARGO_TARGET_DIR:-target}"/debug/reaper fmt --check examples
"${CARGO_TARGET_DIR:-target}"/debug/reaper check --deny-warnings examples

echo "==> cargo test"
cargo test --workspace --locked

echo "all checks passed"
