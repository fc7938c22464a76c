#!/usr/bin/env bash
# `make lint`: gofmt, go vet, staticcheck and govulncheck, each pinned. Fails on
# any finding. govulncheck reads the Go vulnerability database from the
# golang.org/x/vulndb module (served by the Go module proxy), indexed locally
# under .data/, so it needs no other host.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" # go.mod's toolchain line: the patched Go

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

say() { echo "lint: $*" >&2; }

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.data/*'))
if [ -n "$unformatted" ]; then say "gofmt would change: $unformatted"; exit 1; fi
go vet -tags faults ./... # the fault suite is behind a build tag
go run "$STATICCHECK" -tags faults ./...

db="$PWD/.data/vulndb-$VULNDB_VERSION"
if [ ! -f "$db/index/db.json" ]; then
  say "indexing the Go vulnerability database $VULNDB_VERSION"
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { say "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv"; exit 1; }
  rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi
go run "$GOVULNCHECK" -db "file://$db" ./...

# The OpenAPI document, with redocly's recommended rules (redocly.yaml) and
# spectral's (.spectral.yaml, failing on any warning), when scripts/npm.sh
# could install them.
if [ -x .data/npm/node_modules/.bin/redocly ] && [ -x .data/npm/node_modules/.bin/spectral ]; then
  .data/npm/node_modules/.bin/redocly lint --format=summary api/openapi.json
  .data/npm/node_modules/.bin/spectral lint --quiet --fail-severity=warn --ruleset .spectral.yaml api/openapi.json
else
  say "redocly or spectral is not installed (no npm): api/openapi.json not linted"
fi
# The SDKs are what their pinned generators make of api/openapi.json.
scripts/sdk.sh --check
say "clean"
