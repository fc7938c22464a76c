#!/usr/bin/env bash
# Runs every fuzz target of the project for FUZZTIME each (default 3s), one after
# another (go test runs one fuzz target at a time). New failing inputs land in
# testdata/fuzz/ of their package: commit them as seeds once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${FUZZTIME:-3s}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($time)" >&2
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
  done
done
