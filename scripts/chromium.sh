#!/usr/bin/env bash
# Makes Debian's Chromium available for the dashboard's browser tests: installs
# the chromium package with apt-get when it is missing and we are root, and
# fails with a clear message when it cannot. Nothing downloads a browser of its
# own.
set -euo pipefail
for c in "${CHROMIUM:-}" chromium chromium-browser; do
  [ -n "$c" ] && command -v "$c" >/dev/null && exit 0
done
die() { echo "chromium: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "Chromium is missing and I am not root: install Debian's chromium package (sudo apt-get install chromium) or set CHROMIUM to a Chromium binary."
command -v apt-get >/dev/null || die "Chromium is missing and apt-get is not here: install Chromium and set CHROMIUM to its binary."
echo "chromium: installing Debian's chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq chromium >/dev/null || die "apt-get could not install chromium; install it by hand or set CHROMIUM."
command -v chromium >/dev/null || die "chromium is still missing after apt-get install"
