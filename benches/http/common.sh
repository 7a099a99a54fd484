# Sourced by run.sh and memory.sh: the release binary, free loopback
# ports, and servers started in the background and always stopped.
# Expects to run from the repository root.
HERE=benches/http
TMP=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
cargo build --release --locked -q -p reaper-cli
REAPER=${CARGO_TARGET_DIR:-target}/release/reaper
# Server threads: one, since the load generator takes the other core.
SERVER_THREADS=${SERVER_THREADS:-1}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_ready() { # URL
  for _ in $(seq 1 400); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "not ready: $1" >&2; exit 1
}

serve() { # PORT ARGS...   (gRPC on $GRPC_ADDR, off unless set)
  local port=$1; shift
  REAPER_LOG=warn "$REAPER" serve "$@" --http "127.0.0.1:$port" --grpc "${GRPC_ADDR:-off}" \
    --threads "$SERVER_THREADS" --no-watch 2>>"$TMP/serve.log" &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$port/health/ready"
}

stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
