#!/usr/bin/env bash
# Writes .env for docker compose from .env.example on first run: every empty
# token and the encryption key get fresh random values. An existing .env is
# left as it is. Prints where the tokens are, never the tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.env}
if [ -s "$out" ]; then
  echo "compose-env: $out exists; left as it is"
  exit 0
fi
token() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
umask 077
while IFS= read -r line; do
  case "$line" in
    ADMIN_TOKEN= | INTERNAL_AUTH_TOKEN= | CALCOM_WEBHOOK_SECRET=) echo "${line}$(token)" ;;
    SECRET_ENCRYPTION_KEY=) echo "${line}k1:$(head -c 32 /dev/urandom | base64)" ;;
    VERSION=dev) echo "VERSION=$(git describe --tags --always 2>/dev/null || echo dev)" ;;
    *) echo "$line" ;;
  esac
done <.env.example >"$out"
echo "compose-env: wrote $out with fresh tokens (ADMIN_TOKEN, INTERNAL_AUTH_TOKEN, CALCOM_WEBHOOK_SECRET) and SECRET_ENCRYPTION_KEY"
