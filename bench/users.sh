#!/usr/bin/env bash
# The server's memory against the number of distinct shoppers (issue 19:
# ten million users under 1 GB). For each count in $USER_COUNTS, a fresh
# 'flashsale serve' (embedded, production per-user limits) takes a herd of
# that many distinct signed-in shoppers pressing Buy on one item of $UNITS
# units, from 'flashsale loadtest' in another process; afterwards the
# server's peak resident set (VmHWM) and its Go heap as /metrics reports
# it are read before it stops.
#
#   flashsale loadtest -url ... -scenario herd -users N -units $UNITS -max-attempts N
#
# Whatever a shopper leaves in the server (a cached token, a limiter's
# window, a holding) shows as memory growing with N; what is bounded
# (the token cache's 65,536 entries, the units' orders) does not.
#
# Settings: USER_COUNTS="1000000 3000000 10000000" UNITS=10000
#   CONCURRENCY=128 JITTER=2s HARD_BOUND=900s
# Bounded: each run at most HARD_BOUND of traffic plus its countdown
# (minting N tokens: about 1 s a million) and the end checks.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init users
need jq

USER_COUNTS=${USER_COUNTS:-1000000 3000000 10000000}
UNITS=${UNITS:-10000}
CONCURRENCY=${CONCURRENCY:-128}
JITTER=${JITTER:-2s}
HARD_BOUND=${HARD_BOUND:-900s}

machine_info
build
report "| shoppers | requests/s | server peak RSS, MiB | Go heap in use at the end, MiB | Go heap objects at the end |"
report "|---:|---:|---:|---:|---:|"
for users in $USER_COUNTS; do
  port=$(free_port)
  start_flashsale "$port" "$WORK/data-$users" 0 FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m
  # The countdown mints the tokens: about a second a million, and a
  # margin.
  delay=$((5 + users / 500000))
  say "herd of $users shoppers against $FS_URL"
  json=$RESULTS/users-$users.json
  status=0
  "$BIN/flashsale" loadtest -url "$FS_URL" -scenario herd -users "$users" -max-attempts "$users" -items 1 \
    -units "$UNITS" -per-user-limit 1 -rate 0 -ramp-up 0s -jitter "$JITTER" -concurrency "$CONCURRENCY" \
    -duration "$HARD_BOUND" -start-delay "${delay}s" -json "$json" >"$WORK/users-$users.txt" 2>"$WORK/users-$users.err" || status=$?
  metrics=$(curl -fsS "$FS_URL/metrics")
  heap=$(awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%.0f", $2 / 1048576}' <<<"$metrics")
  objects=$(awk '$1 == "go_memstats_heap_objects" {printf "%.0f", $2}' <<<"$metrics")
  peak=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$FS_PID/status")
  stop_pid "$FS_PID"
  [ "$status" = 0 ] || die "the load test of $users shoppers failed ($status): $(tail -5 "$WORK/users-$users.txt")"
  report "| $users | $(jq -r '.throughput_rps | round' "$json") | $peak | $heap | $objects |"
done
