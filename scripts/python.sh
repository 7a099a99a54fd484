#!/usr/bin/env bash
# Builds the `reaper` Python wheel with maturin into a venv of its own,
# type-checks the package (mypy --strict), holds the native module's stub
# to the built module (stubtest), and runs the pytest suite (python/tests)
# against it; the test command (scripts/test.sh) calls this. `--release`
# builds the optimised wheel the benchmark (benches/python) needs;
# `--no-test` only builds and installs.
#
#   bash scripts/python.sh [--release] [--no-test] [pytest args…]
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
venv="$target/python-venv"
profile=()
run_tests=1
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=(--release); shift ;;
    --no-test) run_tests=0; shift ;;
    *) break ;;
  esac
done

if [ ! -x "$venv/bin/maturin" ] || ! "$venv/bin/python" -c "import pytest, mypy, hypothesis" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "maturin==1.16.0" "pytest==8.4.2" "mypy==2.4.1" "hypothesis==6.170.17"
fi

wheels="$target/python-wheels"
rm -rf "$wheels"
"$venv/bin/maturin" build --quiet --locked "${profile[@]}" \
  -m python/Cargo.toml -i "$venv/bin/python" -o "$wheels"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  --force-reinstall --no-deps "$wheels"/reaper-*.whl

if [ "$run_tests" = 1 ]; then
  # The package type-checks strictly, and the native module's stub
  # (reaper/_reaper.pyi) says what the built module has: stubtest imports
  # the installed module and compares (run outside python/, whose source
  # would shadow it).
  (cd python && "../$venv/bin/mypy" --strict --python-version 3.10 reaper)
  (cd "$venv" && bin/python -m mypy.stubtest reaper._reaper)

  # The CLI the tests compare decisions with, and serve the client from.
  REAPER_BIN="${REAPER_BIN:-$PWD/$target/debug/reaper}"
  export REAPER_BIN
  cd python
  # `pytest`, not `python -m pytest`: the current directory must not shadow
  # the installed package with its source (which lacks the native half).
  "../$venv/bin/pytest" -q -p no:cacheprovider "$@"
fi
