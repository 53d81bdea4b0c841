#!/usr/bin/env bash
# CPU profile of the service under one kind of load, to name what limits a
# figure. Runs 'flashsale serve' (embedded) with its profiler on a loopback
# port (FLASHSALE_PPROF_ADDR), drives it with wrk, and captures a CPU
# profile of PROFILE_SECONDS in the middle of the run.
#
#   MODE=soldout  place-order on a sold-out item (distinct users)
#   MODE=reserve  place-order that reserves (distinct users, large stock)
#   MODE=get      the sale page
#
# DEPLOYMENT=distributed runs serve on Redis (a key prefix of its own) and
# PostgreSQL (a schema of its own) instead, at REDIS_URL and POSTGRES_URL.
# Either way the summary also splits the machine's CPU over the profile's
# seconds between serve, wrk, Redis and PostgreSQL (every process of each,
# from /proc), which names the side that limits a figure before the
# profile says where inside serve the time goes.
#
# Writes bench/results/profile-$MODE.pprof and prints the top costs, flat
# and cumulative. Explore further with
#   go tool pprof -http 127.0.0.1:8000 bench/results/profile-$MODE.pprof
#
# Settings (environment): MODE=soldout PROFILE_SECONDS=10 CONNS=64 THREADS=1
#   USERS=20000 LIMITS=off (on: per-user 1/s,10/m as in production) PIN=0
#   DEPLOYMENT=embedded REDIS_URL POSTGRES_URL
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODE=${MODE:-soldout}
bench_init "profile-$MODE"
need wrk "apt-get install -y wrk"
need jq

PROFILE_SECONDS=${PROFILE_SECONDS:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
USERS=${USERS:-20000}
LIMITS=${LIMITS:-off}
PIN=${PIN:-0}
if [ "$PIN" = 1 ] && [ "$NPROC" -ge 2 ]; then SERVER_CPUS=0; CLIENT_CPUS=1; else PIN=0; SERVER_CPUS=0-$((NPROC - 1)); CLIENT_CPUS=$SERVER_CPUS; fi
USER_LIMIT=off
[ "$LIMITS" = on ] && USER_LIMIT=1/s,10/m

machine_info
build
mint_tokens "$USERS" "bench-profile-$MODE" "$WORK/tokens.txt"
ADMIN=$(token bench-admin admin)

DEPLOYMENT=${DEPLOYMENT:-embedded}
deployment=()
case $DEPLOYMENT in
  embedded) ;;
  distributed)
    REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
    POSTGRES_URL=${POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable}
    PREFIX="bench-$RANDOM$RANDOM"
    SCHEMA="bench_$RANDOM$RANDOM"
    psql "$POSTGRES_URL" -qc "CREATE SCHEMA $SCHEMA" || die "cannot create a PostgreSQL schema at $POSTGRES_URL"
    trap 'psql "$POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
      redis-cli -u "$REDIS_URL" --scan --pattern "*$PREFIX*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
      bench_cleanup' EXIT
    deployment=(FLASHSALE_REDIS_URL="$REDIS_URL" FLASHSALE_REDIS_PREFIX="$PREFIX"
      FLASHSALE_POSTGRES_URL="$POSTGRES_URL&search_path=$SCHEMA" FLASHSALE_REBUILD_SETTLE=0s)
    ;;
  *) die "DEPLOYMENT must be embedded or distributed" ;;
esac

PPROF_PORT=$(free_port)
start_flashsale "$(free_port)" "$WORK/data" "$SERVER_CPUS" \
  FLASHSALE_RATE_LIMIT_ORDER_USER="$USER_LIMIT" FLASHSALE_PPROF_ADDR="127.0.0.1:$PPROF_PORT" "${deployment[@]}"
URL=$FS_URL
wait_http "$URL/readyz"

case $MODE in
  soldout)
    create_sale "$URL" "$ADMIN" 1 1
    place_order "$URL" "$(token bench-profile-winner)" | head -1 | grep -q ' 201' || die "the winner did not get the unit"
    args=(order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS")
    ;;
  reserve)
    create_sale "$URL" "$ADMIN" 1000000 1
    args=(order "$WORK/tokens.txt" "$SALE_ID" "$ITEM_ID" "$THREADS")
    ;;
  get)
    create_sale "$URL" "$ADMIN" 1 1
    args=(get "$SALE_ID")
    ;;
  *) die "MODE must be soldout, reserve or get" ;;
esac

run_seconds=$((PROFILE_SECONDS + 4))
say "wrk for ${run_seconds}s; profiling ${PROFILE_SECONDS}s of it"
# shellcheck disable=SC2046
$(pin "$CLIENT_CPUS") wrk -t"$THREADS" -c"$CONNS" -d"${run_seconds}s" -s "$BENCH_DIR/wrk/flashsale.lua" "$URL" -- "${args[@]}" >"$WORK/wrk.txt" 2>&1 &
WRK=$!
track "$WRK"
sleep 2
PROF=$RESULTS/profile-$MODE.pprof
split_before=$(cpu_split "$FS_PID" "$WRK")
curl -fsS -o "$PROF" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS" || die "no profile"
split_after=$(cpu_split "$FS_PID" "$WRK")
wait "$WRK" || true
report "$(grep '^RESULT' "$WORK/wrk.txt" || cat "$WORK/wrk.txt")"
report "$(awk -v before="$split_before" -v after="$split_after" -v seconds="$PROFILE_SECONDS" -v cpus="$NPROC" 'BEGIN {
  split(before, b); split(after, a); split("serve wrk redis postgres", name)
  line = "cores busy over the profile (of " cpus "):"
  for (i = 1; i <= 4; i++) { busy = (a[i] - b[i]) / 100 / seconds; total += busy; line = line sprintf(" %s %.2f", name[i], busy) }
  printf "%s, together %.2f\n", line, total }')"
(cd "$ROOT" && go tool pprof -top -nodecount=30 "$BIN/flashsale" "$PROF" 2>/dev/null) | tee -a "$SUMMARY"
report ""
report "cumulative, flashsale's own frames and what they call most:"
(cd "$ROOT" && go tool pprof -top -cum -nodecount=60 "$BIN/flashsale" "$PROF" 2>/dev/null) | tail -60 | tee -a "$SUMMARY"
report "profile: $PROF"
