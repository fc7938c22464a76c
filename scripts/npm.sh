#!/usr/bin/env bash
# The npm packages make test uses, pinned, under .data/npm: standardwebhooks
# (a README snippet runs with it), @redocly/cli and @stoplight/spectral-cli
# (lint api/openapi.json), axe-core (the dashboard's accessibility check,
# injected by its browser tests), and openapi-typescript, openapi-fetch and
# typescript (sdk/typescript: generated, compiled under --strict, run live).
# Without npm they are skipped, and the tests and lint say so.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(standardwebhooks@1.0.0 @redocly/cli@2.77.0 @stoplight/spectral-cli@6.16.3 axe-core@4.14.1
	openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3)
if ! command -v npm >/dev/null; then
	echo "npm: not installed; the standardwebhooks README snippet and the OpenAPI lint will be skipped" >&2
	exit 0
fi
missing=()
for p in "${PACKAGES[@]}"; do
	name=${p%@*} version=${p##*@}
	json=.data/npm/node_modules/$name/package.json
	if ! { [ -f "$json" ] && grep -q "\"version\": \"$version\"" "$json"; }; then missing+=("$p"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
mkdir -p .data/npm
npm install --silent --no-audit --no-fund --prefix .data/npm "${PACKAGES[@]}" ||
	echo "npm: could not install ${missing[*]}; what needs them will be skipped" >&2
