"""LOG_FORMAT=json: every line of output is a JSON object; one per request (time, requestId, method,
route template, status, durationMs, userId) and per socket open and close (with the reason); the
request id is echoed; no token (query parameter or header) ever appears, nor a Redis password."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect

from tests.conftest import Backend
from tests.helpers.servers import AppProcess, Http

pytestmark = pytest.mark.real_redis
DECOY_TOKEN = "decoy-token-7f3a9c"  # a token-looking query parameter on a plain request


def _lines(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


@pytest.mark.parametrize("workers", [1, 2])
async def test_json_lines_per_request_and_socket_without_tokens(real_backend: Backend, workers: int) -> None:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=workers, LOG_FORMAT="json")
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            investor = await Http(session, server.base_url).register("investor", "Logged Investor")
            token = investor["token"]
            async with session.get(f"{server.base_url}/api/users/profile?token={DECOY_TOKEN}",
                                   headers={"Authorization": f"Bearer {token}", "X-Request-Id": "trace-0042"}) as got:
                assert got.status == 200 and got.headers["X-Request-Id"] == "trace-0042"
            async with session.get(f"{server.base_url}/api/invoices/inv_secretish?token={DECOY_TOKEN}") as got:
                assert got.status == 401
                made_id = got.headers["X-Request-Id"]
        async with connect(server.ws_url(f"token={token}"), additional_headers={"X-Request-Id": "ws-7"}) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
        deadline = time.monotonic() + 5
        while '"socket_close"' not in server.output() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        server.stop()
        server.log.seek(0)
        output = server.log.read().decode()  # all of it (output() keeps the tail)
        server.close()

    assert token not in output and DECOY_TOKEN not in output
    lines = _lines(output)
    requests = [line for line in lines if line["message"] == "request"]
    profile = next(line for line in requests if line["requestId"] == "trace-0042")
    assert set(profile) == {"time", "level", "logger", "message", "requestId", "method", "route", "status",
                            "durationMs", "userId"}
    assert (profile["method"], profile["route"], profile["status"], profile["userId"]) == \
        ("GET", "/api/users/profile", 200, investor["id"])
    assert isinstance(profile["durationMs"], float | int) and profile["durationMs"] >= 0
    assert profile["time"].endswith("+00:00")
    refused = next(line for line in requests if line["requestId"] == made_id)
    assert (refused["route"], refused["status"], refused["userId"]) == \
        ("/api/invoices/<invoice_id:invoice_id>", 401, None)
    opened = next(line for line in lines if line["message"] == "socket_open")
    closed = next(line for line in lines if line["message"] == "socket_close")
    assert (opened["requestId"], opened["userId"], opened["transport"]) == ("ws-7", investor["id"], "ws")
    assert (closed["requestId"], closed["userId"], closed["reason"]) == ("ws-7", investor["id"], "client_closed")


def test_a_redis_password_is_not_printed() -> None:
    from app import _without_password

    assert _without_password("redis://:hunter2@10.0.0.5:6380/1") == "redis://:***@10.0.0.5:6380/1"
    assert _without_password("rediss://ops:hunter2@cache.internal/0") == "rediss://ops:***@cache.internal/0"
    assert _without_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
