"""Real sockets under Hypercorn in this process: a client that stops reading is closed with 4008 and
delays no one; heartbeats reap a peer that stops answering pings."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from streams.hub import Hub
from tests.conftest import Backend
from tests.helpers.api import register
from tests.helpers.servers import market_of, serving

pytestmark = pytest.mark.real_redis


async def raw_websocket(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that completes the handshake and then neither reads nor answers pings (tiny buffers,
    so the server feels it quickly)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    writer.write((f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


def frames_of(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in ``data``."""
    found, offset = [], 0
    while offset + 2 <= len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        header = {126: 4, 127: 10}.get(length, 2)
        if offset + header > len(data):  # the extended length itself has not all arrived yet
            break
        if length == 126:
            length = struct.unpack_from("!H", data, offset + 2)[0]
        elif length == 127:
            length = struct.unpack_from("!Q", data, offset + 2)[0]
        if offset + header + length > len(data):
            break
        found.append((opcode, data[offset + header: offset + header + length]))
        offset += header + length
    return found


async def test_a_client_that_stops_reading_is_closed_with_4008_and_delays_no_one(real_backend: Backend) -> None:
    events_total, padding = 400, "x" * 1000
    big = json.dumps({"padding": "y" * 30_000})
    app = real_backend.app(websocket_queue_max=16)
    settings = real_backend.settings(websocket_queue_max=16)
    async with serving(app, settings) as port:
        market = market_of(app)
        hub: Hub = app.extensions["hub"]
        client = app.test_client()
        users = [await register(client, "investor") for _ in range(5)]
        stalled = await register(client, "investor")
        readers: list[ClientConnection] = []
        for n in range(100):
            ws = await connect(f"ws://127.0.0.1:{port}/ws?token={users[n % 5].token}", max_size=2**20)
            assert json.loads(await ws.recv())["type"] == "hello"
            readers.append(ws)
        stalled_reader, stalled_writer = await raw_websocket(port, stalled.token)
        while len(hub.subscriptions) < 101:  # noqa: ASYNC110 - the stalled socket's session opens after its 101
            await asyncio.sleep(0.01)
        stalled_subscription = next(s for s in hub.subscriptions if s.subscriber.user_id == stalled.id)

        latencies_ms: list[float] = []

        async def read_all(ws: ClientConnection) -> list[str]:
            ids: list[str] = []
            async with asyncio.timeout(60):
                while len(ids) < events_total:
                    frame = json.loads(await ws.recv())
                    ids.append(frame["id"])
                    latencies_ms.append(time.time() * 1000 - int(frame["id"].split("-")[0]))
            return ids

        async def commit() -> list[str]:
            ids = []
            for n in range(events_total):
                data = json.dumps({"n": n, "padding": padding})
                ids.append(await market.redis.xadd(market.keys.market_stream(), {"event": "bulk", "data": data}))
                # the stalled user's own stream gets big entries too: its buffers fill in a few megabytes
                await market.redis.xadd(market.keys.user_stream(stalled.id), {"event": "bulk", "data": big})
                if n % 20 == 19:
                    await asyncio.sleep(0.02)
            return ids

        committed, *received = await asyncio.gather(commit(), *(read_all(ws) for ws in readers))
        assert all(ids == committed for ids in received)
        latencies_ms.sort()
        p99 = latencies_ms[int(len(latencies_ms) * 0.99)]
        assert p99 < 1000, f"p99 commit->receipt {p99:.0f} ms beside a stalled client"

        # the stalled socket was closed with 4008 and holds nothing in the hub any more
        assert stalled_subscription.subscriber.close_code == 4008
        assert not stalled_subscription.subscriber.queue
        assert len(hub.subscriptions) == 100
        assert all(len(s.subscriber.queue) <= 16 for s in hub.subscriptions)

        # once it reads again: some events, then the close frame with 4008
        data = b""
        async with asyncio.timeout(10):
            while not any(opcode == 0x8 for opcode, _ in frames_of(data)):
                chunk = await stalled_reader.read(65536)
                assert chunk, "connection ended without a close frame"
                data += chunk
        close_payload = next(payload for opcode, payload in frames_of(data) if opcode == 0x8)
        assert struct.unpack("!H", close_payload[:2])[0] == 4008
        assert len([1 for opcode, _ in frames_of(data) if opcode == 0x1]) < events_total
        stalled_writer.close()
        for ws in readers:
            await ws.close()


async def test_heartbeats_reap_a_peer_that_stops_answering(real_backend: Backend) -> None:
    settings = replace(real_backend.settings(), websocket_ping_interval_seconds=1)
    app = real_backend.app(websocket_ping_interval_seconds=1)
    async with serving(app, settings, keep_alive_seconds=1) as port:  # read timeout: 2 * 1 + 1 seconds
        hub: Hub = app.extensions["hub"]
        client = app.test_client()
        user = await register(client, "investor")
        alive = await connect(f"ws://127.0.0.1:{port}/ws?token={user.token}")  # answers pings itself
        assert json.loads(await alive.recv())["type"] == "hello"
        _, dead_writer = await raw_websocket(port, user.token)
        while len(hub.subscriptions) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        started = time.monotonic()
        async with asyncio.timeout(10):
            while len(hub.subscriptions) > 1:  # noqa: ASYNC110 - waiting for the reaper
                await asyncio.sleep(0.05)
        assert 2.5 < time.monotonic() - started < 8
        # the live one is still there and still delivered to
        await asyncio.sleep(1.5)
        assert len(hub.subscriptions) == 1
        await client.post("/api/wallet/deposit", json={"amount": 1}, headers=user.headers)
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(alive.recv(), 5))
        assert frame["event"] == "walletUpdated"
        dead_writer.close()
        await alive.close()
