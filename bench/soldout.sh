#!/usr/bin/env bash
# The sold-out path against its ceiling, same run, same client, same
# settings.
#
# Starts 'flashsale serve' (embedded, temporary data dir, rate limits off)
# and bench/ceiling (bare net/http sending flashsale's exact bytes), creates
# a sale of one unit, takes it, then drives POST /flash-sales/{id}/orders
# at both with wrk (many distinct user tokens, each request the next user),
# and GET /flash-sales/{id} (the refresh storm) at both. Prints requests/s,
# p50/p99 and the ratio to the ceiling. Then measures the p99 of a sold-out
# place-order at fixed rates, open loop, with 'flashsale loadtest'.
#
# Rate limits are OFF in this run: the per-IP limit would refuse everything
# from 127.0.0.1 and the per-user limit would measure the limiter's 429s, not
# the sold-out answer.
#
# Settings (environment):
#   DURATION=10s WARMUP=2s CONNS=64 THREADS=1 USERS=10000 REPEATS=2
#   MODES="pinned shared"   pinned: server on CPU 0 (GOMAXPROCS=1), wrk on
#                           CPU 1: one server core, the per-core rate;
#                           shared: no pinning, both share every CPU
#   RATES="1000 5000 10000" fixed rates of the open-loop run; FIXED_DURATION=15s
# Bounded: about (4 x REPEATS x (WARMUP+DURATION)) per mode plus
# FIXED_DURATION per rate, plus build time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init soldout
need wrk "apt-get install -y wrk"
need jq

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
USERS=${USERS:-10000}
REPEATS=${REPEATS:-2}
MODES=${MODES:-pinned shared}
RATES=${RATES:-1000 5000 10000}
FIXED_DURATION=${FIXED_DURATION:-15s}
if [ "$NPROC" -lt 2 ]; then MODES=shared; fi

machine_info
report "settings: wrk -t$THREADS -c$CONNS -d$DURATION (after a $WARMUP warm-up), $USERS distinct users, $REPEATS repeats, rate limits off"
build
mint_tokens "$USERS" bench-soldout "$WORK/tokens.txt"
ADMIN=$(token bench-admin admin)
WINNER=$(token bench-winner)

DATA=$WORK/data
FS_PORT=$(free_port)
CEIL_PORT=$(free_port)

# The sale and its one unit, taken; then the exact bytes of the answers.
PIN=0 start_flashsale "$FS_PORT" "$DATA" 0
create_sale "$FS_URL" "$ADMIN" 1 1
place_order "$FS_URL" "$WINNER" | head -1 | grep -q ' 201' || die "the winner did not get the unit"
place_order "$FS_URL" "$(head -1 "$WORK/tokens.txt")" | tr -d '\r' >"$WORK/fs-soldout.txt"
head -1 "$WORK/fs-soldout.txt" | grep -q ' 409' || die "expected 409 sold_out, got: $(cat "$WORK/fs-soldout.txt")"
sed '1,/^$/d' "$WORK/fs-soldout.txt" >"$WORK/fs-soldout-body.txt"
sleep 0.6 # past the sale page cache, so the page shows the item sold out
curl -fsS -D "$WORK/page-headers.txt" -o "$WORK/page.json" "$FS_URL/flash-sales/$SALE_ID"
ETAG=$(tr -d '\r' <"$WORK/page-headers.txt" | awk -F': ' 'tolower($1) == "etag" {print $2}')
CACHE_CONTROL=$(tr -d '\r' <"$WORK/page-headers.txt" | awk -F': ' 'tolower($1) == "cache-control" {print $2}')
stop_pid "$FS_PID"
report "sale $SALE_ID item $ITEM_ID: 1 unit, taken; sold-out answer is $(wc -c <"$WORK/fs-soldout-body.txt") bytes, sale page $(wc -c <"$WORK/page.json") bytes"

# The ceiling must send what flashsale sends.
verify_ceiling() {
  place_order "$CEIL_URL" x | tr -d '\r' >"$WORK/ceil-soldout.txt"
  sed '1,/^$/d' "$WORK/ceil-soldout.txt" | cmp -s - "$WORK/fs-soldout-body.txt" ||
    die "the ceiling's sold-out body differs from flashsale's"
  for h in 'HTTP/1.1 409 Conflict' 'Content-Type: application/json' "Content-Length: $(wc -c <"$WORK/fs-soldout-body.txt")"; do
    grep -qx "$h" "$WORK/fs-soldout.txt" || die "flashsale's answer lacks '$h'"
    grep -qx "$h" "$WORK/ceil-soldout.txt" || die "the ceiling's answer lacks '$h'"
  done
}

declare -A SUM
for mode in $MODES; do
  if [ "$mode" = pinned ]; then PIN=1; SERVER_CPUS=0; CLIENT_CPUS=1; else PIN=0; SERVER_CPUS=0-$((NPROC - 1)); CLIENT_CPUS=$SERVER_CPUS; fi
  report ""
  report "== $mode: server on CPUs $SERVER_CPUS, wrk on CPUs $CLIENT_CPUS =="
  start_flashsale "$FS_PORT" "$DATA" "$SERVER_CPUS"
  start_ceiling "$CEIL_PORT" "$SERVER_CPUS" -page-file "$WORK/page.json" -etag "$ETAG" -cache-control "$CACHE_CONTROL"
  verify_ceiling
  for rep in $(seq "$REPEATS"); do
    for what in order get; do
      if [ "$what" = order ]; then args=(order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS"); else args=(get "$SALE_ID"); fi
      wrk_run "$mode $what ceiling #$rep" "$CEIL_PID" "$CLIENT_CPUS" "$CEIL_URL" "${args[@]}"
      c=$WRK_LINE
      wrk_run "$mode $what flashsale #$rep" "$FS_PID" "$CLIENT_CPUS" "$FS_URL" "${args[@]}"
      f=$WRK_LINE
      report "$(printf '%-34s %s %% of the ceiling (per server core: %s %%)' "$mode $what ratio #$rep" \
        "$(ratio "$(field "$f" rps)" "$(field "$c" rps)")" "$(ratio "$(field "$f" rps_per_core)" "$(field "$c" rps_per_core)")")"
      SUM[$mode.$what.fs]=$(awk -v a="${SUM[$mode.$what.fs]:-0}" -v b="$(field "$f" rps)" 'BEGIN {print a + b}')
      SUM[$mode.$what.ceil]=$(awk -v a="${SUM[$mode.$what.ceil]:-0}" -v b="$(field "$c" rps)" 'BEGIN {print a + b}')
      SUM[$mode.$what.fscore]=$(awk -v a="${SUM[$mode.$what.fscore]:-0}" -v b="$(field "$f" rps_per_core)" 'BEGIN {print a + b}')
    done
  done
  stop_pid "$FS_PID"
  stop_pid "$CEIL_PID"
done

# p99 of a sold-out place-order at fixed rates: open loop (arrivals follow
# the clock; latency counts from the scheduled time), flashsale's own
# generator, distinct users, both processes on all CPUs.
report ""
report "== fixed rate, open loop (flashsale loadtest, soak scenario, every request a place-order on the sold-out item) =="
PIN=0 start_flashsale "$FS_PORT" "$DATA" 0
for rate in $RATES; do
  json=$RESULTS/soldout-fixed-$rate.json
  "$BIN/flashsale" loadtest -url "$FS_URL" -sale "$SALE_ID" -scenario soak -order-share 1 -rate "$rate" -ramp-up 0s \
    -users "$USERS" -duration "$FIXED_DURATION" -concurrency 512 -json "$json" >"$WORK/fixed-$rate.txt" 2>&1 ||
    die "loadtest at $rate/s failed: $(tail -5 "$WORK/fixed-$rate.txt")"
  report "$(jq -r --arg rate "$rate" '
    (.endpoints[] | select(.endpoint == "place_order") | .outcomes[] | select(.code == "sold_out")) as $o
    | "rate \($rate)/s: \(.throughput_rps | floor) req/s answered, sold_out p50 \($o.p50_ms) ms p99 \($o.p99_ms) ms p99.9 \($o.p999_ms) ms max \($o.max_ms) ms (\($o.count) answers); dropped arrivals \(.dropped_arrivals), arrival lag p99 \(.arrival_lag.p99_ms) ms"' "$json")"
done
STATS=$(stats "$FS_URL" "$ADMIN")
report "invariant after the run: $(check_invariant "$STATS") ($(jq -c '.items[0] | {total, available, reserved, sold}' <<<"$STATS"))"

report ""
report "== summary (mean of $REPEATS repeats) =="
for mode in $MODES; do
  for what in order get; do
    name=$([ "$what" = order ] && echo "sold-out place-order" || echo "sale page GET")
    report "$(printf '%-7s %-21s flashsale %8.0f req/s (%6.0f per server core)  ceiling %8.0f req/s  -> %s %% of the ceiling' \
      "$mode" "$name" "$(awk -v s="${SUM[$mode.$what.fs]}" -v n="$REPEATS" 'BEGIN {print s / n}')" \
      "$(awk -v s="${SUM[$mode.$what.fscore]}" -v n="$REPEATS" 'BEGIN {print s / n}')" \
      "$(awk -v s="${SUM[$mode.$what.ceil]}" -v n="$REPEATS" 'BEGIN {print s / n}')" \
      "$(ratio "${SUM[$mode.$what.fs]}" "${SUM[$mode.$what.ceil]}")")"
  done
done
report "target: the sold-out path at >= 70 % of the ceiling"
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
