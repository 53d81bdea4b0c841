# Shared helpers of the benchmark scripts in bench/. Source it after
# 'set -euo pipefail'; call bench_init first.
#
# Everything listens on 127.0.0.1 only. Every process a script starts is
# recorded and stopped on exit, whatever the exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
RESULTS=${RESULTS:-$BENCH_DIR/results}
# A fixed, known secret: the scripts mint user tokens with it.
export FLASHSALE_JWT_SECRET=${FLASHSALE_JWT_SECRET:-bench-secret-0123456789abcdef0123456789abcdef}
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)

_BENCH_PIDS=()
_BENCH_WORK=""

say() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

bench_cleanup() {
  local pid
  if declare -F bench_extra_cleanup >/dev/null; then bench_extra_cleanup || true; fi
  for pid in "${_BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${_BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "$_BENCH_WORK" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$_BENCH_WORK"; fi
}

# bench_init NAME: work dir, results dir, cleanup trap.
bench_init() {
  BENCH_NAME=$1
  mkdir -p "$RESULTS"
  _BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/flashsale-bench-$BENCH_NAME.XXXXXX")
  WORK=$_BENCH_WORK
  BIN=$WORK/bin
  mkdir -p "$BIN"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  SUMMARY=$RESULTS/$BENCH_NAME-summary.txt
  : >"$SUMMARY"
}

# report LINE...: print a result line and keep it in the summary file.
report() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }

# track PID: stop it on exit.
track() { _BENCH_PIDS+=("$1"); }

# stop_pid PID: stop one tracked process now.
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

machine_info() {
  report "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  report "software: $(go version | cut -d' ' -f3-), kernel $(uname -r)"
  report "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); other work on the machine skews every figure"
}

# build: the flashsale binary and the bench helpers into $BIN.
build() {
  say "building flashsale and the bench helpers"
  (cd "$ROOT" && go build -o "$BIN/flashsale" ./cmd/flashsale &&
    go build -o "$BIN/ceiling" ./bench/ceiling &&
    go build -o "$BIN/tokens" ./bench/tokens)
}

# free_port: a TCP port nothing listens on at 127.0.0.1.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port"
}

# wait_http URL: until it answers, at most 30 s.
wait_http() {
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$1 did not answer within 30 s"
}

# pin CPULIST: a command prefix that runs on those CPUs (empty when PIN=0).
pin() {
  if [ "${PIN:-0}" = 1 ] && command -v taskset >/dev/null; then
    echo "taskset -c $1"
  fi
}

# start_flashsale PORT DATADIR CPUS [VAR=value ...]: 'flashsale serve' in
# embedded mode on 127.0.0.1:PORT. Sets FS_PID and FS_URL. Limits are off
# unless the caller passes them: every simulated user is on 127.0.0.1.
start_flashsale() {
  local port=$1 data=$2 cpus=$3
  shift 3
  mkdir -p "$data"
  local gomax=()
  if [ "${PIN:-0}" = 1 ]; then gomax=(GOMAXPROCS="$(cpu_count "$cpus")"); fi
  # shellcheck disable=SC2046
  env FLASHSALE_ADDR="127.0.0.1:$port" FLASHSALE_DATA_DIR="$data" \
    FLASHSALE_RATE_LIMIT_IP=off FLASHSALE_RATE_LIMIT_ORDER_USER=off FLASHSALE_LOG_LEVEL=warn \
    "${gomax[@]}" "$@" $(pin "$cpus") "$BIN/flashsale" serve >>"$WORK/flashsale-$port.log" 2>&1 &
  FS_PID=$!
  track "$FS_PID"
  FS_URL="http://127.0.0.1:$port"
  wait_http "$FS_URL/healthz"
}

# start_ceiling PORT CPUS [ceiling flags...]: sets CEIL_PID and CEIL_URL.
start_ceiling() {
  local port=$1 cpus=$2
  shift 2
  local gomax=()
  if [ "${PIN:-0}" = 1 ]; then gomax=(GOMAXPROCS="$(cpu_count "$cpus")"); fi
  # shellcheck disable=SC2046
  env "${gomax[@]}" $(pin "$cpus") "$BIN/ceiling" -addr "127.0.0.1:$port" "$@" >>"$WORK/ceiling-$port.log" 2>&1 &
  CEIL_PID=$!
  track "$CEIL_PID"
  CEIL_URL="http://127.0.0.1:$port"
  wait_http "$CEIL_URL/healthz"
}

# cpu_count LIST: how many CPUs "0", "0-1", "1,3" names.
cpu_count() {
  local n=0 part
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
  done
  echo "$n"
}

# cpu_ticks PID: user+system CPU time of the process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# cpu_split SERVE_PID WRK_PID: the CPU ticks so far of serve, wrk, every
# Redis (or Valkey) server process and every PostgreSQL process, on one
# line. One awk reads every process's stat, so a reading takes milliseconds.
cpu_split() {
  awk -v serve="/proc/$1/stat" -v wrk="/proc/$2/stat" '
    {
      # The name is in parentheses and may hold spaces; the fields after
      # it start with the state, so utime and stime are the 12th and 13th.
      lp = index($0, "("); rp = length($0) - index(reverse($0), ")") + 1
      name = substr($0, lp + 1, rp - lp - 1)
      split(substr($0, rp + 2), f, " ")
      ticks = f[12] + f[13]
      if (FILENAME == serve) s = ticks
      else if (FILENAME == wrk) w = ticks
      else if (name == "redis-server" || name == "valkey-server") r += ticks
      else if (name == "postgres") p += ticks
    }
    function reverse(text,   out, i) { for (i = length(text); i > 0; i--) out = out substr(text, i, 1); return out }
    END { printf "%d %d %d %d\n", s, w, r, p }' /proc/[0-9]*/stat 2>/dev/null
}

# token USER [admin]: one token.
token() {
  if [ "${2:-}" = admin ]; then "$BIN/flashsale" token --user "$1" --admin; else "$BIN/flashsale" token --user "$1"; fi
}

# mint_tokens N PREFIX FILE
mint_tokens() {
  say "minting $1 user tokens"
  "$BIN/tokens" -n "$1" -prefix "$2" >"$3"
}

# create_sale URL ADMIN_TOKEN UNITS PER_USER_LIMIT: a sale active at once.
# Sets SALE_ID and ITEM_ID.
create_sale() {
  local url=$1 admin=$2 units=$3 limit=$4 answer
  answer=$(curl -fsS -X POST "$url/admin/flash-sales" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d '{
    "name":"bench '"$BENCH_NAME"'","start_time":"2020-01-01T00:00:00Z","end_time":"2099-01-01T00:00:00Z",
    "reservation_ttl_seconds":3600,
    "items":[{"product_id":"bench-'"$BENCH_NAME"'","name":"Bench item","original_price":"100.00","sale_price":"50.00",
              "currency":"USD","total_quantity":'"$units"',"per_user_limit":'"$limit"'}]}') || die "create sale failed"
  SALE_ID=$(jq -r .sale_id <<<"$answer")
  ITEM_ID=$(jq -r '.items[0].item_id' <<<"$answer")
}

# place_order URL TOKEN: prints the status line, headers and body.
place_order() {
  curl -sS -i -X POST "$1/flash-sales/$SALE_ID/orders" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d '{"item_id":"'"$ITEM_ID"'","quantity":1}'
}

# stats URL ADMIN_TOKEN: the sale's admin stats (JSON).
stats() { curl -fsS "$1/admin/flash-sales/$SALE_ID/stats" -H "Authorization: Bearer $2"; }

# check_invariant STATS_JSON: "ok" or what is wrong.
check_invariant() {
  jq -r '[.items[] | select(.available + .reserved + .sold != .total or .sold > .total or .available < 0 or .reserved < 0 or .sold < 0)
          | "item \(.item_id): available \(.available) + reserved \(.reserved) + sold \(.sold) != total \(.total)"]
         | if length == 0 then "ok" else join("; ") end' <<<"$1"
}

# field LINE KEY: the value of key=value in a RESULT line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# wrk_run LABEL SERVER_PID CLIENT_CPUS URL WRK_SCRIPT_ARGS...: one wrk run of
# $DURATION with $CONNS connections and $THREADS threads, after a
# $WARMUP warm-up. Prints and records one line, and sets WRK_LINE to the
# RESULT line extended with server_cpu (cores the server used on average)
# and rps_per_core (requests per CPU-second of the server).
wrk_run() {
  local label=$1 spid=$2 ccpus=$3 url=$4
  shift 4
  local script=$BENCH_DIR/wrk/flashsale.lua out t0 t1 line cpu ccpu
  # shellcheck disable=SC2046
  $(pin "$ccpus") wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$script" "$url" -- "$@" >/dev/null 2>&1 || true
  t0=$(cpu_ticks "$spid")
  # shellcheck disable=SC2046
  out=$({ TIMEFORMAT='%U %S'; time $(pin "$ccpus") wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s -s "$script" "$url" -- "$@" 2>&1; } 2>"$WORK/wrk-time") ||
    die "wrk failed: $out"
  t1=$(cpu_ticks "$spid")
  printf '%s\n' "$out" >>"$WORK/wrk.log"
  line=$(grep '^RESULT' <<<"$out") || die "wrk printed no RESULT: $out"
  local d
  d=$(field "$line" duration_s)
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v d="$d" 'BEGIN {printf "%.2f", (b - a) / hz / d}')
  # The client's CPU includes its Lua start-up (formatting the requests).
  ccpu=$(awk -v d="$d" '{printf "%.2f", ($1 + $2) / d}' "$WORK/wrk-time")
  WRK_LINE="$line server_cpu=$cpu client_cpu=$ccpu rps_per_core=$(awk -v r="$(field "$line" rps)" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? r / c : 0)}')"
  report "$(printf '%-30s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  CPU server %4.2f, wrk %4.2f  %6.0f req/s per server core  non-2xx %s errors %s' \
    "$label" "$(field "$WRK_LINE" rps)" "$(field "$WRK_LINE" p50_ms)" "$(field "$WRK_LINE" p99_ms)" \
    "$cpu" "$ccpu" "$(field "$WRK_LINE" rps_per_core)" "$(field "$WRK_LINE" non2xx3xx)" "$(field "$WRK_LINE" errors)")"
}

# ratio A B: A/B as a percentage with one decimal.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1f", 100 * a / b; else print "n/a"}'; }

need() {
  command -v "$1" >/dev/null || die "$1 is not installed${2:+ ($2)}"
}
