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
# Writes bench/results/profile-$MODE.pprof and prints the top costs, flat
# and cumulative. Explore further with
#   go tool pprof -http 127.0.0.1:8000 bench/results/profile-$MODE.pprof
#
# Settings (environment): MODE=soldout PROFILE_SECONDS=10 CONNS=64 THREADS=1
#   USERS=20000 LIMITS=off (on: per-user 1/s,10/m as in production) PIN=0
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

PPROF_PORT=$(free_port)
start_flashsale "$(free_port)" "$WORK/data" "$SERVER_CPUS" \
  FLASHSALE_RATE_LIMIT_ORDER_USER="$USER_LIMIT" FLASHSALE_PPROF_ADDR="127.0.0.1:$PPROF_PORT"
URL=$FS_URL

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
curl -fsS -o "$PROF" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS" || die "no profile"
wait "$WRK" || true
report "$(grep '^RESULT' "$WORK/wrk.txt" || cat "$WORK/wrk.txt")"
(cd "$ROOT" && go tool pprof -top -nodecount=30 "$BIN/flashsale" "$PROF" 2>/dev/null) | tee -a "$SUMMARY"
report ""
report "cumulative, flashsale's own frames and what they call most:"
(cd "$ROOT" && go tool pprof -top -cum -nodecount=60 "$BIN/flashsale" "$PROF" 2>/dev/null) | tail -60 | tee -a "$SUMMARY"
report "profile: $PROF"
