"""A real redis-server (AOF on) restarted in the middle of a stream of fundings: the reader reconnects
and resumes from the last ids it delivered; connected clients miss nothing that was committed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.conftest import Backend
from tests.helpers.api import Actor, create_invoice, trio
from tests.helpers.redis_process import RedisProcess
from tests.helpers.servers import market_of, next_frame, stream_ids

pytestmark = pytest.mark.real_redis


@pytest.fixture
def durable_redis() -> Iterator[RedisProcess]:
    server = RedisProcess(appendonly=True)
    server.start()
    yield server
    server.close()


async def post_until_committed(client: Client, actor: Actor, path: str, body: dict[str, Any]) -> int:
    """POST with an Idempotency-Key, retried through 503s: committed exactly once. Returns the 503s."""
    headers = {**actor.headers, "Idempotency-Key": str(uuid.uuid4())}
    unavailable = 0
    async with asyncio.timeout(30):
        while True:
            response = await client.post(path, json=body, headers=headers)
            if response.status_code != 503:
                assert response.status_code == 200, await response.get_data(as_text=True)
                return unavailable
            unavailable += 1
            await asyncio.sleep(0.05)


FUNDINGS = 24
EXPECTED_FRAMES = 3 * FUNDINGS  # per listener, each funding: two events on its own stream and one on the market's


async def test_clients_miss_nothing_across_a_redis_restart(durable_redis: RedisProcess,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    backend = Backend("redis", durable_redis)
    app = backend.app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        t = await trio(client, investor_money=100_000_000)
        invoices = [await create_invoice(client, t.seller, t.buyer, amount=1_000_000, ask_amount=900_000)
                    for _ in range(FUNDINGS)]
        market = market_of(test_app)
        starts = {
            "investor": (await stream_ids(market, market.keys.user_stream(t.investor.id)))[-1],
            "market": (await stream_ids(market, market.keys.market_stream()))[-1],
        }
        received: dict[str, dict[str, list[str]]] = {}

        async def listen(name: str, actor: Actor, done: asyncio.Event) -> None:
            got: dict[str, list[str]] = {"user": [], "market": []}
            received[name] = got
            async with client.websocket(f"/ws?token={actor.token}") as ws:
                assert (await next_frame(ws))["type"] == "hello"
                ready[name].set()
                while True:
                    try:
                        frame = await next_frame(ws, wait_seconds=1.0)
                    except TimeoutError:
                        # all there, and quiet for a second (a duplicate would have come): a reader still
                        # backing off after the restart has not delivered the last ones yet
                        if done.is_set() and len(got["user"]) + len(got["market"]) >= EXPECTED_FRAMES:
                            return
                        continue
                    got[frame["stream"]].append(frame["id"])

        done = asyncio.Event()
        ready = {name: asyncio.Event() for name in ("investor", "seller")}
        listeners = [asyncio.create_task(listen("investor", t.investor, done)),
                     asyncio.create_task(listen("seller", t.seller, done))]
        for event in ready.values():
            await event.wait()

        restart = None
        unavailable = 0
        for n, invoice in enumerate(invoices):
            if n == 8:
                # down for a second while fundings keep coming (they get 503 and retry)
                restart = asyncio.create_task(asyncio.to_thread(durable_redis.restart, 1.0))
            unavailable += await post_until_committed(client, t.investor, f"/api/invoices/{invoice['id']}/fund",
                                                      {"amount": 950_000})
            await asyncio.sleep(0.05)
        assert restart is not None
        await restart
        assert unavailable > 0, "the restart did not overlap the fundings"
        assert "stream reader: redis unavailable" in caplog.text
        done.set()
        finished, waiting = await asyncio.wait(listeners, timeout=20)  # a listener still waiting is a frame short:
        for listener in waiting:  # the asserts below say which
            listener.cancel()
        for listener in finished:
            listener.result()

        investor_truth = await stream_ids(market, market.keys.user_stream(t.investor.id), starts["investor"])
        market_truth = await stream_ids(market, market.keys.market_stream(), starts["market"])
        assert len(market_truth) == FUNDINGS  # one invoiceUpdated per funding, each committed once
        assert len(investor_truth) == 2 * FUNDINGS  # walletUpdated and investmentSuccess per funding
        assert received["investor"]["user"] == investor_truth
        assert received["investor"]["market"] == market_truth
        assert received["seller"]["market"] == market_truth
        assert len(received["seller"]["user"]) == 2 * FUNDINGS
        assert app.extensions["hub"].reader.available
