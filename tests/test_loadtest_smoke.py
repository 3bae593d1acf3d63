"""The load generator end to end, for a few seconds, against a real server it cannot fool:
a redis-server and `python app.py` (two workers) started here on free loopback ports.
Pins the product's promises under load: no double funding, a ledger that balances, every
operation exercised, and events delivered to the connected WebSocket clients.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from loadtest.servers import PROJECT_ROOT, Managed, start_app, start_redis

pytestmark = pytest.mark.real_redis

LOAD_SECONDS = 4
OPERATIONS = ("register", "deposit", "create", "fund", "repay", "top-up")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Managed, Managed]]:
    tmp_path = tmp_path_factory.mktemp("loadtest-servers")
    redis = start_redis(tmp_path, maxmemory_mb=256)
    try:
        # cheap password hashing: registration speed is not what this test is about
        app = start_app(redis.url, tmp_path, workers=2, extra_env={"PASSWORD_HASH_COST": "4"})
        try:
            yield redis, app
        finally:
            app.stop()
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def load_result(served: tuple[Managed, Managed], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One load run shared by the tests below (it is the expensive part)."""
    redis, app = served
    out = tmp_path_factory.mktemp("loadtest-result") / "result.json"
    command = [
        sys.executable, "-m", "loadtest", "--url", app.url, "--redis-url", redis.url, "--out", str(out),
        "--duration", str(LOAD_SECONDS), "--sellers", "3", "--investors", "6", "--buyers", "3",
        "--ws-clients", "40", "--ws-processes", "1", "--concurrency", "8", "--race", "3",
        "--repay-fraction", "0.5", "--deposit-fraction", "0.5", "--seed", "7", "--quiet",
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180, check=False)
    report = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}\napp log:\n{app.log_tail()}"
    assert out.exists(), report
    result: dict[str, Any] = json.loads(out.read_text())
    result["_report"] = report
    return result


def test_load_run_has_no_double_funding_and_a_balanced_ledger(load_result: dict[str, Any]) -> None:
    checks = load_result["checks"]
    assert checks["invoices_raced"] > 0, load_result["_report"]
    assert checks["double_fundings"] == 0, load_result["_report"]
    assert checks["races_without_winner"] == 0, load_result["_report"]
    assert checks["ledger"]["ok"], load_result["_report"]


def test_load_run_exercises_every_operation_without_errors(load_result: dict[str, Any]) -> None:
    operations = load_result["operations"]
    for name in OPERATIONS:
        assert operations.get(name, {}).get("ok", 0) > 0, (name, load_result["_report"])
    assert load_result["checks"]["http_errors"] == 0, load_result["_report"]
    fund = operations["fund"]
    assert fund["refused"] == fund["count"] - fund["ok"]  # losers of a race get invoice_not_listed only


def test_load_run_delivers_events_to_websocket_clients(load_result: dict[str, Any]) -> None:
    events = load_result["events"]
    clients = events["clients"]
    assert clients["connected"] == clients["sockets"] == 40, load_result["_report"]
    assert clients["hello"] == clients["connected"], load_result["_report"]
    assert events["deliveries"] > 0, load_result["_report"]
    assert events["trigger_to_receipt"]["count"] > 0, load_result["_report"]
    assert events["commit_to_receipt"]["count"] > 0, load_result["_report"]
    assert clients["duplicates"] == 0 and clients["out_of_order"] == 0, load_result["_report"]
    assert clients["undecodable"] == 0 and clients["error_frames"] == 0, load_result["_report"]
