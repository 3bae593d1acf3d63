"""The floor for the WebSocket benchmarks: a raw asyncio server that writes one pre-encoded frame
to every socket's transport, with no framework, no per-socket task and no queue. What it measures
is mostly the measuring chain (trigger request, kernel, lean clients), so it tells how much of a
server's figure is the server's.

    python -m loadtest.raw_broadcast --port 8200

Same surface as baseline_broadcast.py: GET /ws (hello, then broadcasts; no extensions),
POST /broadcast {"seq": n}, GET /health. Loopback, benchmark use only: it trusts its clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import struct
import time

WS_GUID = b"258EAFA5-E914-47A5-95CA-C5AB0DC11B85"
HEADERS_BYTES_MAX = 16384


def text_frame(payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class RawBroadcast:
    def __init__(self) -> None:
        self.sockets: set[asyncio.StreamWriter] = set()

    def broadcast(self, seq: int) -> int:
        event = {"type": "event", "stream": "market", "id": f"{int(time.time() * 1000)}-0",
                 "event": "broadcast", "data": {"seq": seq}}  # fmt: skip
        frame = text_frame(json.dumps(event).encode())
        for writer in self.sockets:
            writer.write(frame)
        return len(self.sockets)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > HEADERS_BYTES_MAX:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if path.startswith("/ws") and headers.get("upgrade", "").lower() == "websocket":
                    await self.upgrade(reader, writer, headers["sec-websocket-key"])
                    return
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST" and path == "/broadcast":
                    reply = json.dumps({"sockets": self.broadcast(int(json.loads(body)["seq"]))}).encode()
                else:
                    reply = b'{"status":"ok"}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))  # fmt: skip
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, KeyError):
            pass
        finally:
            writer.close()

    async def upgrade(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + text_frame(b'{"type":"hello"}'))  # fmt: skip
        self.sockets.add(writer)
        try:
            while await reader.read(4096):  # the client's frames (its close) are not interpreted
                pass
        finally:
            self.sockets.discard(writer)


async def serve(host: str, port: int, backlog: int) -> None:
    server = await asyncio.start_server(RawBroadcast().handle, host, port, backlog=backlog)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.backlog))


if __name__ == "__main__":
    main()
