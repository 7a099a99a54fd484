#!/usr/bin/env bash
# What decision logs and tracing cost `POST /v1/authorize` (docs/benchmarks.md,
# "Observability overhead"): the same load against the same policy with
# both off, with the decision log to a file at full rate, and with tracing
# at 1% and 100% sampling (OTLP over HTTP to a local sink that reads and
# drops what it gets), in one run. Loopback only; every run bounded by
# DURATION; everything started here is stopped on exit.
#   bash benches/http/observability.sh
#   DURATION=5s ROUNDS=3 bash benches/http/observability.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-2}
source benches/http/common.sh

SINK_PORT=$(free_port)
python3 - "$SINK_PORT" >"$TMP/sink.log" 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
PIDS+=($!)

config() { # NAME TOML
  printf '%s\n' "$2" >"$TMP/$1.toml"
}
config off ''
config decision_log "[decision_log]
file = { path = \"$TMP/decisions.log\", max_size = \"256MiB\", max_files = 1 }"
config tracing_1pct "[tracing]
endpoint = \"http://127.0.0.1:$SINK_PORT/v1/traces\"
protocol = \"http\"
sample_ratio = 0.01"
config tracing_100pct "[tracing]
endpoint = \"http://127.0.0.1:$SINK_PORT/v1/traces\"
protocol = \"http\"
sample_ratio = 1.0"

echo "# $(date -u +%FT%TZ), $(nproc) cores, wrk -t1 -c$CONNS -d$DURATION, server --threads $SERVER_THREADS, loopback, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  for name in off decision_log tracing_1pct tracing_100pct; do
    PORT=$(free_port)
    serve "$PORT" examples/document-sharing --config "$TMP/$name.toml"
    out=$(BODY=$HERE/authorize.json wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s $HERE/post.lua "http://127.0.0.1:$PORT/v1/authorize")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf 'round %s  %-16s %12s req/s   p50 %8s   p99 %8s\n' "$round" "$name" "$rps" "$p50" "$p99"
    stop_last
  done
done
if [ -f "$TMP/decisions.log" ]; then
  echo "decision log: $(wc -l <"$TMP/decisions.log") records in the last file"
fi
