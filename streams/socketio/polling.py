"""``/socket.io/?EIO=4&transport=polling``: HTTP long-polling, served by any worker (no sticky sessions).

GET without ``sid`` opens a session (``0{...}``, upgrades to websocket offered). GET with ``sid`` waits
until there is something to answer: packets a POST queued, the session's events (its user and market
streams read from its positions through the hub, replay then live), a noop when the socket upgrades,
a ping after pingInterval, or the close of an unauthenticated session at its deadline. POST carries the
client's packets: they are answered into the session's outbox in Redis (streams/socketio/sessions.py).
A poll waiting in one worker learns of a POST served by another by looking at Redis every WATCH_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import msgspec
from quart import Response, request

from finance.auth.users import authenticate
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.stream_ids import Order, id_of
from streams.hub import ReplayGap
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
    decode_payload,
    decode_socket,
    encode_engine,
    encode_payload,
    encode_socket,
    offset_of,
    open_packet,
)
from streams.socketio.protocol import (
    AUTH_SECONDS,
    AUTHENTICATE,
    INVALID_NAMESPACE,
    MAX_PAYLOAD_BYTES,
    auth_error_packets,
    auth_error_payload,
    authenticate_token,
    authenticated_packets,
    forget_recovery,
    new_id,
    read_connect,
    take_recovery,
)
from streams.socketio.recovery import Positions, parse_offset
from streams.socketio.server import PING, SocketioServer
from streams.source import stream_states
from streams.subscriber import CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED
from streams.websocket import UNAVAILABLE, stop_counting_request

WATCH_SECONDS: Final = 0.1
# once a poll has something, it waits this long for more before answering
GATHER_SECONDS: Final = 0.005
NOOP: Final = encode_engine(EngineType.NOOP)
CLOSE: Final = encode_engine(EngineType.CLOSE)


class LoggedOut(Exception):
    """The session's token is gone (logout, expiry)."""


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=UTF-8")


def _engine_error(code: int, message: str, status: int = 400) -> Response:
    """Engine.IO's own error body (``{"code":1,"message":"Session ID unknown"}``)."""
    return Response(msgspec.json.encode({"code": code, "message": message}), status=status,
                    content_type="application/json")


async def handle(the_server: SocketioServer) -> Response:
    market = the_server.market
    if not scope_origin_allowed(request.scope, market.settings.cors_origins):
        return _engine_error(4, "this origin may not open sockets here (CORS_ORIGINS)", 403)
    if request.args.get("EIO") != "4" or request.args.get("transport") != "polling":
        return _engine_error(0, "Transport unknown")
    sid = request.args.get("sid")
    try:
        if request.method == "POST":
            return await _post(the_server, sid or "")
        if not sid:
            return await _open(the_server)
        return await _poll(the_server, sid)
    except UNAVAILABLE:
        return _engine_error(5, "live events are unavailable; retry shortly", 503)


async def _open(the_server: SocketioServer) -> Response:
    sid = new_id()
    await sessions.create(the_server.market, sid, sessions.now_ms() + int(AUTH_SECONDS * 1000))
    return _text(open_packet(sid, ["websocket"], int(the_server.ping_interval * 1000),
                             int(the_server.ping_timeout * 1000), MAX_PAYLOAD_BYTES))


# --- GET: the long poll -------------------------------------------------------------------------------


async def _poll(the_server: SocketioServer, sid: str) -> Response:
    stop_counting_request()  # it waits for events: the fan-out does not rest for it
    market = the_server.market
    wake = asyncio.Event()
    if sid in the_server.polls:
        return _engine_error(3, "a poll of this session is already waiting")
    the_server.polls[sid] = wake
    try:
        loop = asyncio.get_running_loop()
        ping_at = loop.time() + the_server.ping_interval
        while True:
            session = await sessions.load(market, sid)
            if session is None or session.upgraded:
                return _engine_error(1, "Session ID unknown")
            if session.upgrading:
                return _text(NOOP)
            if session.user_id == "" and sessions.now_ms() >= session.deadline_ms:
                await sessions.delete(market, sid)
                return _text(CLOSE)  # not authenticated in time
            wake.clear()
            try:
                answer = await _collect(the_server, session, wake, ping_at)
            except LoggedOut:  # the token was revoked: a server-side disconnect, which the client does not retry
                await sessions.delete(market, sid)
                return _text(encode_socket(SocketType.DISCONNECT))
            if answer is not None:
                return _text(encode_payload(answer))
            if loop.time() >= ping_at:
                return _text(PING)
    finally:
        the_server.polls.pop(sid, None)


async def _collect(the_server: SocketioServer, session: sessions.PollSession, wake: asyncio.Event,
                   ping_at: float) -> list[str] | None:
    """What this poll answers, waiting for it until the session changes (None: look again)."""
    market = the_server.market
    outbox = await sessions.take_outbox(market, session.sid)
    pending_connect = session.fields.get("pending_connect")
    if not session.user_id:
        if outbox:
            return outbox
        await _watch(market, session, wake, ping_at)
        return None
    frames = await _stream_frames(the_server, session, wake, ping_at, gather=bool(outbox or pending_connect))
    if frames is None:
        return outbox or None  # the session changed while waiting: look again (or answer what was queued)
    answer = [*outbox, *frames]
    if pending_connect:
        answer.append(pending_connect)
    await _save_positions(market, session, frames, bool(pending_connect))
    return answer or None


async def _stream_frames(the_server: SocketioServer, session: sessions.PollSession, wake: asyncio.Event,
                         ping_at: float, gather: bool) -> list[str] | None:
    """The session's events from its positions: what is already there, else the first that arrive
    (None when the session changed, the ping is due, or the process shuts down first)."""
    hub = the_server.hub
    user_pos, market_pos = session.positions()
    subscriber = SocketioSubscriber(session.user_id, hub.queue_max)
    subscription = await hub.subscribe(session.user_id, user_pos, market_pos, session.session_key, subscriber)
    frames: list[str] = []

    async def collect(frame: str) -> None:
        frames.append(frame)
        wake.set()

    pump: asyncio.Task[int] | None = None
    try:
        try:
            async for stream, entry_id, fields in hub.replay_entries(subscription):
                frames.append(stream_packet(stream, entry_id, fields))
        except ReplayGap:
            pass  # answer what was read; the next poll reads on from there
        pump = asyncio.create_task(subscriber.pump(collect), name="socketio-poll")
        pump.add_done_callback(lambda _: wake.set())  # closed (4008, 4401, shutdown): stop waiting
        if not frames and not gather:
            await _watch(the_server.market, session, wake, ping_at)
        if frames:
            await asyncio.sleep(GATHER_SECONDS)  # a burst goes out in one answer
        elif subscriber.close_code == CLOSE_UNAUTHORIZED:
            raise LoggedOut()
        elif subscriber.close_code is not None:
            return None
    finally:
        subscriber.close(CLOSE_GOING_AWAY)
        if pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        hub.unsubscribe(subscription)
    return frames if frames or gather else None


async def _watch(market: Market, session: sessions.PollSession, wake: asyncio.Event, ping_at: float) -> None:
    """Waits until woken (events here, a POST in this process), the session changes in Redis (a POST
    elsewhere, an upgrade), the ping is due or the auth deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = ping_at
    if not session.user_id:
        deadline = min(deadline, loop.time() + (session.deadline_ms - sessions.now_ms()) / 1000)
    while not wake.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(WATCH_SECONDS, remaining)):
                await wake.wait()
        if not wake.is_set() and await sessions.changed(market, session.sid, session.version):
            return


async def _save_positions(market: Market, session: sessions.PollSession, frames: list[str],
                          pending_connect_sent: bool) -> None:
    """Where the next poll reads from, and the recovery record: the client surely has what it had when
    this poll came; the ring holds the user events of this answer."""
    user_pos, market_pos = session.positions()
    confirmed = Positions(user_pos, market_pos)
    for frame in frames:
        parsed = parse_offset(offset_of(frame))
        if parsed is None:
            continue
        kind, order = parsed
        if kind == "u":
            confirmed.user_sent(order, market_pos)
            user_pos = order
        else:
            market_pos = order
    await sessions.save_confirmed(market, session, (user_pos, market_pos), confirmed, pending_connect_sent)


# --- POST: the client's packets -----------------------------------------------------------------------


async def _post(the_server: SocketioServer, sid: str) -> Response:
    market = the_server.market
    session = await sessions.load(market, sid)
    if session is None or session.upgraded:
        return _engine_error(1, "Session ID unknown")
    raw = await request.get_data()
    body = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    if len(body) > MAX_PAYLOAD_BYTES:
        return _engine_error(3, "payload too large", 413)
    try:
        packets = decode_payload(body)
    except PacketError:
        return _engine_error(3, "Bad request")
    for packet in packets:
        if packet.type is EngineType.CLOSE:
            await sessions.delete(market, sid)
            break
        if packet.type is not EngineType.MESSAGE:
            continue  # pongs: the load above renewed the session
        try:
            socket_packet = decode_socket(packet.data)
        except PacketError:
            continue
        changes, outbox = await _answer(the_server, session, socket_packet)
        if changes or outbox:
            await sessions.update(market, sid, changes, outbox)
            session.fields.update({name: str(value) for name, value in changes.items() if value is not None})
    the_server.wake(sid)
    return _text("ok")


async def _answer(the_server: SocketioServer, session: sessions.PollSession,
                  packet: SocketPacket) -> tuple[dict[str, object], list[str]]:
    """(session changes, packets to queue) for one Socket.IO packet from the client."""
    market = the_server.market
    if packet.type is SocketType.CONNECT:
        if packet.namespace != "/":
            return {}, [connect_error_packet(INVALID_NAMESPACE, namespace=packet.namespace)]
        if session.connected:
            return {}, []
        request_ = read_connect(packet)
        if request_.pid is not None:
            taken = await take_recovery(market, request_.pid)
            resume = taken[1].resume(request_.offset) if taken is not None else None
            if taken is not None and resume is not None:
                user = taken[0]
                changes = _user_changes(user.id, user.session_key, resume)
                changes.update(pid=request_.pid, connected=1, pending_connect=connect_packet(session.sid, request_.pid))
                return changes, []
            if taken is not None:  # known user, position unknown: a new pid, recovered false
                return await _authenticated_connect(market, session, taken[0].id, taken[0].session_key)
        if request_.token:
            try:
                user = await authenticate(market, request_.token)
            except DomainError as error:
                payload = auth_error_payload(error)
                return {}, [connect_error_packet(payload["message"], payload)]
            return await _authenticated_connect(market, session, user.id, user.session_key)
        pid = new_id()
        return {"pid": pid, "connected": 1}, [connect_packet(session.sid, pid)]
    if packet.type is SocketType.DISCONNECT:  # a clean leave: no recovery
        if session.pid:
            await forget_recovery(market, session.pid)
        await sessions.delete(market, session.sid)
        return {}, []
    if packet.type is SocketType.EVENT and session.connected and packet.data[0] == AUTHENTICATE:
        try:
            user = await authenticate(market, authenticate_token(packet))
        except DomainError as error:
            return {}, auth_error_packets(error, packet.ack_id)
        if session.user_id and session.user_id != user.id:
            other = DomainError(Outcome.FORBIDDEN, "this socket is another user's")
            return {}, auth_error_packets(other, packet.ack_id)
        changes = {} if session.user_id else await _starts(market, user.id, user.session_key)
        return changes, authenticated_packets(user, packet.ack_id)
    return {}, []


async def _authenticated_connect(market: Market, session: sessions.PollSession, user_id: str,
                                 session_key: str) -> tuple[dict[str, object], list[str]]:
    pid = new_id()
    changes = await _starts(market, user_id, session_key)
    changes.update(pid=pid, connected=1, pending_connect=connect_packet(session.sid, pid))
    return changes, []


async def _starts(market: Market, user_id: str, session_key: str) -> dict[str, object]:
    """The session's user, its streams starting at their current ends (every event after auth)."""
    keys = market.keys
    user_state, market_state = await stream_states(market.redis, [keys.user_stream(user_id), keys.market_stream()])
    return _user_changes(user_id, session_key, (user_state.last, market_state.last))


def _user_changes(user_id: str, session_key: str, positions: tuple[Order, Order]) -> dict[str, object]:
    return {"user": user_id, "session_key": session_key, "user_pos": id_of(positions[0]),
            "market_pos": id_of(positions[1])}

