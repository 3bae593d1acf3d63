"""SIGTERM stops the server gracefully, with one worker and with two: open sockets get 1001 (Going
Away), a request in flight completes, and the whole process tree is gone within SHUTDOWN_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import Backend
from tests.helpers.servers import AppProcess, Http, server_side_owner
from tests.system.test_server_processes import alive, port_open

pytestmark = pytest.mark.real_redis
SHUTDOWN_TIMEOUT_SECONDS = 6


async def _close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(4):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def _sockets_on_every_worker(server: AppProcess, token: str, workers: list[int]) -> list[ClientConnection]:
    """Sockets until each worker holds at least two (each new connection lands on whichever accepts it)."""
    sockets: list[ClientConnection] = []
    owners: dict[int | None, int] = {}
    while any(owners.get(pid, 0) < 2 for pid in workers) and len(sockets) < 60:
        ws = await connect(server.ws_url(f"token={token}"))
        assert json.loads(await ws.recv())["type"] == "hello"
        owner = server_side_owner(ws.local_address[1], server.port, workers)
        owners[owner] = owners.get(owner, 0) + 1
        sockets.append(ws)
    assert all(owners.get(pid, 0) >= 2 for pid in workers), owners
    return sockets


async def _until_gone(server: AppProcess, worker_pids: list[int], deadline: float) -> None:
    """Waits until the master has exited and no worker is alive, or until ``deadline`` (monotonic)."""
    assert server.process is not None
    while server.process.poll() is None or any(alive(pid) for pid in worker_pids):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_closes_sockets_with_1001_finishes_requests_and_exits_in_time(
    real_backend: Backend, workers: int
) -> None:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=workers,
                        SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT_SECONDS))
    sockets: list[ClientConnection] = []
    writer = None
    try:
        await server.start()
        assert server.process is not None
        worker_pids = server.worker_pids()
        assert len(worker_pids) == workers
        async with aiohttp.ClientSession() as session:
            investor = await Http(session, server.base_url).register("investor", "Graceful")
        sockets = await _sockets_on_every_worker(server, investor["token"], worker_pids)

        # a request in flight: its headers and half its body sent, the rest after the SIGTERM
        body = b'{"amount": 4242}'
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/wallet/deposit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {investor['token']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body[:7])
        await writer.drain()
        await asyncio.sleep(0.3)

        server.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        codes = await asyncio.gather(*(_close_code(ws) for ws in sockets))
        assert codes == [1001] * len(sockets)

        await asyncio.sleep(1.0)  # the server is stopping meanwhile: the request must still be answered
        writer.write(body[7:])
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:200]
        assert json.loads(payload)["wallet"]["balance"] == 4242

        await _until_gone(server, worker_pids, signalled_at + SHUTDOWN_TIMEOUT_SECONDS + 2)
        gone_after = time.monotonic() - signalled_at
        assert server.process.poll() == 0, server.output()
        assert not any(alive(pid) for pid in worker_pids)
        assert gone_after < SHUTDOWN_TIMEOUT_SECONDS, f"{gone_after:.1f} s"
        assert not port_open(server.port)
    finally:
        if writer is not None:
            writer.close()
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        server.close()


async def test_a_request_that_outlives_the_timeout_does_not_keep_the_server(real_backend: Backend) -> None:
    """A client that never finishes its request: the server still exits by SHUTDOWN_TIMEOUT_SECONDS."""
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=2, SHUTDOWN_TIMEOUT_SECONDS="3")
    writer = None
    try:
        await server.start()
        assert server.process is not None
        worker_pids = server.worker_pids()
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/wallet/deposit HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        await _until_gone(server, worker_pids, signalled_at + 6)
        assert server.process.poll() is not None and not any(alive(pid) for pid in worker_pids)
        assert time.monotonic() - signalled_at < 3.5
    finally:
        if writer is not None:
            writer.close()
        server.close()
