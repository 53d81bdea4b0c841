#!/usr/bin/env bash
# The full herd, embedded mode: 1,000,000 place-order attempts for 10,000
# units, with flashsale's own load generator and its invariant checks, and
# the machine's ceiling for the same traffic in the same run.
#
#   flashsale loadtest --embedded -scenario herd -users 1000000 -units 10000
#     -max-attempts 1000000 -concurrency $CONCURRENCY -rate $RATE -duration $HARD_BOUND
#
# One million distinct shoppers, signed in beforehand (the generator mints
# their tokens during the countdown), each press Buy once within $JITTER of
# the sale's opening and again only if refused with a retry (429/503): the
# first 10,000 presses take the units, everyone after gets 409 sold_out and
# stops, so the run is one million attempts. Winners pay (80 %) after a
# think time or walk away. The service keeps its production limits
# (per-user 1/s,10/m: each shopper presses about once) except the per-IP
# limit, off because every shopper is on 127.0.0.1.
#
# Closed loop by default ($RATE 0): $CONCURRENCY workers send the presses,
# each the next due shopper as soon as its previous answer is in, so the
# service sees at most $CONCURRENCY requests at once and runs as fast as it
# can; the shoppers who pressed while every worker was busy wait in the
# generator, which reports that wait apart (queue_wait) and keeps it out of
# latency. RATE=N runs open loop instead: N presses a second whatever the
# service does, latency counted from each press's scheduled time, presses
# that find $CONCURRENCY in flight dropped and counted.
#
# The ceiling, first: the same generator with the same settings against
# bench/ceiling, a bare net/http server answering every press with
# flashsale's exact sold_out bytes ($CEILING_ATTEMPTS shoppers, enough for a
# steady rate). It has no invariants to check, so its run "fails" the stats
# check; only its rate counts.
#
# While each run sends traffic, the machine's CPU is sampled every second
# (/proc/stat and the runs' processes), so the summary says how many cores
# the run had and how many other work took: on a shared machine that moves
# every figure.
#
# Writes bench/results/herd.json, herd.html and herd-ceiling.json. Exit
# status is the load test's: non-zero on an invariant violation.
#
# Settings (environment): USERS=1000000 UNITS=10000 ATTEMPTS=$USERS
#   CONCURRENCY=128 RATE=0 JITTER=2s HARD_BOUND=240s CEILING_ATTEMPTS=300000
#   EXTERNAL=0 (1: drive a separate 'flashsale serve' process instead of
#   --embedded, which also gives the server's and the generator's CPU apart)
# Bounded: HARD_BOUND of traffic plus setup and the end checks (at most a
# minute), the ceiling run (under a minute), plus build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init herd
need jq

USERS=${USERS:-1000000}
UNITS=${UNITS:-10000}
ATTEMPTS=${ATTEMPTS:-$USERS}
CONCURRENCY=${CONCURRENCY:-128}
RATE=${RATE:-0}
JITTER=${JITTER:-2s}
HARD_BOUND=${HARD_BOUND:-240s}
CEILING_ATTEMPTS=${CEILING_ATTEMPTS:-300000}
EXTERNAL=${EXTERNAL:-0}
START_DELAY=5 # seconds: the countdown, during which the generator mints tokens

if [ "$RATE" = 0 ]; then loop="closed loop, $CONCURRENCY workers"; else loop="open loop at $RATE/s, at most $CONCURRENCY in flight"; fi
machine_info
report "settings: $USERS users, $UNITS units (1 item, per_user_limit 1), at most $ATTEMPTS attempts, first presses within $JITTER, $loop, hard bound $HARD_BOUND"
build

# sample_cpu FILE PID...: until the first PID exits, once a second: the
# time, the machine's busy and total CPU ticks, and each PID's ticks.
sample_cpu() {
  local file=$1 pid line
  shift
  while kill -0 "$1" 2>/dev/null; do
    line="$(date +%s.%N) $(awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat)"
    for pid in "$@"; do line+=" $(cpu_ticks "$pid" 2>/dev/null || echo 0)"; done
    echo "$line" >>"$file"
    sleep 1
  done
}

# cpu_during SAMPLES JSON: the CPU the run's processes, other work and
# nothing used during the traffic phase the JSON report names, in cores,
# and the run's requests per CPU-second of its processes.
cpu_during() {
  local start seconds requests
  start=$(date -d "$(jq -r .traffic_start "$2")" +%s.%N)
  seconds=$(jq -r .traffic_seconds "$2")
  requests=$(jq -r .traffic_requests "$2")
  awk -v from="$start" -v to="$(awk -v a="$start" -v b="$seconds" 'BEGIN {printf "%.3f", a + b}')" \
    -v hz="$CLK_TCK" -v cpus="$NPROC" -v requests="$requests" '
    $1 >= from && $1 <= to {
      if (t0 == "") { t0 = $1; b0 = $2; a0 = $3; p0 = 0; for (i = 4; i <= NF; i++) p0 += $i }
      t1 = $1; b1 = $2; a1 = $3; p1 = 0; for (i = 4; i <= NF; i++) p1 += $i
    }
    END {
      if (t0 == "" || t1 - t0 < 1) { print "cpu: too few samples in the traffic phase"; exit }
      d = t1 - t0; busy = (b1 - b0) / hz / d; mine = (p1 - p0) / hz / d; idle = (a1 - a0 - (b1 - b0)) / hz / d
      printf "cpu over %.0f s of traffic: the run %.2f cores, other work %.2f, idle %.2f (of %d); %.0f requests per CPU-second of the run", d, mine, (busy > mine ? busy - mine : 0), idle, cpus, (mine > 0 ? requests / (to - from) / mine : 0)
    }' "$1"
}

args=(-scenario herd -items 1 -units "$UNITS" -per-user-limit 1 -rate "$RATE" -ramp-up 0s
  -jitter "$JITTER" -concurrency "$CONCURRENCY" -duration "$HARD_BOUND" -start-delay "${START_DELAY}s")

# ---- the ceiling ----
CEIL_JSON=$RESULTS/herd-ceiling.json
CEIL_PORT=$(free_port)
# A sale page for the generator to read: one item, opening after the same
# countdown as flashsale's sale, so that tokens are minted ahead there too.
opens=$(date -u -d "+$((START_DELAY + 3)) seconds" +%Y-%m-%dT%H:%M:%SZ)
echo '{"sale_id":"ceiling-sale","start_time":"'"$opens"'","end_time":"2099-01-01T00:00:00Z","items":[{"item_id":"ceiling-item","total_quantity":'"$UNITS"'}]}' >"$WORK/ceiling-page.json"
start_ceiling "$CEIL_PORT" 0 -page-file "$WORK/ceiling-page.json"
say "ceiling: the same herd of $CEILING_ATTEMPTS shoppers against bare net/http answering sold_out"
"$BIN/flashsale" loadtest -url "$CEIL_URL" -sale ceiling-sale -users "$CEILING_ATTEMPTS" -max-attempts "$CEILING_ATTEMPTS" \
  "${args[@]}" -json "$CEIL_JSON" >"$WORK/ceiling.txt" 2>"$WORK/ceiling.err" &
GEN=$!
track "$GEN"
sample_cpu "$WORK/ceiling-cpu.txt" "$GEN" "$CEIL_PID"
wait "$GEN" || true # no stats to check: the ceiling's run reports a violation
stop_pid "$CEIL_PID"
[ -s "$CEIL_JSON" ] || die "no ceiling report: $(tail -5 "$WORK/ceiling.err")"
CEIL_RPS=$(jq -r '.throughput_rps | round' "$CEIL_JSON")
CEIL_CPU=$(cpu_during "$WORK/ceiling-cpu.txt" "$CEIL_JSON")

# ---- flashsale ----
JSON=$RESULTS/herd.json
HTML=$RESULTS/herd.html
status=0
if [ "$EXTERNAL" = 1 ]; then
  FS_PORT=$(free_port)
  start_flashsale "$FS_PORT" "$WORK/data" 0 FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m
  t0=$(cpu_ticks "$FS_PID")
  say "driving $FS_URL"
  "$BIN/flashsale" loadtest -url "$FS_URL" -users "$USERS" -max-attempts "$ATTEMPTS" "${args[@]}" \
    -json "$JSON" -html "$HTML" >"$WORK/herd.txt" 2>"$WORK/herd.err" &
  GEN=$!
  track "$GEN"
  sample_cpu "$WORK/herd-cpu.txt" "$GEN" "$FS_PID"
  wait "$GEN" || status=$?
  report "CPU over the whole run: server $(awk -v a="$t0" -v b="$(cpu_ticks "$FS_PID")" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (b - a) / hz}') s"
else
  say "running the embedded herd (server and generator in one process)"
  "$BIN/flashsale" loadtest --embedded -users "$USERS" -max-attempts "$ATTEMPTS" "${args[@]}" \
    -json "$JSON" -html "$HTML" >"$WORK/herd.txt" 2>"$WORK/herd.err" &
  GEN=$!
  track "$GEN"
  sample_cpu "$WORK/herd-cpu.txt" "$GEN"
  wait "$GEN" || status=$?
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
    "generator: shoppers waited for a worker p50 \(.queue_wait.p50_ms) ms, p99 \(.queue_wait.p99_ms) ms (not in latency); open loop: \(.dropped_arrivals) arrivals dropped, \(.unused_arrivals) unused, arrival lag p99 \(.arrival_lag.p99_ms) ms",
    "status counts: \(.status_counts | to_entries | map("\(.key) \(.value)") | join(", "))"' "$JSON")"
report "$(cpu_during "$WORK/herd-cpu.txt" "$JSON")"
FS_RPS=$(jq -r '.throughput_rps | round' "$JSON")
report "ceiling (the same generator and settings against bare net/http answering sold_out): $CEIL_RPS requests/s; flashsale reaches $(ratio "$FS_RPS" "$CEIL_RPS") % of it"
report "ceiling $CEIL_CPU"
report "targets: zero violations; place-order p99 < 50 ms; > 20,000 requests/s overall"
report "reports: $JSON, $HTML, $CEIL_JSON"
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
