"""/metrics of a real server with two workers on a real redis-server: whichever worker answers, the
figures are the sum of both (prometheus-client's multiprocess mode, its folder managed by app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect

from tests.conftest import Backend
from tests.helpers import metrics as m
from tests.helpers.servers import AppProcess, Http, server_side_owner

pytestmark = pytest.mark.real_redis


async def _raw_get(port: int, path: str, workers: list[int]) -> tuple[int, int | None]:
    """GET ``path`` on a connection of its own; (status, the worker that held the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        client_port = writer.get_extra_info("sockname")[1]
        owner = None
        for _ in range(50):  # the accept lands in one worker a moment after connect returns
            owner = server_side_owner(client_port, port, workers)
            if owner is not None:
                break
            await asyncio.sleep(0.005)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n")
        await reader.read()
        return int(head.split()[1]), owner
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _scrape(session: aiohttp.ClientSession, base_url: str) -> m.Samples:
    async with session.get(base_url + "/metrics") as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain")
        return m.parse(await response.text())


async def test_metrics_sum_every_worker_with_exact_labels(real_backend: Backend, tmp_path: Path) -> None:
    assert real_backend.server is not None
    # an operator's folder with figures left by an earlier run: the server empties it at start
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"\0" * 64)
    server = AppProcess(real_backend.server.url, workers=2, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    try:
        await server.start()
        assert not stale.exists()
        workers = server.worker_pids()
        assert len(workers) == 2
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            http = Http(session, server.base_url)
            before = await _scrape(session, server.base_url)

            # /health on fresh connections until both workers have answered some
            served: dict[int | None, int] = {}
            health_calls = 0
            while (len([pid for pid in workers if served.get(pid, 0) >= 3]) < 2 and health_calls < 300):
                status, owner = await _raw_get(server.port, "/health", workers)
                assert status == 200
                served[owner] = served.get(owner, 0) + 1
                health_calls += 1
            assert all(served.get(pid, 0) >= 3 for pid in workers), served

            # money: one deposit, its replay, one refused withdrawal; one invoice read by id; one unknown path
            investor = await http.register("investor", "Metrics Investor")
            key = uuid.uuid4().hex
            await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 5_000}, idempotency_key=key)
            await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 5_000}, idempotency_key=key)
            await http.call("POST", "/api/wallet/withdraw", investor["token"], {"amount": 9_999_999}, expect=409)
            await http.call("GET", "/api/invoices/inv_doesnotexist", investor["token"], expect=404)
            await http.call("GET", "/no/such/path", expect=404)

            # sockets: three open (on whichever workers), one event delivered to each
            sockets = [await connect(server.ws_url(f"token={investor['token']}")) for _ in range(3)]
            for ws in sockets:
                assert json.loads(await ws.recv())["type"] == "hello"
            during = await _wait_for(session, server.base_url,
                                     lambda s: m.value(s, "sockets_open", transport="ws") == 3)
            await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 1})
            for ws in sockets:
                assert json.loads(await ws.recv())["event"] == "walletUpdated"
            for ws in sockets:
                await ws.close()
            after = await _wait_for(session, server.base_url,
                                    lambda s: m.value(s, "sockets_open", transport="ws") == 0
                                    and m.value(s, "socket_events_delivered_total", stream="user") >= 3)
    finally:
        server.close()

    assert m.value(during, "sockets_open", transport="ws") == 3
    # every /health request counted once, whichever worker answered it
    assert m.delta(after, before, "http_requests_total")[m.labels(method="GET", route="/health", status="200")] \
        == health_calls
    assert m.delta(after, before, "http_request_duration_seconds_count")[
        m.labels(method="GET", route="/health")] == health_calls
    # routes are templates, never raw paths with ids in them
    routes = {dict(labels)["route"] for labels in m.label_sets(after, "http_requests_total")}
    assert {"/health", "/api/auth/register", "/api/wallet/deposit", "/api/wallet/withdraw",
            "/api/invoices/<invoice_id:invoice_id>", "unmatched", "/metrics"} <= routes
    assert not [route for route in routes if "inv_" in route or "no/such" in route]
    assert m.delta(after, before, "http_requests_total")[
        m.labels(method="GET", route="/api/invoices/<invoice_id:invoice_id>", status="404")] == 1
    assert m.delta(after, before, "http_requests_total")[m.labels(method="GET", route="unmatched", status="404")] == 1
    # money operations: exactly these, by outcome and refusal code
    assert m.delta(after, before, "money_operations_total") == {
        m.labels(operation="deposit_funds", outcome="ok", code="none"): 2,
        m.labels(operation="deposit_funds", outcome="replayed", code="none"): 1,
        m.labels(operation="withdraw_funds", outcome="refused", code="insufficient_funds"): 1,
    }
    scripts = m.delta(after, before, "lua_script_duration_seconds_count")
    assert scripts[m.labels(script="deposit_funds")] == 3
    assert scripts[m.labels(script="withdraw_funds")] == 1
    assert scripts[m.labels(script="register_user")] == 1
    assert m.delta(after, before, "socket_events_delivered_total")[m.labels(stream="user")] == 3
    lag = m.delta(after, before, "socket_delivery_lag_seconds_count")
    assert lag[m.labels(stream="user")] >= 1  # once per event per worker that fanned it out
    assert m.value(after, "redis_errors_total", component="http") == 0
    # no label anywhere carries an id, an email or an amount
    every_label_value = {value for (_, labels) in after for _, value in labels}
    assert not [value for value in every_label_value
                if investor["id"] in value or "@" in value or "5000" in value or "9999999" in value]


async def _wait_for(session: aiohttp.ClientSession, base_url: str, ready: Any) -> m.Samples:
    deadline = time.monotonic() + 5
    while True:
        samples = await _scrape(session, base_url)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)


async def test_the_metrics_folder_made_by_the_server_is_gone_after_it_stops(real_backend: Backend) -> None:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=2)
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        await server.start()
        folder = _metrics_folder(server.worker_pids())
        assert _db_files(folder)
    finally:
        server.close()
    assert _db_files(folder) is None


def _metrics_folder(pids: list[int]) -> Path:
    """The one PROMETHEUS_MULTIPROC_DIR the workers were started with."""
    environs = [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in pids]
    named = {entry.split(b"=", 1)[1].decode() for environ in environs for entry in environ
             if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")}
    assert len(named) == 1
    return Path(named.pop())


def _db_files(folder: Path) -> list[Path] | None:
    """The figure files in ``folder``; None when the folder is gone."""
    return sorted(folder.glob("*.db")) if folder.is_dir() else None


async def test_a_metrics_token_is_required_when_set(real_backend: Backend) -> None:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=1, METRICS_TOKEN="s3cret-scrape")
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 401),
                                    ({"Authorization": "Bearer s3cret-scrape"}, 200)):
                async with session.get(server.base_url + "/metrics", headers=headers) as response:
                    assert response.status == status
                    if status == 200:
                        assert "http_requests_total" in await response.text()
                    else:
                        assert response.headers["WWW-Authenticate"] == "Bearer"
    finally:
        server.close()
