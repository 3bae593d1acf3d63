"""A socket lives no longer than its token: logout or expiry closes it with 4401."""

from __future__ import annotations

import asyncio

import pytest
from quart.testing.connections import WebsocketDisconnectError

from finance.auth import users
from finance.market import Market
from streams.hub import Hub
from tests.conftest import Backend
from tests.helpers.api import deposit, register
from tests.helpers.servers import next_frame


async def test_logout_closes_that_tokens_sockets_with_4401_and_no_others(backend: Backend) -> None:
    app = backend.app()
    async with app.test_app():
        client = app.test_client()
        leaving = await register(client, "investor")
        staying = await register(client, "investor")
        async with client.websocket(f"/ws?token={leaving.token}") as gone_ws, \
                client.websocket(f"/ws?token={staying.token}") as kept_ws:
            assert (await next_frame(gone_ws))["type"] == "hello"
            assert (await next_frame(kept_ws))["type"] == "hello"
            assert (await client.post("/api/auth/logout", headers=leaving.headers)).status_code == 204
            hub: Hub = app.extensions["hub"]
            assert await hub.check_sessions() == 1
            with pytest.raises(WebsocketDisconnectError) as closed:
                await next_frame(gone_ws)
            assert closed.value.args[0] == 4401
            await deposit(client, staying, 7)
            assert (await next_frame(kept_ws))["data"]["balance"] == 7


async def test_the_server_checks_sessions_on_its_own(backend: Backend) -> None:
    app = backend.app(websocket_session_check_seconds=0.2)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        async with client.websocket(f"/ws?token={user.token}") as ws:
            assert (await next_frame(ws))["type"] == "hello"
            market: Market = app.extensions["market"]
            await market.redis.delete(market.keys.token(users._token_hash(user.token)))  # as an expiry does
            with pytest.raises(WebsocketDisconnectError) as closed:
                await asyncio.wait_for(next_frame(ws, wait_seconds=5), timeout=6)
            assert closed.value.args[0] == 4401
