"""``python app.py`` under Hypercorn, with the ``websockets`` client library: two workers each deliver
every event to their own sockets; SIGTERM closes sockets with 1001."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from finance.keys import Keys
from tests.conftest import Backend
from tests.helpers.api import due_in_days
from tests.helpers.servers import AppProcess, Http, server_side_owner


@pytest.fixture
async def two_workers(real_backend: Backend) -> AsyncIterator[AppProcess]:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=2)
    try:
        await server.start()
        yield server
    finally:
        server.close()


async def receive_events(ws: ClientConnection, count: int, wait_seconds: float = 10.0) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(wait_seconds):
        while len(received) < count:
            frame = json.loads(await ws.recv())
            assert frame["type"] == "event", frame
            received.append(frame)
    return received


@pytest.mark.real_redis
async def test_two_workers_each_deliver_every_event_to_their_own_sockets(
        two_workers: AppProcess, real_backend: Backend) -> None:
    assert real_backend.server is not None
    server = two_workers
    keys = Keys("main")
    store = redis.asyncio.Redis.from_url(real_backend.server.url, decode_responses=True)
    async with aiohttp.ClientSession() as session:
        http = Http(session, server.base_url)
        seller = await http.register("seller", "Seller")
        buyer = await http.register("buyer", "Buyer")
        investor = await http.register("investor", "Investor")
        await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 10_000_000})

        pids = server.worker_pids()
        assert len(pids) == 2
        sockets: list[tuple[dict[str, Any], ClientConnection]] = []
        owners: set[int | None] = set()
        try:
            # connect until both workers hold sockets (the kernel picks which worker accepts)
            while len(sockets) < 8 or (len(owners) < 2 and len(sockets) < 60):
                user = (investor, seller)[len(sockets) % 2]
                ws = await connect(server.ws_url(f"token={user['token']}"))
                greeting = json.loads(await ws.recv())
                assert (greeting["type"], greeting["userId"], greeting["recovered"]) == ("hello", user["id"], True)
                owners.add(server_side_owner(ws.local_address[1], server.port, pids))
                sockets.append((user, ws))
            assert owners == set(pids), f"sockets landed on {owners}, workers are {pids}"
            marks = {key: (await store.xrevrange(key, count=1) or [("0-0", {})])[0][0]
                     for key in (keys.market_stream(), keys.user_stream(seller["id"]),
                                 keys.user_stream(investor["id"]))}

            for n in range(3):
                body = {"invoiceNumber": f"W-{n}", "buyerId": buyer["id"], "amount": 1_000_000,
                        "askAmount": 900_000, "dueDate": due_in_days(60)}
                created = await http.call("POST", "/api/invoices/create", seller["token"], body, expect=201)
                invoice_id = created["invoice"]["id"]
                await http.call("POST", f"/api/invoices/{invoice_id}/fund", investor["token"], {"amount": 950_000})

            truth = {key: [entry_id for entry_id, _ in await store.xrange(key, min="(" + mark)]
                     for key, mark in marks.items()}
            market_ids = truth[keys.market_stream()]
            assert len(market_ids) == 6  # newInvoiceListed and invoiceUpdated, three times
            for user, ws in sockets:
                user_ids = truth[keys.user_stream(user["id"])]
                received = await receive_events(ws, len(market_ids) + len(user_ids))
                assert [f["id"] for f in received if f["stream"] == "market"] == market_ids
                assert [f["id"] for f in received if f["stream"] == "user"] == user_ids
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await ws.recv()
        finally:
            for _, ws in sockets:
                await ws.close()
            await store.aclose()


async def test_sigterm_closes_open_sockets_with_1001() -> None:
    server = AppProcess()  # the embedded default, one worker
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            user = await Http(session, server.base_url).register("investor", "Leaving")
        ws = await connect(server.ws_url(f"token={user['token']}"))
        assert json.loads(await ws.recv())["type"] == "hello"
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert await asyncio.to_thread(server.process.wait, 15) == 0
    finally:
        server.close()


@pytest.mark.real_redis
async def test_permessage_deflate_offered_like_browsers_is_declined_in_every_worker(two_workers: AppProcess) -> None:
    async with aiohttp.ClientSession() as session:
        token = (await Http(session, two_workers.base_url).register("investor", "Deflate"))["token"]
    # the websockets client offers permessage-deflate, as browsers do; several sockets land on both workers
    for _ in range(6):
        async with connect(two_workers.ws_url(f"token={token}")) as ws:
            assert ws.response is not None
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert json.loads(await ws.recv())["type"] == "hello"
