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
# 4. Distributed (when Redis and PostgreSQL answer on their standard ports,
#    or DISTRIBUTED=1): the same wrk run against 'flashsale serve' on Redis
#    (a key prefix of its own) and PostgreSQL (a schema of its own); then
#    durable-ack reservations in process in both deployments
#    (go test -bench PlaceOrder ./checkout/), and the Redis side of the
#    alternative ack, a reservation journaled and confirmed by WAITAOF on a
#    server with its AOF fsynced before each answer, against the same
#    adapter without it (go test -bench 'InventoryReserve$|JournalReserve'
#    ./redis/).
# 5. The Redis ack through HTTP (when AOF_URL answers, a Redis 7.2+ or
#    Valkey with appendonly yes and appendfsync always; scripts/services.sh
#    starts one on 6390): the same wrk run against 'flashsale serve' with
#    FLASHSALE_ACK=redis, and how long the persister takes to have every
#    order in PostgreSQL after the run.
#
# Settings (environment): DURATION=10s CONNS=64 THREADS=1 UNITS=200000
#   USERS=$UNITS BENCHTIME=2s PIN=0 (1: server on CPU 0, wrk on CPU 1)
#   DISTRIBUTED=auto (1: required, 0: skipped) REDIS_URL, POSTGRES_URL,
#   AOF_URL (default redis://127.0.0.1:6390/0)
# Bounded: about 3 x DURATION + the Go benchmarks (~60 s) + build.
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

DISTRIBUTED=${DISTRIBUTED:-auto}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
AOF_URL=${AOF_URL:-redis://127.0.0.1:6390/0}
# The Go benchmarks of the Redis ack start a server of their own from it.
if [ -z "${FLASHSALE_TEST_AOF_SERVER:-}" ] && ! command -v valkey-server >/dev/null; then
  cached=${XDG_CACHE_HOME:-$HOME/.cache}/flashsale/valkey/root/usr/bin/valkey-server
  [ -x "$cached" ] && export FLASHSALE_TEST_AOF_SERVER=$cached
fi
POSTGRES_URL=${POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable}
if [ "$DISTRIBUTED" = auto ]; then
  if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && psql "$POSTGRES_URL" -Atc 'select 1' >/dev/null 2>&1; then DISTRIBUTED=1; else DISTRIBUTED=0; fi
fi
DIST_LINE=""
if [ "$DISTRIBUTED" = 1 ]; then
  report ""
  report "== through HTTP (distributed: Redis inventory + PostgreSQL group commit) =="
  PREFIX="bench-$RANDOM$RANDOM"
  SCHEMA="bench_$RANDOM$RANDOM"
  psql "$POSTGRES_URL" -qc "CREATE SCHEMA $SCHEMA" || die "cannot create a PostgreSQL schema at $POSTGRES_URL"
  cleanup_distributed() {
    psql "$POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    redis-cli -u "$REDIS_URL" --scan --pattern "*$PREFIX*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
  }
  trap 'cleanup_distributed; bench_cleanup' EXIT
  DIST_PG="$POSTGRES_URL&search_path=$SCHEMA"
  FS_PORT=$(free_port)
  start_flashsale "$FS_PORT" "$WORK/data-dist" "$SERVER_CPUS" FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m \
    FLASHSALE_REDIS_URL="$REDIS_URL" FLASHSALE_REDIS_PREFIX="$PREFIX" FLASHSALE_POSTGRES_URL="$DIST_PG" FLASHSALE_REBUILD_SETTLE=0s
  wait_http "$FS_URL/readyz"
  create_sale "$FS_URL" "$ADMIN" "$UNITS" 1
  wrk_run "reserve flashsale distributed" "$FS_PID" "$CLIENT_CPUS" "$FS_URL" order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS"
  DIST_LINE=$WRK_LINE
  STATS=$(stats "$FS_URL" "$ADMIN")
  report "reservations made: $(jq '.items[0].reserved + .items[0].sold' <<<"$STATS"); invariant after the run: $(check_invariant "$STATS")"
  stop_pid "$FS_PID"

  report ""
  report "== durable-ack reservations in process, both deployments (go test -bench PlaceOrder ./checkout/) =="
  (cd "$ROOT" && FLASHSALE_TEST_REDIS_URL="$REDIS_URL" FLASHSALE_TEST_POSTGRES_URL="$POSTGRES_URL" FLASHSALE_TEST_AOF_URL="$AOF_URL" \
    go test -run '^$' -bench 'PlaceOrder' -benchtime "$BENCHTIME" -count 1 ./checkout/) >"$WORK/checkout-bench.txt" 2>&1 ||
    die "checkout benchmark failed: $(tail -5 "$WORK/checkout-bench.txt")"
  grep '^Benchmark' "$WORK/checkout-bench.txt" | tee -a "$SUMMARY"

  report ""
  report "== the alternative ack: WAITAOF on a journaled reservation vs the adapter alone (go test -bench ./redis/) =="
  (cd "$ROOT" && FLASHSALE_TEST_REDIS_URL="$REDIS_URL" \
    go test -run '^$' -bench 'InventoryReserve$|JournalReserve' -benchtime "$BENCHTIME" -count 1 ./redis/) >"$WORK/redis-bench.txt" 2>&1 ||
    die "redis benchmark failed: $(tail -5 "$WORK/redis-bench.txt")"
  grep '^Benchmark' "$WORK/redis-bench.txt" | tee -a "$SUMMARY"
fi

ACK_LINE=""
if [ "$DISTRIBUTED" = 1 ] && redis-cli -u "$AOF_URL" ping >/dev/null 2>&1; then
  report ""
  report "== through HTTP, acknowledged from Redis's AOF (FLASHSALE_ACK=redis, $(redis-cli -u "$AOF_URL" info server | tr -d '\r' | grep -E '^(valkey|redis)_version' | tr '\n' ' ')appendfsync $(redis-cli -u "$AOF_URL" config get appendfsync | tail -1)) =="
  ACK_PREFIX="bench-$RANDOM$RANDOM"
  ACK_SCHEMA="bench_$RANDOM$RANDOM"
  psql "$POSTGRES_URL" -qc "CREATE SCHEMA $ACK_SCHEMA" || die "cannot create a PostgreSQL schema at $POSTGRES_URL"
  trap 'cleanup_distributed; psql "$POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $ACK_SCHEMA CASCADE" >/dev/null 2>&1 || true; redis-cli -u "$AOF_URL" --scan --pattern "*$ACK_PREFIX*" | xargs -r -n 500 redis-cli -u "$AOF_URL" unlink >/dev/null 2>&1 || true; bench_cleanup' EXIT
  FS_PORT=$(free_port)
  start_flashsale "$FS_PORT" "$WORK/data-ack" "$SERVER_CPUS" FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m FLASHSALE_ACK=redis \
    FLASHSALE_REDIS_URL="$AOF_URL" FLASHSALE_REDIS_PREFIX="$ACK_PREFIX" FLASHSALE_POSTGRES_URL="$POSTGRES_URL&search_path=$ACK_SCHEMA" FLASHSALE_REBUILD_SETTLE=0s
  wait_http "$FS_URL/readyz"
  create_sale "$FS_URL" "$ADMIN" "$UNITS" 1
  wrk_run "reserve flashsale redis ack" "$FS_PID" "$CLIENT_CPUS" "$FS_URL" order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS"
  ACK_LINE=$WRK_LINE
  RESERVED=$(jq '.items[0].reserved + .items[0].sold' <<<"$(stats "$FS_URL" "$ADMIN")")
  # The persister's lag: until PostgreSQL holds as many orders as Redis.
  DRAIN_START=$(date +%s.%N)
  until [ "$(psql "$POSTGRES_URL" -Atc "SELECT count(*) FROM $ACK_SCHEMA.orders")" -ge "$RESERVED" ]; do
    [ "$(awk -v s="$DRAIN_START" -v n="$(date +%s.%N)" 'BEGIN {print (n - s > 60)}')" = 1 ] && die "PostgreSQL still lacks journaled orders after 60 s"
    sleep 0.05
  done
  DRAIN_S=$(awk -v s="$DRAIN_START" -v n="$(date +%s.%N)" 'BEGIN {printf "%.2f", n - s}')
  STATS=$(stats "$FS_URL" "$ADMIN")
  report "reservations made: $RESERVED; in PostgreSQL $DRAIN_S s after the run ended; invariant after the run: $(check_invariant "$STATS")"
  stop_pid "$FS_PID"
fi

metric() { awk -v m="$2" '$1 ~ "^"pat {for (i = 2; i < NF; i++) if ($(i + 1) == m) print $i}' pat="$1" "$3" | head -1; }
MEM=$(metric BenchmarkReserve- reservations/s "$WORK/memory-bench.txt")
SQL=$(metric BenchmarkCreateOrder/group-commit orders/s "$WORK/sqlite-bench.txt")
HTTP_RATE=$(field "$FS_LINE" rps)
report ""
report "== summary =="
report "$(printf 'through HTTP   %8.0f reservations/s  p50 %s ms  p99 %s ms  (%s %% of bare net/http)' "$HTTP_RATE" "$(field "$FS_LINE" p50_ms)" "$(field "$FS_LINE" p99_ms)" "$(ratio "$HTTP_RATE" "$(field "$CEIL_LINE" rps)")")"
report "$(printf 'inventory      %8.0f reservations/s in process (HTTP reaches %s %% of it)' "${MEM:-0}" "$(ratio "$HTTP_RATE" "${MEM:-0}")")"
report "$(printf 'SQLite commit  %8.0f orders/s group-committed (HTTP reaches %s %% of it)' "${SQL:-0}" "$(ratio "$HTTP_RATE" "${SQL:-0}")")"
if [ -n "$DIST_LINE" ]; then
  report "$(printf 'distributed    %8.0f reservations/s  p50 %s ms  p99 %s ms  (%s %% of embedded)' "$(field "$DIST_LINE" rps)" "$(field "$DIST_LINE" p50_ms)" "$(field "$DIST_LINE" p99_ms)" "$(ratio "$(field "$DIST_LINE" rps)" "$HTTP_RATE")")"
  report "$(printf 'durable ack    %8.0f orders/s embedded, %.0f distributed (in process)' "$(metric BenchmarkPlaceOrder/embedded orders/s "$WORK/checkout-bench.txt")" "$(metric BenchmarkPlaceOrder/distributed orders/s "$WORK/checkout-bench.txt")")"
  report "$(printf 'durable ack    %8.0f orders/s acknowledged from Redis (in process, persister running)' "$(metric BenchmarkPlaceOrder/distributed-redis-ack orders/s "$WORK/checkout-bench.txt")")"
  report "$(printf 'Redis reserve  %8.0f/s without AOF, %.0f/s journaled and confirmed by WAITAOF' "$(metric 'BenchmarkInventoryReserve-' requests/s "$WORK/redis-bench.txt")" "$(metric BenchmarkJournalReserve requests/s "$WORK/redis-bench.txt")")"
fi
if [ -n "$ACK_LINE" ]; then
  report "$(printf 'redis ack      %8.0f reservations/s  p50 %s ms  p99 %s ms through HTTP; PostgreSQL caught up %s s later' "$(field "$ACK_LINE" rps)" "$(field "$ACK_LINE" p50_ms)" "$(field "$ACK_LINE" p99_ms)" "$DRAIN_S")"
fi
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
