#!/usr/bin/env bash
# Makes Postgres and Redis available and writes their URLs to .data/services.env.
#
# Uses the servers at DATABASE_URL / REDIS_URL (default: 127.0.0.1:5432 and :6379)
# when they answer; otherwise starts private ones under .data/ on free ports from
# the installed server binaries, installing Debian's postgresql / redis-server
# with apt-get when they are missing and we are root.
#
# Usage: scripts/services.sh        start what is needed (idempotent)
#        scripts/services.sh stop   stop the private servers this script started
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$PWD/.data"
mkdir -p "$DATA"
ENV_FILE="$DATA/services.env"

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $(( 20000 + RANDOM % 20000 )); }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    die "$1 is not installed and I am not root: install it (e.g. sudo apt-get install $1) or set ${2}."
  fi
  command -v apt-get >/dev/null || die "$1 is not installed and apt-get is missing: install $1 or set ${2}."
  say "installing $1 with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq "$1" >/dev/null
}

stop() {
  local pgdata="$DATA/pg"
  if [ -f "$pgdata/postmaster.pid" ]; then
    pg_bin=$(pg_bindir)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pgdata" -m fast stop >/dev/null || true
    else "$pg_bin/pg_ctl" -D "$pgdata" -m fast stop >/dev/null || true; fi
    say "stopped private Postgres"
  fi
  if [ -f "$DATA/redis.pid" ]; then
    kill "$(cat "$DATA/redis.pid")" 2>/dev/null || true
    rm -f "$DATA/redis.pid"
    say "stopped private Redis"
  fi
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

pg_ok() { psql "$1" -tAc 'select 1' >/dev/null 2>&1; }
redis_ok() { redis-cli -u "$1" ping 2>/dev/null | grep -q PONG; }

start_postgres() {
  local url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
  command -v psql >/dev/null || apt_install postgresql-client DATABASE_URL
  if pg_ok "$url"; then echo "$url"; return; fi
  local pgdata="$DATA/pg" port_file="$DATA/pg.port"
  if [ -f "$port_file" ]; then
    local u="postgres://postgres@127.0.0.1:$(cat "$port_file")/postgres?sslmode=disable"
    if pg_ok "$u"; then echo "$u"; return; fi
  fi
  say "no Postgres at $url; starting a private one under .data/pg"
  [ -n "$(pg_bindir)" ] || apt_install postgresql DATABASE_URL
  local bin; bin=$(pg_bindir)
  [ -n "$bin" ] || die "initdb not found after installing postgresql"
  local port; port=$(free_port)
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$pgdata" postgres
    run=(runuser -u postgres --)
    mkdir -p "$pgdata"; chown postgres "$pgdata"; chmod 700 "$pgdata"
    chmod o+x "$DATA" "$PWD" 2>/dev/null || true
  fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    "${run[@]}" "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >"$DATA/initdb.log" 2>&1 \
      || die "initdb failed; see .data/initdb.log"
  fi
  "${run[@]}" "$bin/pg_ctl" -D "$pgdata" -w -l "$pgdata/server.log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off -c max_connections=300" start >/dev/null \
    || die "Postgres did not start; see .data/pg/server.log"
  echo "$port" >"$port_file"
  echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

start_redis() {
  local url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  command -v redis-cli >/dev/null || apt_install redis-server REDIS_URL
  if redis_ok "$url"; then echo "$url"; return; fi
  if [ -f "$DATA/redis.port" ]; then
    local u="redis://127.0.0.1:$(cat "$DATA/redis.port")/0"
    if redis_ok "$u"; then echo "$u"; return; fi
  fi
  say "no Redis at $url; starting a private one under .data/"
  command -v redis-server >/dev/null || apt_install redis-server REDIS_URL
  local port; port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$DATA" --save "" --appendonly no \
    --pidfile "$DATA/redis.pid" --logfile "$DATA/redis.log" --databases 16 >/dev/null
  for _ in $(seq 50); do redis_ok "redis://127.0.0.1:$port/0" && break; sleep 0.1; done
  redis_ok "redis://127.0.0.1:$port/0" || die "Redis did not start; see .data/redis.log"
  echo "$port" >"$DATA/redis.port"
  echo "redis://127.0.0.1:$port/0"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
PG_URL=$(start_postgres)
REDIS=$(start_redis)
cat >"$ENV_FILE" <<ENV
export DATABASE_URL='$PG_URL'
export REDIS_URL='$REDIS'
ENV
say "Postgres: $PG_URL"
say "Redis:    $REDIS"
