"""A slow consumer always learns why it was dropped: under a burst, every socket that cannot keep up gets
the 4008 close frame (after whatever was already on its way), never a connection cut without one (1006),
including sockets whose client pings while it falls behind (Hypercorn's pong then waits for the buffer
to drain, holding its send lock) and sockets that read, slowly, until the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from dataclasses import replace

import pytest

from streams.hub import Hub
from tests.conftest import Backend
from tests.helpers.api import register
from tests.helpers.servers import market_of, serving

pytestmark = pytest.mark.real_redis

SLOW_SOCKETS = 40
EVENTS = 300
PADDING = "p" * 4_000
TIMEOUT_SECONDS = 30


def complete_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(opcode, payload) of each complete unmasked server frame at the start of ``data``, and the bytes
    they take."""
    found, offset = [], 0
    while offset + 2 <= len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        header = 2
        if length == 126:
            if offset + 4 > len(data):
                break
            length, header = struct.unpack_from("!H", data, offset + 2)[0], 4
        elif length == 127:
            if offset + 10 > len(data):
                break
            length, header = struct.unpack_from("!Q", data, offset + 2)[0], 10
        if offset + header + length > len(data):
            break
        found.append((opcode, data[offset + header: offset + header + length]))
        offset += header + length
    return found, offset


def masked_ping() -> bytes:
    """A client's ping frame (clients mask every frame: RFC 6455 5.3), empty payload."""
    return bytes((0x89, 0x80)) + os.urandom(4)


async def slow_client(port: int, token: str, read_bytes: int, pause_seconds: float) -> str:
    """Reads ``read_bytes`` every ``pause_seconds`` (tiny receive buffer) and pings now and then, until a
    close frame arrives ("close <code>") or the connection ends without one ("1006")."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, (
        f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += await loop.sock_recv(sock, 4096)
    assert data.startswith(b"HTTP/1.1 101"), data[:100]
    data = data.split(b"\r\n\r\n", 1)[1]
    reads = texts = 0
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while True:
                found, used = complete_frames(data)
                data = data[used:]
                texts += sum(1 for opcode, _ in found if opcode == 0x1)
                for opcode, payload in found:
                    if opcode == 0x8:
                        return f"close {struct.unpack('!H', payload[:2])[0]}"
                await asyncio.sleep(pause_seconds)
                try:
                    chunk = await loop.sock_recv(sock, read_bytes)
                except ConnectionError:
                    return "1006"
                if not chunk:
                    return "1006"
                data += chunk
                reads += 1
                if reads % 10 == 0:
                    with contextlib.suppress(BlockingIOError, ConnectionError):
                        sock.send(masked_ping())
    except TimeoutError:
        return f"no end after {texts} text frames"
    finally:
        sock.close()


async def test_many_slow_sockets_under_a_burst_all_get_the_4008_close_frame(real_backend: Backend) -> None:
    settings = replace(real_backend.settings(websocket_queue_max=16), websocket_ping_interval_seconds=1)
    app = real_backend.app(websocket_queue_max=16, websocket_ping_interval_seconds=1)
    async with serving(app, settings) as port:
        market = market_of(app)
        hub: Hub = app.extensions["hub"]
        client = app.test_client()
        users = [await register(client, "investor") for _ in range(4)]
        clients = [asyncio.create_task(slow_client(port, users[n % 4].token, 2_048 if n % 2 else 8_192,
                                                   0.02 if n % 3 else 0.005))
                   for n in range(SLOW_SOCKETS)]
        # subscribed first, then replayed, then given the fast path's writer: wait for the last of them
        async with asyncio.timeout(10):
            while len(hub.subscriptions) < SLOW_SOCKETS or any(  # noqa: ASYNC110
                    subscription.subscriber.writer is None for subscription in hub.subscriptions):
                await asyncio.sleep(0.01)
        # a small send buffer on the server's side too, as over a slow network: the kernel does not take
        # the whole burst off the transport
        for subscription in hub.subscriptions:
            writer = subscription.subscriber.writer
            assert writer is not None
            writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)
        async with market.redis.pipeline(transaction=False) as pipe:  # the burst: one XREAD reads it all
            for n in range(EVENTS):
                pipe.xadd(market.keys.market_stream(), {"event": "bulk", "data": json.dumps(
                    {"n": n, "padding": PADDING})})
            await pipe.execute()
        endings = await asyncio.gather(*clients)
        codes = sorted(subscription.subscriber.close_code or 0 for subscription in hub.subscriptions)
        assert endings == ["close 4008"] * SLOW_SOCKETS, (endings, codes)
