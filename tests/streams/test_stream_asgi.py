"""The live path sends frames with the server's ASGI ``send``, not through Quart's per-frame wrapper."""

from __future__ import annotations

from typing import Any

from quart import Quart

from streams.asgi import SCOPE_KEY, expose_send, frame_sender


async def test_websocket_scope_carries_the_servers_send_and_http_does_not() -> None:
    app = Quart(__name__)
    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    app.asgi_app = inner  # type: ignore[method-assign]
    expose_send(app)

    async def server_send(message: Any) -> None:
        pass

    await app.asgi_app({"type": "websocket", "path": "/ws"}, None, server_send)
    await app.asgi_app({"type": "http", "path": "/health"}, None, server_send)
    assert seen[0][SCOPE_KEY] is server_send
    assert SCOPE_KEY not in seen[1]


async def test_frame_sender_sends_one_text_message_or_falls_back() -> None:
    sent: list[Any] = []

    async def server_send(message: Any) -> None:
        sent.append(message)

    async def quart_send(frame: str) -> None:
        sent.append(("quart", frame))

    await frame_sender({SCOPE_KEY: server_send}, quart_send)('{"type":"pong"}')
    await frame_sender({}, quart_send)("x")
    assert sent == [{"type": "websocket.send", "text": '{"type":"pong"}', "bytes": None}, ("quart", "x")]
