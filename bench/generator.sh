#!/usr/bin/env bash
# The load generator's own cost (issue 19: flashsale loadtest at most 1.5 x
# wrk's CPU per request). Both clients, on CPU 0, send the same sold-out
# place-order presses (distinct users' tokens, one request in flight per
# connection) to bench/ceiling, a bare net/http server on CPU 1 answering
# flashsale's sold_out bytes, so the server costs each the same and never
# waits for them:
#
#   wrk -t1 -c$CONNS -d$DURATION -s bench/wrk/flashsale.lua  (order mode)
#   flashsale loadtest -url ... -scenario herd -concurrency $CONNS -jitter 0s
#
# Each client's CPU (user + system) is read over its traffic alone: wrk's
# as the difference between a 1 s and a $DURATION run (its start formats
# every request in Lua), the generator's over the traffic phase its JSON
# report names (not the countdown, where it mints the tokens).
# $ROUNDS rounds, interleaved.
#
# Settings: CONNS=128 DURATION=10s ROUNDS=3 USERS=400000
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init generator
need wrk "apt-get install -y wrk"
need jq

CONNS=${CONNS:-128}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
USERS=${USERS:-400000}
[ "$NPROC" -ge 2 ] || die "needs two CPUs: one for the clients, one for the server"

machine_info
report "settings: $CONNS connections, $DURATION of traffic a run, $ROUNDS rounds, clients on CPU 0, the ceiling on CPU 1"
build
mint_tokens "$USERS" bench-generator "$WORK/tokens.txt"

START_DELAY=4

# ceiling_opening_in SECONDS: (re)starts the ceiling on CPU 1 with a sale
# page that opens that many seconds from now: the generator counts down
# to it, minting its tokens.
ceiling_opening_in() {
  [ -z "${CEIL_PID:-}" ] || stop_pid "$CEIL_PID"
  local opens
  opens=$(date -u -d "+$1 seconds" +%Y-%m-%dT%H:%M:%SZ)
  echo '{"sale_id":"ceiling-sale","start_time":"'"$opens"'","end_time":"2099-01-01T00:00:00Z","items":[{"item_id":"ceiling-item","total_quantity":1}]}' >"$WORK/page.json"
  PIN=1 start_ceiling "$(free_port)" 1 -page-file "$WORK/page.json"
}

# per_request CPU_TICKS REQUESTS: microseconds of CPU a request.
per_request() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (n > 0 ? t / hz / n * 1e6 : 0)}'; }

# ticks_at FILE TIME: the process's CPU ticks sampled last at or before TIME.
ticks_at() { awk -v at="$2" '$1 <= at {t = $2} END {print t + 0}' "$1"; }

report "| round | wrk requests/s | wrk CPU per request, µs | generator requests/s | generator CPU per request, µs | ratio |"
report "|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
  ceiling_opening_in 3600 # wrk reads no page
  # wrk: a warm-up, then a 1 s run and a $DURATION run, each timed by
  # time(1): their difference is $DURATION less a second of traffic,
  # without wrk's start (formatting $USERS requests in Lua).
  taskset -c 0 wrk -t1 -c"$CONNS" -d2s -s "$BENCH_DIR/wrk/flashsale.lua" "$CEIL_URL" -- order "$WORK/tokens.txt" ceiling-sale ceiling-item 1 >/dev/null 2>&1 || true
  for d in 1s "$DURATION"; do
    out=$({ TIMEFORMAT='%U %S'; time taskset -c 0 wrk -t1 -c"$CONNS" -d"$d" -s "$BENCH_DIR/wrk/flashsale.lua" "$CEIL_URL" \
      -- order "$WORK/tokens.txt" ceiling-sale ceiling-item 1 2>&1; } 2>"$WORK/wrk-time-$d")
    line=$(grep '^RESULT' <<<"$out") || die "wrk printed no RESULT: $out"
    echo "$(field "$line" requests) $(awk '{print $1 + $2}' "$WORK/wrk-time-$d") $(field "$line" rps)" >"$WORK/wrk-$d"
  done
  read -r short_requests short_cpu _ <"$WORK/wrk-1s"
  read -r wrk_requests wrk_cpu wrk_rps <"$WORK/wrk-$DURATION"
  wrk_us=$(awk -v r0="$short_requests" -v c0="$short_cpu" -v r1="$wrk_requests" -v c1="$wrk_cpu" 'BEGIN {printf "%.1f", (c1 - c0) / (r1 - r0) * 1e6}')

  # The generator, its CPU sampled every 100 ms so the traffic phase can
  # be cut out of the run.
  json=$WORK/generator-$round.json
  ceiling_opening_in $((START_DELAY + 3))
  taskset -c 0 "$BIN/flashsale" loadtest -url "$CEIL_URL" -sale ceiling-sale -scenario herd -users "$USERS" -max-attempts "$USERS" \
    -items 1 -units 1 -rate 0 -ramp-up 0s -jitter 0s -concurrency "$CONNS" -duration "$DURATION" -start-delay "${START_DELAY}s" \
    -json "$json" >"$WORK/generator-$round.txt" 2>&1 &
  gen=$!
  track "$gen"
  : >"$WORK/ticks-$round.txt"
  while kill -0 "$gen" 2>/dev/null; do
    echo "$(date +%s.%N) $(cpu_ticks "$gen" 2>/dev/null || echo 0)" >>"$WORK/ticks-$round.txt"
    sleep 0.1
  done
  wait "$gen" || true # the ceiling keeps no orders: its stats check fails, only the traffic counts
  [ -s "$json" ] || die "no report from the generator: $(tail -5 "$WORK/generator-$round.txt")"
  from=$(date -d "$(jq -r .traffic_start "$json")" +%s.%N)
  to=$(awk -v a="$from" -v b="$(jq -r .traffic_seconds "$json")" 'BEGIN {printf "%.3f", a + b}')
  gen_ticks=$(($(ticks_at "$WORK/ticks-$round.txt" "$to") - $(ticks_at "$WORK/ticks-$round.txt" "$from")))
  gen_requests=$(jq -r .traffic_requests "$json")
  gen_us=$(per_request "$gen_ticks" "$gen_requests")
  report "| $round | $(printf '%.0f' "$wrk_rps") | $wrk_us | $(jq -r '.throughput_rps | round' "$json") | $gen_us | $(awk -v g="$gen_us" -v w="$wrk_us" 'BEGIN {printf "%.2f", g / w}') |"
done
