#!/usr/bin/env bash
# Makes sure the servers the distributed-mode tests need are answering on
# their standard ports: PostgreSQL (5432), Redis (6379), NATS with JetStream
# (4222). Finds a Valkey server (WAITAOF, which Debian 12's Redis 7.0 lacks)
# for the tests that start their own. Starts them when they
# are installed but stopped, installs them from Debian's packages when they
# are missing. Installs nginx too, for deploy/'s tests, but does not start
# it: each test runs its own on spare ports. Prints the environment the
# tests read.
set -euo pipefail

say() { printf 'services: %s\n' "$*" >&2; }

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
postgres_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "cannot install $* without root; install them with: sudo apt-get install $*"
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  redis_up && return 0
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  say "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis_up && return 0; sleep 0.1; done
  say "Redis did not come up"; return 1
}

ensure_postgres() {
  postgres_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  say "starting PostgreSQL on 127.0.0.1:5432"
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 100); do postgres_up && break; sleep 0.1; done
  postgres_up || { say "PostgreSQL did not come up"; return 1; }
}

# The tests connect over TCP as postgres to the database "test". A machine
# set up by hand may lack trust auth on 127.0.0.1; make it explicit.
ensure_test_database() {
  if psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
    runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || true
    runuser -u postgres -- createdb test >/dev/null 2>&1 || true
  fi
}

ensure_nats() {
  nats_up && return 0
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  say "starting NATS (JetStream) on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 50); do nats_up && return 0; sleep 0.1; done
  say "NATS did not come up"; return 1
}

# nginx-light has what deploy/nginx.conf uses (proxy, cache, upstream
# hash, map) and nothing more. /usr/sbin is not on every user's PATH.
# Where policy allows, Debian's package starts its own nginx on port 80;
# the tests do not use it.
ensure_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx-light
}

# The tests of FLASHSALE_ACK=redis start servers of their own that have
# WAITAOF (Redis 7.2+). Debian 12 has it only as Valkey in
# bookworm-backports; rather than add that suite to the machine's sources,
# the package is fetched with a private apt configuration and unpacked
# into a cache folder (its libraries are redis-server's).
valkey_cache=${XDG_CACHE_HOME:-$HOME/.cache}/flashsale/valkey
ensure_valkey() {
  if [ -n "${FLASHSALE_TEST_AOF_SERVER:-}" ]; then aof_server=$FLASHSALE_TEST_AOF_SERVER; return 0; fi
  if command -v valkey-server >/dev/null; then aof_server=$(command -v valkey-server); return 0; fi
  aof_server=$valkey_cache/root/usr/bin/valkey-server
  [ -x "$aof_server" ] && return 0
  say "fetching Valkey from Debian bookworm-backports into $valkey_cache"
  local apt=$valkey_cache/apt
  mkdir -p "$apt/etc/preferences.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$valkey_cache/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" >"$apt/etc/sources.list"
  local opts=(-o "Dir::Etc=$apt/etc" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=$(id -un)" -qq)
  apt-get "${opts[@]}" update >/dev/null
  (cd "$valkey_cache/debs" && apt-get "${opts[@]}" download -t bookworm-backports valkey-server valkey-tools >/dev/null)
  for deb in "$valkey_cache"/debs/*.deb; do dpkg-deb -x "$deb" "$valkey_cache/root"; done
  "$aof_server" --version >/dev/null || { say "Valkey does not run here"; return 1; }
}

# A shared one on 6390, AOF on and fsynced before each answer (as
# FLASHSALE_ACK=redis needs), for the tests that need no server of their own.
valkey_up() { redis-cli -h 127.0.0.1 -p 6390 ping 2>/dev/null | grep -q PONG; }
ensure_valkey_running() {
  valkey_up && return 0
  say "starting Valkey (AOF on) on 127.0.0.1:6390"
  mkdir -p "$valkey_cache/data"
  "$aof_server" --daemonize yes --bind 127.0.0.1 --port 6390 --save "" --appendonly yes --appendfsync always \
    --dir "$valkey_cache/data" --logfile "$valkey_cache/valkey.log"
  for _ in $(seq 50); do valkey_up && return 0; sleep 0.1; done
  say "Valkey did not come up"; return 1
}

# stripe-mock, Stripe's own mock of its API, pinned (the Stripe adapter's
# request shapes are checked against it), built from source by the Go
# module proxy into the cache and run on its standard port 12111.
stripe_mock_version=v0.203.0
stripe_mock=${XDG_CACHE_HOME:-$HOME/.cache}/flashsale/stripe-mock-$stripe_mock_version/stripe-mock
stripe_mock_up() { curl -fsS -o /dev/null -u sk_test_123: http://127.0.0.1:12111/v1/balance 2>/dev/null; }
ensure_stripe_mock() {
  stripe_mock_up && return 0
  if [ ! -x "$stripe_mock" ]; then
    say "building stripe-mock $stripe_mock_version into $(dirname "$stripe_mock")"
    GOBIN=$(dirname "$stripe_mock") GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@$stripe_mock_version" >&2
  fi
  say "starting stripe-mock on 127.0.0.1:12111"
  start-stop-daemon --start --oknodo --background --exec "$stripe_mock" -- -http-addr 127.0.0.1:12111
  for _ in $(seq 100); do stripe_mock_up && return 0; sleep 0.1; done
  say "stripe-mock did not come up"; return 1
}

ensure_redis
ensure_valkey
ensure_valkey_running
ensure_postgres
ensure_test_database
ensure_nats
ensure_nginx
ensure_stripe_mock
cat <<ENV
export FLASHSALE_TEST_REDIS_URL=redis://127.0.0.1:6379/0
export FLASHSALE_TEST_NATS_URL=nats://127.0.0.1:4222
export FLASHSALE_TEST_AOF_SERVER=$aof_server
export FLASHSALE_TEST_AOF_URL=redis://127.0.0.1:6390/0
export FLASHSALE_TEST_STRIPE_MOCK_URL=http://127.0.0.1:12111
export FLASHSALE_TEST_POSTGRES_URL=${FLASHSALE_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable}
ENV
