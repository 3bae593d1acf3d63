"""A body over BODY_SIZE_MAX_BYTES always gets its 413, whatever the client: httpx, curl (with and
without ``Expect: 100-continue``) and a raw socket that sends everything at once as browsers do.
Repeated, because the failure was a race: the server closed with the body unread and the kernel's
reset could reach the client before the answer (finance/api/drain.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.servers import AppProcess

TRIES = 20
BODY = b'{"email": "a@example.com", "password": "' + b"x" * (3 * 1024 * 1024) + b'"}'  # 3 MB, limit 64 KiB
LOGIN = "/api/auth/login"


@pytest.fixture
async def server() -> AsyncIterator[AppProcess]:
    process = AppProcess()  # the embedded default: the limit is the HTTP layer's, Redis plays no part
    await process.start()
    try:
        yield process
    finally:
        process.close()


def _is_413(status: int, body: bytes) -> bool:
    return status == 413 and json.loads(body)["error"]["code"] == "body_too_large"


async def test_httpx_always_gets_413(server: AppProcess) -> None:
    outcomes = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        for _ in range(TRIES):
            try:
                response = await client.post(LOGIN, content=BODY, headers={"Content-Type": "application/json"})
                outcomes.append("413" if _is_413(response.status_code, response.content) else response.status_code)
            except httpx.TransportError as error:
                outcomes.append(type(error).__name__)
    assert outcomes == ["413"] * TRIES


@pytest.mark.parametrize("expect", ["100-continue", "none"])
async def test_curl_always_gets_413(server: AppProcess, tmp_path: Path, expect: str) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed for this test (Debian package curl)"
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    # curl sends Expect: 100-continue for a body this large; "Expect:" (empty) turns it off
    headers = ["-H", "Content-Type: application/json"] + (["-H", "Expect:"] if expect == "none" else [])
    outcomes = []
    for _ in range(TRIES):
        done = await asyncio.to_thread(
            subprocess.run, [curl, "-sS", "-o", "-", "-w", "\n%{http_code}", *headers, "--data-binary",
                             f"@{body_file}", server.base_url + LOGIN], capture_output=True, timeout=20,
        )
        body, _, status = done.stdout.rpartition(b"\n")
        outcomes.append("413" if done.returncode == 0 and _is_413(int(status), body)
                        else f"exit {done.returncode}: {done.stderr[:100]!r}")
    assert outcomes == ["413"] * TRIES


async def test_a_raw_client_without_expect_gets_413_and_keeps_its_connection(server: AppProcess) -> None:
    """Headers and the whole body at once, no Expect (a browser's form or fetch): the answer arrives,
    and since the server read the body to its end the connection serves the next request too."""
    outcomes = []
    for _ in range(TRIES):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
            await writer.drain()
            async with asyncio.timeout(10):
                first = await _response(reader)
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                second = await _response(reader)
            outcomes.append((first[0], json.loads(first[1])["error"]["code"], second[0]))
        except (OSError, asyncio.IncompleteReadError) as error:
            outcomes.append((0, type(error).__name__, 0))
        finally:
            writer.close()
    assert outcomes == [(413, "body_too_large", 200)] * TRIES


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)
