#!/usr/bin/env bash
# A soak: a long steady mix against 'flashsale serve' (embedded, temporary
# data dir), sampling the server's memory every $SAMPLE_SECONDS to a CSV, to
# see whether it grows.
#
#   flashsale loadtest -url ... -scenario soak -duration ${SOAK_MINUTES}m -rate $SOAK_RATE
#
# The soak preset: 100,000 users, 4 items of 1,000,000 units, a mix of sale
# page views and place-orders ($ORDER_SHARE of requests), winners pay (80 %)
# or walk away and their reservation expires after a minute, so the expiry
# path runs all along. Limits: per-IP off (every user is on 127.0.0.1),
# per-user at its default 1/s,10/m.
#
# Samples: RSS and its high-water mark from /proc/<pid>/status; heap in use,
# heap objects, runtime total (sys) and goroutines from /metrics
# (go_memstats_*, go_goroutines); open file descriptors; the machine's
# 1-minute load average (other work skews the figures).
# Heap profiles (serve's FLASHSALE_PPROF_ADDR, loopback) at the end of the
# warm-up and at the end of the run name what grew in between.
#
# The payment simulator remembers settled charges for an hour (paysim
# DefaultRetention) and forgets them after: a soak shorter than that sees
# its charges grow all along, the plateau comes an hour in.
#
# Writes bench/results/soak.csv, soak.json, soak.html, soak-heap-*.pprof.
#
# Settings (environment): SOAK_MINUTES=30 SOAK_RATE=2000 ORDER_SHARE=0.2
#   SAMPLE_SECONDS=10
# Bounded: SOAK_MINUTES plus a minute of end checks, plus build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init soak
need jq

SOAK_MINUTES=${SOAK_MINUTES:-30}
SOAK_RATE=${SOAK_RATE:-2000}
ORDER_SHARE=${ORDER_SHARE:-0.2}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}

machine_info
report "settings: soak scenario, $SOAK_MINUTES min at $SOAK_RATE requests/s open loop, order share $ORDER_SHARE, samples every $SAMPLE_SECONDS s"
build
FS_PORT=$(free_port)
PPROF_PORT=$(free_port)
start_flashsale "$FS_PORT" "$WORK/data" 0 FLASHSALE_RATE_LIMIT_ORDER_USER=1/s,10/m FLASHSALE_PPROF_ADDR="127.0.0.1:$PPROF_PORT"

CSV=$RESULTS/soak.csv
JSON=$RESULTS/soak.json
echo "elapsed_s,rss_kb,rss_hwm_kb,heap_inuse_bytes,heap_objects,go_sys_bytes,goroutines,open_fds,db_bytes,load1" >"$CSV"

metric() { awk -v m="$1" '$1 == m {printf "%.0f", $2}' "$WORK/metrics.txt"; }
sample() {
  local elapsed=$1
  curl -fsS -m 5 "$FS_URL/metrics" >"$WORK/metrics.txt" 2>/dev/null || : >"$WORK/metrics.txt"
  local rss hwm fds db
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$FS_PID/status")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$FS_PID/status")
  fds=$(find "/proc/$FS_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  db=$(du -sb "$WORK/data" | cut -f1)
  echo "$elapsed,$rss,$hwm,$(metric go_memstats_heap_inuse_bytes),$(metric go_memstats_heap_objects),$(metric go_memstats_sys_bytes),$(metric go_goroutines),$fds,$db,$(cut -d' ' -f1 /proc/loadavg)" >>"$CSV"
}

# heap_profile FILE: the server's live heap now (after a GC).
heap_profile() {
  curl -fsS -m 30 -o "$1" "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap?gc=1" || say "no heap profile: $1"
}
WARM=$((SOAK_MINUTES * 12 > 60 ? SOAK_MINUTES * 12 : 60))

say "soaking for $SOAK_MINUTES min; samples in $CSV"
"$BIN/flashsale" loadtest -url "$FS_URL" -scenario soak -rate "$SOAK_RATE" -order-share "$ORDER_SHARE" \
  -duration "${SOAK_MINUTES}m" -json "$JSON" -html "$RESULTS/soak.html" >"$WORK/soak.txt" 2>"$WORK/soak.err" &
GEN=$!
track "$GEN"
start=$(date +%s)
sample 0
HEAP0=$RESULTS/soak-heap-warm.pprof
HEAP1=$RESULTS/soak-heap-end.pprof
rm -f "$HEAP0" "$HEAP1"
while kill -0 "$GEN" 2>/dev/null; do
  sleep "$SAMPLE_SECONDS"
  kill -0 "$FS_PID" 2>/dev/null || die "the server died; see $WORK (BENCH_KEEP=1 keeps it)"
  elapsed=$(($(date +%s) - start))
  sample "$elapsed"
  if [ ! -e "$HEAP0" ] && [ "$elapsed" -ge "$WARM" ]; then heap_profile "$HEAP0"; fi
  # The end's profile while the traffic still runs: the generator's
  # checks that follow would add their own allocations.
  if [ "$elapsed" -ge $((SOAK_MINUTES * 60 - 2 * SAMPLE_SECONDS)) ] && [ ! -e "$HEAP1" ]; then heap_profile "$HEAP1"; fi
done
status=0
wait "$GEN" || status=$?
cat "$WORK/soak.txt" | tee -a "$SUMMARY"

# Growth: compare the first sample after the warm-up (a fifth of the run, at
# least a minute) with the last; a straight-line fit over the rest gives the
# rate.
report ""
report "== memory over the soak ($(($(wc -l <"$CSV") - 1)) samples) =="
report "$(awk -F, -v warm="$WARM" '
  NR == 1 { next }
  { t = $1; rss = $2 / 1024; heap = $4 / 1048576; g = $7 }
  first == "" && t >= warm { first = 1; t0 = t; r0 = rss; h0 = heap; g0 = g }
  first != "" { n++; sx += t; sy += rss; sxx += t * t; sxy += t * rss; hsy += heap; hsxy += t * heap }
  { tl = t; rl = rss; hl = heap; gl = g; if (rss > rmax) rmax = rss }
  END {
    if (n < 2) { print "too few samples after the warm-up to judge growth (run longer)"; exit }
    d = n * sxx - sx * sx
    slope = (n * sxy - sx * sy) / d * 3600; hslope = (n * hsxy - sx * hsy) / d * 3600
    printf "after warm-up (t=%ds): RSS %.1f -> %.1f MiB (max %.1f), heap in use %.1f -> %.1f MiB, goroutines %d -> %d; trend RSS %+.1f MiB/h, heap %+.1f MiB/h\n", t0, r0, rl, rmax, h0, hl, g0, gl, slope, hslope
  }' "$CSV")"
if [ -s "$JSON" ]; then
  report "$(jq -r '"traffic \(.traffic_seconds | round) s, \(.traffic_requests) requests at \(.throughput_rps | round)/s; reservations \(.reservations.people + .reservations.bots), purchases \(.purchases.people + .purchases.bots); invariants: \(if (.violations | length) == 0 then "OK" else "\(.violations | length) VIOLATIONS" end)"' "$JSON")"
fi
if [ -s "$HEAP0" ] && [ -s "$HEAP1" ]; then
  report ""
  report "== what the live heap gained between the warm-up and the end (go tool pprof -top -base) =="
  (cd "$ROOT" && go tool pprof -sample_index=inuse_space -top -nodecount=15 -base "$HEAP0" "$BIN/flashsale" "$HEAP1" 2>/dev/null) | tail -n +5 | tee -a "$SUMMARY"
fi
report "samples: $CSV"
report "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
