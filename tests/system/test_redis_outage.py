"""Redis goes away and comes back: 503 redis_unavailable quickly while away, success after, no app restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import Backend
from tests.helpers.api import balance, deposit, error_code, register
from tests.helpers.redis_process import RedisProcess


@pytest.fixture
def own_server() -> Iterator[RedisProcess]:
    server = RedisProcess(appendonly=True)
    server.start()
    yield server
    server.close()


async def test_requests_get_503_while_redis_is_down_and_succeed_after(own_server: RedisProcess) -> None:
    app = Backend("redis", own_server).app()
    async with app.test_app():
        client = app.test_client()
        investor = await register(client, "investor")
        await deposit(client, investor, 1_000)

        own_server.stop()
        for path in ("/api/wallet", "/health"):
            response = await asyncio.wait_for(client.get(path, headers=investor.headers), timeout=5)
            assert response.status_code == 503
        response = await asyncio.wait_for(
            client.post("/api/wallet/deposit", json={"amount": 5}, headers=investor.headers), timeout=5
        )
        assert (response.status_code, await error_code(response)) == (503, "redis_unavailable")
        assert response.headers["Retry-After"] == "1"

        own_server.start()
        # the pool's connections died with the server: each must be replaced, not reused
        for _ in range(5):
            assert await balance(client, investor) == 1_000
        await deposit(client, investor, 5)
        assert await balance(client, investor) == 1_005
        health = await client.get("/health")
        assert (health.status_code, (await health.get_json())["redis"]) == (200, "up")
