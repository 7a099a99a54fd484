#!/usr/bin/env bash
# HTTP load benchmarks of `reaper serve`, with their baselines in the same
# run (docs/benchmarks.md, "Serving over HTTP"). Every server listens on
# 127.0.0.1 on a free port, every load run is bounded by DURATION, and
# everything started here is stopped on exit.
#
# Needs: wrk and redis-server (Debian: apt-get install -y wrk redis-server);
# optionally cedar-agent on PATH (cargo install cedar-agent --root DIR).
#   bash benches/http/run.sh            # all
#   DURATION=5s CONNS=50 bash benches/http/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
source benches/http/common.sh

load() { # NAME URL [wrk args...]
  local name=$1 url=$2; shift 2
  local out
  out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr '\n' ' ' || true)
  printf '%-28s %12s req/s   p50 %8s   p99 %8s   %s\n' "$name" "$rps" "$p50" "$p99" "$errors"
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, wrk -t$WRK_THREADS -c$CONNS -d$DURATION, loopback"

PORT=$(free_port)
serve "$PORT" examples/document-sharing
BODY=$HERE/authorize.json load "reaper POST /v1/authorize" "http://127.0.0.1:$PORT/v1/authorize" -s $HERE/post.lua
BODY=$HERE/batch.json load "reaper batch (x100)" "http://127.0.0.1:$PORT/v1/authorize/batch" -s $HERE/post.lua
stop_last

if command -v cedar-agent >/dev/null; then
  PORT=$(free_port)
  python3 $HERE/cedar_agent_policies.py benches/compare/policies/document-sharing/policies.cedar >"$TMP/policies.json"
  echo '[]' >"$TMP/entities.json"
  cedar-agent --addr 127.0.0.1 --port "$PORT" --policies "$TMP/policies.json" --data "$TMP/entities.json" --log-level error >>"$TMP/cedar.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/policies" && break; sleep 0.05; done
  answer=$(curl -s -X POST -H 'content-type: application/json' --data @$HERE/cedar_request.json "http://127.0.0.1:$PORT/v1/is_authorized")
  echo "  cedar-agent answers: $answer"
  BODY=$HERE/cedar_request.json load "cedar-agent POST is_authorized" "http://127.0.0.1:$PORT/v1/is_authorized" -s $HERE/post.lua
  stop_last
else
  echo "cedar-agent not on PATH: skipped (cargo install cedar-agent --root DIR)"
fi

PORT=$(free_port)
serve "$PORT" examples/api-gateway
BODY=$HERE/ratelimit.json load "reaper POST /v1/ratelimit" "http://127.0.0.1:$PORT/v1/ratelimit" -s $HERE/post.lua
stop_last

PORT=$(free_port)
serve "$PORT" examples/session-store --entities examples/session-store/entities.json
load "reaper store PUT" "http://127.0.0.1:$PORT" -s $HERE/store_put.lua
load "reaper store GET" "http://127.0.0.1:$PORT" -s $HERE/store_get.lua
stop_last

if command -v redis-server >/dev/null; then
  PORT=$(free_port)
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-benchmark -p "$PORT" -t set,get -c "$CONNS" -n 500000 -q | tr '\r' '\n' | grep -E "requests per second" | sed 's/^/redis-benchmark /'
  stop_last
else
  echo "redis-server missing: skipped (apt-get install -y redis-server)"
fi
