"""The replay->live handover under concurrent commits: clients that keep reconnecting with since and
marketSince get every entry exactly once, in stream order; the reader picks up a new user's stream at
once (CLIENT UNBLOCK) rather than after its block timeout."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

import streams.hub as hub_module
from finance.stream_ids import id_of
from finance.stream_ids import parse_stream_id as parse_id
from streams.hub import Hub, Subscription
from streams.reader import BLOCK_MS
from tests.helpers.api import create_invoice, deposit, register, trio
from tests.helpers.servers import market_of, next_frame, stream_ids


async def _reconnecting_client(client: Client, token: str, stop: asyncio.Event,
                               seed: int) -> dict[str, list[str]]:
    """Connects, reads a few frames, drops the socket, resumes with since/marketSince; until ``stop``,
    then reads until a quiet moment. Returns the ids received per stream."""
    rng = random.Random(seed)
    received: dict[str, list[str]] = {"user": [], "market": []}
    while True:
        since = received["user"][-1] if received["user"] else "0-0"
        market_since = received["market"][-1] if received["market"] else "0-0"
        async with client.websocket(f"/ws?token={token}&since={since}&marketSince={market_since}") as ws:
            hello = await next_frame(ws)
            assert hello["type"] == "hello"
            assert hello["recovered"] is True
            wanted = rng.randint(0, 6)
            stopping = stop.is_set()
            while stopping or wanted > 0:
                try:
                    frame = await next_frame(ws, wait_seconds=0.5 if stopping else 5.0)
                except TimeoutError:
                    return received
                received[frame["stream"]].append(frame["id"])
                wanted -= 1
        await asyncio.sleep(rng.random() * 0.01)


async def test_reconnecting_clients_get_every_entry_exactly_once(app: Any, client: Client) -> None:
    # This used to hang now and then on the real Redis: a socket handler whose cancellation redis-py's
    # wait_for swallowed pumped for ever (tests/streams/test_stream_cancellation.py). A hang now fails.
    async with asyncio.timeout(60):
        await _reconnecting_scenario(app, client)


async def _reconnecting_scenario(app: Any, client: Client) -> None:
    t = await trio(client, investor_money=0)
    stop = asyncio.Event()

    async def commit() -> None:
        for n in range(40):
            await deposit(client, t.investor, n + 1)
            if n % 3 == 0:
                await create_invoice(client, t.seller, t.buyer)
            await asyncio.sleep(0.003)
        stop.set()

    # one client alone (its feed is dropped and re-created on every reconnect) and two side by side
    # with a tab that stays (the feed lives on, at positions the reconnecting ones must meet)
    async with client.websocket(f"/ws?token={t.investor.token}&since=0-0&marketSince=0-0") as anchor:
        assert (await next_frame(anchor))["type"] == "hello"
        results = await asyncio.gather(
            commit(),
            _reconnecting_client(client, t.investor.token, stop, seed=1),
            _reconnecting_client(client, t.investor.token, stop, seed=2),
        )
        anchor_received: dict[str, list[str]] = {"user": [], "market": []}
        while True:
            try:
                frame = await next_frame(anchor, wait_seconds=0.5)
            except TimeoutError:
                break
            anchor_received[frame["stream"]].append(frame["id"])

    market = market_of(app)
    truth = {
        "user": await stream_ids(market, market.keys.user_stream(t.investor.id)),
        "market": await stream_ids(market, market.keys.market_stream()),
    }
    assert len(truth["user"]) == 40
    for received in (*results[1:], anchor_received):
        assert received["user"] == truth["user"]
        assert received["market"] == truth["market"]


async def test_a_new_users_stream_is_read_without_waiting_for_the_block_timeout(client: Client) -> None:
    first = await register(client, "investor")
    second = await register(client, "investor")
    async with client.websocket(f"/ws?token={first.token}") as ws:
        await next_frame(ws)
        await asyncio.sleep(0.3)  # the reader is now blocked in an XREAD that does not cover `second`
        async with client.websocket(f"/ws?token={second.token}") as late:
            await next_frame(late)
            started = time.monotonic()
            await deposit(client, second, 1)
            frame = await next_frame(late, wait_seconds=BLOCK_MS / 1000 * 2)
            elapsed = time.monotonic() - started
    assert frame["event"] == "walletUpdated"
    assert elapsed < BLOCK_MS / 1000 / 2, f"the new stream waited {elapsed:.2f}s for the reader"


async def test_handover_with_the_reader_behind_and_ahead_of_each_socket(app: Any) -> None:
    """The reader is driven by hand here, so each case is exact: a socket whose start is ahead of the
    feed (floor), one whose start is behind it (replay), and one that starts where the feed is."""
    market = market_of(app)
    hub = Hub(market, market.redis, queue_max=100)  # never started: deliveries below are by hand
    key = market.keys.user_stream("usr_handover")

    async def commit(n: int) -> str:
        entry_id: str = await market.redis.xadd(key, {"event": "walletUpdated", "data": f'{{"n":{n}}}'})
        return entry_id

    async def deliver_all() -> None:
        feed = hub.feeds[key]
        after = id_of(feed.position)
        hub.deliver(key, after, await market.redis.xrange(key, min="(" + after, max="+"))

    def received(session: Subscription) -> list[str]:
        return [json.loads(frame)["id"] for frame in session.subscriber.queue]

    async def replayed(session: Subscription) -> list[str]:
        return [json.loads(frame)["id"] async for frame in hub.replay(session)]

    e0 = await commit(0)
    at_start = await hub.subscribe("usr_handover", None, None)  # the feed starts at e0
    e1, e2 = await commit(1), await commit(2)
    without_since = await hub.subscribe("usr_handover", None, None)  # starts at e2: ahead of the feed
    with_since = await hub.subscribe("usr_handover", parse_id(e1), None)  # ahead of the feed too
    await commit(3)
    await deliver_all()
    e4 = await commit(4)
    from_zero = await hub.subscribe("usr_handover", (0, 0), None)  # behind the feed: replays up to e3
    await deliver_all()

    everything = await stream_ids(market, key)
    assert [everything[0], everything[2]] == [e0, e2]
    assert received(at_start) == everything[1:]
    assert received(without_since) == everything[3:]
    assert received(with_since) == everything[2:]
    assert await replayed(from_zero) == everything[:4]
    assert received(from_zero) == [e4]
    for session in (at_start, without_since, with_since, from_zero):
        assert await replayed(session) == []
        hub.unsubscribe(session)
    assert key not in hub.feeds


async def test_a_feed_made_again_while_an_xread_is_in_flight_leaves_no_gap(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tab B fixes its start (e0); meanwhile e1, e2 reach tab A's feed, an XREAD goes out from e2, and
    tab A leaves, so the feed is dropped and made again at e0 for B. That XREAD's batch (e3) must not
    be delivered as if it followed e0: B would never see e1 and e2."""
    market = market_of(app)
    hub = Hub(market, market.redis, queue_max=100)  # driven by hand, as the reader would
    key = market.keys.user_stream("usr_gap")

    async def commit(n: int) -> str:
        entry_id: str = await market.redis.xadd(key, {"event": "walletUpdated", "data": f'{{"n":{n}}}'})
        return entry_id

    await commit(0)
    tab_a = await hub.subscribe("usr_gap", None, None)
    real_states = hub_module.stream_states  # type: ignore[attr-defined]
    in_flight_from: list[str] = []

    async def states_while_tab_a_moves_on(redis: Any, keys: list[str]) -> Any:
        states = await real_states(redis, keys)  # tab B's start: e0
        await commit(1)
        await commit(2)
        after = id_of(hub.feeds[key].position)
        hub.deliver(key, after, await market.redis.xrange(key, min="(" + after, max="+"))
        in_flight_from.append(id_of(hub.feeds[key].position))  # the next XREAD reads after e2
        hub.unsubscribe(tab_a)
        return states

    monkeypatch.setattr(hub_module, "stream_states", states_while_tab_a_moves_on)
    tab_b = await hub.subscribe("usr_gap", None, None)
    monkeypatch.setattr(hub_module, "stream_states", real_states)
    await commit(3)
    hub.deliver(key, in_flight_from[0], await market.redis.xrange(key, min="(" + in_flight_from[0], max="+"))
    # the reader's next XREAD starts from the new feed's own position
    after = id_of(hub.feeds[key].position)
    hub.deliver(key, after, await market.redis.xrange(key, min="(" + after, max="+"))

    replayed = [json.loads(frame)["id"] async for frame in hub.replay(tab_b)]
    live = [json.loads(frame)["id"] for frame in tab_b.subscriber.queue]
    assert replayed + live == (await stream_ids(market, key))[1:]
