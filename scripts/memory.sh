#!/usr/bin/env bash
# Peak memory (maximum resident set size) of `reaper check` and
# `reaper compile` on generated policies: the 10,000-rule benchmark policy
# and one of about 50 MB. Prints a Markdown table for docs/benchmarks.md.
#
#   scripts/memory.sh [RULES...]      (default: 10000 455000)
#
# Needs GNU time (`/usr/bin/time`, Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x /usr/bin/time ]]; then
    echo "scripts/memory.sh needs GNU time at /usr/bin/time (apt-get install time)" >&2
    exit 2
fi
sizes=("$@")
if [[ ${#sizes[@]} -eq 0 ]]; then
    sizes=(10000 455000)
fi

cargo build --release --locked -q -p reaper-cli --bin reaper
cargo build --release --locked -q -p reaper-benches --example write_policy
reaper=target/release/reaper
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Peak RSS in KB of a command, its output discarded.
peak_kb() {
    /usr/bin/time -f '%M' -o "$work/time" "$@" >/dev/null 2>&1 || {
        echo "failed: $*" >&2
        exit 1
    }
    cat "$work/time"
}

# The binary's own footprint, on a policy of a few lines.
mkdir -p "$work/tiny"
target/release/examples/write_policy 1 "$work/tiny/policy.reaper" >/dev/null
base=$(peak_kb "$reaper" check "$work/tiny")
echo "baseline (\`reaper check\` of a one-rule policy): $((base / 1024)) MB"
echo
echo "| rules | source | command | peak RSS | × source | over baseline, × source |"
echo "|---|---|---|---|---|---|"
for rules in "${sizes[@]}"; do
    dir="$work/p$rules"
    mkdir -p "$dir"
    target/release/examples/write_policy "$rules" "$dir/policy.reaper" >/dev/null
    bytes=$(stat -c %s "$dir/policy.reaper")
    for command in check compile; do
        if [[ $command == check ]]; then
            kb=$(peak_kb "$reaper" check "$dir")
        else
            kb=$(peak_kb "$reaper" compile "$dir" -o "$work/out.rpb")
        fi
        awk -v r="$rules" -v b="$bytes" -v c="$command" -v k="$kb" -v base="$base" 'BEGIN {
            printf "| %d | %.1f MB | `%s` | %.0f MB | %.1f× | %.1f× |\n",
                r, b / 1048576, c, k / 1024, k * 1024 / b, (k - base) * 1024 / b
        }'
    done
done
