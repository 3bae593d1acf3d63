"""Socket.IO websockets past their replay are lean sockets (streams/lean.py, streams/socketio/websocket.py):
packets that arrived while the socket was still Quart's are answered, in order, by the lean socket; a
stopping server closes them with 1001 and saves each one's recovery record before Redis goes; the
lean socket reads pongs, ``41`` and ``authenticate`` itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streams.lean import LeanSocket
from streams.socketio.websocket import SocketioLeanSocket
from tests.conftest import Backend
from tests.helpers.api import register
from tests.helpers.servers import market_of, serving


def _url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"


async def _connect_answer(ws: Any, token: str) -> str:
    """Opens the Socket.IO session with ``token``; the pid of the CONNECT answer."""
    assert str(await ws.recv()).startswith('0{"sid":')
    await ws.send('40{"token":"' + token + '"}')
    answer = str(await asyncio.wait_for(ws.recv(), 5))
    assert answer.startswith("40{")
    pid: str = json.loads(answer[2:])["pid"]
    return pid


async def test_packets_sent_with_the_connect_are_answered_once_the_socket_is_lean(real_backend: Backend) -> None:
    app = real_backend.app()
    async with serving(app, real_backend.settings()) as port:
        market = market_of(app)
        the_server = app.extensions["socketio"]
        investor = await register(app.test_client(), "investor")
        async with connect(_url(port)) as ws:
            assert str(await ws.recv()).startswith('0{"sid":')
            # in one go, before any answer: the CONNECT, an authenticate with an ack, then a clean leave.
            # The handler reads only the first; the others wait in Hypercorn's and Quart's queues until the
            # socket turns lean, which must answer them, in order, rather than lose them
            await ws.send('40{"token":"' + investor.token + '"}')
            await ws.send('427["authenticate","' + investor.token + '"]')
            await ws.send("41")
            answer = str(await asyncio.wait_for(ws.recv(), 5))
            assert answer.startswith("40{")
            pid = json.loads(answer[2:])["pid"]
            payload = '{"userId":"' + investor.id + '","role":"investor"}'
            assert str(await asyncio.wait_for(ws.recv(), 5)) == '42["authenticated",' + payload + "]"
            assert str(await asyncio.wait_for(ws.recv(), 5)) == "437[" + payload + "]"
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1000
        assert [type(socket) for socket in the_server.lean.everyone] in ([], [SocketioLeanSocket])
        for _ in range(100):
            if not the_server.sockets and not app.extensions["hub"].subscriptions:
                break
            await asyncio.sleep(0.02)
        assert not the_server.sockets and not app.extensions["hub"].subscriptions
        # a 41 is a clean leave: nothing kept to recover
        assert await market.redis.exists(market.keys.socketio_recovery(pid)) == 0


async def test_a_stopping_server_closes_lean_sockets_with_1001_and_keeps_each_ones_recovery(
        real_backend: Backend) -> None:
    app = real_backend.app()
    market = None
    pids: list[str] = []
    sockets: list[Any] = []
    async with serving(app, real_backend.settings()) as port:
        market = market_of(app)
        the_server = app.extensions["socketio"]
        users = [await register(app.test_client(), "investor") for _ in range(3)]
        for n in range(12):
            ws = await connect(_url(port))
            pids.append(await _connect_answer(ws, users[n % 3].token))
            sockets.append(ws)
        for _ in range(100):
            if len(the_server.lean.sockets) == 12:
                break
            await asyncio.sleep(0.02)
        assert len(the_server.lean.sockets) == 12
        assert all(isinstance(s.subscriber.writer, LeanSocket) for s in app.extensions["hub"].subscriptions)
        readers = [asyncio.create_task(_until_closed(ws)) for ws in sockets]
        await asyncio.sleep(0.1)
    codes = await asyncio.gather(*readers)
    assert codes == [1001] * 12
    # the server's Redis client is closed now: read the records with one of the test's own
    import redis.asyncio as redis

    assert market is not None and real_backend.server is not None
    check = redis.Redis(port=real_backend.server.port)
    try:
        for pid in pids:
            assert await check.exists(market.keys.socketio_recovery(pid)) == 1, pid
    finally:
        await check.aclose()


async def _seed_recovery(client: LeanClient) -> None:
    """A recovery record under the client's pid, as a resumed socket has: a clean leave deletes it, a drop
    overwrites it (so "no record afterwards" can tell the two apart)."""
    await client.market.redis.set(client.market.keys.socketio_recovery(client.pid), "seed")


async def _forgotten(client: LeanClient, seconds: float = 5) -> bool:
    """Whether the pid's recovery record is gone within ``seconds`` (a clean leave forgets it)."""
    key = client.market.keys.socketio_recovery(client.pid)
    async with asyncio.timeout(seconds):
        while await client.market.redis.exists(key):  # noqa: ASYNC110 (a state of Redis, polled)
            await asyncio.sleep(0.02)
    return True


async def _until_closed(ws: Any) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        code: int | None = ws.close_code
        return code


@dataclass
class LeanClient:
    """A served app, an investor, and a raw client of theirs whose socket has turned lean."""

    app: Any
    market: Any
    investor: Any
    ws: Any
    pid: str
    subscriber: Any  # the server's SocketioSubscriber of that socket


@contextlib.asynccontextmanager
async def _lean_client(real_backend: Backend) -> AsyncIterator[LeanClient]:
    app = real_backend.app()
    async with serving(app, real_backend.settings()) as port:
        the_server = app.extensions["socketio"]
        investor = await register(app.test_client(), "investor")
        async with connect(_url(port)) as ws:
            pid = await _connect_answer(ws, investor.token)
            for _ in range(100):
                if the_server.lean.sockets:
                    break
                await asyncio.sleep(0.02)
            (lean,) = the_server.lean.sockets
            assert isinstance(lean, SocketioLeanSocket)
            yield LeanClient(app, market_of(app), investor, ws, pid, lean.subscriber)


def _slow_authenticate(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.3) -> list[str]:
    """From now on an ``authenticate`` of a subscribed socket takes ``seconds`` longer; the tokens it was
    called with."""
    from finance.auth.users import authenticate as real_authenticate
    from streams.socketio import websocket as transport

    calls: list[str] = []

    async def slow_authenticate(market: Any, token: str) -> Any:
        calls.append(token)
        await asyncio.sleep(seconds)
        return await real_authenticate(market, token)

    monkeypatch.setattr(transport, "authenticate", slow_authenticate)
    return calls


async def test_behind_a_slow_authenticate_pongs_count_at_once_and_a_41_stays_a_clean_leave(
        real_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _lean_client(real_backend) as client:
        _slow_authenticate(monkeypatch)
        await _seed_recovery(client)
        before = client.subscriber.last_pong
        # the seed emits authenticate after connecting; a quick unmount then leaves: 41 and the close frame,
        # both while the answer is still waiting for Redis
        await client.ws.send('42["authenticate","' + client.investor.token + '"]')
        await asyncio.sleep(0.05)
        await client.ws.send("3")
        await asyncio.sleep(0.05)
        assert client.subscriber.last_pong > before  # not queued behind the authenticate
        (lean,) = client.app.extensions["socketio"].lean.sockets
        assert lean.connection._backlog is not None  # (which is still being answered)
        await client.ws.send("41")
        await client.ws.close()
        for _ in range(100):
            if not client.app.extensions["socketio"].sockets and not client.app.extensions["hub"].subscriptions:
                break
            await asyncio.sleep(0.02)
        assert await _forgotten(client)  # not saved


async def test_an_authenticate_that_redis_cannot_answer_gets_an_error_and_what_follows_is_still_read(
        real_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from streams.socketio import websocket as transport

    async def unavailable(market: Any, token: str) -> Any:
        await asyncio.sleep(0.1)
        raise RedisConnectionError("gone")

    async with _lean_client(real_backend) as client:
        monkeypatch.setattr(transport, "authenticate", unavailable)
        await _seed_recovery(client)
        await client.ws.send('425["authenticate","' + client.investor.token + '"]')
        await client.ws.send("41")  # behind it: still a clean leave once the answer has gone out
        error = '{"code":"redis_unavailable","message":"retry shortly"}'
        assert str(await asyncio.wait_for(client.ws.recv(), 5)) == '42["auth_error",' + error + "]"
        assert str(await asyncio.wait_for(client.ws.recv(), 5)) == "435[" + error + "]"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), 5)
        assert client.ws.close_code == 1000
        assert await _forgotten(client)


async def test_a_replay_that_fails_leaves_nothing_subscribed(real_backend: Backend) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    app = real_backend.app()
    async with serving(app, real_backend.settings()) as port:
        hub = app.extensions["hub"]
        investor = await register(app.test_client(), "investor")

        async def broken_replay(subscription: Any) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
            if subscription is None:  # never: an async generator, as the hub's is, that fails before any entry
                yield "", "", {}
            raise RedisConnectionError("gone mid-replay")

        hub.replay_entries = broken_replay
        async with connect(_url(port)) as ws:
            assert str(await ws.recv()).startswith('0{"sid":')
            await ws.send('40{"token":"' + investor.token + '"}')
            assert await _until_closed(ws) is not None  # closed (with a close frame): the client reconnects
        for _ in range(100):
            if not hub.subscriptions:
                break
            await asyncio.sleep(0.02)
        assert not hub.subscriptions and not app.extensions["socketio"].sockets


async def test_socketio_websockets_are_counted_while_open_however_they_end(real_backend: Backend) -> None:
    import aiohttp

    from tests.helpers import metrics as m

    app = real_backend.app()
    async with serving(app, real_backend.settings()) as port, aiohttp.ClientSession() as session:

        async def open_now() -> float:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                return m.value(m.parse(await response.text()), "sockets_open", transport="socketio")

        before = await open_now()
        investor = await register(app.test_client(), "investor")
        clean, dropped, logged_out = [await _lean_socket_among(app, port, investor.token, n) for n in (1, 2, 3)]
        assert await open_now() == before + 3
        await clean.send("41")  # a clean leave; a dropped transport; a logout closes the third from the server
        await dropped.close()
        hub = app.extensions["hub"]
        for ws in (clean, dropped):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        assert await open_now() == before + 1
        await app.test_client().post("/api/auth/logout", headers=investor.headers)
        await hub.check_sessions()
        assert await _until_closed(logged_out) == 1000  # the 41 first, then the close
        for _ in range(100):
            if await open_now() == before:
                break
            await asyncio.sleep(0.02)
        assert await open_now() == before


async def _lean_socket_among(app: Any, port: int, token: str, count: int) -> Any:
    """A raw client whose socket has turned lean, the ``count``-th of the app's."""
    the_server = app.extensions["socketio"]
    ws = await connect(_url(port))
    await _connect_answer(ws, token)
    for _ in range(100):
        if len(the_server.lean.sockets) == count:
            break
        await asyncio.sleep(0.02)
    assert len(the_server.lean.sockets) == count
    return ws


async def test_a_41_behind_a_queue_of_authenticates_ends_their_answering_and_is_a_clean_leave(
        real_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.socketio import websocket as transport

    async with _lean_client(real_backend) as client:
        calls = _slow_authenticate(monkeypatch)
        monkeypatch.setattr(transport, "BACKLOG_MAX", 3)
        await _seed_recovery(client)
        for _ in range(4):  # one answered, three waiting: the backlog is full
            await client.ws.send('42["authenticate","' + client.investor.token + '"]')
        await client.ws.send("41")  # past the bound: the socket is closed (1013), but the leave is still clean
        assert await _until_closed(client.ws) == 1013
        assert await _forgotten(client)
        await asyncio.sleep(0.5)  # the answer in flight ends; nothing behind it is answered for a closed socket
        assert len(calls) == 1


async def test_a_waiting_long_poll_is_not_a_request_the_fan_out_rests_for(real_backend: Backend) -> None:
    import aiohttp

    app = real_backend.app()
    async with serving(app, real_backend.settings()) as port, aiohttp.ClientSession() as http:
        hub = app.extensions["hub"]
        investor = await register(app.test_client(), "investor")
        url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        async with http.get(url) as response:
            sid = json.loads((await response.text())[1:])["sid"]
        url += f"&sid={sid}"
        async with http.post(url, data='40{"token":"' + investor.token + '"}') as response:
            assert await response.text() == "ok"
        async with http.get(url) as response:
            assert (await response.text()).startswith("40{")
        poll = asyncio.create_task(http.get(url))  # nothing to deliver: it waits
        async with asyncio.timeout(5):
            while sid not in app.extensions["socketio"].polls:  # noqa: ASYNC110 (the server's state, polled)
                await asyncio.sleep(0.02)
        assert not poll.done()
        assert hub.requests_in_flight == 0  # the fan-out does not rest for it
        async with http.post(url, data="41") as response:  # a clean leave answers the poll
            assert await response.text() == "ok"
        (await asyncio.wait_for(poll, 5)).release()
        assert hub.requests_in_flight == 0


async def test_a_lean_socket_reads_a_packet_as_large_as_the_handshake_allows_and_closes_on_a_larger_one(
        real_backend: Backend) -> None:
    """maxPayload in the open packet is what a lean socket reads: a packet of exactly that size is taken
    (an unknown event, ignored), one byte more closes the socket with 1009."""
    from streams.socketio.protocol import MAX_PAYLOAD_BYTES

    def packet(size: int) -> str:
        head = '42["unknown","'
        return head + "a" * (size - len(head) - 2) + '"]'

    async with _lean_client(real_backend) as client:
        await client.ws.send(packet(MAX_PAYLOAD_BYTES))
        await client.ws.send("41")  # still read after it: a clean leave
        assert await _until_closed(client.ws) == 1000
    async with _lean_client(real_backend) as client:
        await client.ws.send(packet(MAX_PAYLOAD_BYTES + 1))
        assert await _until_closed(client.ws) == 1009
