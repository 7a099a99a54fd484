#!/usr/bin/env bash
# A/B of the store over HTTP: two `reaper` binaries, store PUT then GET
# under the same load (wrk -t1 -c50, DURATION each), alternating, ROUNDS
# rounds; every server on a free 127.0.0.1 port and stopped afterwards.
#   bash benches/http/ab_store.sh OLD_BINARY NEW_BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=$1 NEW=$2
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
source benches/http/common.sh
for round in $(seq 1 "$ROUNDS"); do
  for which in old new; do
    if [ "$which" = old ]; then REAPER=$OLD; else REAPER=$NEW; fi
    PORT=$(free_port)
    serve "$PORT" examples/session-store --entities examples/session-store/entities.json
    for op in put get; do
      out=$(wrk -t1 -c50 -d"$DURATION" --latency -s "$HERE/store_$op.lua" "http://127.0.0.1:$PORT")
      echo "$round $which $op $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s p99 $(awk '$1 == "99%" {print $2}' <<<"$out")"
    done
    stop_last
  done
done
