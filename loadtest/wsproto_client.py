"""A deliberately lean WebSocket client for holding thousands of sockets from few processes.

Receipt times are the kernel's (SO_TIMESTAMPNS, read with recvmsg): when the last packet of a read
reached the socket, so a client process busy with other sockets does not make a server look slow.
Per received frame it does one recvmsg per TCP read, a header parse and a list append; JSON is
decoded only after the measurement window (see wsclients.py). It speaks just what a server sends
to a browser: unfragmented or fragmented text/binary frames, ping and close, and optionally offers
permessage-deflate as browsers do (`deflate=True`); compressed messages are kept compressed and
inflated after the window too (`inflate_messages`), in order, since the context carries over.

It also speaks the little of Socket.IO 4 (Engine.IO 4 over a WebSocket) a broadcast needs, for URLs
whose path is /socket.io/: "40" to join the default namespace, "3" to each ping "2"; the namespace's
"40{...}" counts as the hello and each "42[...]" event is kept as it came.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket as socket_module
import struct
import time
import zlib
from urllib.parse import parse_qs, urlsplit

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
HANDSHAKE_BYTES_MAX = 16384
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"  # what Chrome and Firefox send
DEFLATE_TAIL = b"\x00\x00\xff\xff"
READ_BYTES_MAX = 65536
SO_TIMESTAMPNS = getattr(socket_module, "SO_TIMESTAMPNS", 35)  # Linux
TIMESTAMP_ANCILLARY_BYTES = socket_module.CMSG_SPACE(16)  # struct timespec
SOCKETIO_HELLO = b'{"type":"hello"}'


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame (clients must mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


class LeanWebSocket(asyncio.Protocol):
    """One client socket; received messages go to `messages` as (receipt time, payload, compressed)."""

    def __init__(self, host_header: str, target: str, deflate: bool = False) -> None:
        self.socketio = target.startswith("/socket.io/")
        # the namespace's CONNECT: with the token of a ``token`` query parameter as its auth (our /socket.io/;
        # the native baseline ignores both)
        token = parse_qs(urlsplit(target).query).get("token", [""])[0]
        self.socketio_connect = b'40{"token":"' + token.encode() + b'"}' if token else b"40"
        self.host_header = host_header
        self.target = target
        self.offer_deflate = deflate
        self.deflate_accepted = False
        self.server_no_context_takeover = False
        self.transport: asyncio.Transport | None = None
        self.messages: list[tuple[float, bytes, bool]] = []
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.refused_status: int | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._fragments_compressed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        extensions = f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n" if self.offer_deflate else ""
        request = (
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host_header}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extensions}\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        self.data_received_at(data, time.time())

    def data_received_at(self, data: bytes, received_at: float) -> None:
        self._buffer += data
        if not self._upgraded and not self._finish_handshake():
            return
        self._parse_frames(received_at)

    def _finish_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > HANDSHAKE_BYTES_MAX:
                self._fail(None)
            return False
        status_line = bytes(self._buffer[: self._buffer.find(b"\r\n")])
        parts = status_line.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        for line in bytes(self._buffer[:end]).lower().split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip() == b"sec-websocket-extensions" and b"permessage-deflate" in value:
                self.deflate_accepted = True
                self.server_no_context_takeover = b"server_no_context_takeover" in value
        del self._buffer[: end + 4]
        if status != 101:
            self._fail(status)
            return False
        self._upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)
        return True

    def _parse_frames(self, received_at: float) -> None:
        buffer = self._buffer
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = struct.unpack_from("!H", buffer, offset + 2)[0]
                header = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = struct.unpack_from("!Q", buffer, offset + 2)[0]
                header = 10
            if second & 0x80:  # servers never mask; tolerate it by skipping the key
                header += 4
            if size - offset < header + length:
                break
            payload = bytes(buffer[offset + header : offset + header + length])
            offset += header + length
            self._on_frame(first, payload, received_at)
        if offset:
            del buffer[:offset]

    def _on_frame(self, first: int, payload: bytes, received_at: float) -> None:
        opcode = first & 0x0F
        if opcode in (OPCODE_TEXT, OPCODE_BINARY, OPCODE_CONTINUATION):
            compressed = bool(first & 0x40)  # RSV1 on a message's first frame: permessage-deflate
            if not first & 0x80:
                if not self._fragments:
                    self._fragments_compressed = compressed
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                compressed = self._fragments_compressed
                self._fragments.clear()
            if self.socketio and not self._socketio_message(payload):
                return
            self.messages.append((received_at, SOCKETIO_HELLO if payload[:2] == b"40" else payload, compressed))
        elif opcode == OPCODE_PING:
            self.send(OPCODE_PONG, payload)
        elif opcode == OPCODE_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.send(OPCODE_CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def _socketio_message(self, payload: bytes) -> bool:
        """Answers Engine.IO's open ("0{...}": join the namespace) and pings ("2"); True for a message
        to keep: the namespace's connect ("40...", the hello) and events ("42[...]")."""
        if payload[:1] == b"0":
            self.send(OPCODE_TEXT, self.socketio_connect)
            return False
        if payload == b"2":
            self.send(OPCODE_TEXT, b"3")
            return False
        return payload[:2] in (b"40", b"42")

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(opcode, payload))

    def close(self, code: int = 1000) -> None:
        self.send(OPCODE_CLOSE, struct.pack("!H", code))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, status: int | None) -> None:
        self.refused_status = status
        if not self.opened.done():
            self.opened.set_exception(ConnectionRefusedError(f"websocket upgrade refused: {status}"))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed before upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)


def inflate_messages(socket: LeanWebSocket) -> list[tuple[float, bytes]]:
    """The socket's messages as (receipt time, payload), compressed ones inflated in order."""
    inflater = zlib.decompressobj(wbits=-15)
    plain: list[tuple[float, bytes]] = []
    for received_at, raw, compressed in socket.messages:
        if not compressed:
            plain.append((received_at, raw))
            continue
        if socket.server_no_context_takeover:
            inflater = zlib.decompressobj(wbits=-15)
        try:
            plain.append((received_at, inflater.decompress(raw + DEFLATE_TAIL)))
        except zlib.error:
            plain.append((received_at, raw))  # counted as undecodable by the caller
            inflater = zlib.decompressobj(wbits=-15)
    return plain


class StampedTransport(asyncio.Transport):
    """A socket read with recvmsg and the kernel's receive timestamp; enough of a transport for
    LeanWebSocket (write, close, is_closing). Writes are the client's few small frames."""

    def __init__(self, sock: socket_module.socket, protocol: LeanWebSocket) -> None:
        super().__init__()
        self._sock = sock
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._pending = bytearray()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self._sock.recvmsg(READ_BYTES_MAX, TIMESTAMP_ANCILLARY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        received_at = time.time()
        for level, kind, value in ancillary:
            if level == socket_module.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack_from("@qq", value)
                received_at = seconds + nanoseconds / 1e9
        self._protocol.data_received_at(data, received_at)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        del self._pending[:sent]
        if self._pending:
            self._loop.add_writer(self._sock.fileno(), self._writable)

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._flush()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._lost(None)

    def _lost(self, exc: Exception | None) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
        if not self._closing:
            self._closing = True
            self._protocol.connection_lost(exc)


async def open_lean_websocket(url: str, timeout_s: float = 10.0, deflate: bool = False,
                              source_host: str | None = None) -> LeanWebSocket:
    """Connect to a ws:// URL (loopback only in this project) and wait for the 101. ``source_host`` (a
    127.0.0.x address) gives the socket that source address: each has its own ~28,000 ephemeral ports,
    so tens of thousands of sockets to one server port need several."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"only ws:// URLs are supported: {url}")
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host_header = parts.netloc.rsplit("@", 1)[-1]
    loop = asyncio.get_running_loop()
    sock = socket_module.socket(socket_module.AF_INET, socket_module.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket_module.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if source_host is not None:
        sock.bind((source_host, 0))
    protocol = LeanWebSocket(host_header, target, deflate)
    transport: StampedTransport | None = None
    try:
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(sock, (parts.hostname, port))
            transport = StampedTransport(sock, protocol)
            protocol.connection_made(transport)
            await protocol.opened
    except BaseException:
        if transport is not None:
            transport.close()
        sock.close()
        raise
    return protocol
