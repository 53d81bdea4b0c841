#!/usr/bin/env bash
# Runs the quick benchmarks one after another (not the soak: bench/soak.sh
# takes 30 minutes by default) and prints their summaries together:
#
#   bench/soldout.sh        sold-out path vs bare net/http; fixed-rate p99
#   bench/reserve.sh        reservations through HTTP, in process, SQLite commit
#   bench/redis-ceiling.sh  bare Redis script vs the Redis adapter; PostgreSQL commit
#   bench/herd.sh           1,000,000 attempts for 10,000 units, embedded
#
# Each script's settings (environment) pass through. A script that fails is
# reported and the others still run; the exit status is non-zero if any
# failed. Bounded: about 12 minutes on the 2-core machine of
# docs/BENCHMARKS.md, most of it the herd.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=${RESULTS:-$BENCH_DIR/results}
mkdir -p "$RESULTS"

failed=()
for name in soldout reserve redis-ceiling herd; do
  printf '\n######## bench/%s.sh ########\n' "$name"
  if ! "$BENCH_DIR/$name.sh"; then
    failed+=("$name")
  fi
done

printf '\n\n================ SUMMARY ================\n'
for name in soldout reserve redis-ceiling herd; do
  printf '\n--- %s ---\n' "$name"
  file=$RESULTS/$name-summary.txt
  if [ -f "$file" ]; then
    # The summary section of each script: from its "== summary" line on.
    awk '/^== summary/ {on = 1} on' "$file"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
