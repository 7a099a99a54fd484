#!/usr/bin/env bash
# gRPC load benchmarks of `reaper serve` (docs/benchmarks.md, "Serving over
# gRPC"): Envoy's ShouldRateLimit with one and five descriptors, Envoy's
# ext_authz Check, Reaper's Authorize over gRPC and the same request over
# HTTP in the same run, and what Reaper's two Envoy filters add to a
# request through a real Envoy. The load generator is
# benches/examples/grpc_load.rs (one core; the server gets the other); the
# Envoy comparison uses wrk. Everything listens on 127.0.0.1, free ports;
# every run is bounded; everything started is stopped on exit.
#
# Needs wrk (apt-get install -y wrk) and, for the Envoy part, Envoy: the
# test venv's (bash scripts/test.sh installs it) or ENVOY=/path/to/envoy.
#   bash benches/grpc/run.sh
#   RUN_SECONDS=5 CONCURRENCIES="16 32" bash benches/grpc/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN_SECONDS=${RUN_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-4}
# Calls in flight from the loader, over CONNECTIONS HTTP/2 connections
# (Envoy keeps a few long-lived connections with many streams each).
CONCURRENCIES=${CONCURRENCIES:-32 64}
source benches/http/common.sh
cargo build --release --locked -q -p reaper-benches --example grpc_load
LOAD="${CARGO_TARGET_DIR:-target}/release/examples/grpc_load"

echo "# $(date -u +%FT%TZ), $(nproc) cores, server --threads $SERVER_THREADS, loader: 1 thread, $CONNECTIONS connections, $CONCURRENCIES in flight, ${RUN_SECONDS}s after 2s warm-up, loopback"

run() { # CALL PORT: one line per concurrency
  for concurrency in $CONCURRENCIES; do
    "$LOAD" --addr "127.0.0.1:$2" --call "$1" --connections "$CONNECTIONS" \
      --concurrency "$concurrency" --seconds "$RUN_SECONDS" --warmup 2
  done
}

HTTP=$(free_port); GRPC=$(free_port)
GRPC_ADDR=127.0.0.1:$GRPC serve "$HTTP" examples/api-gateway
run ratelimit1 "$GRPC"
run ratelimit5 "$GRPC"
stop_last

HTTP=$(free_port); GRPC=$(free_port)
GRPC_ADDR=127.0.0.1:$GRPC serve "$HTTP" examples/envoy --entities examples/envoy/entities.json
run check "$GRPC"
stop_last

HTTP=$(free_port); GRPC=$(free_port)
GRPC_ADDR=127.0.0.1:$GRPC serve "$HTTP" examples/document-sharing
run authorize "$GRPC"
run authorize-http "$HTTP"
stop_last

# ---- Through Envoy: the same GET with and without Reaper's filters.
ENVOY=${ENVOY:-}
if [ -z "$ENVOY" ] && [ -x "${CARGO_TARGET_DIR:-target}/test-venv/bin/python" ]; then
  ENVOY=$("${CARGO_TARGET_DIR:-target}/test-venv/bin/python" -c \
    'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))' 2>/dev/null || true)
fi
if [ -z "$ENVOY" ] || [ ! -x "$ENVOY" ]; then
  echo "Envoy missing: skipped (run bash scripts/test.sh once, or set ENVOY)"
  exit 0
fi
# The Envoy example, with a per-user limit no benchmark reaches, so every
# request is counted and allowed.
mkdir -p "$TMP/policy"
cp examples/envoy/{schema,http,rules}.reaper "$TMP/policy/"
printf 'package edge\nratelimit "edge" {\n  limit per_user: 1_000_000_000 per minute when descriptor has user_id by descriptor.user_id;\n}\n' >"$TMP/policy/limits.reaper"
HTTP=$(free_port); GRPC=$(free_port)
GRPC_ADDR=127.0.0.1:$GRPC serve "$HTTP" "$TMP/policy" --entities examples/envoy/entities.json
ADMIN=$(free_port); PLAIN=$(free_port); FILTERED=$(free_port)
sed -e "s/ADMIN_PORT/$ADMIN/; s/PLAIN_PORT/$PLAIN/; s/FILTERED_PORT/$FILTERED/; s/GRPC_PORT/$GRPC/; s/HTTP_PORT/$HTTP/" \
  benches/grpc/envoy-bench.yaml >"$TMP/envoy.yaml"
"$ENVOY" -c "$TMP/envoy.yaml" --concurrency 1 --log-level error --disable-hot-restart \
  --base-id $$ >"$TMP/envoy.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$ADMIN/ready"
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'x-user-id: ana' "http://127.0.0.1:$FILTERED/docs/plan")
[ "$status" = 200 ] || { echo "through Envoy with filters: $status, expected 200" >&2; exit 1; }
ENVOY_CONNS=${ENVOY_CONNS:-8}
through() { # NAME PORT
  local out
  out=$(wrk -t1 -c"$ENVOY_CONNS" -d"${RUN_SECONDS}s" --latency -H 'x-user-id: ana' "http://127.0.0.1:$2/docs/plan")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr '\n' ' ' || true)"
}
echo "# through Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1) (--concurrency 1), wrk -t1 -c$ENVOY_CONNS"
through "envoy alone" "$PLAIN"
through "envoy + ext_authz + ratelimit" "$FILTERED"
through "envoy alone (again)" "$PLAIN"
through "envoy + ext_authz + ratelimit (again)" "$FILTERED"
