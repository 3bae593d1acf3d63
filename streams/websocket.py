"""``GET /ws``: the WebSocket route. Protocol in docs/websocket.md.

Refusals come before the handshake is accepted, as plain HTTP: 403 for a browser page on an origin
that is neither ours nor in CORS_ORIGINS (streams/origin.py), 401 without a valid token (query
parameter ``token`` or ``Authorization: Bearer``), 400 for a malformed ``since``/``marketSince``,
503 while Redis is away or the process is shutting down. Once accepted: the hello frame, the replay,
then live events; the client's frames are answered through the same bounded queue as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import msgspec
from quart import Blueprint, Response, current_app, websocket

from finance.api.errors import error_response, unavailable_response
from finance.auth import users
from finance.connection import UNAVAILABLE_ERRORS
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.stream_ids import Order, cursor_order
from streams.asgi import frame_sender
from streams.direct import direct_writer
from streams.envelope import PONG, error_frame, hello_frame
from streams.hub import Hub, HubClosed, ReplayGap
from streams.origin import scope_origin_allowed
from streams.subscriber import CLOSE_TOO_SLOW, CLOSE_TRY_AGAIN_LATER, Subscriber

log = logging.getLogger(__name__)
blueprint = Blueprint("websocket", __name__)

CLIENT_FRAME_BYTES_MAX: Final = 4_096
CLOSE_SECONDS_MAX: Final = 1.0
UNAVAILABLE: Final[tuple[type[BaseException], ...]] = (HubClosed, *UNAVAILABLE_ERRORS)


class ClientFrame(msgspec.Struct):
    type: str


_decode_client_frame = msgspec.json.Decoder(ClientFrame).decode


def hub() -> Hub:
    found: Hub = current_app.extensions["hub"]
    return found


def _token() -> str:
    return websocket.args.get("token") or users.bearer_token(websocket.headers.get("Authorization"))


def _since(name: str) -> Order | None:
    """``since``/``marketSince``: absent or empty is the connection's start; not clamped (an id Redis
    could not hold is refused, so a client cannot skip ahead of every entry by accident)."""
    return cursor_order(websocket.args.get(name) or None, name, clamp=False)


def answer(message: str | bytes) -> str:
    """The reply to one client frame: pong to a ping, an error frame to anything else."""
    if len(message) > CLIENT_FRAME_BYTES_MAX:
        return error_frame(Outcome.FRAME_TOO_LARGE, f"frames are at most {CLIENT_FRAME_BYTES_MAX} bytes")
    try:
        frame = _decode_client_frame(message)
    except msgspec.DecodeError:  # ValidationError included: not JSON, or no string "type"
        return error_frame(Outcome.MALFORMED_FRAME, 'send JSON such as {"type":"ping"}')
    if frame.type == "ping":
        return PONG
    return error_frame(Outcome.UNKNOWN_TYPE, f"unknown frame type {frame.type[:40]!r}; the only one is 'ping'")


async def _answer_client_frames(subscriber: Subscriber) -> None:
    while True:
        subscriber.push(answer(await websocket.receive()))


@blueprint.websocket("/ws")
async def ws() -> Response | None:
    the_hub = hub()
    market: Market = the_hub.market
    if not scope_origin_allowed(websocket.scope, market.settings.cors_origins):
        return error_response(Outcome.FORBIDDEN, "this origin may not open sockets here (CORS_ORIGINS)")
    try:
        user = await users.authenticate(market, _token())
        since, market_since = _since("since"), _since("marketSince")
        subscription = await the_hub.subscribe(user.id, since, market_since, user.session_key)
    except DomainError as error:  # unauthorized (401) or invalid_query (400)
        return error_response(error.outcome, error.message)
    except UNAVAILABLE:
        return unavailable_response("live events are unavailable; retry shortly")

    subscriber = subscription.subscriber
    receiver: asyncio.Task[None] | None = None
    try:
        await websocket.accept()
        await websocket.send(hello_frame(user.id, subscription.recovered))
        receiver = asyncio.create_task(_answer_client_frames(subscriber), name="ws-receive")
        try:
            async for frame in the_hub.replay(subscription):
                await websocket.send(frame)
        except ReplayGap:
            subscriber.close(CLOSE_TOO_SLOW)
        except UNAVAILABLE_ERRORS as error:
            log.warning("websocket replay: redis unavailable: %s", error)
            subscriber.close(CLOSE_TRY_AGAIN_LATER)
        # after hello and replay: from here on the hub may write this socket's live frames directly
        code = await subscriber.pump(frame_sender(websocket.scope, websocket.send), direct_writer(websocket.scope))
        # out of the fan-out at once: the close frame may take a while to reach a client that stopped reading
        the_hub.unsubscribe(subscription)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS_MAX):
                await websocket.close(code)
    finally:
        if receiver is not None:
            receiver.cancel()
        the_hub.unsubscribe(subscription)
    return None
