"""Server processes end with their master: a Hypercorn worker whose master was killed outright
(SIGKILL) closes its sockets with 1001 and exits, so no orphan keeps serving the port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import Backend, processes_of_this_run
from tests.helpers.servers import AppProcess, Http


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def what_is(pid: int) -> str:
    """What /proc says of ``pid``: its state, command line and whether it carries the run's mark."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        marks = [v for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if v.startswith(b"INVOICE_")]
    except OSError as error:
        return f"{pid}: {error!r}"
    return f"{pid}: state and parent {state}, command {command!r}, marks {marks}, this run {os.getpid()}"


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.real_redis
async def test_workers_exit_within_two_seconds_of_their_master_being_killed(real_backend: Backend) -> None:
    assert real_backend.server is not None
    server = AppProcess(real_backend.server.url, workers=2)
    try:
        await server.start()
        import aiohttp

        async with aiohttp.ClientSession() as session:
            investor = await Http(session, server.base_url).register("investor", "Orphan")
        workers = server.worker_pids()
        assert len(workers) == 2 and server.process is not None and server.process.pid not in workers
        async with connect(server.ws_url(f"token={investor['token']}")) as ws:
            assert '"hello"' in await ws.recv()
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            killed_at = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(3):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        while any(alive(pid) for pid in workers) and time.monotonic() - killed_at < 5:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        gone_after = time.monotonic() - killed_at
        assert not any(alive(pid) for pid in workers), f"workers still running {gone_after:.1f} s after the master"
        assert gone_after < 2.0
        assert not port_open(server.port)
    finally:
        with contextlib.suppress(Exception):
            server.close()


def test_the_run_finds_a_process_it_started_after_its_parent_is_gone() -> None:
    """What pytest_sessionfinish relies on to fail a run that leaves a process behind: an orphan
    (re-parented, as a worker whose master died) is still found."""
    shell = subprocess.Popen(["sh", "-c", "sleep 30 >/dev/null & echo $!"], stdout=subprocess.PIPE, text=True)
    assert shell.stdout is not None
    orphan = int(shell.stdout.readline())
    shell.wait()
    try:
        # the shell may print the pid while the child is still between fork and exec: look again briefly
        deadline = time.monotonic() + 10
        while orphan not in [pid for pid, _ in processes_of_this_run()] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert orphan in [pid for pid, _ in processes_of_this_run()], what_is(orphan)
    finally:
        os.kill(orphan, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while orphan in [pid for pid, _ in processes_of_this_run()] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert orphan not in [pid for pid, _ in processes_of_this_run()]
