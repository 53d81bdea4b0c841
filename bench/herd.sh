#!/usr/bin/env bash
# The full herd, embedded mode: 1,000,000 place-order attempts for 10,000
# units, with flashsale's own load generator and its invariant checks.
#
#   flashsale loadtest --embedded -scenario herd -users 1000000 -units 10000
#     -max-attempts 1000000 -rate $RATE -concurrency $CONCURRENCY -duration $HARD_BOUND
#
# One million distinct shoppers each press Buy once when the sale opens and
# again only if refused with a retry (429/503): the first 10,000 presses
# take the units, everyone after gets 409 sold_out and stops, so the run is
# one million attempts. Arrivals are open loop at $RATE/s (they follow the
# clock and do not slow down when the service does; latency counts from the
# scheduled time), at most $CONCURRENCY in flight. Winners pay (80 %) after a
# think time or walk away. The service keeps its production limits (per-user
# 1/s,10/m: each shopper presses about once) except the per-IP limit, off
# because every shopper is on 127.0.0.1.
#
# Why open loop: in closed loop the generator starts one goroutine per
# pressing user, and with a million users and a few hundred connections it
# spends its time queueing (see docs/BENCHMARKS.md).
#
# Writes bench/results/herd.json and herd.html. Exit status is the load
# test's: non-zero on an invariant violation.
#
# Settings (environment): USERS=1000000 UNITS=10000 ATTEMPTS=$USERS RATE=30000
#   CONCURRENCY=1024 HARD_BOUND=240s EXTERNAL=0 (1: drive a separate
#   'flashsale serve' process instead of --embedded, which also gives the
#   server's and the generator's CPU apart)
# Bounded: HARD_BOUND of traffic plus setup and the end checks (at most a
# minute), plus build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init herd
need jq

USERS=${USERS:-1000000}
UNITS=${UNITS:-10000}
ATTEMPTS=${ATTEMPTS:-$USERS}
RATE=${RATE:-30000}
CONCURRENCY=${CONCURRENCY:-1024}
HARD_BOUND=${HARD_BOUND:-240s}
EXTERNAL=${EXTERNAL:-0}

machine_info
report "settings: $USERS users, $UNITS units (1 item, per_user_limit 1), at most $ATTEMPTS attempts, open loop at $RATE/s, $CONCURRENCY in flight, hard bound $HARD_BOUND"
build

JSON=$RESULTS/herd.json
HTML=$RESULTS/herd.html
args=(-scenario herd -users "$USERS" -items 1 -units "$UNITS" -per-user-limit 1 -max-attempts "$ATTEMPTS"
  -rate "$RATE" -ramp-up 0s -concurrency "$CONCURRENCY" -duration "$HARD_BOUND" -start-delay 5s
  -json "$JSON" -html "$HTML")
status=0
if [ "$EXTERNAL" = 1 ]; then
  FS_PORT=$(free_port)
  start_flashsale "$FS_PORT" "$WORK/data" 0 FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m
  t0=$(cpu_ticks "$FS_PID")
  say "driving $FS_URL"
  { TIMEFORMAT='%U %S'; time "$BIN/flashsale" loadtest -url "$FS_URL" "${args[@]}" >"$WORK/herd.txt" 2>"$WORK/herd.err"; } 2>"$WORK/gen-time" || status=$?
  t1=$(cpu_ticks "$FS_PID")
  report "CPU: server $(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (b - a) / hz}') s, generator $(awk '{printf "%.1f", $1 + $2}' "$WORK/gen-time") s"
else
  say "running the embedded herd (server and generator in one process)"
  "$BIN/flashsale" loadtest --embedded "${args[@]}" >"$WORK/herd.txt" 2>"$WORK/herd.err" || status=$?
fi
cat "$WORK/herd.txt" >>"$SUMMARY"
cat "$WORK/herd.txt"
[ -s "$JSON" ] || die "no JSON report (exit $status): $(tail -5 "$WORK/herd.err")"

report ""
report "== summary =="
report "$(jq -r '
  (.endpoints[] | select(.endpoint == "place_order")) as $po
  | ($po.outcomes[] | select(.code == "sold_out") | .p99_ms) as $so
  | "place-order attempts \(.place_order_attempts) (stop: \(.stop_reason)); traffic \(.traffic_seconds | . * 10 | round / 10) s; \(.traffic_requests) requests at \(.throughput_rps | round) requests/s overall",
    "place-order p50 \($po.p50_ms) ms, p99 \($po.p99_ms) ms, p99.9 \($po.p999_ms) ms, max \($po.max_ms) ms (sold_out answers alone: p99 \($so) ms)",
    "reservations \(.reservations.people + .reservations.bots) of \(.total_units) units; sold out after \(.sell_out.after_ms // "n/a") ms; purchases \(.purchases.people + .purchases.bots)",
    "invariants: \(if (.violations | length) == 0 then "OK, zero violations" else "\(.violations | length) VIOLATIONS: \(.violations | join("; "))" end); orders checked \(.order_check.checked) of \(.order_check.orders), missing \(.order_check.missing)",
    "generator: \(.dropped_arrivals) open-loop arrivals dropped (the service was slower than \(.settings.rate)/s), arrival lag p99 \(.arrival_lag.p99_ms) ms",
    "status counts: \(.status_counts | to_entries | map("\(.key) \(.value)") | join(", "))"' "$JSON")"
report "targets: zero violations; place-order p99 < 50 ms; > 20,000 requests/s overall"
report "reports: $JSON, $HTML"
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
