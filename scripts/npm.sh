#!/usr/bin/env bash
# The npm packages the tests run the README's Node snippets with (today the
# standardwebhooks package), under .data/npm. Without npm the Node snippets that
# need them are skipped, and the test says so.
set -euo pipefail
cd "$(dirname "$0")/.."
STANDARDWEBHOOKS_VERSION=1.0.0
if ! command -v npm >/dev/null; then
	echo "npm: not installed; the standardwebhooks README snippet will be skipped" >&2
	exit 0
fi
if [ -f .data/npm/node_modules/standardwebhooks/package.json ] &&
	grep -q "\"version\": \"$STANDARDWEBHOOKS_VERSION\"" .data/npm/node_modules/standardwebhooks/package.json; then
	exit 0
fi
mkdir -p .data/npm
npm install --silent --no-audit --no-fund --prefix .data/npm "standardwebhooks@$STANDARDWEBHOOKS_VERSION" ||
	echo "npm: could not install standardwebhooks; its README snippet will be skipped" >&2
