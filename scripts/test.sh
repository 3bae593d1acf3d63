#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs pytest.
# The tests start their own redis-server on free ports and drive Debian's chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --with-redis --with-browser
# the real socket.io-client for tests/socketio, from tests/js/package-lock.json; skipped when node_modules
# was installed from this very lock (its hash is stamped there)
lock_hash=$(sha256sum tests/js/package-lock.json | cut -c1-16)
if [ "$(cat tests/js/node_modules/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm is needed for tests/socketio (apt-get install nodejs npm)" >&2; exit 1; }
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error && echo "$lock_hash" > node_modules/.lock-hash)
fi

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here, not a pass" >&2
  exit 1
fi
exit "$status"
