#!/usr/bin/env bash
# `make sdk`: the SDKs generated from api/openapi.json, each by its pinned
# generator — sdk/go by oapi-codegen, sdk/typescript's types by
# openapi-typescript (scripts/npm.sh installs it). With --check, nothing is
# written: it fails when a committed SDK is not what the document makes.
set -euo pipefail
cd "$(dirname "$0")/.."
OAPI_CODEGEN=github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2
OPENAPI_TYPESCRIPT=.data/npm/node_modules/.bin/openapi-typescript
check=false
[ "${1:-}" = "--check" ] && check=true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

(cd sdk/go && go run "$OAPI_CODEGEN" -config oapi-codegen.yaml -o "$out/client.gen.go" ../../api/openapi.json)
if [ -x "$OPENAPI_TYPESCRIPT" ]; then
	"$OPENAPI_TYPESCRIPT" api/openapi.json --output "$out/schema.d.ts" >/dev/null
else
	echo "sdk: openapi-typescript is not installed (no npm): sdk/typescript not generated" >&2
fi

stale=()
compare() { # generated committed
	[ -f "$1" ] || return 0
	if $check; then
		cmp -s "$1" "$2" || stale+=("$2")
	else
		cp "$1" "$2"
	fi
}
compare "$out/client.gen.go" sdk/go/client.gen.go
compare "$out/schema.d.ts" sdk/typescript/src/schema.d.ts
if [ ${#stale[@]} -gt 0 ]; then
	echo "sdk: ${stale[*]} differ from what api/openapi.json makes: run make sdk" >&2
	exit 1
fi
