"""Engine.IO pongs noted before Quart: each socket answers every ping with a ``3`` text message, and with
thousands of sockets that is hundreds of messages a second that would each go through Quart's queue
and wake the socket's receive task only to record the time. Hypercorn hands them to the app's
``receive``; this wrapper notes the time on the socket's PongClock (in the scope) and passes on
everything else. Where it is not installed, the receive task records pongs itself.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from quart import Quart

SCOPE_KEY: Final = "invoice_finance.socketio_pongs"
_PONG: Final = "3"


class PongClock:
    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = 0.0  # loop time of the socket's last pong


def note_pongs(app: Quart, path: str) -> None:
    """Wraps ``app.asgi_app`` so that a WebSocket at ``path`` has its pongs noted on a PongClock in its
    scope (under SCOPE_KEY) instead of reaching the app."""
    inner: Any = app.asgi_app

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or scope.get("path") != path:
            await inner(scope, receive, send)
            return
        clock = PongClock()
        loop = asyncio.get_running_loop()

        async def receive_without_pongs() -> Any:
            while True:
                message = await receive()
                if message.get("text") == _PONG and message.get("type") == "websocket.receive":
                    clock.at = loop.time()
                    continue
                return message

        await inner({**scope, SCOPE_KEY: clock}, receive_without_pongs, send)

    app.asgi_app = asgi_app  # type: ignore[method-assign]
