#!/usr/bin/env bash
# The distributed mode's ceilings, same run: the bare Redis script rate via
# redis-benchmark, then the Redis adapter's Go benchmarks (raw EVALSHA of the
# real reserve script vs reservations through the adapter), then durable
# commits in PostgreSQL.
#
# 1. redis-benchmark against the local Redis (127.0.0.1:6379), EVALSHA of a
#    tiny script that is the reserve's core (check stock, decrement):
#      local n = tonumber(redis.call('GET', KEYS[1]) or '0')
#      if n > 0 then redis.call('DECR', KEYS[1]) return 1 end return 0
#    on a key with stock (every call a decrement) and on a key at zero
#    (sold out), one request per round trip (-P 1) and pipelined (-P 16,
#    as rueidis pipelines concurrent calls). Also PING: Redis's own ceiling.
#    The keys live under {flashsale-bench}: and are deleted at the end.
# 2. The Redis adapter's Go benchmarks (./redis/, if they exist), each alone
#    for GO_BENCH_N calls with Redis's CPU measured: raw EVALSHA of the real
#    reserve script vs reservations through the adapter (which should reach
#    at least half of raw), and both on a sold-out item. Calls per Redis
#    CPU-second is what one Redis shard can take.
# 3. go test -bench CreateOrder ./postgres/ (if PostgreSQL answers):
#    group-committed durable order creates.
#
# Settings (environment): REDIS_HOST=127.0.0.1 REDIS_PORT=6379 REQUESTS=500000
#   CLIENTS=50 GO_BENCH_N=100000 (calls per Redis Go benchmark) BENCHTIME=2s
#   (PostgreSQL) FLASHSALE_TEST_REDIS_URL FLASHSALE_TEST_POSTGRES_URL
# Bounded: redis-benchmark runs of REQUESTS each (seconds), the Go
# benchmarks (about a minute), plus build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init redis-ceiling
need redis-benchmark "apt-get install -y redis-tools"
need redis-cli "apt-get install -y redis-tools"

REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
REQUESTS=${REQUESTS:-500000}
CLIENTS=${CLIENTS:-50}
BENCHTIME=${BENCHTIME:-2s}
GO_BENCH_N=${GO_BENCH_N:-100000}
export FLASHSALE_TEST_REDIS_URL=${FLASHSALE_TEST_REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT/0}
export FLASHSALE_TEST_POSTGRES_URL=${FLASHSALE_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable}
case $REDIS_HOST in 127.0.0.1 | localhost | ::1) ;; *) die "loopback only: REDIS_HOST must be 127.0.0.1" ;; esac

rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
rcli ping 2>/dev/null | grep -q PONG || die "no Redis at $REDIS_HOST:$REDIS_PORT (scripts/services.sh starts one)"

machine_info
report "redis: $(rcli info server | tr -d '\r' | awk -F: '/^redis_version:/ {print "Redis " $2}'), $(rcli info persistence | tr -d '\r' | awk -F: '/^aof_enabled:/ {print "AOF " ($2 == 1 ? "on" : "off")}'), $(rcli info clients | tr -d '\r' | awk -F: '/^connected_clients:/ {print $2 " clients connected before the run"}')"
REDIS_PID=$(rcli info server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')

STOCK_KEY='{flashsale-bench}:stock'
EMPTY_KEY='{flashsale-bench}:empty'
bench_extra_cleanup() { rcli del "$STOCK_KEY" "$EMPTY_KEY" >/dev/null 2>&1; }
SCRIPT="local n = tonumber(redis.call('GET', KEYS[1]) or '0') if n > 0 then redis.call('DECR', KEYS[1]) return 1 end return 0"
SHA=$(rcli script load "$SCRIPT")
rcli set "$STOCK_KEY" 1000000000000 >/dev/null
rcli set "$EMPTY_KEY" 0 >/dev/null

# rb LABEL PIPELINE COMMAND...: one redis-benchmark run; prints requests/s,
# p50/p99 and Redis's CPU; sets RB_RPS.
rb() {
  local label=$1 pipeline=$2
  shift 2
  local t0 t1 out
  t0=$(cpu_ticks "$REDIS_PID" 2>/dev/null || echo 0)
  out=$(redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" --csv "$@" 2>&1) ||
    die "redis-benchmark $*: $out"
  out=$(tail -1 <<<"$out")
  t1=$(cpu_ticks "$REDIS_PID" 2>/dev/null || echo 0)
  # The test name may hold commas (a script's text): count from the end.
  RB_RPS=$(tr -d '"' <<<"$out" | awk -F, '{print $(NF - 6)}')
  local p50 p99 seconds cpu
  p50=$(tr -d '"' <<<"$out" | awk -F, '{print $(NF - 3)}')
  p99=$(tr -d '"' <<<"$out" | awk -F, '{print $(NF - 1)}')
  seconds=$(awk -v n="$REQUESTS" -v r="$RB_RPS" 'BEGIN {print (r > 0 ? n / r : 0)}')
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v s="$seconds" 'BEGIN {printf "%.2f", (s > 0 && b > 0 ? (b - a) / hz / s : 0)}')
  RB_PER_CORE=$(awk -v r="$RB_RPS" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? r / c : 0)}')
  report "$(printf '%-44s %9.0f req/s  p50 %5s ms  p99 %5s ms  Redis CPU %s cores (%7.0f per Redis core)' "$label" "$RB_RPS" "$p50" "$p99" "$cpu" "$RB_PER_CORE")"
}

report ""
report "== redis-benchmark: $REQUESTS requests, $CLIENTS connections =="
declare -A RB RBCORE
for p in 1 16; do
  rb "PING (-P $p)" "$p" PING
  RB[ping.$p]=$RB_RPS
  rb "EVALSHA decrement, stock left (-P $p)" "$p" EVALSHA "$SHA" 1 "$STOCK_KEY"
  RB[take.$p]=$RB_RPS
  RBCORE[take.$p]=$RB_PER_CORE
  rb "EVALSHA decrement, sold out (-P $p)" "$p" EVALSHA "$SHA" 1 "$EMPTY_KEY"
  RB[soldout.$p]=$RB_RPS
done
rb "EVAL (script text sent each time, -P 1)" 1 EVAL "$SCRIPT" 1 "$STOCK_KEY"

report ""
report "== Redis adapter (go test -bench ./redis/), each benchmark alone, $GO_BENCH_N calls =="
# Each benchmark runs alone with a fixed count so that Redis's CPU over the
# run belongs to it: calls per Redis CPU-second is what one shard can take.
ADAPTER=""
declare -A GB GBCORE
if [ -f "$ROOT/redis/bench_test.go" ] && grep -q 'func BenchmarkRawReserveScript' "$ROOT/redis/bench_test.go"; then
  (cd "$ROOT" && go test -c -o "$BIN/redis.test" ./redis/) || die "cannot build the Redis benchmarks"
  : >"$WORK/redis-bench.txt"
  for b in RawReserveScript InventoryReserve RawReserveScriptSoldOut InventoryReserveSoldOut; do
    grep -q "func Benchmark$b(" "$ROOT/redis/bench_test.go" || { report "Benchmark$b: not in ./redis/, skipped"; continue; }
    t0=$(cpu_ticks "$REDIS_PID")
    if ! (cd "$ROOT/redis" && "$BIN/redis.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime "${GO_BENCH_N}x" -test.count 1) >"$WORK/bench-$b.txt" 2>&1; then
      report "Benchmark$b failed: $(grep -v '^\s*$' "$WORK/bench-$b.txt" | tail -3 | tr '\n' ' ')"
      continue
    fi
    t1=$(cpu_ticks "$REDIS_PID")
    line=$(grep "^Benchmark$b" "$WORK/bench-$b.txt" | tail -1)
    if [ -z "$line" ]; then report "Benchmark$b: $(grep -E 'SKIP|skip' "$WORK/bench-$b.txt" | head -1)"; continue; fi
    cat "$WORK/bench-$b.txt" >>"$WORK/redis-bench.txt"
    GB[$b]=$(awk '{for (i = 2; i < NF; i++) if ($(i + 1) == "requests/s") print $i}' <<<"$line")
    # The run is N calls plus one calibration call.
    GBCORE[$b]=$(awk -v n="$GO_BENCH_N" -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", (b > a ? (n + 1) / ((b - a) / hz) : 0)}')
    report "$(printf '%-28s %9.0f requests/s   %7.0f per Redis CPU-second   (%s)' "$b" "${GB[$b]}" "${GBCORE[$b]}" "$(awk '{print $3, $4, $7, $8, $9, $10}' <<<"$line")")"
    ADAPTER=yes
  done
else
  report "skipped: ./redis/ has no BenchmarkRawReserveScript yet (the Redis adapter is being written)"
fi

report ""
report "== PostgreSQL durable commits (go test -bench CreateOrder ./postgres/) =="
if [ -d "$ROOT/postgres" ] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if (cd "$ROOT" && go test -run '^$' -bench 'CreateOrder' -benchtime "$BENCHTIME" -count 1 ./postgres/) >"$WORK/pg-bench.txt" 2>&1; then
    grep -E '^(Benchmark|--- SKIP)' "$WORK/pg-bench.txt" | tee -a "$SUMMARY"
  else
    report "the PostgreSQL benchmark failed: $(grep -v '^\s*$' "$WORK/pg-bench.txt" | tail -5 | tr '\n' ' ')"
  fi
else
  report "skipped: no PostgreSQL on 127.0.0.1:5432 (scripts/services.sh starts one)"
fi

report ""
report "== summary =="
report "$(printf 'Redis ceiling, tiny decrement script: %.0f/s one per round trip, %.0f/s pipelined x16 (%.0f per Redis core); PING %.0f/s, %.0f/s' \
  "${RB[take.1]}" "${RB[take.16]}" "${RBCORE[take.16]}" "${RB[ping.1]}" "${RB[ping.16]}")"
if [ -n "$ADAPTER" ]; then
  report "reserve script, raw EVALSHA: ${GB[RawReserveScript]:-?}/s (${GBCORE[RawReserveScript]:-?} per Redis core, $(ratio "${GBCORE[RawReserveScript]:-0}" "${RBCORE[take.16]}") % of the tiny script's)"
  report "reserve through the adapter: ${GB[InventoryReserve]:-?}/s = $(ratio "${GB[InventoryReserve]:-0}" "${GB[RawReserveScript]:-0}") % of raw (target >= 50 %)"
  report "sold out: raw ${GB[RawReserveScriptSoldOut]:-?}/s (${GBCORE[RawReserveScriptSoldOut]:-?} per Redis core); adapter ${GB[InventoryReserveSoldOut]:-?}/s = $(ratio "${GB[InventoryReserveSoldOut]:-0}" "${GB[RawReserveScriptSoldOut]:-0}") % of raw"
fi
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
