"""The baseline for the WebSocket benchmarks: a bare Quart broadcast loop, the pattern of Quart's
chat example (a set of asyncio.Queue, one per socket; publish puts the message in every queue),
served by Hypercorn in one process, since an in-process broker cannot span workers.

    python -m loadtest.baseline_broadcast --port 8100

GET /ws: a socket; first frame {"type":"hello"}, then every broadcast.
POST /broadcast {"seq": n}: sends each socket an event frame shaped like the app's,
{"type":"event","stream":"market","id":"<ms>-0","event":"broadcast","data":{"seq":n}}, where <ms>
is the time the POST was handled (the "commit" time of the app's frames).
GET /health: 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncGenerator

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request, websocket


class Broker:
    def __init__(self) -> None:
        self.connections: set[asyncio.Queue[str]] = set()

    async def publish(self, message: str) -> None:
        for connection in self.connections:
            await connection.put(message)

    async def subscribe(self) -> AsyncGenerator[str, None]:
        connection: asyncio.Queue[str] = asyncio.Queue()
        self.connections.add(connection)
        try:
            while True:
                yield await connection.get()
        finally:
            self.connections.remove(connection)


def create_app() -> Quart:
    app = Quart(__name__)
    broker = Broker()

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "sockets": len(broker.connections)}

    @app.post("/broadcast")
    async def broadcast() -> tuple[dict[str, int], int]:
        body = await request.get_json()
        message = json.dumps(
            {
                "type": "event",
                "stream": "market",
                "id": f"{int(time.time() * 1000)}-0",
                "event": "broadcast",
                "data": {"seq": body["seq"]},
            }
        )
        await broker.publish(message)
        return {"sockets": len(broker.connections)}, 200

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send('{"type":"hello"}')
        async for message in broker.subscribe():
            await websocket.send(message)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.backlog = args.backlog
    config.accesslog = None
    asyncio.run(serve(create_app(), config))


if __name__ == "__main__":
    main()
