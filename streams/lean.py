"""Idle sockets at a few KB: once hello and the replay are sent, a socket on the fast path leaves Hypercorn
and Quart and is served by one small asyncio protocol object, ``LeanSocket``.

Why: an idle socket under Hypercorn and Quart holds about seven tasks (Hypercorn's connection, its read
and its ping loop, the ASGI app, Quart's receiver and handler, ours), four asyncio queues, Quart's
request context and Hypercorn's and wsproto's state: about 40 KB traced, 45 KB resident (loadtest bench
c, docs/benchmarks.md). The handshake, the refusals, hello and the replay stay with the Quart route; what
an idle socket needs after that is small: its transport, its subscriber, and a parser for the few frames
a client sends (ping, pong, a text frame, close). So the route hands the transport to a LeanSocket
(``transport.set_protocol``) and lets Hypercorn's side finish without closing the connection: its writer
is swapped for a released one whose writes and closes do nothing, and its reader is fed EOF.

A LeanSocket is the socket's writer for the hub (``ready``/``write``, as streams/direct.py's
DirectWriter): frames go straight into the transport while it is not backed up, into the subscriber's
bounded queue otherwise, flushed when the transport drains (``resume_writing``). No task per socket:
everything happens in the transport's callbacks. Heartbeats are one task per process (``Heartbeats``):
every interval one pre-built ping frame to each lean socket, and a socket that has sent nothing (not
even a pong) for two intervals and a second is closed, as Hypercorn's read timeout did.

What it relies on in Hypercorn 0.18 (beside streams/direct.py's chain): ``TCPServer.reader`` (an
``asyncio.StreamReader``, fed EOF here) and ``TCPServer.writer`` (replaced); wsproto's connection holds
no unparsed bytes and the reader no unread ones when the socket leaves (checked: otherwise it stays).
tests/streams/test_stream_lean.py pins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import weakref
from collections.abc import Callable
from typing import Any, Final

from streams.client_frames import answer
from streams.direct import WRITE_BUFFER_BYTES_MAX, DirectWriter
from streams.subscriber import CLIENT_CLOSED, CLOSE_GOING_AWAY, CONNECTION_LOST, Subscriber, write_queued

log = logging.getLogger(__name__)

PING_FRAME: Final = b"\x89\x00"  # FIN + ping, no payload: the same bytes for every socket
HEARTBEAT_SLICE: Final = 256  # sockets pinged between pauses
# the most a 16-bit frame length carries: a larger client frame closes the socket (1009)
CLIENT_FRAME_BYTES_MAX: Final = 0xFFFF
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_TOO_BIG: Final = 1009
_OPEN, _CLOSING, _CLOSED = 0, 1, 2


def close_frame(code: int) -> bytes:
    return struct.pack("!BBH", 0x88, 2, code)


class LeanSocket(asyncio.Protocol):
    __slots__ = ("__weakref__", "_buffer", "_close_seconds", "_close_timer", "_paused", "_state", "heard_at",
                 "on_gone", "subscriber", "transport")

    def __init__(self, transport: asyncio.Transport, subscriber: Subscriber, on_gone: Callable[[LeanSocket], None],
                 close_seconds: float) -> None:
        self.transport = transport
        self.subscriber = subscriber
        self.on_gone = on_gone  # the route's unsubscribe, and the heartbeat's forgetting
        self.heard_at = asyncio.get_running_loop().time()
        self._buffer = b""
        self._paused = False
        self._state = _OPEN
        self._close_seconds = close_seconds
        self._close_timer: asyncio.TimerHandle | None = None

    # --- the hub's writer --------------------------------------------------------------------------

    def is_open(self) -> bool:
        return self._state == _OPEN

    def ready(self) -> bool:
        """Open, and the transport not backed up: asyncio pauses writing past its high-water mark, which is
        WRITE_BUFFER_BYTES_MAX (set at detach), and resumes below a quarter of it, calling back here."""
        return self._state == _OPEN and not self._paused and not self.transport.is_closing()

    def write(self, wire: bytes) -> bool:
        if not self.ready():
            return False
        self.transport.write(wire)
        return True

    # --- the subscriber's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Takes over: sends what was queued during the replay, then joins the fast path."""
        self.subscriber.notify = self.flush
        self.flush()

    def flush(self) -> None:
        """Sends what is queued while the transport takes it; on the fast path once nothing is left.
        Called by the subscriber when it queues or closes, and when the transport drains."""
        subscriber = self.subscriber
        if subscriber.close_code is not None:
            self.close(subscriber.close_code)
            return
        queue = subscriber.queue
        while queue and (written := write_queued(queue, self)):
            subscriber.queue_bytes -= written
        subscriber.direct = self if not queue and self._state == _OPEN else None

    def close(self, code: int) -> None:
        """The close frame, straight into the transport however backed up, then a bounded wait for the
        client's answering close (streams/websocket.py says why)."""
        if self._state != _OPEN:
            return
        self._state = _CLOSING
        self.subscriber.direct = None
        self.subscriber.close(code)
        self._gone()
        if self.transport.is_closing():
            return
        self.transport.write(self.close_wire(code))
        self._close_timer = asyncio.get_running_loop().call_later(self._close_seconds, self.transport.close)

    def _gone(self) -> None:
        """Out of the fan-out: soon, not now, since this may run inside a fan-out (a push that closed it)."""
        on_gone, self.on_gone = self.on_gone, _nothing
        asyncio.get_running_loop().call_soon(on_gone, self)

    # --- the transport's callbacks -----------------------------------------------------------------

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._state == _OPEN:
            self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        self.subscriber.direct = None
        if self.subscriber.close_code is None:
            self.subscriber.close(CONNECTION_LOST)
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._gone()

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def data_received(self, data: bytes) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        buffer = self._buffer + data if self._buffer else data
        offset = 0
        while self._state != _CLOSED:
            parsed = _client_frame(buffer, offset)
            if parsed is None:
                break
            if isinstance(parsed, int):  # a frame we refuse
                self._refuse(parsed)
                return
            opcode, payload, offset = parsed
            self._on_frame(opcode, payload)
        rest = buffer[offset:]
        if len(rest) > CLIENT_FRAME_BYTES_MAX + 14:
            self._refuse(CLOSE_TOO_BIG)
            return
        self._buffer = rest

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping: pong with its payload, in order with the frames queued before it
            if self._state == _OPEN:
                self._send_control(b"\x8a" + bytes((len(payload),)) + payload)
        elif opcode == 0x8:  # close: answer it (once), then the connection goes
            if self._state == _OPEN:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000
                self._state = _CLOSING
                self.subscriber.direct = None
                self.subscriber.close(CLIENT_CLOSED)
                self._gone()
                self.transport.write(close_frame(code if code not in (1005, 1006, 1015) else 1000))
            self.transport.close()
        elif opcode in (0x1, 0x2) and self._state == _OPEN:
            self.on_message(payload)
        # 0xA (pong): only heard_at

    def on_message(self, payload: bytes | str) -> None:
        """A client's data message (on /ws, answered through the queue; another protocol overrides this)."""
        self.subscriber.push(answer(payload))

    def close_wire(self, code: int) -> bytes:
        """What goes into the transport when the server closes the socket with ``code``."""
        return close_frame(code)

    def _send_control(self, frame: bytes) -> None:
        """A control frame may go between any two whole frames (RFC 6455 5.4), queued ones or not."""
        if not self.transport.is_closing():
            self.transport.write(frame)

    def _refuse(self, code: int) -> None:
        self.close(code)
        self._buffer = b""


def _nothing(_socket: LeanSocket) -> None:
    return None


def _client_frame(buffer: bytes, offset: int) -> tuple[int, bytes, int] | int | None:
    """The client frame at ``offset``: (opcode, unmasked payload, next offset); None when incomplete; a
    close code when it is refused (unmasked, fragmented, reserved bits, too large)."""
    if len(buffer) - offset < 2:
        return None
    first, second = buffer[offset], buffer[offset + 1]
    if first & 0x70 or not first & 0x80 or not second & 0x80:
        return CLOSE_PROTOCOL_ERROR  # extension bits, a fragment, or an unmasked client frame
    opcode, length, header = first & 0x0F, second & 0x7F, 2
    if length == 126:
        if len(buffer) - offset < 4:
            return None
        length, header = struct.unpack_from("!H", buffer, offset + 2)[0], 4
    elif length == 127:
        return CLOSE_TOO_BIG
    if length > CLIENT_FRAME_BYTES_MAX or (opcode >= 0x8 and length > 125):
        return CLOSE_TOO_BIG if opcode < 0x8 else CLOSE_PROTOCOL_ERROR
    end = offset + header + 4 + length
    if len(buffer) < end:
        return None
    mask = buffer[offset + header: offset + header + 4]
    masked = buffer[offset + header + 4: end]
    payload = _unmask(mask, masked) if length else b""
    return opcode, payload, end


def _unmask(mask: bytes, masked: bytes) -> bytes:
    """The payload XOR the repeated 4-byte key, as one big-integer XOR: 0.5 us for a pong, 9 us for 4 KB
    (a loop over the bytes took 236 us for 4 KB; wsproto's table-driven masker 2 us for a pong)."""
    size = len(masked)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(masked, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


class _ReleasedWriter:
    """What Hypercorn's connection writes to once its socket has left it: nothing reaches the socket."""

    def write(self, data: bytes) -> None:
        return None

    async def drain(self) -> None:
        return None

    def write_eof(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None

    def is_closing(self) -> bool:
        return True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _hypercorn_server(writer: DirectWriter) -> Any | None:
    """Hypercorn's TCPServer behind the socket (the chain streams/direct.py walks), when its reader and
    wsproto hold no bytes not yet handled; None otherwise."""
    protocol = getattr(writer.stream.send, "__self__", None)
    server = getattr(getattr(protocol, "send", None), "__self__", None)
    reader = getattr(server, "reader", None)
    if not isinstance(reader, asyncio.StreamReader) or not hasattr(server, "writer"):
        return None
    if getattr(reader, "_buffer", b"x") or not _wsproto_between_messages(writer.connection):
        return None  # bytes in flight: they would be lost or parsed from the middle
    return server


def _wsproto_between_messages(connection: Any) -> bool:
    """Whether wsproto holds no bytes of a frame and is inside no fragmented message."""
    proto = getattr(connection, "_proto", None)
    decoder = getattr(proto, "_frame_decoder", None)
    messages = getattr(proto, "_message_decoder", None)
    buffer = getattr(decoder, "buffer", None)
    return (buffer is not None and len(buffer) == 0 and getattr(decoder, "header", 1) is None
            and getattr(messages, "opcode", 1) is None)


_heartbeats: weakref.WeakKeyDictionary[Any, Heartbeats] = weakref.WeakKeyDictionary()


def heartbeats_of(hub: Any, interval_seconds: float) -> Heartbeats:
    """The process's heartbeats for the lean sockets of ``hub`` (made on first use)."""
    found = _heartbeats.get(hub)
    if found is None:
        found = _heartbeats[hub] = Heartbeats(interval_seconds)
    return found


async def stop_heartbeats(hub: Any, close_seconds: float = 1.0) -> None:
    """Stops the heartbeats of ``hub``'s lean sockets and waits a moment for the sockets to finish closing
    (call after the hub closed them)."""
    found = _heartbeats.pop(hub, None)
    if found is not None:
        await found.stop(close_seconds)


def _stop_hypercorns_pings(server: Any) -> None:
    """Cancels the connection's ping loop (``WSStream._send_pings``), which would otherwise sleep out its
    interval (20 s) holding the whole connection (about 30 KB) after the socket has left."""
    from hypercorn.protocol.ws_stream import WSStream

    group = getattr(getattr(server, "_task_group", None), "_task_group", None)
    for task in list(getattr(group, "_tasks", ())):
        coroutine = task.get_coro()
        if getattr(coroutine, "cr_code", None) is WSStream._send_pings.__code__:
            task.cancel()


class Heartbeats:
    """Every ``interval`` seconds a ping to each lean socket; a socket heard from not at all for
    2 x interval + 1 seconds is closed (1001). One task for the process, running while there are lean
    sockets."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self.sockets: set[LeanSocket] = set()  # the ones in the fan-out
        self.everyone: weakref.WeakSet[LeanSocket] = weakref.WeakSet()  # closing ones too
        self._task: asyncio.Task[None] | None = None

    def add(self, socket: LeanSocket) -> None:
        self.sockets.add(socket)
        self.everyone.add(socket)
        if self.interval_seconds > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._beat(), name="ws-heartbeats")

    def discard(self, socket: LeanSocket) -> None:
        self.sockets.discard(socket)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        silent_seconds_max = 2 * self.interval_seconds + 1
        while self.sockets:
            await asyncio.sleep(self.interval_seconds)
            now = loop.time()
            for served, socket in enumerate(list(self.sockets), start=1):
                if now - socket.heard_at > silent_seconds_max:
                    socket.close(CLOSE_GOING_AWAY)
                    socket.transport.close()  # a peer that answers nothing will not answer the close
                elif not socket.transport.is_closing():
                    socket.transport.write(PING_FRAME)  # a whole frame, between whole frames
                if served % HEARTBEAT_SLICE == 0:
                    await asyncio.sleep(0)  # tens of thousands of sockets: let requests and events in

    async def stop(self, close_seconds: float = 1.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(close_seconds):
                while any(not socket.transport.is_closing() for socket in self.everyone):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


MakeLeanSocket = Callable[[asyncio.Transport, Subscriber, Callable[[LeanSocket], None], float], LeanSocket]


def detach(writer: DirectWriter, subscriber: Subscriber, heartbeats: Heartbeats, on_gone: Callable[[], None],
           close_seconds: float, receive: Any = None, make: MakeLeanSocket = LeanSocket) -> LeanSocket | None:
    """Moves the socket behind ``writer`` (Hypercorn's, after hello and replay) to a LeanSocket serving
    ``subscriber``; None (and nothing changed) where it cannot. ``on_gone`` runs once when the socket
    leaves the fan-out (closed by either side, or lost). ``receive``: the route's ``websocket._receive``,
    so that client messages already read by Hypercorn and Quart but not by the route go to the LeanSocket
    (``on_message``), in order, instead of being lost; a route with a task reading them cancels it first.
    ``make``: the LeanSocket class of another protocol (streams/socketio)."""
    if subscriber.close_code is not None or not writer.ready():
        return None
    server = _hypercorn_server(writer)
    if server is None:
        return None
    transport = writer.transport
    if not isinstance(transport, asyncio.Transport) or _app_queue_blocked(writer):
        return None

    def gone(socket: LeanSocket) -> None:
        heartbeats.discard(socket)
        on_gone()

    lean = make(transport, subscriber, gone, close_seconds)
    transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES_MAX)
    transport.set_protocol(lean)
    unread = _take_unread(writer, receive)
    released = _ReleasedWriter()
    # asyncio's StreamWriter closes its transport when it is collected (StreamWriter.__del__): the one
    # Hypercorn made must not take ours with it, so it is left holding a transport that is already closing
    with contextlib.suppress(AttributeError):
        server.writer._transport = released
    server.writer = released  # Hypercorn's close frame, EOF and close go nowhere
    server.reader.feed_eof()  # its read loop ends, and with it its tasks; the transport stays ours
    _stop_hypercorns_pings(server)
    subscriber.writer = lean
    heartbeats.add(lean)
    lean.start()
    for message in unread:
        if not lean.is_open():  # one of them closed it (a 41, say): what follows it is not for a closing socket
            break
        lean.on_message(message)
    return lean


def _app_queue(writer: DirectWriter) -> asyncio.Queue[Any] | None:
    """Hypercorn's queue of ASGI events for the app (its WSStream's ``app_put`` is that queue's ``put``)."""
    queue = getattr(getattr(writer.stream, "app_put", None), "__self__", None)
    return queue if isinstance(queue, asyncio.Queue) else None


def _app_queue_blocked(writer: DirectWriter) -> bool:
    """Whether Hypercorn waits to put a message into a full app queue: that message is in neither queue
    yet, so the socket stays where it is (it would arrive after the socket left, and be lost)."""
    queue = _app_queue(writer)
    putters = getattr(queue, "_putters", None)
    return queue is not None and (queue.full() or bool(putters))


def _take_unread(writer: DirectWriter, receive: Any) -> list[str | bytes]:
    """The client's messages that Hypercorn parsed but the route has not read, oldest first: those in
    Quart's queue (``receive`` is its ``get``), then those still in Hypercorn's queue for the app. Taken
    off both; a disconnect is left where it was, for Quart's side to end on. Neither side awaits between
    taking an event off one queue and putting it on the next, so at a synchronous point every message is
    in exactly one of them. Without Quart's queue, none (taking only the later ones would reorder them)."""
    messages: list[str | bytes] = []
    quart_queue = getattr(receive, "__self__", None)
    if not isinstance(quart_queue, asyncio.Queue):
        return messages
    while not quart_queue.empty():
        messages.append(quart_queue.get_nowait())
    app_queue = _app_queue(writer)
    if app_queue is not None:
        others = []
        while not app_queue.empty():
            event = app_queue.get_nowait()
            if isinstance(event, dict) and event.get("type") == "websocket.receive":
                messages.append(event.get("bytes") or event.get("text") or "")
            else:
                others.append(event)
        for event in others:
            app_queue.put_nowait(event)
    return messages
