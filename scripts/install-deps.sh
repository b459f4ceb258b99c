#!/usr/bin/env bash
# Installs everything the test suite needs that cargo does not: the npm peers
# (protocol-tests/js) and the Debian packages of the tests that run real
# servers (redis-server, haproxy, chromium). Safe to run again: it installs
# only what is missing. Exits non-zero with a clear message on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || { echo "install-deps: node is required (Debian package nodejs)" >&2; need_apt+=(nodejs npm); }
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v haproxy >/dev/null || need_apt+=(haproxy)
command -v chromium >/dev/null || need_apt+=(chromium)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts redis-server as a service on install; the tests start their own.
  ($SUDO systemctl stop redis-server 2>/dev/null || $SUDO service redis-server stop 2>/dev/null) || true
fi

if [ ! -f protocol-tests/js/node_modules/.package-lock.json ] \
   || [ protocol-tests/js/package-lock.json -nt protocol-tests/js/node_modules/.package-lock.json ]; then
  echo "install-deps: installing npm peers in protocol-tests/js"
  (cd protocol-tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
