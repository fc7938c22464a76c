#!/usr/bin/env bash
# Runs every fuzz target of the project for FUZZTIME each, one after another (go
# test runs one fuzz target at a time). FUZZTIME is an execution count by
# default (10000x): a duration races the fuzz coordinator's deadline and fails
# spuriously with "context deadline exceeded" on a loaded machine (a Go bug,
# golang/go#75804, fixed in Go 1.27). New failing inputs land in testdata/fuzz/
# of their package: commit them as seeds once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${FUZZTIME:-10000x}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($time)" >&2
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
  done
done
