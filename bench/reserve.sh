#!/usr/bin/env bash
# Reservation throughput and latency, embedded mode, and its ceilings.
#
# 1. Through HTTP: 'flashsale serve' (embedded, temporary data dir), a sale
#    of $UNITS units with per_user_limit 1, and wrk sending place-order with
#    $USERS distinct user tokens, each used once (every request is a new
#    shopper taking a unit: a 201, committed to SQLite before the answer).
#    The per-IP limit is off (every shopper is on 127.0.0.1); the per-user
#    limit keeps its default (1/s,10/m): each user presses once, so it
#    refuses nothing but is paid for, as in production.
#    The same client against bench/ceiling answering a 201 of the same bytes
#    gives the HTTP ceiling.
# 2. In process: go test -bench Reserve ./memory/ (the inventory alone).
# 3. Durable commit: go test -bench CreateOrder ./sqlite/ (the store alone,
#    group commit vs one fsync per order).
#
# Settings (environment): DURATION=10s CONNS=64 THREADS=1 UNITS=200000
#   USERS=$UNITS BENCHTIME=2s PIN=0 (1: server on CPU 0, wrk on CPU 1)
# Bounded: about 2 x DURATION + the Go benchmarks (~30 s) + build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init reserve
need wrk "apt-get install -y wrk"
need jq

DURATION=${DURATION:-10s}
WARMUP=0s
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
UNITS=${UNITS:-200000}
USERS=${USERS:-$UNITS}
BENCHTIME=${BENCHTIME:-2s}
PIN=${PIN:-0}
if [ "$PIN" = 1 ] && [ "$NPROC" -ge 2 ]; then SERVER_CPUS=0; CLIENT_CPUS=1; else PIN=0; SERVER_CPUS=0-$((NPROC - 1)); CLIENT_CPUS=$SERVER_CPUS; fi

machine_info
report "settings: wrk -t$THREADS -c$CONNS -d$DURATION, $UNITS units, per_user_limit 1, $USERS distinct users each pressing once; per-IP limit off, per-user limit 1/s,10/m; server CPUs $SERVER_CPUS, wrk CPUs $CLIENT_CPUS"
build
mint_tokens "$USERS" bench-reserve "$WORK/tokens.txt"
ADMIN=$(token bench-admin admin)

report ""
report "== through HTTP (embedded: memory inventory + SQLite group commit) =="
FS_PORT=$(free_port)
start_flashsale "$FS_PORT" "$WORK/data" "$SERVER_CPUS" FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m
create_sale "$FS_URL" "$ADMIN" "$UNITS" 1
# A real 201 for the ceiling to repeat, from a user outside the token file.
place_order "$FS_URL" "$(token bench-reserve-probe)" | tr -d '\r' >"$WORK/created.txt"
head -1 "$WORK/created.txt" | grep -q ' 201' || die "expected 201, got: $(head -5 "$WORK/created.txt")"
sed '1,/^$/d' "$WORK/created.txt" | head -c -1 >"$WORK/created-body.json"
printf '\n' >>"$WORK/created-body.json"
LOCATION=$(awk -F': ' '$1 == "Location" {print $2}' "$WORK/created.txt")

wrk_run "reserve flashsale" "$FS_PID" "$CLIENT_CPUS" "$FS_URL" order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS"
FS_LINE=$WRK_LINE
STATS=$(stats "$FS_URL" "$ADMIN")
RESERVED=$(jq '.items[0].reserved + .items[0].sold' <<<"$STATS")
SENT=$(field "$FS_LINE" requests)
if [ "$SENT" -gt "$USERS" ]; then
  report "WARNING: $SENT requests for $USERS users: some users pressed twice (200 with their reservation); raise UNITS/USERS or shorten DURATION"
fi
if [ "$(field "$FS_LINE" non2xx3xx)" != 0 ]; then
  report "WARNING: $(field "$FS_LINE" non2xx3xx) answers were not 2xx (sold out or refused): the rate is not all reservations"
fi
report "reservations made (admin stats, minus the probe): $((RESERVED - 1)) in $(field "$FS_LINE" duration_s) s = $(awk -v n="$((RESERVED - 1))" -v d="$(field "$FS_LINE" duration_s)" 'BEGIN {printf "%.0f", n / d}') reservations/s"
report "invariant after the run: $(check_invariant "$STATS") ($(jq -c '.items[0] | {total, available, reserved, sold}' <<<"$STATS"))"
stop_pid "$FS_PID"

CEIL_PORT=$(free_port)
start_ceiling "$CEIL_PORT" "$SERVER_CPUS" -order-status 201 -order-body-file "$WORK/created-body.json" -order-location "$LOCATION"
wrk_run "reserve ceiling (bare 201)" "$CEIL_PID" "$CLIENT_CPUS" "$CEIL_URL" order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS"
CEIL_LINE=$WRK_LINE
stop_pid "$CEIL_PID"
report "reservations through HTTP: $(ratio "$(field "$FS_LINE" rps)" "$(field "$CEIL_LINE" rps)") % of a bare net/http server sending the same 201 ($(ratio "$(field "$FS_LINE" rps_per_core)" "$(field "$CEIL_LINE" rps_per_core)") % per server core)"

report ""
report "== in process: the inventory alone (go test -bench Reserve ./memory/) =="
(cd "$ROOT" && go test -run '^$' -bench 'Reserve' -benchtime "$BENCHTIME" -count 1 ./memory/) >"$WORK/memory-bench.txt" 2>&1 ||
  die "memory benchmark failed: $(tail -5 "$WORK/memory-bench.txt")"
grep '^Benchmark' "$WORK/memory-bench.txt" | tee -a "$SUMMARY"

report ""
report "== durable commit: the SQLite store alone (go test -bench CreateOrder ./sqlite/) =="
(cd "$ROOT" && go test -run '^$' -bench 'CreateOrder' -benchtime "$BENCHTIME" -count 1 ./sqlite/) >"$WORK/sqlite-bench.txt" 2>&1 ||
  die "sqlite benchmark failed: $(tail -5 "$WORK/sqlite-bench.txt")"
grep '^Benchmark' "$WORK/sqlite-bench.txt" | tee -a "$SUMMARY"

metric() { awk -v m="$2" '$1 ~ "^"pat {for (i = 2; i < NF; i++) if ($(i + 1) == m) print $i}' pat="$1" "$3" | head -1; }
MEM=$(metric BenchmarkReserve- reservations/s "$WORK/memory-bench.txt")
SQL=$(metric BenchmarkCreateOrder/group-commit orders/s "$WORK/sqlite-bench.txt")
HTTP_RATE=$(field "$FS_LINE" rps)
report ""
report "== summary =="
report "$(printf 'through HTTP   %8.0f reservations/s  p50 %s ms  p99 %s ms  (%s %% of bare net/http)' "$HTTP_RATE" "$(field "$FS_LINE" p50_ms)" "$(field "$FS_LINE" p99_ms)" "$(ratio "$HTTP_RATE" "$(field "$CEIL_LINE" rps)")")"
report "$(printf 'inventory      %8.0f reservations/s in process (HTTP reaches %s %% of it)' "${MEM:-0}" "$(ratio "$HTTP_RATE" "${MEM:-0}")")"
report "$(printf 'SQLite commit  %8.0f orders/s group-committed (HTTP reaches %s %% of it)' "${SQL:-0}" "$(ratio "$HTTP_RATE" "${SQL:-0}")")"
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
