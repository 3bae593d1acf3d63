"""GET /ws through Quart's test client, on fakeredis and on a real redis-server: refusals, hello,
exact event sequences, replay with since/marketSince, recovered, isolation between users, tabs."""

from __future__ import annotations

from typing import Any

import pytest
from quart.testing import WebsocketResponseError
from quart.testing.connections import WebsocketDisconnectError
from quart.typing import TestClientProtocol as Client

from tests.helpers.api import create_invoice, deposit, fund, register, trio
from tests.helpers.servers import (
    by_stream,
    events,
    frames,
    market_of,
    next_frame,
    no_frame_within,
    stream_ids,
)


async def refusal(client: Client, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with client.websocket(path, headers=headers) as ws:
        with pytest.raises(WebsocketResponseError) as refused:
            await ws.receive()
    response = refused.value.response
    return response.status_code, await response.get_json()


async def test_no_token_is_refused_with_401_before_accept(client: Client) -> None:
    status, body = await refusal(client, "/ws")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_unknown_token_is_refused_with_401(client: Client) -> None:
    assert (await refusal(client, "/ws?token=not-a-token"))[0] == 401
    assert (await refusal(client, "/ws", headers={"Authorization": "Bearer not-a-token"}))[0] == 401


async def test_logged_out_token_is_refused_with_401(client: Client) -> None:
    user = await register(client, "investor")
    response = await client.post("/api/auth/logout", headers=user.headers)
    assert response.status_code == 204
    assert (await refusal(client, f"/ws?token={user.token}"))[0] == 401


@pytest.mark.parametrize("query", ["since=abc", "since=1-", "marketSince=-1-0", "since=1-0%0A",
                                   "marketSince=99999999999999999999-0", "since=1.5-0"])
async def test_malformed_since_is_refused_with_400(client: Client, query: str) -> None:
    user = await register(client, "investor")
    status, body = await refusal(client, f"/ws?token={user.token}&{query}")
    assert status == 400
    assert body["error"]["code"] == "invalid_query"


async def test_hello_is_the_first_frame(client: Client) -> None:
    user = await register(client, "seller")
    async with client.websocket(f"/ws?token={user.token}") as ws:
        assert await next_frame(ws) == {"type": "hello", "userId": user.id, "recovered": True}


async def test_authorization_header_is_accepted_too(client: Client) -> None:
    user = await register(client, "buyer")
    async with client.websocket("/ws", headers=user.headers) as ws:
        assert await next_frame(ws) == {"type": "hello", "userId": user.id, "recovered": True}


async def test_events_before_the_hello_are_not_sent_without_since(client: Client) -> None:
    user = await register(client, "investor")
    await deposit(client, user, 1_000)
    async with client.websocket(f"/ws?token={user.token}") as ws:
        assert (await next_frame(ws))["type"] == "hello"
        await no_frame_within(ws, 0.3)
        await deposit(client, user, 2_000)
        frame = await next_frame(ws)
    assert frame["type"] == "event"
    assert frame["stream"] == "user"
    assert frame["event"] == "walletUpdated"
    assert frame["data"]["balance"] == 3_000
    assert frame["data"]["transaction"]["amount"] == 2_000


async def test_funding_delivers_exact_frames_to_each_party(app: Any, client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    async with client.websocket(f"/ws?token={t.investor.token}") as investor_ws, \
            client.websocket(f"/ws?token={t.seller.token}") as seller_ws:
        for ws in (investor_ws, seller_ws):
            assert (await next_frame(ws))["type"] == "hello"
        invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        response = await fund(client, t.investor, invoice["id"], 470_000)
        assert response.status_code == 200
        investor_frames = await frames(investor_ws, 4)
        seller_frames = await frames(seller_ws, 4)
        await no_frame_within(investor_ws, 0.2)

    assert events(investor_frames, "user") == ["walletUpdated", "investmentSuccess"]
    assert events(investor_frames, "market") == ["newInvoiceListed", "invoiceUpdated"]
    assert events(seller_frames, "user") == ["walletUpdated", "invoiceFunded"]
    assert events(seller_frames, "market") == ["newInvoiceListed", "invoiceUpdated"]
    success = next(f for f in investor_frames if f["event"] == "investmentSuccess")
    assert success["data"] == {"invoiceId": invoice["id"], "invoiceNumber": invoice["invoiceNumber"],
                               "amount": 470_000, "expectedReturn": 500_000, "profit": 30_000,
                               "newBalance": 530_000}
    funded = next(f for f in seller_frames if f["event"] == "invoiceFunded")
    assert funded["data"]["amount"] == 470_000
    assert funded["data"]["newBalance"] == 470_000
    updated = next(f for f in seller_frames if f["event"] == "invoiceUpdated")
    assert updated["data"] == {"id": invoice["id"], "invoiceNumber": invoice["invoiceNumber"], "status": "funded"}
    # the frames carry the stream ids Redis gave the entries, in stream order
    market = market_of(app)
    assert by_stream(investor_frames, "user") == (await stream_ids(market, market.keys.user_stream(t.investor.id)))[-2:]
    assert by_stream(seller_frames, "market") == await stream_ids(market, market.keys.market_stream())


async def test_ping_gets_pong_and_other_frames_get_errors_without_closing(client: Client) -> None:
    user = await register(client, "investor")
    async with client.websocket(f"/ws?token={user.token}") as ws:
        await next_frame(ws)
        await ws.send('{"type":"ping"}')
        assert await next_frame(ws) == {"type": "pong"}
        await ws.send("not json")
        assert (await next_frame(ws))["error"]["code"] == "malformed_frame"
        await ws.send('{"type":"subscribe"}')
        assert (await next_frame(ws))["error"]["code"] == "unknown_type"
        await ws.send('{"no":"type"}')
        assert (await next_frame(ws))["error"]["code"] == "malformed_frame"
        await ws.send(b"\x00\x01")
        assert (await next_frame(ws))["error"]["code"] == "malformed_frame"
        await ws.send('{"type":"ping","pad":"' + "x" * 5000 + '"}')
        assert (await next_frame(ws))["error"]["code"] == "frame_too_large"
        # still open and still delivering
        await ws.send('{"type":"ping"}')
        assert await next_frame(ws) == {"type": "pong"}
        await deposit(client, user, 5_000)
        assert (await next_frame(ws))["event"] == "walletUpdated"


async def test_since_replays_exactly_what_was_missed_then_goes_live(app: Any, client: Client) -> None:
    user = await register(client, "investor")
    await deposit(client, user, 100)
    async with client.websocket(f"/ws?token={user.token}") as ws:
        await next_frame(ws)
        await deposit(client, user, 200)
        seen = (await next_frame(ws))["id"]
    for amount in (300, 400, 500):
        await deposit(client, user, amount)
    async with client.websocket(f"/ws?token={user.token}&since={seen}") as ws:
        assert await next_frame(ws) == {"type": "hello", "userId": user.id, "recovered": True}
        replayed = await frames(ws, 3)
        await deposit(client, user, 600)
        live = await next_frame(ws)
        await no_frame_within(ws, 0.2)
    assert [f["data"]["transaction"]["amount"] for f in replayed] == [300, 400, 500]
    assert live["data"]["transaction"]["amount"] == 600
    market = market_of(app)
    assert [f["id"] for f in [*replayed, live]] == await stream_ids(market, market.keys.user_stream(user.id), seen)


async def test_since_zero_replays_the_whole_stream(app: Any, client: Client) -> None:
    user = await register(client, "investor")
    for amount in (1, 2, 3):
        await deposit(client, user, amount)
    async with client.websocket(f"/ws?token={user.token}&since=0-0") as ws:
        await next_frame(ws)
        replayed = await frames(ws, 3)
    assert [f["data"]["transaction"]["amount"] for f in replayed] == [1, 2, 3]


async def test_market_since_replays_the_market_stream(app: Any, client: Client) -> None:
    t = await trio(client, investor_money=0)
    first = await create_invoice(client, t.seller, t.buyer)
    market = market_of(app)
    mark = (await stream_ids(market, market.keys.market_stream()))[-1]
    second = await create_invoice(client, t.seller, t.buyer)
    third = await create_invoice(client, t.seller, t.buyer)
    async with client.websocket(f"/ws?token={t.investor.token}&marketSince={mark}") as ws:
        await next_frame(ws)
        replayed = await frames(ws, 2)
        await no_frame_within(ws, 0.2)
    assert [f["data"]["id"] for f in replayed] == [second["id"], third["id"]]
    assert first["id"] not in {f["data"]["id"] for f in replayed}
    assert all(f["stream"] == "market" and f["event"] == "newInvoiceListed" for f in replayed)


async def test_since_older_than_a_trimmed_stream_says_not_recovered_and_starts_now(app: Any, client: Client) -> None:
    user = await register(client, "investor")
    for amount in (1, 2, 3, 4):
        await deposit(client, user, amount)
    market = market_of(app)
    key = market.keys.user_stream(user.id)
    ids = await stream_ids(market, key)
    await market.redis.xtrim(key, maxlen=2, approximate=False)
    async with client.websocket(f"/ws?token={user.token}&since={ids[0]}") as ws:
        assert await next_frame(ws) == {"type": "hello", "userId": user.id, "recovered": False}
        await no_frame_within(ws, 0.2)  # the client reloads over REST; no partial replay
        await deposit(client, user, 5)
        assert (await next_frame(ws))["data"]["transaction"]["amount"] == 5
    # the newest trimmed id is still "recovered: false" (documented: older than the first entry)
    async with client.websocket(f"/ws?token={user.token}&since={ids[1]}") as ws:
        assert (await next_frame(ws))["recovered"] is False
    # an id still in the stream is fine
    async with client.websocket(f"/ws?token={user.token}&since={ids[2]}") as ws:
        assert (await next_frame(ws))["recovered"] is True
        assert [f["data"]["transaction"]["amount"] for f in await frames(ws, 2)] == [4, 5]


async def test_since_ahead_of_the_stream_says_not_recovered(client: Client) -> None:
    user = await register(client, "investor")
    async with client.websocket(f"/ws?token={user.token}&marketSince=99999999999999-0") as ws:
        assert await next_frame(ws) == {"type": "hello", "userId": user.id, "recovered": False}


async def test_a_user_never_receives_another_users_stream(client: Client) -> None:
    alice = await register(client, "investor")
    bob = await register(client, "investor")
    async with client.websocket(f"/ws?token={alice.token}&since=0-0") as alice_ws, \
            client.websocket(f"/ws?token={bob.token}&since=0-0") as bob_ws:
        assert (await next_frame(alice_ws))["userId"] == alice.id
        assert (await next_frame(bob_ws))["userId"] == bob.id
        await deposit(client, alice, 111)
        await deposit(client, bob, 222)
        await deposit(client, alice, 333)
        alice_frames = await frames(alice_ws, 2)
        bob_frames = await frames(bob_ws, 1)
        await no_frame_within(alice_ws, 0.2)
        await no_frame_within(bob_ws, 0.2)
    assert [f["data"]["transaction"]["amount"] for f in alice_frames] == [111, 333]
    assert [f["data"]["transaction"]["amount"] for f in bob_frames] == [222]


async def test_every_tab_of_a_user_gets_every_event(client: Client) -> None:
    user = await register(client, "investor")
    async with client.websocket(f"/ws?token={user.token}") as tab1, \
            client.websocket(f"/ws?token={user.token}") as tab2, \
            client.websocket(f"/ws?token={user.token}") as tab3:
        for tab in (tab1, tab2, tab3):
            await next_frame(tab)
        for amount in (10, 20, 30):
            await deposit(client, user, amount)
        received = [await frames(tab, 3) for tab in (tab1, tab2, tab3)]
    for tab_frames in received:
        assert [f["data"]["transaction"]["amount"] for f in tab_frames] == [10, 20, 30]
    assert received[0] == received[1] == received[2]


async def test_a_tab_closing_does_not_stop_the_others(client: Client) -> None:
    user = await register(client, "investor")
    async with client.websocket(f"/ws?token={user.token}") as staying:
        await next_frame(staying)
        async with client.websocket(f"/ws?token={user.token}") as leaving:
            await next_frame(leaving)
            await deposit(client, user, 1)
            assert (await next_frame(leaving))["data"]["balance"] == 1
        await deposit(client, user, 2)
        assert [f["data"]["balance"] for f in await frames(staying, 2)] == [1, 3]


async def test_shutdown_closes_open_sockets_with_1001(backend: Any) -> None:
    application = backend.app()
    async with application.test_app() as test_app:
        client = test_app.test_client()
        user = await register(client, "investor")
        ws_context = client.websocket(f"/ws?token={user.token}")
        ws = await ws_context.__aenter__()
        await next_frame(ws)
    with pytest.raises(WebsocketDisconnectError) as closed:
        await ws.receive()
    assert closed.value.args[0] == 1001
    await ws_context.__aexit__(None, None, None)


async def test_the_hub_counts_http_requests_in_flight_and_every_one_ends(app: Any, client: Client) -> None:
    """The fan-out rests only while requests are in flight (streams/hub.py): the count must return to 0
    after answers of every kind, or the fan-out would rest for nothing."""
    import asyncio

    from quart import Quart

    quart_app: Quart = getattr(app, "app", app)
    hub = quart_app.extensions["hub"]
    seen: list[int] = []

    user = await register(client, "investor")
    await client.get("/api/users/profile", headers=user.headers)  # 200
    await client.get("/api/users/profile")  # 401
    await client.get("/api/nothing-here")  # 404
    await client.put("/api/wallet")  # 405
    await client.post("/api/wallet/deposit", data="{", headers={**user.headers, "Content-Type": "application/json"})
    assert hub.requests_in_flight == 0
    # and while one is being served, it counts
    started, release = asyncio.Event(), asyncio.Event()

    @quart_app.route("/__slow_for_the_test")
    async def slow() -> str:
        started.set()
        await release.wait()
        return "done"

    request = asyncio.create_task(client.get("/__slow_for_the_test"))
    await started.wait()
    seen.append(hub.requests_in_flight)
    release.set()
    assert (await request).status_code == 200
    assert seen == [1] and hub.requests_in_flight == 0
