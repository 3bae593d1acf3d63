"""``/socket.io/?EIO=4&transport=websocket``: the websocket transport, fresh or upgraded from polling.

Until the socket is authenticated the handler itself reads the client's packets and answers them
(CONNECT, ``authenticate``, pongs): nothing of the streams is delivered. Once it is, the socket joins the
hub as a SocketioSubscriber (its frames built once per event on the fan-out fast path), and any missed
events are replayed (before the ``40`` answer when it recovered). Then, as on /ws, the socket leaves
Hypercorn and Quart for a lean socket (streams/lean.py, ``SocketioLeanSocket`` here): its pongs, ``41``
and a repeated ``authenticate`` are read in the transport's callback, with no task per socket and no
message through Hypercorn's and Quart's queues (5,000 sockets send 200 pongs a second). Where that
cannot be (another server), the handler pumps its queue while a task reads the client's packets.
A transport that drops without ``41`` leaves a recovery record under the socket's pid
(streams/socketio/recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final

from quart import Response, current_app, websocket

from finance import metrics
from finance.api.errors import error_response, unavailable_response
from finance.api.observability import request_id, socket_log
from finance.auth.users import authenticate
from finance.connection import UNAVAILABLE_ERRORS
from finance.outcomes import DomainError, Outcome
from finance.stream_ids import order_of
from streams.asgi import frame_sender
from streams.direct import direct_writer, text_frame
from streams.hub import MARKET, USER, ReplayGap, Subscription
from streams.lean import LeanSocket, close_frame, detach
from streams.origin import scope_origin_allowed
from streams.socketio import sessions
from streams.socketio.fanout import SocketioSubscriber, stream_packet
from streams.socketio.packets import (
    EngineType,
    PacketError,
    SocketPacket,
    SocketType,
    connect_error_packet,
    connect_packet,
    decode_engine,
    decode_socket,
    encode_engine,
    encode_socket,
    open_packet,
)
from streams.socketio.protocol import (
    AUTH_SECONDS,
    AUTHENTICATE,
    INVALID_NAMESPACE,
    MAX_PAYLOAD_BYTES,
    SocketState,
    auth_error_packets,
    auth_error_payload,
    authenticate_token,
    authenticated_packets,
    forget_recovery,
    new_id,
    read_connect,
    save_recovery,
    take_recovery,
)
from streams.socketio.recovery import Positions
from streams.socketio.server import CLOSE_PING_TIMEOUT, SocketioServer
from streams.subscriber import CLOSE_REASONS, CLOSE_TOO_SLOW, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED, Subscriber
from streams.websocket import CLOSE_REPLY_SECONDS_MAX, CLOSE_SECONDS_MAX, UNAVAILABLE

log = logging.getLogger(__name__)

CLOSE_NORMAL: Final = 1000
PROBE: Final = "probe"
BACKLOG_MAX: Final = 64  # a lean socket's messages waiting behind an answer; past it the socket is closed (1013)
TRANSPORT: Final = "socketio"  # the sockets_open label and log field of a Socket.IO websocket
PONG: Final = encode_engine(EngineType.PONG)
PONG_BYTES: Final = PONG.encode()
DISCONNECT: Final = encode_socket(SocketType.DISCONNECT)
DISCONNECT_BYTES: Final = DISCONNECT.encode()
_DISCONNECT_WIRE: Final = text_frame(DISCONNECT)
UPGRADE_FAILURES: Final[tuple[type[BaseException], ...]] = (TimeoutError, *UNAVAILABLE_ERRORS)


class Closed(Exception):
    """The client left or the socket is being closed."""

    def __init__(self, clean: bool) -> None:
        super().__init__()
        self.clean = clean  # a 41: no recovery record


def server() -> SocketioServer:
    found: SocketioServer = current_app.extensions["socketio"]
    return found


def _refusal(status: int, message: str) -> Response:
    """An Engine.IO-style refusal of a handshake (JSON the client reads as the error's context)."""
    if status == 403:
        return error_response(Outcome.FORBIDDEN, message)
    return error_response(Outcome.INVALID_QUERY, message)


async def handle() -> Response | None:
    """The websocket route's body (registered in streams/socketio/__init__.py)."""
    the_server = server()
    market = the_server.market
    if not scope_origin_allowed(websocket.scope, market.settings.cors_origins):
        return _refusal(403, "this origin may not open sockets here (CORS_ORIGINS)")
    if websocket.args.get("EIO") != "4":
        return _refusal(400, "only Engine.IO protocol 4 (EIO=4) is served")
    sid = websocket.args.get("sid")
    loop = asyncio.get_running_loop()
    state: SocketState | None
    if sid:
        try:
            known = await sessions.upgradable(market, sid)
        except UNAVAILABLE_ERRORS:
            return unavailable_response("live events are unavailable; retry shortly")
        if not known:
            return _refusal(400, "unknown or finished session")
        await websocket.accept()
        state = await _upgrade(sid)
        if state is None:
            return None
    else:
        state = SocketState(new_id(), deadline=loop.time() + AUTH_SECONDS)
        await websocket.accept()
        await websocket.send(open_packet(state.sid, [], int(the_server.ping_interval * 1000),
                                         int(the_server.ping_timeout * 1000), MAX_PAYLOAD_BYTES))
    await Connection(the_server, state).run()
    return None


async def _upgrade(sid: str) -> SocketState | None:
    """The probe (``2probe`` -> ``3probe``), the pending poll answered with a noop, then the client's ``5``:
    nothing goes on the websocket before it. Then the session's state, taken over from polling."""
    market = server().market
    state: SocketState | None = None
    try:
        async with asyncio.timeout(AUTH_SECONDS):
            while True:
                message = await websocket.receive()
                if message == encode_engine(EngineType.PING, PROBE):
                    await websocket.send(encode_engine(EngineType.PONG, PROBE))
                    await sessions.mark_upgrading(market, sid)
                    server().wake(sid)
                elif message == encode_engine(EngineType.UPGRADE):
                    break
        state = await sessions.finish_upgrade(market, sid)
    except UPGRADE_FAILURES:
        state = None
    if state is None:
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_NORMAL)
    return state


class Connection:
    def __init__(self, the_server: SocketioServer, state: SocketState) -> None:
        self.server = the_server
        self.market = the_server.market
        self.state = state
        self.subscriber: SocketioSubscriber | None = None
        self.subscription: Subscription | None = None  # once the hub has it, whatever happens next
        self.clean = False
        self.detached = False  # served by a SocketioLeanSocket: its end is _gone's, not run's
        self._backlog: deque[str | bytes] | None = None  # a lean socket's messages behind an answer in flight
        self.request_id = request_id(websocket.headers)
        self.socket_event = socket_log()

    async def run(self) -> None:
        state = self.state
        try:
            for packet in state.outbox:
                await websocket.send(packet)
            state.outbox.clear()
            if state.user is None or not state.connected:
                await self._until_authenticated()
            await self._deliver(await self._subscribe())
        except Closed as closed:
            self.clean = closed.clean
        except UNAVAILABLE as error:
            log.warning("socket.io: redis unavailable: %s", error)
        finally:
            if not self.detached:
                if self.subscription is not None:  # (a replay that failed, say, leaves it subscribed)
                    self._left(self.subscription)
                await self._leave()

    # --- before auth -------------------------------------------------------------------------------

    async def _until_authenticated(self) -> None:
        """Reads and answers packets until the socket is connected and authenticated; Closed otherwise."""
        state = self.state
        loop = asyncio.get_running_loop()
        while state.user is None or not state.connected:
            remaining = state.deadline - loop.time()
            if remaining <= 0:
                raise Closed(clean=False)
            try:
                async with asyncio.timeout(remaining):
                    message = await websocket.receive()
            except TimeoutError:
                raise Closed(clean=False) from None
            for packet in await self._answer(message):
                await websocket.send(packet)

    async def _answer(self, message: str | bytes) -> list[str]:
        """The answer to one Engine.IO packet from the client, before auth."""
        packet = _socket_packet(message)
        if packet is None:
            return []
        state = self.state
        if packet.type is SocketType.CONNECT:
            if packet.namespace != "/":
                return [connect_error_packet(INVALID_NAMESPACE, namespace=packet.namespace)]
            return await self._connect(packet)
        if packet.type is SocketType.EVENT and state.connected and packet.data[0] == AUTHENTICATE:
            try:
                state.user = await authenticate(self.market, authenticate_token(packet))
            except DomainError as error:
                return auth_error_packets(error, packet.ack_id)
            state.after_subscribe.extend(authenticated_packets(state.user, packet.ack_id))
        return []

    async def _connect(self, packet: SocketPacket) -> list[str]:
        state = self.state
        request = read_connect(packet)
        if request.pid is not None:
            taken = await take_recovery(self.market, request.pid)
            if taken is not None:
                user, positions = taken
                resume = positions.resume(request.offset)
                if resume is not None:
                    state.user, state.pid, state.recovered = user, request.pid, True
                    state.positions = Positions(resume[0], resume[1])
                    state.connected = True
                    return []  # the 40 goes after the missed events (_subscribe)
                state.user = user  # known, but where it stopped is not: a new pid, recovered false
        if state.user is None and request.token:
            try:
                state.user = await authenticate(self.market, request.token)
            except DomainError as error:
                payload = auth_error_payload(error)
                return [connect_error_packet(payload["message"], payload)]
        state.pid = new_id()
        state.connected = True
        if state.user is not None:  # answered once its streams are fixed: every event after it is delivered
            state.after_subscribe.append(connect_packet(state.sid, state.pid))
            return []
        return [connect_packet(state.sid, state.pid)]

    # --- authenticated -----------------------------------------------------------------------------

    async def _subscribe(self) -> Subscription:
        state = self.state
        assert state.user is not None
        user = state.user
        subscriber = SocketioSubscriber(user.id, self.server.hub.queue_max)
        since = market_since = None
        if state.positions is not None:
            since, market_since = state.positions.user_start, state.positions.market_start
        subscription = await self.server.hub.subscribe(user.id, since, market_since, user.session_key, subscriber)
        self.subscription = subscription
        subscriber.joined(subscription.starts or {}, subscription.feeds)
        subscriber.last_pong = asyncio.get_running_loop().time()
        self.subscriber = subscriber
        recovering = state.recovered
        if recovering and not subscription.recovered:  # trimmed meanwhile: the client reloads over REST
            state.recovered = False
            state.pid = new_id()
        for packet in state.after_subscribe:
            await websocket.send(packet)
        state.after_subscribe.clear()
        try:
            await self._replay(subscription, subscriber)
        except ReplayGap:
            subscriber.close(CLOSE_TOO_SLOW)
        if recovering:
            await websocket.send(connect_packet(state.sid, state.pid))
        return subscription

    async def _replay(self, subscription: Subscription, subscriber: SocketioSubscriber) -> None:
        positions = subscriber.positions
        market = positions.market_start
        async for stream, entry_id, fields in self.server.hub.replay_entries(subscription):
            order = order_of(entry_id)
            if stream == USER:
                positions.user_sent(order, market)
            elif stream == MARKET:
                market = order
            await websocket.send(stream_packet(stream, entry_id, fields))

    async def _deliver(self, subscription: Subscription) -> None:
        subscriber = subscription.subscriber
        assert isinstance(subscriber, SocketioSubscriber)
        self._joined(subscriber)
        writer = direct_writer(websocket.scope)

        def make(transport: asyncio.Transport, subscriber: Subscriber, gone: Callable[[LeanSocket], None],
                 close_seconds: float) -> LeanSocket:
            return SocketioLeanSocket(transport, subscriber, gone, close_seconds, self)

        if writer is not None and detach(writer, subscriber, self.server.lean, lambda: self._gone(subscription),
                                         CLOSE_REPLY_SECONDS_MAX, receive=websocket._receive, make=make):
            self.detached = True
            return  # the socket lives on as a SocketioLeanSocket; Hypercorn and Quart let go
        receiver = asyncio.create_task(self._receive(), name="socketio-receive")
        try:
            code = await subscriber.pump(frame_sender(websocket.scope, websocket.send), writer)
        finally:
            receiver.cancel()
        self._left(subscription)
        if code == CLOSE_UNAUTHORIZED:  # logged out: a server-side disconnect, which the client does not retry
            with contextlib.suppress(Exception):
                await websocket.send(DISCONNECT)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS_MAX):
                await websocket.close(CLOSE_NORMAL if code in (CLOSE_UNAUTHORIZED, CLOSE_NORMAL) else code)

    def _joined(self, subscriber: SocketioSubscriber) -> None:
        """In the fan-out and the heartbeat; counted and logged."""
        self.server.sockets.add(subscriber)
        metrics.socket_opened(TRANSPORT)
        assert self.state.user is not None
        self.socket_event("socket_open", self.request_id, self.state.user.id, transport=TRANSPORT,
                          recovered=self.state.recovered)

    def _left(self, subscription: Subscription) -> None:
        """Out of the fan-out and the heartbeat (at once: a close frame may take a while to reach a client
        that stopped reading); counted and logged once."""
        subscriber = subscription.subscriber
        self.server.hub.unsubscribe(subscription)
        if subscriber.close_code == CLOSE_UNAUTHORIZED:  # logged out: a server-side disconnect, nothing to recover
            self.clean = True
        if subscriber not in self.server.sockets:
            return
        self.server.sockets.discard(subscriber)
        metrics.socket_closed(TRANSPORT)
        code = subscriber.close_code
        reason = "ping_timeout" if code == CLOSE_PING_TIMEOUT else CLOSE_REASONS.get(code, "other")
        self.socket_event("socket_close", self.request_id, subscriber.user_id, transport=TRANSPORT, code=code,
                          reason=reason)

    def _gone(self, subscription: Subscription) -> None:
        """A lean socket left the fan-out (closed by either side, or lost): out, then its recovery record."""
        self._left(subscription)
        self.server.spawn(self._leave())

    async def _receive(self) -> None:
        """The client's packets while subscribed, where the socket stayed with Quart."""
        while True:
            answering = self.on_message(await websocket.receive())
            if answering is not None:
                await answering

    def on_message(self, message: str | bytes) -> Coroutine[Any, Any, None] | None:
        """One client message while subscribed: a pong, ``1`` or ``41`` (a close), ``authenticate`` again
        (answered by the coroutine returned, which needs Redis); anything else is ignored."""
        subscriber = self.subscriber
        assert subscriber is not None
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if message == PONG:
            subscriber.last_pong = asyncio.get_running_loop().time()
            return None
        try:
            packet = _socket_packet(message)
        except Closed:  # an Engine.IO close (``1``)
            subscriber.close(CLOSE_NORMAL)
            return None
        if packet is None:
            return None
        if packet.type is SocketType.DISCONNECT:
            self.clean = True
            subscriber.close(CLOSE_NORMAL)
        elif packet.type is SocketType.EVENT and packet.data[0] == AUTHENTICATE:
            return self._answer_authenticate(subscriber, packet)
        return None

    def heard(self, message: str | bytes) -> None:
        """A client message of a lean socket, handled in order: while an answer that needs Redis is in
        flight, the messages after it wait for it (an ``authenticate`` then a ``41`` gets its answer first)."""
        backlog = self._backlog
        if backlog is not None and message not in (PONG, PONG_BYTES):  # a pong is only a time: noted at once
            if message in (DISCONNECT, DISCONNECT_BYTES):
                # a clean leave, even if the client's close frame, right behind it, ends the socket first
                self.clean = True
            if len(backlog) >= BACKLOG_MAX:  # a client that floods faster than Redis answers
                assert self.subscriber is not None
                self.subscriber.close(CLOSE_TRY_AGAIN_LATER)
                return
            backlog.append(message)
            return
        answering = self.on_message(message)
        if answering is not None:
            self._backlog = deque()
            self.server.spawn(self._answer_in_order(answering))

    async def _answer_in_order(self, answering: Coroutine[Any, Any, None] | None) -> None:
        backlog = self._backlog
        subscriber = self.subscriber
        assert backlog is not None and subscriber is not None
        try:
            while answering is not None:
                try:
                    await answering
                except Exception:  # logged; the messages behind it are still handled
                    log.exception("socket.io: answering a client's message failed")
                answering = None
                while backlog and answering is None:
                    if subscriber.close_code is not None:  # closed meanwhile (a 41 among them, say): no more
                        backlog.clear()
                        break
                    answering = self.on_message(backlog.popleft())
        finally:
            self._backlog = None

    async def _answer_authenticate(self, subscriber: SocketioSubscriber, packet: SocketPacket) -> None:
        try:
            answers = await self._reauthenticate(packet)
        except UNAVAILABLE_ERRORS as error:
            log.warning("socket.io: authenticate: redis unavailable: %s", error)
            answers = auth_error_packets(DomainError(Outcome.REDIS_UNAVAILABLE, "retry shortly"), packet.ack_id)
        for answer in answers:
            subscriber.push(answer)

    async def _reauthenticate(self, packet: SocketPacket) -> list[str]:
        """``authenticate`` on an authenticated socket (the seed emits it after every connect)."""
        assert self.state.user is not None
        try:
            user = await authenticate(self.market, authenticate_token(packet))
        except DomainError as error:
            return auth_error_packets(error, packet.ack_id)
        if user.id != self.state.user.id:
            return auth_error_packets(DomainError(Outcome.FORBIDDEN, "this socket is another user's"), packet.ack_id)
        return authenticated_packets(user, packet.ack_id)

    async def _leave(self) -> None:
        """Its recovery record: saved after a drop, forgotten after a ``41``. Where the socket stayed with
        Quart, the close too, if nothing closed it yet."""
        state, subscriber = self.state, self.subscriber
        if state.user is not None and state.pid is not None and subscriber is not None:
            with contextlib.suppress(*UNAVAILABLE_ERRORS):
                if self.clean:  # a 41: nothing to recover (not even what polling saved before an upgrade)
                    await forget_recovery(self.market, state.pid)
                else:
                    await save_recovery(self.market, state.pid, state.user, subscriber.positions)
        if not self.detached and (subscriber is None or subscriber.close_code is None):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_SECONDS_MAX):
                    await websocket.close(CLOSE_NORMAL)


class SocketioLeanSocket(LeanSocket):
    """A Socket.IO socket after the replay, served in the transport's callbacks (streams/lean.py): client
    messages go to its Connection; a logout (4401) sends ``41`` before the close, which is a 1000 then,
    as a 41 of the client's is."""

    __slots__ = ("connection",)

    def __init__(self, transport: asyncio.Transport, subscriber: Subscriber, on_gone: Callable[[LeanSocket], None],
                 close_seconds: float, connection: Connection) -> None:
        super().__init__(transport, subscriber, on_gone, close_seconds)
        self.connection = connection

    def on_message(self, payload: bytes | str) -> None:
        self.connection.heard(payload)

    def close_wire(self, code: int) -> bytes:
        if code == CLOSE_UNAUTHORIZED:  # logged out: a server-side disconnect, which the client does not retry
            return _DISCONNECT_WIRE + close_frame(CLOSE_NORMAL)
        return close_frame(code)


def _socket_packet(message: str | bytes) -> SocketPacket | None:
    """The Socket.IO packet in an Engine.IO message; None for anything else (pongs, noise)."""
    if not isinstance(message, str) or len(message) > MAX_PAYLOAD_BYTES:
        return None
    try:
        engine = decode_engine(message)
        if engine.type is EngineType.CLOSE:
            raise Closed(clean=False)
        if engine.type is not EngineType.MESSAGE:
            return None
        return decode_socket(engine.data)
    except PacketError:
        return None


