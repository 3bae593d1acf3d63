#!/usr/bin/env bash
# Starts the server (http://127.0.0.1:8000, docs at /docs), from a fresh clone: installs what it needs.
# REDIS_URL unset -> the embedded in-process fakeredis. HOST, PORT, WORKERS, REDIS_URL from the environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python app.py
