"""Helpers shared by the WebSocket and stream tests (no tests here): frames, and the streams' truth in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from finance.market import Market
from finance.settings import Settings
from streams.server import configure_hypercorn
from tests.helpers.redis_process import free_port

ROOT = Path(__file__).resolve().parents[2]


async def next_frame(ws: Any, wait_seconds: float = 5.0) -> dict[str, Any]:
    """The next frame from a Quart test-client socket, decoded."""
    raw = await asyncio.wait_for(ws.receive(), wait_seconds)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def frames(ws: Any, count: int, wait_seconds: float = 5.0) -> list[dict[str, Any]]:
    return [await next_frame(ws, wait_seconds) for _ in range(count)]


async def no_frame_within(ws: Any, seconds: float) -> None:
    try:
        raw = await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no frame, got {raw!r}")


def market_of(app: Any) -> Market:
    """The market of a test app (the ``app`` fixture yields Quart's TestApp, which wraps the app)."""
    quart_app: Quart = getattr(app, "app", app)
    market: Market = quart_app.extensions["market"]
    return market


async def stream_ids(market: Market, key: str, after: str = "-") -> list[str]:
    """Every entry id of a stream after ``after`` ('-' for all), oldest first: what clients must get."""
    entries = await market.redis.xrange(key, min=after if after == "-" else "(" + after, max="+")
    return [entry_id for entry_id, _ in entries]


async def last_id(market: Market, key: str) -> str:
    """The id of a stream's newest entry, "0-0" for an empty stream: where a socket without since starts."""
    newest = await market.redis.xrevrange(key, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def hello(market: Market, user_id: str, recovered: bool = True, since: str | None = None,
                market_since: str | None = None) -> dict[str, Any]:
    """The hello frame a socket of ``user_id`` gets: each stream starts at ``since`` or else at its end."""
    keys = market.keys
    return {"type": "hello", "userId": user_id, "recovered": recovered,
            "since": since or await last_id(market, keys.user_stream(user_id)),
            "marketSince": market_since or await last_id(market, keys.market_stream())}


def by_stream(received: list[dict[str, Any]], stream: str) -> list[str]:
    return [frame["id"] for frame in received if frame.get("type") == "event" and frame["stream"] == stream]


def events(received: list[dict[str, Any]], stream: str) -> list[str]:
    return [frame["event"] for frame in received if frame.get("type") == "event" and frame["stream"] == stream]


@asynccontextmanager
async def serving(app: Quart, settings: Settings, keep_alive_seconds: float = 75) -> AsyncIterator[int]:
    """The app under Hypercorn in this process, on a free port (yielded); stopped on exit."""
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = keep_alive_seconds
    configure_hypercorn(config, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


class AppProcess:
    """``python app.py`` as a subprocess on a free port (HOST/PORT/REDIS_URL/WORKERS from the environment)."""

    def __init__(self, redis_url: str | None = None, workers: int = 1, command: list[str] | None = None,
                 cwd: Path = ROOT, **env: str) -> None:
        self.command = command or [sys.executable, str(ROOT / "app.py")]
        self.cwd = cwd
        self.port = free_port()
        self.env = {
            **os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": str(workers),
            "PASSWORD_HASH_COST": "4", "AGING_INTERVAL_SECONDS": "0",
            "AUTH_ATTEMPTS_PER_ADDRESS_MAX": "0", **env,
        }
        self.env.pop("REDIS_URL", None)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.process: subprocess.Popen[bytes] | None = None
        self.group: int | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, kept until close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, query: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?{query}"

    def launch(self) -> None:
        # a session of its own, so that close() can reach the workers and whatever else it started
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True,
        )
        self.group = self.process.pid

    async def start(self) -> None:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(self.base_url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"app did not start: {self.output()}")
                await asyncio.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def worker_pids(self) -> list[int]:
        """The processes that serve connections: the children with WORKERS > 1, else the process itself."""
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command_line = (stat.parent / "cmdline").read_bytes()
                # multiprocessing also starts a resource tracker: only the spawned workers serve
                if int(fields[1]) == self.process.pid and b"spawn_main" in command_line:
                    children.append(int(stat.parent.name))
        return children or [self.process.pid]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def close(self) -> None:
        """Stops the server as an operator would (SIGTERM), then kills whatever of its session is left."""
        self.stop(signal.SIGTERM)
        if self.group is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.group, signal.SIGKILL)
            self.group = None
        self.log.close()


def server_side_owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server end of the TCP connection from ``client_port`` (via /proc)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local_port = int(parts[1].split(":")[1], 16)
        remote_port = int(parts[2].split(":")[1], 16)
        if local_port == server_port and remote_port == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    return None


class Http:
    """Just enough of the API over real HTTP for the server tests."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def call(self, method: str, path: str, token: str | None = None, body: Any = None,
                   expect: int = 200, idempotency_key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        async with self.session.request(method, self.base_url + path, json=body, headers=headers) as response:
            data = await response.json()
            assert response.status == expect, (response.status, data)
            return data

    async def register(self, role: str, name: str) -> dict[str, Any]:
        email = f"{name.lower().replace(' ', '.')}.{time.monotonic_ns()}@example.com"
        body = {"name": name, "email": email, "password": "correct-horse", "role": role}
        data: dict[str, Any] = await self.call("POST", "/api/auth/register", body=body, expect=201)
        return {"id": data["user"]["id"], "token": data["token"]}
