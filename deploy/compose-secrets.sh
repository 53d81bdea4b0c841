#!/usr/bin/env bash
# Writes the secrets deploy/compose.yaml mounts, once: a JWT secret shared
# by both instances, PostgreSQL's password, and the URL that carries it.
# Existing files are kept, so running it again changes nothing (a new JWT
# secret would void every token handed out, a new password would not match
# the database volume's).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
# The folder keeps other users of this machine out; the files themselves
# are world-readable because Docker Compose bind-mounts them as they are,
# and the instances run as distroless's nonroot user (65532).
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022
random() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
[ -s "$dir/jwt_secret" ] || random 32 >"$dir/jwt_secret"
[ -s "$dir/postgres_password" ] || random 16 >"$dir/postgres_password"
[ -s "$dir/postgres_url" ] ||
	printf 'postgres://flashsale:%s@postgres:5432/flashsale?sslmode=disable' "$(cat "$dir/postgres_password")" >"$dir/postgres_url"
echo "secrets in $dir"
