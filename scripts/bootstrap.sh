#!/usr/bin/env bash
# Makes .venv with the project and its dev tools, and installs redis-server where it is missing.
# Sourced by scripts/test.sh and scripts/serve.sh; safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# reinstall only when pyproject.toml changed since the last install
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  rm -f .venv/.installed-* && touch "$stamp"
fi

# --with-redis: Debian's redis-server (the tests start their own on free ports);
# --with-browser: Debian's chromium (the web app's tests drive it with the playwright package)
packages=()
for wanted in "$@"; do
  case "$wanted" in
    --with-redis) command -v redis-server >/dev/null 2>&1 || packages+=(redis-server) ;;
    --with-browser) [ -x /usr/bin/chromium ] || packages+=(chromium) ;;
  esac
done
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing Debian's ${packages[*]} (missing here)" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${packages[@]}" >/dev/null
  # the redis-server package starts a service on 6379; the tests never use it, they start their own
fi

# tests/system/test_body_limit.py drives curl as a client
if [ "${1:-}" = "--with-redis" ] && ! command -v curl >/dev/null 2>&1; then
  echo "curl not found: installing Debian's curl package" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq curl >/dev/null
fi
