#!/usr/bin/env bash
# `make test`: start (or find) Postgres and Redis, then run every test with the
# race detector. Each test gets its own database and Redis database.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "test: Go is required (https://go.dev/dl)" >&2; exit 1; }
scripts/services.sh
scripts/chromium.sh # the dashboard's tests drive a real headless Chromium
scripts/npm.sh      # npm packages: a README snippet's, and the OpenAPI linter
scripts/promtool.sh # promtool, for the alert rules
# shellcheck disable=SC1091
. .data/services.env
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" # go.mod's toolchain line: the patched Go
go mod download
scripts/lint.sh
go test -race -count=1 -timeout 15m ./... "$@"
# The Helm chart, a module of its own (Helm and k8s.io/api stay out of the
# service's go.mod): helm lint and template, manifests decoded strictly.
(cd deploy/helm && go vet ./... && go test -count=1 ./...)
scripts/fuzz.sh # every fuzz target, about ten seconds each: seeds and exploration
# The fault suite: real processes on a Postgres and Redis of its own, killed and restarted.
go test -tags faults -count=1 -timeout 20m ./faults
