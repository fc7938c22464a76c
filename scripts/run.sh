#!/usr/bin/env bash
# `make run`: Postgres and Redis (found or started), migrations, the api and one
# worker in the foreground with their logs, and a demo organization whose API key
# is printed. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "run: Go is required (https://go.dev/dl)" >&2; exit 1; }

# Private servers already running were not started by this run: leave them be.
started_services=1
if [ -f .data/pg/postmaster.pid ] || [ -f .data/redis.pid ]; then started_services=0; fi
scripts/services.sh
# shellcheck disable=SC1091
. .data/services.env

# The service's own database on that server.
base="${DATABASE_URL%%\?*}"; query="${DATABASE_URL#"$base"}"
if [ "${base##*/}" = postgres ]; then
  psql "$DATABASE_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = 'empfio'" | grep -q 1 \
    || psql "$DATABASE_URL" -qc 'CREATE DATABASE empfio'
  export DATABASE_URL="${base%/*}/empfio$query"
fi

export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
export INTERNAL_AUTH_TOKEN="${INTERNAL_AUTH_TOKEN:-dev-internal-token}"
export ALLOW_INSECURE_TARGETS="${ALLOW_INSECURE_TARGETS:-true}"
export PUBLIC_URL="${PUBLIC_URL:-http://${HTTP_ADDR}}"
# Endpoint secrets are encrypted at rest with a key made once and kept in the
# private data folder (it is never committed: .data/ is ignored).
if [ -z "${SECRET_ENCRYPTION_KEY:-}" ]; then
  if [ ! -s .data/secret-encryption-key ]; then
    (umask 077; echo "dev:$(head -c 32 /dev/urandom | base64)" >.data/secret-encryption-key)
  fi
  SECRET_ENCRYPTION_KEY=$(cat .data/secret-encryption-key)
  export SECRET_ENCRYPTION_KEY
fi

export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" # go.mod's toolchain line: the patched Go
mkdir -p bin
go build -ldflags "-X github.com/empfio/webhooks.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -o bin/ ./cmd/...
bin/api migrate
KEY=$(bin/api demo .data/demo-api-key)

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "run: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$started_services" = 1 ]; then scripts/services.sh stop; fi
}
trap cleanup INT TERM EXIT

bin/api & pids+=($!)
bin/worker & pids+=($!)

host="${HTTP_ADDR%:*}"; port="${HTTP_ADDR##*:}"; host="${host:-127.0.0.1}"
for _ in $(seq 100); do curl -fsS "http://$host:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
cat <<MSG

  Empfio Webhooks is running.
    API:        http://$host:$port/api/v1
    Dashboard:  http://$host:$port/dashboard/
    Queues:     http://$host:$port/ops/queues   (any user, password \$ADMIN_TOKEN = $ADMIN_TOKEN)
    Readiness:  $(curl -s "http://$host:$port/readyz")

  Demo organization:  00000000-0000-4000-8000-00000000d3e0
    its API key:      $KEY
  Internal token (the agent's and services' inbound calls): $INTERNAL_AUTH_TOKEN

  Try:
    curl -s http://$host:$port/api/v1/event-types -H "Authorization: Bearer $KEY"
    curl -s -X POST http://$host:$port/api/v1/webhooks/agent-event -H "Authorization: Bearer $INTERNAL_AUTH_TOKEN" \
      -H 'Content-Type: application/json' \
      -d '{"type":"new_lead","organization_id":"00000000-0000-4000-8000-00000000d3e0","data":{"id":"lead-1","name":"Jonas Weber","channel":"web"}}'

  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
