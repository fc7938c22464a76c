#!/usr/bin/env bash
# Makes promtool available for the alert rules' check (deploy/deploy_test.go):
# installs Debian's prometheus package with apt-get when promtool is missing and
# we are root. Best effort: without it, the test says the check was skipped.
set -euo pipefail
command -v promtool >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "promtool: missing, and apt-get cannot install it here; the alert rules' syntax check will be skipped" >&2
  exit 0
fi
echo "promtool: installing Debian's prometheus package (for promtool) with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 ||
  { apt-get update -qq >/dev/null 2>&1 || true; apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; } ||
  echo "promtool: apt-get could not install prometheus; the alert rules' syntax check will be skipped" >&2
