#!/usr/bin/env bash
# One sidecar under load with each backend, side by side in one run
# (docs/benchmarks.md, "Replicated backends"): Envoy's ShouldRateLimit over
# gRPC (benches/examples/grpc_load.rs, one descriptor, 1,000 client
# addresses) and store GET/PUT over HTTP (wrk, one key, 3-byte values),
# against
#   memory  the embedded default;
#   redis   a local redis-server (no persistence), the sidecar's only peer;
#   mesh    node a of a three-node mesh on this machine (b and c idle but
#           receiving a's count stream and store writes, quorum 2 of 3);
# and raw `redis-benchmark` GET/SET on the same Redis with as many clients,
# the floor a Redis-backed store cannot beat. Everything listens on
# 127.0.0.1 with free ports, every run is bounded, everything started is
# stopped on exit. Needs wrk, redis-server and redis-benchmark (Debian's
# redis-server and redis-tools).
#   bash benches/replication/run.sh
#   RUN_SECONDS=5 bash benches/replication/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN_SECONDS=${RUN_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-4}
CONCURRENCY=${CONCURRENCY:-32}
source benches/http/common.sh
command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 2; }
cargo build --release --locked -q -p reaper-benches --example grpc_load
LOAD="${CARGO_TARGET_DIR:-target}/release/examples/grpc_load"

echo "# $(date -u +%FT%TZ), $(nproc) cores, server --threads $SERVER_THREADS, loader: grpc_load 1 thread ($CONNECTIONS connections, $CONCURRENCY in flight) and wrk -t1 -c$CONCURRENCY, ${RUN_SECONDS}s after 2s warm-up, loopback"

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# Rate limits with the api-gateway example, the store with the session
# store's: one sidecar at a time, on each backend.
ratelimit() { # NAME GRPC_PORT
  echo "$1 ShouldRateLimit: $("$LOAD" --addr "127.0.0.1:$2" --call ratelimit1 --connections "$CONNECTIONS" \
    --concurrency "$CONCURRENCY" --seconds "$RUN_SECONDS" --warmup 2)"
}
store() { # NAME HTTP_PORT
  for op in put get; do
    wrk -t1 -c"$CONCURRENCY" -d2s -s "$HERE/store_$op.lua" "http://127.0.0.1:$2" >/dev/null
    out=$(wrk -t1 -c"$CONCURRENCY" -d"${RUN_SECONDS}s" --latency -s "$HERE/store_$op.lua" "http://127.0.0.1:$2")
    # Every answer must be a success (201 stored, 200 read), or the figure
    # measures refusals.
    if grep -q 'Non-2xx' <<<"$out"; then echo "$1 store $op: refused answers" >&2; echo "$out" >&2; exit 1; fi
    echo "$1 store $op: $(awk '/Requests\/sec/ {r=$2} /99%/ {p=$2} END {printf "%.0f req/s, p99 %s", r, p}' <<<"$out")"
  done
}
# BACKEND ARGS for `serve`; the mesh starts b and c first.
with_backend() { # NAME POLICY ARGS...
  shift
  HTTP=$(free_port); GRPC=$(free_port)
  GRPC_ADDR=127.0.0.1:$GRPC serve "$HTTP" "$@"
}
mesh() { # POLICY ARGS...: starts b and c, then a (the one under load)
  M1=$(free_port); M2=$(free_port); M3=$(free_port)
  GRPC_ADDR=off serve "$(free_port)" "$@" --backend mesh --node-id b --mesh-addr "127.0.0.1:$M2" --peers "127.0.0.1:$M1,127.0.0.1:$M3"
  GRPC_ADDR=off serve "$(free_port)" "$@" --backend mesh --node-id c --mesh-addr "127.0.0.1:$M3" --peers "127.0.0.1:$M1,127.0.0.1:$M2"
  with_backend mesh "$@" --backend mesh --node-id a --mesh-addr "127.0.0.1:$M1" --peers "127.0.0.1:$M2,127.0.0.1:$M3"
  for _ in $(seq 1 400); do
    [ "$(curl -s "http://127.0.0.1:$HTTP/v1/status" | grep -o '"alive":true,"streaming":true' | wc -l)" = 2 ] && return 0
    sleep 0.05
  done
  echo "the mesh did not form" >&2; exit 1
}
stop_mesh() { stop_last; stop_last; stop_last; }
REDIS=(--backend redis --redis-url "redis://127.0.0.1:$REDIS_PORT")

with_backend memory examples/api-gateway; ratelimit memory "$GRPC"; stop_last
with_backend redis examples/api-gateway "${REDIS[@]}"; ratelimit redis "$GRPC"; stop_last
mesh examples/api-gateway; ratelimit "mesh (a of 3)" "$GRPC"; stop_mesh

SESSIONS=(examples/session-store --entities examples/session-store/entities.json)
with_backend memory "${SESSIONS[@]}"; store memory "$HTTP"; stop_last
with_backend redis "${SESSIONS[@]}" "${REDIS[@]}"; store redis "$HTTP"; stop_last
mesh "${SESSIONS[@]}"; store "mesh (a of 3)" "$HTTP"; stop_mesh

echo "redis-benchmark (the same Redis, $CONCURRENCY clients, 3-byte values, one thread):"
redis-benchmark -p "$REDIS_PORT" -c "$CONCURRENCY" -n 300000 -t set,get --csv \
  | awk -F, 'NR>1 {gsub(/"/,""); printf "  %s: %.0f req/s, p99 %s ms\n", $1, $2, $7}'
