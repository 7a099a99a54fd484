#!/usr/bin/env bash
# The Python benchmark: builds the release wheel into target/python-venv
# (scripts/python.sh --release), installs cedarpy there, and runs
# bench_authorize.py. Not part of the test command (it wants a quiet
# machine and a release build). Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bash scripts/python.sh --release --no-test
"$target/python-venv/bin/pip" install --quiet --disable-pip-version-check "cedarpy==4.12.2"
"$target/python-venv/bin/python" benches/python/bench_authorize.py "$@"
