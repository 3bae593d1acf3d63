"""``python app.py`` with WORKERS=2 on a real redis-server, no sticky sessions: the real socket.io-client
long-polls (every request on a fresh connection, so the kernel hands them to either worker) and upgrades,
and gets every event exactly once, in order; one session's polls dealt to two servers in turn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import Backend
from tests.helpers.node_client import NodeClient, ensure_installed
from tests.helpers.servers import AppProcess, Http

pytestmark = pytest.mark.real_redis


@pytest.fixture(scope="module", autouse=True)
def _npm_installed() -> None:
    ensure_installed()


@pytest.fixture
async def two_workers(real_backend: Backend) -> AsyncIterator[AppProcess]:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=2)
    try:
        await server.start()
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"]])
async def test_polling_across_two_workers_delivers_every_event_once_in_order(
        two_workers: AppProcess, transports: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        http = Http(session, two_workers.base_url)
        investor = await http.register("investor", "Wanda Workers")
        async with NodeClient(two_workers.base_url, transports=transports, auth={"token": investor["token"]}) as client:
            line, _ = await client.until("connect")
            assert line["recovered"] is False
            for amount in range(1, 9):
                await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": amount})
                await asyncio.sleep(0.05)
            got = await client.events(8)
            assert [item["event"] for item in got] == ["walletUpdated"] * 8
            assert [item["args"][0]["transaction"]["amount"] for item in got] == list(range(1, 9))
            assert [item["args"][0]["balance"] for item in got] == [sum(range(1, n + 1)) for n in range(1, 9)]
            await client.nothing_within(0.3)


async def test_one_polling_session_is_served_by_two_processes_in_turn(real_backend: Backend) -> None:
    """The raw protocol with the requests of one session dealt in turn to two separate servers on one
    Redis (what a load balancer without sticky sessions does, made deterministic): the session lives in
    Redis, not in a process."""
    assert real_backend.server is not None
    servers = [AppProcess(real_backend.server.url), AppProcess(real_backend.server.url)]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        async with aiohttp.ClientSession() as session:
            http = Http(session, servers[0].base_url)
            investor = await http.register("investor", "Polly Poller")
            turn = 0

            async def request(method: str, query: str, body: str = "") -> str:
                nonlocal turn
                server = servers[turn % 2]
                turn += 1
                url = f"{server.base_url}/socket.io/?EIO=4&transport=polling{query}"
                async with session.request(method, url, data=body.encode(),
                                           headers={"Content-Type": "text/plain;charset=UTF-8"}) as response:
                    text = await response.text()
                    assert response.status == 200, text
                    return text

            opened = await request("GET", "")
            sid = opened[1:].split('"sid":"')[1].split('"')[0]
            assert await request("POST", f"&sid={sid}", '40{"token":"' + investor["token"] + '"}') == "ok"
            assert (await request("GET", f"&sid={sid}")).startswith('40{"sid":"' + sid + '","pid":"')
            amounts: list[int] = []
            for amount in range(1, 9):
                await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": amount})
                packets = (await request("GET", f"&sid={sid}")).split("\x1e")
                assert all(packet.startswith('42["walletUpdated",') for packet in packets), packets
                amounts += [json.loads(packet[2:])[1]["transaction"]["amount"] for packet in packets]
            assert amounts == list(range(1, 9))
            # a poll waiting in one process answers a POST served by the other
            waiting = asyncio.create_task(request("GET", f"&sid={sid}"))
            await asyncio.sleep(0.3)
            assert await request("POST", f"&sid={sid}", '42["authenticate","' + investor["token"] + '"]') == "ok"
            answer = await asyncio.wait_for(waiting, 5)
            assert answer == '42["authenticated",{"userId":"' + investor["id"] + '","role":"investor"}]'
    finally:
        for server in servers:
            server.close()
