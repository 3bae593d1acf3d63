"""An answer given before its request's body was read (413 above all, also 401, 404...) always reaches
the client: the rest of the body is read and dropped before the response ends.

Without this, Hypercorn ended the response and closed the connection with the body unread; the kernel
answers unread data at close with a reset (RST), which can reach the client before it has read the
answer: a 3 MB POST from httpx got "connection reset" instead of its 413 in 2-3 tries of 8 on one
machine. Here, when the application sends the last message of a response and the request's body has
not all arrived, the response's bytes go out at once (it has a Content-Length, so the client holds the
whole answer), then the rest of the body is received and dropped, up to DRAIN_BYTES_MAX or
DRAIN_SECONDS_MAX, and only then the empty last message: Hypercorn ends the response with the read
side drained, and may even keep the connection for the next request. A client that sends more than
the bound is cut off as before (the answer is already on its way).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from quart import Quart

DRAIN_BYTES_MAX: Final = 16 * 1024 * 1024
DRAIN_SECONDS_MAX: Final = 5.0
_NO_BODY: Final = (b"0", b"")


def drain_unread_bodies(app: Quart) -> None:
    """Wraps ``app.asgi_app`` so that every HTTP request that may carry a body is drained as above."""
    inner = app.asgi_app

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _may_have_body(scope["headers"]):
            await inner(scope, receive, send)
            return
        request = _Drained(receive, send)
        await inner(scope, request.receive, request.send)

    app.asgi_app = asgi_app  # type: ignore[method-assign]


def _may_have_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in _NO_BODY
        if name == b"transfer-encoding":
            return True
    return False


class _Drained:
    """One request's ``receive`` and ``send``, watching for the end of its body."""

    __slots__ = ("_receive", "_send", "body_bytes", "complete")

    def __init__(self, receive: Any, send: Any) -> None:
        self._receive = receive
        self._send = send
        self.complete = asyncio.Event()  # the body has all arrived (or the client is gone)
        self.body_bytes = 0

    async def receive(self) -> Any:
        message = await self._receive()
        if message["type"] == "http.request":
            self.body_bytes += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete.set()
        elif message["type"] == "http.disconnect":
            self.complete.set()
        return message

    async def send(self, message: Any) -> None:
        if (message["type"] != "http.response.body" or message.get("more_body", False)
                or self.complete.is_set()):
            await self._send(message)
            return
        await self._send({**message, "more_body": True})  # the whole answer, out now
        await self._drain()
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drain(self) -> None:
        """Reads until the body has all arrived, the bound is reached or time is up. Quart's own reader
        may be reading too (it reads until the client leaves), so this waits for whichever comes first:
        a message of its own, or the end seen by either."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS_MAX):
                while not self.complete.is_set() and self.body_bytes <= DRAIN_BYTES_MAX:
                    reading = asyncio.ensure_future(self.receive())
                    ended = asyncio.ensure_future(self.complete.wait())
                    try:
                        await asyncio.wait({reading, ended}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        reading.cancel()
                        ended.cancel()
