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

from quart import Blueprint, Response, current_app, g, websocket

from finance import metrics
from finance.api.errors import error_response, unavailable_response
from finance.api.observability import request_id, socket_log
from finance.auth import users
from finance.connection import UNAVAILABLE_ERRORS
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.stream_ids import Order, cursor_order, id_of
from streams.asgi import frame_sender
from streams.client_frames import answer
from streams.direct import DirectWriter, direct_writer
from streams.envelope import hello_frame
from streams.hub import MARKET, USER, Hub, HubClosed, ReplayGap
from streams.lean import detach, heartbeats_of
from streams.origin import scope_origin_allowed
from streams.subscriber import CLOSE_REASONS, CLOSE_TOO_SLOW, CLOSE_TRY_AGAIN_LATER, Subscriber

log = logging.getLogger(__name__)
blueprint = Blueprint("websocket", __name__)

CLOSE_SECONDS_MAX: Final = 1.0
# how long a socket closed by the server waits for the client's answering close before the connection goes
CLOSE_REPLY_SECONDS_MAX: Final = 5.0
UNAVAILABLE: Final[tuple[type[BaseException], ...]] = (HubClosed, *UNAVAILABLE_ERRORS)
TRANSPORT: Final = "ws"  # the sockets_open label of this route


def hub() -> Hub:
    found: Hub = current_app.extensions["hub"]
    return found


def _token() -> str:
    return websocket.args.get("token") or users.bearer_token(websocket.headers.get("Authorization"))


def _since(name: str) -> Order | None:
    """``since``/``marketSince``: absent or empty is the connection's start; not clamped (an id Redis
    could not hold is refused, so a client cannot skip ahead of every entry by accident)."""
    return cursor_order(websocket.args.get(name) or None, name, clamp=False)


@blueprint.before_app_request
async def _request_started() -> None:
    """Counts HTTP requests in flight, so that the fan-out rests for them (and only for them)."""
    found: Hub | None = current_app.extensions.get("hub")
    if found is not None:
        found.requests_in_flight += 1
        g.counted_by_hub = found


@blueprint.teardown_app_request
async def _request_ended(_error: BaseException | None) -> None:
    stop_counting_request()


def stop_counting_request() -> None:
    """The request in flight is no work to rest for from now on: a Socket.IO long poll waits up to 25 s
    for events itself, and counting it would rest the fan-out for as long as any polling client is
    connected."""
    found: Hub | None = g.pop("counted_by_hub", None)
    if found is not None:
        found.requests_in_flight -= 1


def _ping_seconds(market: Market) -> float:
    return float(market.settings.websocket_ping_interval_seconds)


async def _answer_client_frames(subscriber: Subscriber) -> None:
    while True:
        subscriber.push(answer(await websocket.receive()))


async def _close(code: int, writer: DirectWriter | None) -> None:
    """Closes the socket with ``code``. On the fast path the close frame goes into the transport at once,
    however backed up it is (streams/direct.py), and the route then waits, a bounded time, for the client's
    answering close (Quart cancels this task when it comes): a client that reads slowly reads its way to
    the close frame, and the connection is not cut under it (closing a socket whose client is still
    sending resets it, and the reset throws away what the client had not read yet: 1006, not 4008)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_REPLY_SECONDS_MAX):
            if writer is not None and await writer.close(code):
                await asyncio.sleep(CLOSE_REPLY_SECONDS_MAX)
    with contextlib.suppress(Exception):  # the fallback; after a direct close frame, Hypercorn sends nothing
        async with asyncio.timeout(CLOSE_SECONDS_MAX):
            await websocket.close(code)


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
    except UNAVAILABLE as error:
        if not isinstance(error, HubClosed):
            metrics.redis_error("websocket")
        return unavailable_response("live events are unavailable; retry shortly")

    subscriber = subscription.subscriber
    receiver: asyncio.Task[None] | None = None
    the_request_id = request_id(websocket.headers)
    socket_event = socket_log()
    opened = False
    detached = False
    ended = False

    def finished() -> None:
        """The socket is done (here, or later as a lean socket): out of the fan-out, counted, logged once."""
        nonlocal ended
        the_hub.unsubscribe(subscription)
        if ended or not opened:
            return
        ended = True
        metrics.socket_closed(TRANSPORT)
        socket_event("socket_close", the_request_id, user.id, transport=TRANSPORT, code=subscriber.close_code,
                     reason=CLOSE_REASONS.get(subscriber.close_code, "other"))

    try:
        await websocket.accept()
        opened = True
        metrics.socket_opened(TRANSPORT)
        socket_event("socket_open", the_request_id, user.id, transport=TRANSPORT, recovered=subscription.recovered)
        starts = subscription.starts or {}
        await websocket.send(hello_frame(user.id, subscription.recovered, id_of(starts[USER]), id_of(starts[MARKET])))
        subscription.starts = None  # only the hello needs them on /ws: an idle socket keeps nothing it need not
        receiver = asyncio.create_task(_answer_client_frames(subscriber), name="ws-receive")
        try:
            async for frame in the_hub.replay(subscription):
                await websocket.send(frame)
        except ReplayGap:
            subscriber.close(CLOSE_TOO_SLOW)
        except UNAVAILABLE_ERRORS as error:
            log.warning("websocket replay: redis unavailable: %s", error)
            metrics.redis_error("websocket")
            subscriber.close(CLOSE_TRY_AGAIN_LATER)
        # after hello and replay: from here on the hub may write this socket's live frames directly
        writer = direct_writer(websocket.scope)
        if writer is not None:
            receiver.cancel()  # what it has not read yet goes to the lean socket, in order
            if detach(writer, subscriber, heartbeats_of(the_hub, _ping_seconds(market)), finished,
                      CLOSE_REPLY_SECONDS_MAX, receive=websocket._receive):
                detached = True
                return None  # the socket lives on as a LeanSocket (streams/lean.py); Hypercorn and Quart let go
            receiver = asyncio.create_task(_answer_client_frames(subscriber), name="ws-receive")
        code = await subscriber.pump(frame_sender(websocket.scope, websocket.send), writer)
        # out of the fan-out at once: the close frame may take a while to reach a client that stopped reading
        the_hub.unsubscribe(subscription)
        await _close(code, writer)
    finally:
        if receiver is not None:
            receiver.cancel()
        if not detached:
            finished()
    return None
