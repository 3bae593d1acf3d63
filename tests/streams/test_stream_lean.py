"""Lean sockets (streams/lean.py): after hello and replay a socket on the fast path leaves Hypercorn and
Quart; what it needs after that (live frames, pongs, answers to client frames, both closes, heartbeats)
still works, and it holds no task of its own."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import struct
from typing import Any

import pytest
from websockets.asyncio.client import connect

from streams.hub import Hub
from streams.lean import CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, LeanSocket, _client_frame
from streams.subscriber import Subscriber
from tests.conftest import Backend
from tests.helpers.api import register
from tests.helpers.servers import market_of, serving, stream_ids


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    mask = os.urandom(4) if masked else b""
    header = bytes(((0x80 if fin else 0) | opcode,))
    length = len(payload)
    flag = 0x80 if masked else 0
    header += bytes((flag | length,)) if length < 126 else bytes((flag | 126,)) + struct.pack("!H", length)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload)) if masked else payload
    return header + mask + body


def test_client_frames_are_unmasked_and_the_wrong_ones_refused() -> None:
    wire = client_frame(0x9, b"hb") + client_frame(0x1, b'{"type":"ping"}') + client_frame(0x1, b"x" * 300)
    first = _client_frame(wire, 0)
    assert isinstance(first, tuple) and first[:2] == (0x9, b"hb")
    second = _client_frame(wire, first[2])
    assert isinstance(second, tuple) and second[:2] == (0x1, b'{"type":"ping"}')
    third = _client_frame(wire, second[2])
    assert isinstance(third, tuple) and third[:2] == (0x1, b"x" * 300) and third[2] == len(wire)
    assert _client_frame(wire[:-1], second[2]) is None  # incomplete: wait for more
    assert _client_frame(client_frame(0x1, b"a", masked=False), 0) == CLOSE_PROTOCOL_ERROR
    assert _client_frame(client_frame(0x1, b"a", fin=False), 0) == CLOSE_PROTOCOL_ERROR
    assert _client_frame(bytes((0x81, 0xFF)) + struct.pack("!Q", 70_000) + b"mask", 0) == CLOSE_TOO_BIG
    assert _client_frame(client_frame(0x9, b"a" * 126), 0) == CLOSE_PROTOCOL_ERROR  # control frames <= 125


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_a_lean_socket_answers_pings_and_frames_split_anyhow_and_closes_both_ways() -> None:
    gone: list[LeanSocket] = []
    subscriber = Subscriber("u1", queue_max=10)
    subscriber.push('{"type":"queued"}')  # answered during the replay: sent first
    transport = FakeTransport()
    lean = LeanSocket(transport, subscriber, gone.append, close_seconds=0.05)
    lean.start()
    assert transport.written == [b'\x81\x11{"type":"queued"}'] and subscriber.direct is lean
    wire = client_frame(0x9, b"hb") + client_frame(0x1, b'{"type":"ping"}') + client_frame(0x1, b"{")
    for byte in range(len(wire)):  # one byte at a time
        lean.data_received(wire[byte:byte + 1])
    assert transport.written[1] == b"\x8a\x02hb"
    assert transport.written[2] == b'\x81\x0f{"type":"pong"}'
    assert json.loads(transport.written[3][2:])["error"]["code"] == "malformed_frame"
    # the server closes (4008, say): the close frame, out of the fan-out, then the connection after a while
    subscriber.close(4008)
    assert transport.written[-1] == b"\x88\x02\x0f\xa8" and subscriber.direct is None
    await asyncio.sleep(0)
    assert gone == [lean] and not transport.closed
    await asyncio.sleep(0.1)
    assert transport.closed  # the client never answered
    # the client closes: its code is answered, and the connection goes
    transport2, gone2 = FakeTransport(), []
    subscriber2 = Subscriber("u1", queue_max=10)
    lean2 = LeanSocket(transport2, subscriber2, gone2.append, close_seconds=5)
    lean2.start()
    lean2.data_received(client_frame(0x8, struct.pack("!H", 1000)))
    await asyncio.sleep(0)
    assert transport2.written == [b"\x88\x02\x03\xe8"] and transport2.closed and gone2 == [lean2]
    assert subscriber2.close_code is not None


async def test_a_lean_socket_queues_while_backed_up_and_flushes_in_order_when_it_drains() -> None:
    subscriber = Subscriber("u1", queue_max=100)
    transport = FakeTransport()
    lean = LeanSocket(transport, subscriber, lambda socket: None, close_seconds=1)
    lean.start()
    lean.pause_writing()  # the transport passed its high-water mark
    assert not lean.write(b"x")
    for n in range(3):
        subscriber.push(f'{{"n":{n}}}')
    assert transport.written == [] and len(subscriber.queue) == 3
    lean.resume_writing()
    assert transport.written == [b'\x81\x07{"n":0}\x81\x07{"n":1}\x81\x07{"n":2}']
    assert subscriber.queue_bytes == 0 and subscriber.direct is lean


async def test_under_hypercorn_a_socket_goes_lean_and_holds_no_task(backend: Backend) -> None:
    app = backend.app()
    async with serving(app, backend.settings()) as port:
        market = market_of(app)
        hub: Hub = app.extensions["hub"]
        client = app.test_client()
        users = [await register(client, "investor") for _ in range(3)]
        await asyncio.sleep(0.2)
        tasks_before = len(asyncio.all_tasks())
        sockets = []
        for n in range(30):
            ws = await connect(f"ws://127.0.0.1:{port}/ws?token={users[n % 3].token}")
            assert json.loads(await ws.recv())["type"] == "hello"
            sockets.append(ws)
        for _ in range(100):  # Hypercorn's and Quart's tasks for each socket end
            if len(asyncio.all_tasks()) <= tasks_before + 1 + 30 * 2:
                break
            await asyncio.sleep(0.05)
        assert all(isinstance(s.subscriber.writer, LeanSocket) for s in hub.subscriptions)
        gc.collect()  # what Hypercorn leaves goes (its StreamWriter closed the transport when collected)
        await asyncio.sleep(0.1)
        assert len(hub.subscriptions) == 30
        # the client library's own tasks (2 a socket here, in this process) and the heartbeat: none of ours
        assert len(asyncio.all_tasks()) <= tasks_before + 1 + 30 * 2
        key = market.keys.market_stream()
        for n in range(20):
            await market.redis.xadd(key, {"event": "bulk", "data": json.dumps({"n": n})})
        ids = await stream_ids(market, key)
        for ws in sockets:
            assert [json.loads(await asyncio.wait_for(ws.recv(), 5))["id"] for _ in range(20)] == ids
        await asyncio.wait_for(await sockets[0].ping(), 5)  # a protocol ping: pong
        await sockets[0].send('{"type":"ping"}')
        assert json.loads(await asyncio.wait_for(sockets[0].recv(), 5)) == {"type": "pong"}
        # logout closes that user's sockets with 4401, the others stay
        await client.post("/api/auth/logout", headers=users[0].headers)
        assert await hub.check_sessions() == 10
        for n, ws in enumerate(sockets):
            if n % 3 == 0:
                with pytest.raises(Exception):  # noqa: B017 - the close, whatever the library calls it
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 4401
        await market.redis.xadd(key, {"event": "bulk", "data": "{}"})
        for n, ws in enumerate(sockets):
            if n % 3:
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "bulk"
                await ws.close()
                assert ws.close_code == 1000
        for _ in range(100):
            if not hub.subscriptions:
                break
            await asyncio.sleep(0.02)
        assert not hub.subscriptions
