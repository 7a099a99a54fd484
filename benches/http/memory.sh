#!/usr/bin/env bash
# Memory and start-up of `reaper serve` (docs/benchmarks.md, "Serving over
# HTTP"): RSS idle with the 10,000-rule benchmark policy, start to ready
# with its bundle, RSS with 1M stored keys and with 1M live rate-limit
# counters, and again once their TTLs and windows have passed (the server
# reclaims both in the background). Loopback only, bounded in time.
#
#   bash benches/http/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/http/common.sh
cargo build --release --locked -q -p reaper-benches --example write_policy
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
echo "# $(date -u +%FT%TZ), $(nproc) cores"
mkdir -p "$TMP/p10k"
target/release/examples/write_policy 10000 "$TMP/p10k/policy.reaper" >/dev/null
"$REAPER" compile "$TMP/p10k" -o "$TMP/p10k.rpb"

# Start to ready: from spawning the process to the first 200 from
# /health/ready, polled every millisecond, median of 11 starts.
PORT=$(free_port)
python3 - "$REAPER" "$TMP/p10k.rpb" "$PORT" <<'PY'
import socket, subprocess, sys, time, os
reaper, bundle, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05) as s:
            s.sendall(b"GET /health/ready HTTP/1.1\r\nhost: x\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
times = []
for _ in range(11):
    start = time.perf_counter()
    p = subprocess.Popen([reaper, "serve", bundle, "--http", f"127.0.0.1:{port}", "--threads", "1", "--no-watch"],
                         stderr=subprocess.DEVNULL, env=dict(os.environ, REAPER_LOG="warn"))
    while not ready():
        if time.perf_counter() - start > 10:
            p.kill(); sys.exit("not ready within 10 s")
        time.sleep(0.001)
    times.append((time.perf_counter() - start) * 1000)
    p.terminate(); p.wait()
times.sort()
print(f"start to ready, 10,000-rule bundle: median {times[5]:.1f} ms (min {times[0]:.1f}, max {times[-1]:.1f})")
PY

PORT=$(free_port)
serve "$PORT" "$TMP/p10k.rpb"
sleep 1
echo "RSS idle, 10,000-rule bundle: $(rss_mb "${PIDS[-1]}") MB"
stop_last
serve "$PORT" examples/session-store --entities examples/session-store/entities.json
echo "RSS idle, session-store example: $(rss_mb "${PIDS[-1]}") MB"

# 1M keys (16-byte keys, 16-byte values; the namespace's max_keys is 1M, so
# writes past it are refused with 507, as they should be).
TTL=40s wrk -t1 -c50 -d25s -s $HERE/unique_put.lua "http://127.0.0.1:$PORT" >"$TMP/put.txt"
keys=$(curl -s "http://127.0.0.1:$PORT/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"]["namespaces"][0]["keys"])')
before=$(rss_mb "${PIDS[-1]}")
echo "RSS with $keys stored keys: $before MB"
sleep 45
keys=$(curl -s "http://127.0.0.1:$PORT/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"]["namespaces"][0]["keys"])')
echo "RSS after the TTL passed: $(rss_mb "${PIDS[-1]}") MB ($keys keys left)"
stop_last

mkdir -p "$TMP/mem"
printf 'package mem\nratelimit "mem" {\n  limit per_client: 10 per 30s by descriptor.client;\n}\n' >"$TMP/mem/policy.reaper"
serve "$PORT" "$TMP/mem"
wrk -t1 -c50 -d15s -s $HERE/unique_ratelimit.lua "http://127.0.0.1:$PORT" >"$TMP/rl.txt"
counters=$(curl -s "http://127.0.0.1:$PORT/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"]["counters"])')
echo "RSS with $counters live rate-limit counters: $(rss_mb "${PIDS[-1]}") MB"
sleep 50
counters=$(curl -s "http://127.0.0.1:$PORT/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"]["counters"])')
echo "RSS after the windows passed: $(rss_mb "${PIDS[-1]}") MB ($counters counters left)"
