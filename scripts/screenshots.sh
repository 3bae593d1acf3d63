#!/usr/bin/env bash
# Retakes the README's screenshots: each role's main page on the demo data at 1440 and 390 px (and the
# notifications panel after the live flow), in Chromium, then copies them to docs/screenshots.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/test.sh -q tests/web/test_web_screenshots.py "tests/web/test_web_live_flow.py::test_three_roles_work_live_without_a_reload"
mkdir -p docs/screenshots
cp build/screenshots/*.png docs/screenshots/
ls -l docs/screenshots
