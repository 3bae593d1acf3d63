"""The real socket.io-client (tests/js, installed by ``npm ci``) as a subprocess: options in, every
connect/event/ack/disconnect out as JSON lines, commands in on stdin (tests/js/client.js)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"


def ensure_installed() -> None:
    """``npm ci`` when node_modules was not installed from this lock (the stamp scripts/test.sh writes)."""
    stamp = JS / "node_modules" / ".lock-hash"
    lock_hash = hashlib.sha256((JS / "package-lock.json").read_bytes()).hexdigest()[:16]
    if stamp.exists() and stamp.read_text().strip() == lock_hash:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed for the socket.io-client tests (apt-get install nodejs npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, capture_output=True)
    stamp.write_text(lock_hash + "\n")


class NodeClient:
    def __init__(self, url: str, **options: Any) -> None:
        self.options = {"url": url, **options}
        self.process: asyncio.subprocess.Process | None = None
        self.seen: list[dict[str, Any]] = []

    async def __aenter__(self) -> NodeClient:
        node = shutil.which("node")
        assert node is not None
        self.process = await asyncio.create_subprocess_exec(
            node, str(JS / "client.js"), json.dumps(self.options), cwd=JS,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            await self.command(cmd="exit")
        try:
            await asyncio.wait_for(self.process.wait(), 3)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def command(self, **command: Any) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def next(self, wait_seconds: float = 10.0) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), wait_seconds)
        if not line:
            assert self.process.stderr is not None
            error = await self.process.stderr.read()
            raise AssertionError(f"the node client ended: {error.decode(errors='replace')[-2000:]}")
        seen: dict[str, Any] = json.loads(line)
        self.seen.append(seen)
        return seen

    async def until(self, kind: str, wait_seconds: float = 10.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The next line of ``kind``, and the lines before it."""
        before: list[dict[str, Any]] = []
        while True:
            line = await self.next(wait_seconds)
            if line["type"] == kind:
                return line, before
            before.append(line)

    async def events(self, count: int, wait_seconds: float = 10.0) -> list[dict[str, Any]]:
        """The next ``count`` events (other lines are kept in ``seen``)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            line = await self.next(wait_seconds)
            if line["type"] == "event":
                found.append(line)
        return found

    async def nothing_within(self, seconds: float) -> None:
        try:
            line = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {line}")
