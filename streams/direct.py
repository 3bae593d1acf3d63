"""The fast path of the fan-out: one event's frame bytes written straight to each socket's transport.

A server-to-client text frame without extensions is the same bytes for every socket (FIN + opcode 1,
the payload length, no mask: RFC 6455 section 5.2), so the hub frames each event once
(``text_frame``) and writes those bytes to every socket whose transport takes them at once
(``DirectWriter.write``), with no task woken per socket and no per-socket wsproto call.

This reaches into Hypercorn (0.18, asyncio worker, HTTP/1.1): the ASGI ``send`` of a WebSocket scope is
``WSStream.app_send``; its stream's ``send`` is ``H11Protocol.stream_send``, which passes a WebSocket's
``Data`` through as ``RawData`` to ``TCPServer.protocol_send``, which writes it to ``TCPServer.writer``
(an ``asyncio.StreamWriter``). Bytes written to that writer's transport behind wsproto's back leave
wsproto's state as it was: sending a whole data message changes nothing in it (only close frames do,
and fragments, which Hypercorn never sends). ``direct_writer`` walks that chain and answers None when
any link is not what it expects (HTTP/2, the trio worker, another ASGI server, an extension such as
permessage-deflate negotiated): those sockets take the fallback, the ASGI ``send`` from the socket's
pump. tests/streams/test_stream_direct.py pins each link against the installed Hypercorn.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from typing import Any, Final, Protocol

from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

from streams.asgi import SCOPE_KEY

# Beyond this much unsent data in a transport, the socket is backed up: its frames go to its bounded
# queue (and 4008 when that fills) instead. asyncio's default high-water mark is the same 64 KiB.
WRITE_BUFFER_BYTES_MAX: Final = 64 * 1024
# Frames joined into one write (consecutive entries by the hub, queued frames by the pump), up to about this.
WRITE_BATCH_BYTES_MAX: Final = 64 * 1024
_OPEN: Final = ConnectionState.OPEN


def text_frame(frame: str) -> bytes:
    """The unmasked, unfragmented, uncompressed text frame of ``frame``, as a server sends it."""
    payload = frame.encode()
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65_536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class FrameWriter(Protocol):
    """Where the hub writes a socket's frame bytes: a DirectWriter, or a lean socket (streams/lean.py)."""

    def ready(self) -> bool: ...

    def write(self, wire: bytes) -> bool: ...


class DirectWriter:
    """One socket's transport, for frames built by ``text_frame``. ``write`` says whether it took them."""

    __slots__ = ("connection", "lock", "stream", "transport")

    def __init__(self, stream: Any, connection: Any, transport: asyncio.WriteTransport,
                 lock: asyncio.Lock | None = None) -> None:
        self.stream = stream  # Hypercorn's WSStream: ``closed`` once the connection is gone
        self.connection = connection  # its wsproto Connection: not OPEN once a close frame went either way
        self.transport = transport
        # Hypercorn's TCPServer.send_lock: held across a suspension only by a send waiting in drain()
        self.lock = lock

    def ready(self) -> bool:
        """Whether bytes written now go straight out: the connection open, the transport not closing and
        not backed up, and no send of Hypercorn's (a ping, a pong, a close) waiting for the buffer to
        drain, which writes of ours past it could starve."""
        transport = self.transport
        lock = self.lock
        return (
            self.connection.state is _OPEN
            and not self.stream.closed
            and transport.get_write_buffer_size() < WRITE_BUFFER_BYTES_MAX
            and not transport.is_closing()
            and (lock is None or not lock.locked())
        )

    def write(self, wire: bytes) -> bool:
        if not self.ready():
            return False
        try:
            self.transport.write(wire)
        except Exception:  # a transport that refuses (after write_eof, say): the queue and the ASGI send
            return False
        return True


    async def close(self, code: int) -> bool:
        """Writes the close frame with ``code`` whenever the transport can still take it, backed up or not,
        so that a slow client learns why it was dropped (4008) rather than seeing the connection cut (1006);
        says whether it did. The frame goes after whatever is already in the transport's buffer. A send
        of Hypercorn's waiting in drain() holding its lock has written its frame already, so ours lands
        on a frame boundary; senders queued for the lock (a pong made before this close) go first. After
        this, wsproto refuses every further send of Hypercorn's (a ping, a pong, its own close)."""
        if not self._open():
            return False
        close_frame = self.connection.send(CloseConnection(code=code))
        lock = self.lock
        if lock is not None and _queued_for(lock):
            async with lock:
                return self._write_now(close_frame)
        return self._write_now(close_frame)

    def _open(self) -> bool:
        return self.connection.state is _OPEN and not self.stream.closed and not self.transport.is_closing()

    def _write_now(self, data: bytes) -> bool:
        if self.stream.closed or self.transport.is_closing():
            return False
        try:
            self.transport.write(data)
        except Exception:
            return False
        return True


def _queued_for(lock: asyncio.Lock) -> bool:
    """Whether a task waits to acquire ``lock`` (asyncio keeps its waiters in ``_waiters``; where it does
    not, assume one does: waiting for the lock is the safe side)."""
    if not hasattr(lock, "_waiters"):
        return lock.locked()
    waiters = lock._waiters
    return waiters is not None and any(not waiter.cancelled() for waiter in waiters)


def direct_writer(scope: Mapping[str, Any]) -> DirectWriter | None:
    """The socket's transport when it is served by Hypercorn's asyncio worker over HTTP/1.1 with no
    extension negotiated (call after accept); None where the fast path is not available."""
    send = scope.get(SCOPE_KEY)
    if send is None:
        return None
    try:
        from hypercorn.asyncio.tcp_server import TCPServer
        from hypercorn.protocol.h11 import H11Protocol, H11WSConnection
        from hypercorn.protocol.ws_stream import WSStream
    except ImportError:  # another server, or a Hypercorn whose layout changed: the fallback
        return None
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, WSStream) or getattr(send, "__func__", None) is not WSStream.app_send:
        return None
    protocol = getattr(stream.send, "__self__", None)
    if not isinstance(protocol, H11Protocol) or not isinstance(protocol.connection, H11WSConnection):
        return None  # HTTP/2 (many streams share one connection) or not upgraded
    server = getattr(protocol.send, "__self__", None)
    if not isinstance(server, TCPServer):
        return None
    connection = getattr(stream, "connection", None)
    extensions = getattr(getattr(connection, "_proto", None), "extensions", None)
    if connection is None or extensions is None or extensions:
        return None  # not accepted yet, or permessage-deflate: frames differ per socket
    transport = getattr(server.writer, "transport", None)
    if not isinstance(transport, asyncio.WriteTransport):
        return None
    lock = getattr(server, "send_lock", None)
    return DirectWriter(stream, connection, transport, lock if isinstance(lock, asyncio.Lock) else None)
