"""The live path's shortcut to the server: WebSocket frames sent with the ASGI ``send`` itself.

Quart's ``websocket.send`` yields to the loop (``asyncio.sleep(0)``), re-checks the handshake and
fires the ``websocket_sent`` signal on every frame: per socket per event, that doubled the steps of a
fan-out to thousands of sockets. The route still does everything else through Quart (auth, accept,
hello, replay, receive, close); only the pump of live frames, which runs after accept and is the
socket's only sender by then, uses the ASGI callable that ``expose_send`` leaves in the scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from quart import Quart

SCOPE_KEY: Final = "invoice_finance.send"

Frame = Callable[[str], Awaitable[None]]


def expose_send(app: Quart) -> None:
    """Wraps ``app.asgi_app`` so that a WebSocket scope carries the server's ``send`` under SCOPE_KEY."""
    inner = app.asgi_app

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, SCOPE_KEY: send}
        await inner(scope, receive, send)

    app.asgi_app = asgi_app  # type: ignore[method-assign]


def frame_sender(scope: Mapping[str, Any], fallback: Frame) -> Frame:
    """Sends one text frame through the server's ``send``; ``fallback`` (Quart's) where there is none."""
    send = scope.get(SCOPE_KEY)
    if send is None:
        return fallback

    async def send_frame(frame: str) -> None:
        await send({"type": "websocket.send", "text": frame, "bytes": None})

    return send_frame
